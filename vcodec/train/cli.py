"""``vcodec train run|export|report``: argument parsing only; the work is in trainer, export and report."""

from __future__ import annotations

import argparse
import sys

from vcodec.train.config import FIELDS, TrainConfig


def _levels(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated levels such as 0,3,7, got {text!r}") from None


def _add_run_options(p: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    # Every default is SUPPRESS so that only the options given appear in the namespace: on --resume they
    # override the stored recipe, the rest is taken from the checkpoint.
    S = argparse.SUPPRESS
    g = p.add_argument_group("run")
    g.add_argument("--data", default=S, help="folder of training images (searched recursively)")
    g.add_argument("--out", default=S, help="folder for checkpoints (last.pt) and the log (log.jsonl)")
    g.add_argument("--model", default=S, help=f"model name (default {d.model})")
    g.add_argument("--task", default=S, choices=("image", "video"),
                   help=f"what to train (default {d.task}: the still-image RD loss; video: the P-frame model)")
    g.add_argument("--photos", default=S, help="video task: a folder of stills for synthetic motion")
    g.add_argument("--sequence-length", type=int, default=S, help=f"video task: frames a sequence (default {d.sequence_length})")
    g.add_argument("--synthetic-share", type=float, default=S,
                   help=f"video task: share of synthetic sequences (default {d.synthetic_share})")
    g.add_argument("--resume", default=S, metavar="CKPT", help="continue a run from its checkpoint")
    g.add_argument("--init-weights", default=S, metavar="PT",
                   help="start from trained weights (a weights file or checkpoint), fresh optimizers, short warmup")
    g.add_argument("--steps", type=int, default=S, help="run length in steps (the schedule's fractions refer to it)")
    g.add_argument("--minutes", type=float, default=S, help="run length in minutes of training, instead of --steps")
    g.add_argument("--time-budget", type=float, default=S, metavar="MINUTES",
                   help="this process stops and saves before MINUTES pass; also the run length when neither "
                        "--steps nor --minutes is given")
    g.add_argument("--stop-at", type=int, default=S, metavar="STEP", help="save and stop after STEP (a planned pause)")
    g = p.add_argument_group("recipe")
    g.add_argument("--patch-size", type=int, default=S, help=f"training crop side (default {d.patch_size})")
    g.add_argument("--min-scale", type=float, default=S,
                   help=f"smallest random downscale factor, 1 for none (default {d.min_scale})")
    g.add_argument("--batch-size", type=int, default=S, help=f"per process (default {d.batch_size})")
    g.add_argument("--lr", type=float, default=S, help=f"peak learning rate (default {d.lr})")
    g.add_argument("--aux-lr", type=float, default=S, help=f"learning rate of the quantiles (default {d.aux_lr})")
    g.add_argument("--schedule", default=S,
                   help="name (default, two-drops, finetune) or rows 'at:factor,...' with at a fraction of the run "
                        f"(default {d.schedule!r} = 1x, then 0.1x for the last 10%%)")
    g.add_argument("--warmup", type=int, default=S, help="linear warmup steps (default 500, 100 with --init-weights)")
    g.add_argument("--clip", type=float, default=S, help=f"max gradient norm (default {d.clip})")
    g.add_argument("--level-weight", type=float, default=S, metavar="P",
                   help="weight each sample's loss by lambda^-P, mean 1 over the levels; 0.5 evens out the levels' "
                        f"pull on the shared weights (default {d.level_weight:g}: unweighted)")
    g.add_argument("--grow", type=lambda t: tuple(filter(None, t.split(","))), default=S, metavar="KEY=VALUE",
                   help="change the model's configuration where that adds modules that start at zero, "
                        "e.g. spatial_context=64 (a checkerboard context in every slice): the weights "
                        "code as before until the new modules train")
    g.add_argument("--freeze", type=lambda t: tuple(filter(None, t.split(","))), default=S, metavar="PREFIXES",
                   help="comma-separated parameter-name prefixes to hold fixed, e.g. g_a,g_s,lrp_nets: with "
                        "all but h_a, h_s, mean_nets, scale_nets, spatial_nets and entropy_bottleneck fixed "
                        "a step trains the entropy model on the rate alone, without the synthesis")
    g.add_argument("--ema", type=float, default=S, metavar="DECAY",
                   help=f"keep an exponential moving average of the weights, 0 for none (default {d.ema})")
    g.add_argument("--seed", type=int, default=S, help=f"(default {d.seed})")
    g = p.add_argument_group("validation, logs and checkpoints")
    g.add_argument("--val-fraction", type=float, default=S,
                   help=f"share of the images held out, chosen by file-name hash (default {d.val_fraction})")
    g.add_argument("--val-images", type=int, default=S, help=f"validate on at most this many (default {d.val_images})")
    g.add_argument("--val-levels", type=_levels, default=S, help="levels to validate, e.g. 0,3,7 (default all)")
    g.add_argument("--val-every", type=int, default=S,
                   help=f"steps between validations, 0 for none (default {d.val_every})")
    g.add_argument("--no-val-ema", dest="val_ema", action="store_false", default=S,
                   help="validate the weights only, not their moving average too")
    g.add_argument("--log-every", type=int, default=S, help=f"steps between log lines (default {d.log_every})")
    g.add_argument("--ckpt-minutes", type=float, default=S,
                   help=f"minutes between checkpoints (default {d.ckpt_minutes})")
    g.add_argument("--ckpt-every", type=int, default=S, help="also checkpoint every this many steps (default 0: off)")
    g = p.add_argument_group("hardware")
    g.add_argument("--device", default=S, help="cpu, cuda, cuda:1 ... (default cuda when present)")
    g.add_argument("--threads", type=int, default=S, help="torch CPU threads")
    g.add_argument("--workers", type=int, default=S, help="data loader processes (default 0 on CPU, 4 on CUDA)")
    g.add_argument("--no-amp", dest="amp", action="store_false", default=S,
                   help="no bf16 autocast (on by default on CUDA and on CPUs with native bf16)")
    g.add_argument("--no-channels-last", dest="channels_last", action="store_false", default=S,
                   help="keep activations NCHW instead of NHWC")
    g.add_argument("--no-compile", dest="compile", action="store_false", default=S, help="no torch.compile on CUDA")
    g.add_argument("--no-progress", dest="progress", action="store_false", default=S, help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from vcodec.train.trainer import LAST, from_options

    trainer = from_options({k: v for k, v in vars(args).items() if k in FIELDS})
    reason = trainer.run()
    if trainer.main:
        print(f"stopped at step {trainer.step} ({reason}); checkpoint {trainer.out / LAST}", file=sys.stderr)
    return 130 if reason == "SIGINT" else 0


def export(args: argparse.Namespace) -> int:
    from vcodec.train.export import export as export_weights

    sidecar = export_weights(args.checkpoint, args.output, data=args.data, val_images=args.val_images,
                             validate=not args.no_val, device=args.device, ema=args.ema)
    print(f"wrote {args.output} ({sidecar['steps']} steps)", file=sys.stderr)
    for row in (sidecar["validation"] or {}).get("levels", []):
        print(f"q={row['q']}  lambda={row['lmbda']:.4f}  bpp={row['bpp']:.4f}  PSNR={row['psnr']:.2f} dB")
    return 0


def report(args: argparse.Namespace) -> int:
    from vcodec.train.report import markdown, read_log

    print(markdown(read_log(args.log)), end="")
    return 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``train`` with its actions ``run``, ``export`` and ``report``; each sets ``func``."""
    p = subparsers.add_parser("train", help="train a model, export its weights, report a run",
                              description="Train a vcodec model on a folder of images.")
    actions = p.add_subparsers(dest="train_action", required=True, metavar="{run,export,report}")
    r = actions.add_parser("run", help="train (or resume) a model",
                           description="Train with loss lambda*255^2*MSE + bpp, a random quality level per sample.")
    _add_run_options(r)
    r.set_defaults(func=run)
    e = actions.add_parser("export", help="write shipped weights (+ .json provenance) from a checkpoint")
    e.add_argument("checkpoint", help="a training checkpoint (OUT/last.pt)")
    e.add_argument("-o", "--output", required=True, help="weights file to write, e.g. vcodec/weights/vcodec-base.pt")
    e.add_argument("--data", help="the run's data folder, if it moved since training")
    e.add_argument("--ema", action="store_true", help="export the moving average of the weights")
    e.add_argument("--val-images", type=int, help="validate on at most this many held-out images (default all)")
    e.add_argument("--no-val", action="store_true", help="skip the validation figures")
    e.add_argument("--device", default="cpu", help="device for the validation pass (default cpu)")
    e.set_defaults(func=export)
    rep = actions.add_parser("report", help="print a run's validation curve as a markdown table")
    rep.add_argument("log", help="a run's folder or its log.jsonl")
    rep.set_defaults(func=report)
    return p
