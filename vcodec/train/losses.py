"""The rate-distortion objective and the validation figures computed from a forward pass.

    loss = mean over the batch of  lmbda(q_i) * 255^2 * MSE_i + bpp_i,   bpp_i = sum(-log2 p) / (H * W)

with ``q_i`` the quality level drawn for sample ``i``, so one variable-rate model learns every level.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def bpp(likelihoods: dict[str, torch.Tensor], num_pixels: int) -> torch.Tensor:
    """(N,) bits per pixel of each sample. float32: bf16 likelihoods would round small probabilities."""
    bits = sum(-torch.log2(p.float()).flatten(1).sum(1) for p in likelihoods.values())
    return bits / num_pixels


def rd_loss(out: dict, x: torch.Tensor, lmbda: torch.Tensor) -> dict[str, torch.Tensor]:
    """{"loss": scalar, "bpp": (N,), "mse": (N,)}; MSE on [0, 1] pixels."""
    rate = bpp(out["likelihoods"], x.shape[-2] * x.shape[-1])
    mse = (out["x_hat"].float() - x).pow(2).flatten(1).mean(1)
    return {"loss": (lmbda * 255**2 * mse + rate).mean(), "bpp": rate, "mse": mse}


def psnr(mse: float) -> float:
    return 10 * math.log10(1 / mse) if mse > 0 else float("inf")


@torch.no_grad()
def evaluate(model: nn.Module, images: list[torch.Tensor], levels: list[int], device: torch.device) -> list[dict]:
    """Per level: mean bpp and mean PSNR over ``images`` (each (3, H, W), H and W multiples of 64).

    Uses the model in eval mode, where the forward pass rounds instead of adding noise: the rate is the
    ideal code length of the real quantised latents, which the range coder reaches within a few tenths
    of a percent.
    """
    was_training = model.training
    model.eval()
    rows = []
    for q in levels:
        qs = torch.tensor([float(q)], device=device)
        rates, psnrs = [], []
        for img in images:
            x = img[None].to(device)
            out = model(x, qs)
            rates.append(float(bpp(out["likelihoods"], x.shape[-2] * x.shape[-1])))
            psnrs.append(psnr(float((out["x_hat"].clamp(0, 1) - x).pow(2).mean())))
        rows.append({"q": q, "lmbda": float(model.lmbda(qs)), "bpp": sum(rates) / len(rates),
                     "psnr": sum(psnrs) / len(psnrs)})
    model.train(was_training)
    return rows
