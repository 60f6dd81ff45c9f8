"""The latent coder: a codable model's latents to z and y streams and back, for any front end.

It speaks only the contract of :class:`vcodec.models.contract.CodableModel`; an image model and a P-frame
model conditioned on a reference go through the same code. Reproducibility is the point of this module:
the encoder and the decoder must derive bit-identical probability models, possibly on different
hardware. Three rules make that hold:

- z is coded with the integer CDF tables stored in the weights (``model.z_tables()``), never recomputed;
- everything the decoder recomputes before choosing a model (the gains, ``hyper_synthesis``, the slice
  networks and the LRP, and the context wherever it enters them) runs in float64, on a float64 twin of
  the model;
- scales are snapped to the fixed table of :class:`vcodec.entropy.ScaleTable` before they reach the coder.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import constriction
import numpy as np
import torch

from vcodec.coding.effort import Effort
from vcodec.entropy import MAX_RESIDUAL, ChannelTables, ScaleTable, check_finite
from vcodec.errors import BitstreamError, ModelError
from vcodec.models.contract import CodableModel
from vcodec.models.layers import swap_gelu


@functools.lru_cache(maxsize=1)
def scale_table() -> ScaleTable:
    return ScaleTable()


def _words(data: bytes) -> np.ndarray:
    if len(data) % 4:
        raise BitstreamError("corrupt bitstream: a range-coded stream is not a whole number of words")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


@dataclass
class Latents:
    z_bytes: bytes
    y_bytes: bytes
    y_hat: torch.Tensor  # float64, gained domain (before the inverse gain)
    # -log2 p under the model's continuous scales, what the coder is measured against; only when asked for
    ideal_bits: dict[str, float] | None = None


# Encoder-side rate-distortion optimised quantisation (RDOQ), an option (rdo=True). A residual may be
# moved one step towards zero when that saves more bits than the distortion it adds is worth at the
# level's lambda. A latent error e in channel c costs about latent_error_weights()_c * (inv_gain_c * e)^2
# of squared pixel error (the model's linear synthesis; see CodableModel.latent_error_weights), and
# RDO_WEIGHT scales that estimate. Tuned on the held-out split of the training folder (never Kodak) with
# the shipped weights, BD-rate against plain rounding: +12.3 % at 0.5, +5.2 % at 1, +2.7 % at 1.5, +1.6 %
# at 2, +0.6 % at 3 (and +0.2 % for vcodec 0.1's orthonormal estimate at 2), so no weight pays and
# rounding is the default. The estimate is not what fails: the whole synthesis passes on only 0.4-0.9x of
# the linear path's error (its deep path undoes part of it). Moving residuals towards zero biases y_hat,
# which later slices are predicted from and the deep synthesis was trained on.
RDO_WEIGHT = 2.0


def _select(t: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The values of one pass: all of ``t``, or (flat, channel-major raster order) where ``mask`` is set."""
    return t if mask is None else t[mask.expand_as(t)]


def _gaussian_info(residual: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Bits of each integer residual under N(0, sigma) discretised, with training's scale floor."""
    sigma = sigma.clamp_min(0.11)
    upper = torch.special.ndtr((0.5 - residual.abs()) / sigma)
    lower = torch.special.ndtr((-0.5 - residual.abs()) / sigma)
    return -torch.log2((upper - lower).clamp_min(1e-30))


class LatentCoder:
    """Codes the latents of one codable model on one device."""

    def __init__(self, model: CodableModel, device: str | torch.device = "cpu", rdo_weight: float = RDO_WEIGHT):
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        cdf, lengths, offsets = model.z_tables()
        if cdf.numel() == 0:
            raise ModelError("the model has no entropy-coding tables: make it coder-ready first "
                             "(vcodec.zoo.make_coder_ready)")
        self.z_tables = ChannelTables(cdf.cpu().numpy(), lengths.cpu().numpy(), offsets.cpu().numpy())
        # A float64 twin for everything the decoder recomputes (see the module docstring).
        self.f64 = copy.deepcopy(self.model).double()
        self.medians = model.z_medians().detach().double().reshape(-1, 1, 1).to(self.device)
        self.error_weights = model.latent_error_weights().double().reshape(1, -1, 1, 1).to(self.device)
        self.rdo_weight = rdo_weight
        self.table = scale_table()

    def _q(self, q: float) -> torch.Tensor:
        return torch.tensor([q], dtype=torch.float64, device=self.device)

    @torch.no_grad()
    def gains(self, q: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(gain, inverse gain) of level ``q``, float64 (1, M, 1, 1), from the float64 twin."""
        return self.f64.gains(self._q(q), torch.float64)

    def _context64(self, context: torch.Tensor | None) -> torch.Tensor | None:
        return None if context is None else context.to(self.device, torch.float64)

    def _support(self, z_sym: np.ndarray, context: torch.Tensor | None):
        z_hat = torch.from_numpy(z_sym).to(self.device, torch.float64)[None] + self.medians
        return self.f64.hyper_synthesis(z_hat, self._context64(context))

    def rdo_weights(self, q: float, inv_gain: torch.Tensor) -> torch.Tensor:
        """Bits per unit of squared latent error, per channel (1, M, 1, 1): see RDO_WEIGHT."""
        lmbda = float(self.model.lmbda(torch.tensor([q])))
        return self.rdo_weight * lmbda * 255**2 / 3 * self.error_weights * inv_gain**2

    @staticmethod
    def _rdo(r: torch.Tensor, n: torch.Tensor, sigma: torch.Tensor, w: torch.Tensor, correction: torch.Tensor):
        """The rounded residuals ``n`` of ``r = y - mu``, each moved one step towards zero where that lowers
        bits + w * error^2. ``correction`` is the LRP of ``n``, held fixed for both candidates (one LRP pass
        instead of one per candidate)."""
        towards_zero = n - torch.sign(n)
        cost = _gaussian_info(n, sigma) + w * (n + correction - r) ** 2
        cost_towards = _gaussian_info(towards_zero, sigma) + w * (towards_zero + correction - r) ** 2
        return torch.where(cost_towards < cost, towards_zero, n)

    def latent(self, x: torch.Tensor, q: float, context: torch.Tensor | None = None) -> torch.Tensor:
        """The gained latent y (float64) of x (1, 3, H, W) in [0, 1], H and W multiples of the stride."""
        gain, _ = self.f64.gains(self._q(q), torch.float64)
        ctx = None if context is None else context.to(self.device, torch.float32)
        y = self.model.analysis(x.to(self.device, torch.float32), ctx).double() * gain
        check_finite("the latent y", y.cpu().numpy())
        return y

    def encode(self, x: torch.Tensor | None, q: float, context: torch.Tensor | None = None, measure: bool = False,
               rdo: bool = False, effort: Effort | None = None, y: torch.Tensor | None = None) -> Latents:
        """x: (1, 3, H, W) float in [0, 1], H and W multiples of the model stride; q a model level.

        ``rdo`` chooses the residuals by rate-distortion cost instead of plain rounding (see RDO_WEIGHT).
        ``effort`` above the default refines the latents against the decoder first (vcodec.coding.refine).
        ``measure`` also returns the ideal information content of z and y (benchmarks only: it costs
        an extra likelihood pass on every slice). ``y``: the gained latent of x when the caller has it
        (a tile cut from windowed analysis, ``vcodec.coding.tiles``); x is then needed only to refine."""
        if y is None:
            with torch.no_grad():
                y = self.latent(x, q, context)
        plain = self.encode_latent(y, q, context, measure, rdo)
        if effort is None or not effort.iterations:
            return plain
        from vcodec.coding.refine import refine

        u, z = refine(self, x, y, q, effort, context)
        refined = self.encode_latent(u, q, context, measure, rdo, z)
        # Keep the refined latents only where they pay for real: bits written plus the distortion the
        # decoder will see, at the lambda refinement aimed for (it optimises a relaxation of this).
        cost = [self.rd_cost(lat, x, q, context, effort.lmbda_scale) for lat in (plain, refined)]
        return refined if cost[1] < cost[0] else plain

    @torch.no_grad()
    def rd_cost(self, latents: Latents, x: torch.Tensor, q: float, context: torch.Tensor | None = None,
                lmbda_scale: float = 1.0) -> float:
        """bits + lambda * 255^2 * SSE / 3 of coded latents: the training loss, per image, on what the decoder
        gets (8-bit pixels); lambda is the level's times ``lmbda_scale``."""
        x_hat = torch.round(self.synthesize(latents.y_hat, q, context) * 255) / 255
        lmbda = lmbda_scale * float(self.model.lmbda(torch.tensor([q])))
        bits = 8 * (len(latents.z_bytes) + len(latents.y_bytes))
        return bits + lmbda * 255**2 * float((x_hat - x.to(x_hat)).pow(2).sum()) / 3

    def refinement_model(self) -> CodableModel:
        """A channels-last copy of the model with frozen weights, for latent refinement (made once), its
        GELUs run on the channels-last memory as it lies (vcodec.models.layers.ChannelsLastGELU)."""
        if getattr(self, "_refinement_model", None) is None:
            model = copy.deepcopy(self.model).to(memory_format=torch.channels_last).requires_grad_(False)
            self._refinement_model = swap_gelu(model)
        return self._refinement_model

    @torch.no_grad()
    def encode_latent(self, y: torch.Tensor, q: float, context: torch.Tensor | None = None, measure: bool = False,
                      rdo: bool = False, z: torch.Tensor | None = None) -> Latents:
        """Code a gained latent ``y`` (float64), with its hyper-latent ``z`` (by default ``hyper_analysis(y)``)."""
        _, inv_gain = self.f64.gains(self._q(q), torch.float64)
        rdo_w = self.rdo_weights(q, inv_gain).split(self.model.slices, dim=1) if rdo else None
        if z is None:
            z = self.model.hyper_analysis(y.float())
        z_sym = self.z_tables.clamp(torch.round(z[0].double() - self.medians).cpu().numpy().astype(np.int64))
        z_enc = constriction.stream.queue.RangeEncoder()
        self.z_tables.encode(z_enc, z_sym)
        ideal = None
        if measure:
            z_hat = torch.from_numpy(z_sym).to(self.device, torch.float32)[None] + self.medians.float()
            z_bits = getattr(self.model, "z_bits", None)
            ideal = {"z": float(z_bits(z_hat).sum()) if z_bits else float("nan"), "y": 0.0}

        y_enc = constriction.stream.queue.RangeEncoder()
        y_slices = y.split(self.model.slices, dim=1)

        def quantize(k, mu, sigma, lrp, mask):
            r = y_slices[k] - mu
            residual = torch.round(r).clamp(-MAX_RESIDUAL, MAX_RESIDUAL)
            if rdo:
                residual = self._rdo(r, residual, sigma, rdo_w[k], lrp(mu + residual))
            coded, scales = _select(residual, mask), _select(sigma, mask)
            self.table.encode(y_enc, coded.cpu().numpy().astype(np.int64), self.table.index(scales.cpu().numpy()))
            if measure:
                ideal["y"] += float(_gaussian_info(coded, scales).sum())
            return mu + residual

        y_hat = self.f64.slice_schedule(self._support(z_sym, context), quantize)
        return Latents(
            z_bytes=z_enc.get_compressed().astype("<u4").tobytes(),
            y_bytes=y_enc.get_compressed().astype("<u4").tobytes(),
            y_hat=y_hat,
            ideal_bits=ideal,
        )

    @torch.no_grad()
    def decode(self, z_bytes: bytes, y_bytes: bytes, height: int, width: int, q: float,
               context: torch.Tensor | None = None) -> torch.Tensor:
        """The y_hat of :meth:`encode`, bit for bit, from the streams. height/width: padded size."""
        try:
            z_dec = constriction.stream.queue.RangeDecoder(_words(z_bytes))
            z_sym = self.z_tables.decode(z_dec, self.model.z_shape(height, width))
            y_dec = constriction.stream.queue.RangeDecoder(_words(y_bytes))

            def quantize(k, mu, sigma, lrp, mask):
                residual = self.table.decode(y_dec, self.table.index(_select(sigma, mask).cpu().numpy()))
                if mask is None:
                    return mu + torch.from_numpy(residual).to(mu)
                out = torch.zeros_like(mu)
                out[mask.expand_as(mu)] = torch.from_numpy(residual).to(mu)
                return mu + out

            return self.f64.slice_schedule(self._support(z_sym, context), quantize)
        except (AssertionError, ValueError, RuntimeError, OverflowError) as e:  # constriction's bad-data errors
            raise BitstreamError(f"corrupt bitstream: range decoding failed ({e})") from None

    @torch.no_grad()
    def synthesize(self, y_hat: torch.Tensor, q: float, context: torch.Tensor | None = None,
                   exact: bool = False) -> torch.Tensor:
        """x_hat (1, 3, H, W) in [0, 1] from the decoded latents: float32, or with ``exact`` float64 on the
        float64 twin (a video decoder's output is the next frame's reference, so it must be the same on
        every machine)."""
        _, inv_gain = self.f64.gains(self._q(q), torch.float64)
        if exact:
            return self.f64.synthesis(y_hat * inv_gain, self._context64(context)).clamp_(0, 1)
        ctx = None if context is None else context.to(self.device, torch.float32)
        return self.model.synthesis((y_hat * inv_gain).float(), ctx).clamp_(0, 1)
