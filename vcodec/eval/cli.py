"""``vcodec eval``: rate-distortion curves of vcodec and classical codecs on image folders.

    vcodec eval /data/kodak --codec jpeg:10,20,40 --codec webp --codec vcodec:1,2,3 \\
        --out results/ --anchor /path/to/vtm.json --workers 2

writes, per dataset folder NAME:

    results/cache.jsonl              every measurement (image x codec x quality); reruns reuse it
    results/NAME/CODEC.json          dataset averages, CompressAI's layout
    results/NAME/CODEC.per-image.json
    results/NAME/bd_rate.md, .csv    BD-rate / BD-PSNR of every curve against the anchor
    results/NAME/rd.png              every curve, PSNR-RGB and MS-SSIM against bpp
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vcodec.eval import bjontegaard, report
from vcodec.eval.codecs import codec_class, codec_names
from vcodec.eval.curves import Curve, load_curve
from vcodec.eval.errors import EvalError
from vcodec.eval.files import write_json_atomic, write_text_atomic
from vcodec.eval.runner import CodecSpec, evaluate


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``eval`` on an argparse subparsers object; its ``func(args)`` returns the exit code."""
    parser = subparsers.add_parser(
        "eval",
        help="rate-distortion evaluation against classical codecs",
        description="Measure bpp, PSNR-RGB, MS-SSIM and times of codecs over image folders; write "
        "CompressAI-style JSON, a BD-rate table and an RD plot. Results are cached per image, codec "
        "and quality: rerunning only computes what is missing.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="codecs: " + ", ".join(codec_names()) + " (see --list-codecs)",
    )
    parser.add_argument("datasets", nargs="*", type=Path, metavar="FOLDER", help="folders of images")
    parser.add_argument(
        "--codec", action="append", default=[], metavar="NAME[:Q,Q,...]",
        help="codec to run, with an optional quality list (repeatable), e.g. jpeg:10,20,40 or vcodec:1,2,3",
    )  # fmt: skip
    parser.add_argument("-o", "--out", type=Path, help="output folder (holds the cache too)")
    parser.add_argument(
        "--anchor", metavar="CODEC|FILE",
        help="BD-rate anchor: a codec of this run or a CompressAI-style JSON (default: the first --codec)",
    )  # fmt: skip
    parser.add_argument(
        "--reference", action="append", default=[], type=Path, metavar="FILE",
        help="published curve (CompressAI-style JSON) to add to the table and plot (repeatable)",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="parallel worker processes (default 1)")
    parser.add_argument("--bd-method", choices=bjontegaard.METHODS, default="pchip", help="default: pchip")
    parser.add_argument("--model", default=None, help="vcodec model name (default: the shipped model)")
    parser.add_argument("--device", default="cpu", help="vcodec device (default cpu)")
    parser.add_argument("--effort", type=int, default=4, metavar="E",
                        help="vcodec encoder effort 1 .. 9 (default 4); recorded in the results")
    parser.add_argument("--rdo", action="store_true",
                        help="vcodec encoder moves latents towards zero by RD cost (off by default: it loses on the "
                             "held-out split with the shipped weights)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-codecs", action="store_true", help="list the codecs and whether they can run here")
    parser.set_defaults(func=run)
    return parser


def list_codecs() -> str:
    lines = []
    for name in codec_names():
        cls = codec_class(name)
        reason = cls.unavailable_reason()
        qualities = ",".join(f"{q:g}" for q in cls.default_qualities)
        status = "available" if reason is None else f"unavailable: {reason}"
        lines.append(f"{name:10s} {cls.knob:16s} default {qualities:34s} {status}")
    return "\n".join(lines)


def _codec_specs(args: argparse.Namespace) -> list[CodecSpec]:
    specs = []
    for text in args.codec:
        options = {}
        if text.partition(":")[0].strip() == "vcodec":
            options = {"device": args.device} | ({"model": args.model} if args.model else {})
            options |= ({"rdo": True} if args.rdo else {}) | {"effort": args.effort}
        spec = CodecSpec.parse(text, options)
        if any(s.name == spec.name for s in specs):
            raise EvalError(f"codec {spec.name!r} given twice; give it one quality list")
        specs.append(spec)
    return specs


def _anchor_source(anchor: str | None, specs: list[CodecSpec]) -> str | Curve:
    """The anchor as a codec name of this run, or the curve read from a file; checked up front."""
    if anchor is None:
        return specs[0].name
    if any(s.name == anchor for s in specs):
        return anchor
    if Path(anchor).suffix == ".json" or Path(anchor).exists():
        return load_curve(Path(anchor))
    names = ", ".join(s.name for s in specs)
    raise EvalError(f"--anchor {anchor!r} is neither a codec of this run ({names}) nor a JSON file")


def run(args: argparse.Namespace) -> int:
    if args.list_codecs:
        print(list_codecs())
        return 0
    if not args.datasets:
        raise EvalError("give one or more image folders to evaluate")
    if args.out is None:
        raise EvalError("give an output folder with --out")
    specs = _codec_specs(args)
    if not specs:
        raise EvalError("give at least one --codec (see --list-codecs)")
    anchor_source = _anchor_source(args.anchor, specs)
    references = [load_curve(p) for p in args.reference]

    results = evaluate(args.datasets, specs, args.out / "cache.jsonl", args.workers, not args.no_progress)

    for dataset in dict.fromkeys(r.dataset for r in results):
        folder = args.out / dataset
        curves = []
        for result in (r for r in results if r.dataset == dataset):
            write_json_atomic(folder / f"{result.codec}.json", result.to_json())
            write_json_atomic(folder / f"{result.codec}.per-image.json", result.per_image_json())
            curves.append(result.average())
        if isinstance(anchor_source, Curve):
            anchor = anchor_source
        else:
            anchor = next(c for c in curves if c.name == anchor_source)
        rows = report.bd_rows(curves + references, anchor, args.bd_method)
        table = report.bd_markdown(rows, anchor, args.bd_method, f"{dataset}: BD-rate vs {anchor.name}")
        write_text_atomic(folder / "bd_rate.md", table)
        write_text_atomic(folder / "bd_rate.csv", report.bd_csv(rows, anchor, args.bd_method))
        extra = [anchor] if anchor.reference and anchor.name not in {r.name for r in references} else []
        plot_curves = curves + references + extra
        report.plot_rd(plot_curves, folder / "rd.png", f"{dataset} ({_count(results, dataset)} images)")
        sys.stdout.write(table + f"\nwrote {folder}/\n")
    return 0


def _count(results, dataset: str) -> int:
    return len({r["image"] for res in results if res.dataset == dataset for r in res.records})
