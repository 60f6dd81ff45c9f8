"""Time one latent-refinement step (vcodec.coding.refine) eagerly and under torch.compile, on a held-out
training image (never Kodak) resized to Kodak's 768 x 512.

    python benchmarks/refine_step.py --steps 30

A step is what level 9 spends its time on: the rate of the soft-rounded latents through the coder's slice
loop, the local model of the distortion, backward and an Adam update (the synthesis runs beside it, on the
second thread). The soft rounding's noise is drawn once per shape, outside the timed graph: the step's
work, not its results, is what this measures. The compiled step's first call includes the compilation
(torch's inductor cache makes later processes faster: run it twice to see both).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from vcodec.coding.refine import LocalDistortion, logistic_noise, rate_terms, soft_round  # noqa: E402
from vcodec.datasets import list_images, split  # noqa: E402
from vcodec.devices import autocast  # noqa: E402
from vcodec.image import Codec  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "train")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--quality", type=float, default=3.0)
    p.add_argument("--no-compile", action="store_true", help="time the eager step only")
    args = p.parse_args()
    torch.set_num_threads(1)  # as refinement runs its steps

    _, held_out = split(list_images(args.data), 0.05)
    with Image.open(held_out[0]) as im:
        rgb = np.array(im.convert("RGB").resize((768, 512), Image.BICUBIC))
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    coder = Codec().coder
    with torch.no_grad():
        y = coder.latent(x, args.quality)
    model = coder.refinement_model()
    u0 = y.float().contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        z0 = model.hyper_analysis(u0)
    generator = torch.Generator().manual_seed(0)
    noise_y, noise_z = logistic_noise(u0, generator), logistic_noise(z0, generator)
    q = torch.tensor([args.quality])
    distortion = LocalDistortion(model, q, x.contiguous(memory_format=torch.channels_last), None,
                                 float(model.lmbda(q)) * 255**2 / 3, curvature=0.7)
    with autocast(u0.device):
        distortion.update(u0)  # the model the steps use between two syntheses

    def loss_of(u, z, tau):
        def rounding(v):
            return soft_round(v, tau, noise_z if v.shape == noise_z.shape else noise_y[:, : v.shape[1]])

        bits, y_hat = rate_terms(model, u, z, None, rounding)
        return (bits + distortion(y_hat)) / x[0, 0].numel()

    def time_steps(fn, label):
        u, z = u0.clone().requires_grad_(True), z0.clone().requires_grad_(True)
        opt = torch.optim.Adam([u, z], lr=0.02)
        tau = torch.tensor(0.3)  # a tensor, so a compiled step is not recompiled as it anneals
        seconds = []
        for _ in range(args.steps):
            start = time.perf_counter()
            with autocast(u.device):
                loss = fn(u, z, tau)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seconds.append(time.perf_counter() - start)
        steady = statistics.median(seconds[2:]) if len(seconds) > 2 else seconds[-1]
        print(f"{label}: first step {seconds[0]:.1f} s, then {1000 * steady:.0f} ms a step (median)", flush=True)

    time_steps(loss_of, "eager")
    if not args.no_compile:
        time_steps(torch.compile(loss_of, dynamic=False), "torch.compile")


if __name__ == "__main__":
    main()
