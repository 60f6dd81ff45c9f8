"""Training throughput: samples/s of the real training step (forward, RD loss, backward, clipping, both
Adam steps) on random batches, for each precision / memory-format option, in one run.

    python benchmarks/train_speed.py [--model vcodec-base] [--patch 256] [--batch 8] [--threads 2]
                                     [--against fbe2a2b]

Rows: fp32 NCHW (what vcodec 0.1 trained with), bf16 autocast, channels-last, both (the default where the
CPU has native bf16), and with --compile also torch.compile. ``--against REV`` also times the training
step of an older commit (checked out into a temporary git worktree, run in a subprocess with its own
code and its own benchmark's step), interleaved with this code's rows, so both come from the same run on
the same machine. Prints a markdown table. Data loading is left out (it is hidden behind loader workers
on a GPU and small next to the step on a CPU).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from vcodec.train.losses import rd_loss  # noqa: E402
from vcodec.zoo import build  # noqa: E402


def measure(model_name: str, device: torch.device, patch: int, batch: int, warmup: int, steps: int,
            amp: bool, channels_last: bool, compile_: bool) -> dict:
    torch.manual_seed(0)
    model = build(model_name).to(device).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    if amp:  # as the trainer: the entropy models' likelihoods stay fp32
        for module in (model.entropy_bottleneck, model.gaussian_conditional):
            module.forward = torch.amp.custom_fwd(module.forward, device_type=device.type, cast_inputs=torch.float32)
    net_params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    opt = torch.optim.Adam(net_params, lr=1e-5)
    aux_opt = torch.optim.Adam([p for n, p in model.named_parameters() if n.endswith("quantiles")], lr=1e-3)
    net = torch.compile(model) if compile_ else model
    x = torch.rand(batch, 3, patch, patch, device=device).contiguous(memory_format=fmt)
    q = torch.randint(model.levels, (batch,), device=device).float()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out = net(x, q)
        rd_loss(out, x, model.lmbda(q))["loss"].backward()
        torch.nn.utils.clip_grad_norm_(net_params, 1.0).item()
        opt.step()
        aux_opt.zero_grad(set_to_none=True)
        model.aux_loss().backward()
        aux_opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / steps
    return {"steps_per_s": 1 / dt, "samples_per_s": batch / dt, "s_per_step": dt}


_OLD = """
import json, sys, torch
sys.path.insert(0, {root!r}); sys.path.insert(0, {root!r} + "/benchmarks")
torch.set_num_threads({threads})
import train_speed
r = train_speed.measure({model!r}, torch.device("cpu"), {patch}, {batch}, {warmup}, {steps}, False, False)
print(json.dumps(r))
"""


def measure_commit(rev: str, args, batch: int) -> dict:
    """The training step of commit ``rev``, timed by that commit's own benchmark, in a subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        root = str(Path(tmp) / "tree")
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", root, rev], check=True,
                       capture_output=True)
        try:
            code = _OLD.format(root=root, threads=torch.get_num_threads(), model=args.model, patch=args.patch,
                               batch=batch, warmup=args.warmup, steps=args.steps)
            out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                 cwd=tmp, env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin"})
            return json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", root], capture_output=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="vcodec-base")
    p.add_argument("--patch", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--cpu-batch", type=int, help="batch on the CPU (default --batch)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default torch's)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--cuda-steps", type=int, default=50)
    p.add_argument("--compile", action="store_true", help="also time torch.compile (minutes to compile on a CPU)")
    p.add_argument("--against", metavar="REV", help="also time the training step of this commit")
    p.add_argument("--no-cpu", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = []
    options = [(False, False, False), (True, False, False), (False, True, False), (True, True, False)]
    if args.compile:
        options.append((True, True, True))
    if not args.no_cpu:
        batch, cpu = args.cpu_batch or args.batch, torch.device("cpu")
        name = f"cpu ({torch.get_num_threads()} threads)"
        if args.against:
            rows.append((name, f"{args.against}: fp32", batch, measure_commit(args.against, args, batch)))
        for amp, cl, comp in options:
            label = ("bf16" if amp else "fp32") + (" + channels-last" if cl else "") + (" + compile" if comp else "")
            rows.append((name, label, batch, measure(args.model, cpu, args.patch, batch, args.warmup, args.steps,
                                                     amp, cl, comp)))
        if args.against:  # again at the end: the machine may have changed pace meanwhile
            rows.append((name, f"{args.against}: fp32 (again)", batch, measure_commit(args.against, args, batch)))
    if torch.cuda.is_available():
        dev = torch.device("cuda")
        for amp, cl, comp in ((False, False, False), (True, False, False), (True, True, False), (True, True, True)):
            label = ("bf16" if amp else "fp32") + (" + channels-last" if cl else "") + (" + compile" if comp else "")
            r = measure(args.model, dev, args.patch, args.batch, max(args.warmup, 5 if comp else 2), args.cuda_steps,
                        amp, cl, comp)
            rows.append((torch.cuda.get_device_name(dev), label, args.batch, r))

    print(f"{args.model}, {args.patch}x{args.patch} patches, torch {torch.__version__}\n")
    print("| device | option | batch | s/step | samples/s |")
    print("|---|---|---:|---:|---:|")
    for device, label, batch, r in rows:
        print(f"| {device} | {label} | {batch} | {r['s_per_step']:.3f} | {r['samples_per_s']:.2f} |")


if __name__ == "__main__":
    main()
