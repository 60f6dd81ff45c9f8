"""Training throughput of a model: steps/s and samples/s of the real training step (forward, RD loss,
backward, clipping, both Adam steps) on random batches, on the CPU and on CUDA when present.

    python benchmarks/train_speed.py [--model vcodec-base] [--patch 256] [--batch 8] [--threads 2]

Prints a markdown table. Data loading is left out: it is a separate cost, hidden behind loader workers
on a GPU machine and small next to the step on a CPU.
"""

from __future__ import annotations

import argparse
import time

import torch

from vcodec.zoo import build as build_model
from vcodec.train.losses import rd_loss


def measure(model_name: str, device: torch.device, patch: int, batch: int, warmup: int, steps: int,
            amp: bool, compile_: bool) -> dict:
    torch.manual_seed(0)
    model = build_model(model_name).to(device).train()
    net_params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
    opt = torch.optim.Adam(net_params, lr=1e-5)
    aux_opt = torch.optim.Adam([p for n, p in model.named_parameters() if n.endswith("quantiles")], lr=1e-3)
    net = torch.compile(model) if compile_ else model
    x = torch.rand(batch, 3, patch, patch, device=device)
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
    p.add_argument("--no-cpu", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = []
    if not args.no_cpu:
        batch = args.cpu_batch or args.batch
        r = measure(args.model, torch.device("cpu"), args.patch, batch, args.warmup, args.steps, False, False)
        rows.append((f"cpu ({torch.get_num_threads()} threads)", "fp32", batch, r))
    if torch.cuda.is_available():
        dev = torch.device("cuda")
        for amp, comp in ((False, False), (True, False), (True, True)):
            r = measure(args.model, dev, args.patch, args.batch, max(args.warmup, 5 if comp else 2), args.cuda_steps,
                        amp, comp)
            rows.append((torch.cuda.get_device_name(dev), ("bf16" if amp else "fp32") + (" + compile" if comp else ""),
                         args.batch, r))

    print(f"{args.model}, {args.patch}x{args.patch} patches, torch {torch.__version__}\n")
    print("| device | precision | batch | steps/s | samples/s |")
    print("|---|---|---|---|---|")
    for device, prec, batch, r in rows:
        print(f"| {device} | {prec} | {batch} | {r['steps_per_s']:.3f} | {r['samples_per_s']:.2f} |")


if __name__ == "__main__":
    main()
