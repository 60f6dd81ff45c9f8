"""Latent refinement: choose the latents of one image by gradient descent on its own rate-distortion cost,
against the fixed decoder (the higher encoder efforts of ``vcodec.coding.effort``).

An encoder that only runs the analysis transform leaves an amortisation gap: g_a was trained to be good
on average, not best for this image. Refinement closes part of it (Yang, Bamler & Mandt, 2020,
"Improving Inference for Neural Image Compression", NeurIPS, arXiv:2006.04240):

    u <- g_a(x) * gain,  z <- h_a(u)                          the amortised start
    repeat: y_hat = slices of mu_k + SGA(u_k - mu_k)          (the coder's own slice loop)
            cost  = bits(z_hat) + bits(y_hat | z_hat) + D(y_hat)
            Adam step on u and z
    then the real coder rounds (u - mu) as always: the decoder and the format are unchanged

SGA (stochastic Gumbel annealing) replaces rounding by a soft, randomised choice between floor and ceil
whose temperature falls to near zero, so the optimiser sees the rounding it will get; plain
straight-through rounding is biased and was measured to raise the cost (shared/notes). The Gumbel noise
comes from a generator seeded per call, so a result depends only on the machine and thread count.

The distortion ``D = lambda * 255^2 * SSE(g_s(y_hat), x) / 3`` (lambda: the level's, times
``effort.lmbda_scale``) is the expensive part: the synthesis forward and backward are about three quarters
of a step. So it is evaluated only every ``effort.distortion_every`` steps, at some ``y_ref``, and between
those steps a local model stands in:

    D(y_hat) ~ D(y_ref) + g . (y_hat - y_ref) + sum_c curvature_c (y_hat - y_ref)_c^2

``g`` is the true gradient at ``y_ref``, and the curvature is the model's linear-synthesis estimate of what
a latent error costs (``latent_error_weights``, the inverse gain squared, lambda), scaled by
``effort.curvature`` since the deep path undoes part of it. The rate is always exact. On the held-out
split this buys three to four times the steps for the same time, and more gain than the same time of
exact steps (docs/results/effort.md). With ``effort.background`` the synthesis runs on a second thread
while the steps go on, and the model it gives stands in from the next update: the two cores work at once.

Not part of the float64 set: refinement only proposes latents. The coder then recomputes everything the
decoder needs, exactly as for an unrefined image, and keeps the refined result only if its real cost
(the bits it writes and the distortion the decoder sees) is lower.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import torch

from vcodec.coding.effort import Effort
from vcodec.devices import autocast

# Temperature of the soft rounding: 0.5 makes floor and ceil nearly equally likely at a distance of
# 0.5; it falls linearly to TAU_END, where SGA is within a few percent of hard rounding.
TAU_START, TAU_END = 0.5, 0.05
SEED = 0


def sga_round(v: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    """Soft rounding of ``v``: floor or ceil, with a Gumbel-perturbed choice mixed by a sigmoid at
    temperature ``tau``. The odds of ceil over floor are logit(distance to floor) / tau, SGA+'s "sigmoid
    scaled logit" (Perugachi-Diaz et al., 2024), in place of SGA's difference of atanh terms: on the
    held-out split it gained 0.2-0.25 points of BD-rate at level 9 (docs/results/effort.md)."""
    return soft_round(v, tau, logistic_noise(v, generator))


def logistic_noise(v: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The difference of the two choices' Gumbel perturbations, one logistic draw logit(u) per element."""
    u = torch.rand(v.shape, generator=generator, dtype=v.dtype, device=v.device).clamp_(1e-9, 1 - 1e-9)
    return torch.logit(u)


def soft_round(v: torch.Tensor, tau: float | torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``sga_round`` with its noise given."""
    lo = torch.floor(v).detach()
    d = (v - lo).clamp(1e-4, 1 - 1e-4)  # distance to floor; 1 - d to ceil
    return lo + torch.sigmoid((torch.logit(d) / tau + noise) / tau)


def _bits(residual: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """-log2 of the discretised Gaussian mass of (soft) integer residuals, with training's scale floor."""
    sigma = sigma.clamp_min(0.11)
    upper = torch.special.ndtr((0.5 - residual.abs()) / sigma)
    lower = torch.special.ndtr((-0.5 - residual.abs()) / sigma)
    return -torch.log2((upper - lower).clamp_min(1e-9))


def rate_terms(model, u: torch.Tensor, z: torch.Tensor, context, rounding) -> tuple[torch.Tensor, torch.Tensor]:
    """(bits, y_hat) of latents ``u`` (gained) and ``z`` with ``rounding(v)`` as the quantiser: the coder's
    data flow up to the synthesis, differentiable."""
    medians = model.z_medians().reshape(1, -1, 1, 1)
    z_hat = medians + rounding(z - medians)
    bits = model.z_bits(z_hat).sum()
    u_slices = u.split(model.slices, dim=1)
    y_bits = []

    def quantize(k, mu, sigma, lrp, mask):
        r = rounding(u_slices[k] - mu)
        bits = _bits(r, sigma)
        y_bits.append((bits if mask is None else bits * mask).sum())
        return mu + r

    y_hat = model.slice_schedule(model.hyper_synthesis(z_hat, context), quantize)
    return bits + sum(y_bits), y_hat


class LocalDistortion:
    """The distortion term of the refinement cost: the synthesis at a reference ``y_ref`` (``update``), and
    the second-order model around it (``__call__``) until the next update. Differentiable in ``y_hat``;
    exact in value and gradient at ``y_ref`` itself."""

    def __init__(self, model, q: torch.Tensor, x: torch.Tensor, context, weight: float, curvature: float):
        self.model, self.x, self.context, self.weight = model, x, context, weight
        self.inv_gain = model.gains(q)[1].detach().float()
        error = model.latent_error_weights().float().reshape(1, -1, 1, 1) * self.inv_gain**2
        self.curvature = weight * curvature * error
        self.y_ref = self.grad = None

    def update(self, y_hat: torch.Tensor) -> None:
        self.take(self.measure(y_hat))

    def measure(self, y_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(y_ref, gradient of the distortion there): the synthesis forward and backward."""
        y_ref = y_hat.detach().float().requires_grad_(True)
        sse = (self.model.synthesis(y_ref * self.inv_gain, self.context) - self.x).pow(2).sum().float()
        grad, = torch.autograd.grad(self.weight * sse, y_ref)
        return y_ref.detach(), grad

    def take(self, measured: tuple[torch.Tensor, torch.Tensor]) -> None:
        self.y_ref, self.grad = measured

    def __call__(self, y_hat: torch.Tensor) -> torch.Tensor:
        delta = y_hat.float() - self.y_ref
        return (self.grad * delta).sum() + (self.curvature * delta.pow(2)).sum()


def _measure_on_one_thread(distortion: LocalDistortion, y_hat: torch.Tensor):
    torch.set_num_threads(1)
    with autocast(y_hat.device):  # autocast is per thread
        return distortion.measure(y_hat)


def refine(coder, x: torch.Tensor, y: torch.Tensor, level: float, effort: Effort,
           context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, z): refined gained latent (float64, as the coder takes it) and hyper-latent for ``x``.

    ``coder`` is a LatentCoder; a channels-last copy of its float32 model is optimised through, in bf16
    where the hardware has it (twice as fast; the coder recomputes everything it codes in its own
    precision afterwards). On the CPU it runs on one thread (and the background's), whatever torch's
    count: the tensors are small, and on a Kodak image a step without the synthesis takes 0.15 s on one
    thread against 0.2 s on two.
    """
    if coder.device.type != "cpu":
        return _refine(coder, x, y, level, effort, context)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _refine(coder, x, y, level, effort, context)
    finally:
        torch.set_num_threads(threads)


def _refine(coder, x, y, level, effort, context):
    model = coder.refinement_model()
    cl = torch.channels_last
    x = x.to(coder.device, torch.float32).contiguous(memory_format=cl)
    ctx = None if context is None else context.to(coder.device, torch.float32).contiguous(memory_format=cl)
    q = torch.tensor([level], device=coder.device)
    lmbda = effort.lmbda_scale * float(model.lmbda(q))
    weight = lmbda * 255**2 / 3  # bits per unit of summed squared error, as in training's loss
    generator = torch.Generator(device=coder.device).manual_seed(SEED)
    u = y.detach().float().clone().contiguous(memory_format=cl).requires_grad_(True)
    with torch.no_grad():
        z = model.hyper_analysis(u).clone().requires_grad_(effort.refine_z)
    opt = torch.optim.Adam([u, z] if effort.refine_z else [u], lr=effort.lr)
    steps = effort.iterations
    every = max(1, effort.distortion_every)
    distortion = LocalDistortion(model, q, x, ctx, weight, effort.curvature)
    # In the background, the synthesis for the update at step t runs on a second thread beside the steps,
    # and its model stands in from the next update on (one interval late). The schedule is the same
    # whichever thread finishes first, so the result depends only on the machine.
    background = effort.background and coder.device.type == "cpu"
    pool, pending = (ThreadPoolExecutor(1) if background else None), None
    try:
        for t in range(steps):
            frac = t / max(1, steps - 1)
            tau = TAU_START + (TAU_END - TAU_START) * frac
            # The step size falls along a half cosine to lr_end x lr: large moves early, settling late.
            for group in opt.param_groups:
                group["lr"] = effort.lr * (effort.lr_end + (1 - effort.lr_end) * 0.5 * (1 + math.cos(math.pi * frac)))
            with autocast(coder.device):
                z_now = z if effort.refine_z else model.hyper_analysis(u)
                bits, y_hat = rate_terms(model, u, z_now, ctx, lambda v: sga_round(v, tau, generator))
                if t % every == 0 and (not background or t == 0):
                    distortion.update(y_hat)
                elif t % every == 0:
                    if pending is not None:
                        distortion.take(pending.result())
                    pending = pool.submit(_measure_on_one_thread, distortion, y_hat.detach())
                d = distortion(y_hat)
            loss = (bits + d) / x[0, 0].numel()
            if not math.isfinite(float(loss.detach())):
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    with torch.no_grad():
        z_out = z if effort.refine_z else model.hyper_analysis(u)
    return u.detach().double().contiguous(), z_out.detach().float().contiguous()
