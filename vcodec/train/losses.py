"""The rate-distortion objective and the validation figures computed from a forward pass.

    loss = mean over the batch of  w_i * (lmbda(q_i) * 255^2 * MSE_i + bpp_i),   bpp_i = sum(-log2 p) / (H * W)

with ``q_i`` the quality level drawn for sample ``i``, so one variable-rate model learns every level, and
``w_i`` 1 unless ``--level-weight`` asks for weights that even out the levels' pull (:func:`level_weights`).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def bpp(likelihoods: dict[str, torch.Tensor], num_pixels: int) -> torch.Tensor:
    """(N,) bits per pixel of each sample. float32: bf16 likelihoods would round small probabilities."""
    bits = sum(-torch.log2(p.float()).flatten(1).sum(1) for p in likelihoods.values())
    return bits / num_pixels


def rd_loss(out: dict, x: torch.Tensor, lmbda: torch.Tensor, weight: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """{"loss": scalar, "bpp": (N,), "mse": (N,)}; MSE on [0, 1] pixels. ``weight`` (N,) scales each
    sample's term of the mean (see :func:`level_weights`)."""
    rate = bpp(out["likelihoods"], x.shape[-2] * x.shape[-1])
    mse = (out["x_hat"].float() - x).pow(2).flatten(1).mean(1)
    per_sample = lmbda * 255**2 * mse + rate
    if weight is not None:
        per_sample = weight * per_sample
    return {"loss": per_sample.mean(), "bpp": rate, "mse": mse}


def rate_loss(out: dict, x: torch.Tensor, weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """:func:`rd_loss` of a rate-only phase, where the distortion does not depend on what trains: the rate
    alone (``out`` may hold no "x_hat"; the MSE is not computed, NaN in the log)."""
    rate = bpp(out["likelihoods"], x.shape[-2] * x.shape[-1])
    return {"loss": (weight * rate).mean(), "bpp": rate, "mse": torch.full_like(rate, float("nan"))}


def level_weights(lmbda: torch.Tensor, grid: tuple[float, ...], power: float) -> torch.Tensor:
    """Per-sample loss weights ``lmbda**-power``, scaled so that their mean over the grid's levels is 1.

    A sample's loss grows with its lambda (about 9x from the lowest level of vcodec-base to the highest),
    and so does its pull on the weights every level shares: with power 0 the top levels set the
    direction of the shared transforms. power 0.5 about evens that out, and it matches how BD-rate
    counts: a saving relative to the level's rate, not in absolute bits."""
    if power == 0:
        return torch.ones_like(lmbda)
    scale = sum(g ** -power for g in grid) / len(grid)
    return lmbda.float() ** -power / scale


def psnr(mse: float) -> float:
    if math.isnan(mse):
        return mse
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
