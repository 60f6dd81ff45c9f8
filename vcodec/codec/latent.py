"""Glue between a model and the range coder: turns a padded image into z and y streams and back.

Reproducibility is the point of this module. The encoder and the decoder must derive bit-identical
probability models, possibly on different hardware. Three rules make that hold:

- z is coded with the integer CDF tables stored in the weights, never recomputed;
- everything the decoder recomputes before choosing a model (h_s, the slice mean/scale networks, LRP and
  the gains) runs in float64, where a different summation order moves results by ~1e-16 instead of
  the ~1e-7 of float32 that was seen to flip scale indices between two CPU code paths;
- scales are snapped to the fixed table of :class:`vcodec.entropy.ScaleTable` before they reach the coder.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import constriction
import numpy as np
import torch

from vcodec.entropy import MAX_RESIDUAL, ChannelTables, ScaleTable, check_finite
from vcodec.errors import BitstreamError, ModelError


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
    y_hat: torch.Tensor  # float64, scaled domain (before the inverse gain)
    # -log2 p under the model's continuous scales, what the coder is measured against; only when asked for
    ideal_bits: dict[str, float] | None = None


def _gaussian_bits(residual: torch.Tensor, sigma: torch.Tensor) -> float:
    """Information content of integer residuals under N(0, sigma) discretised, with training's scale floor."""
    sigma = sigma.clamp_min(0.11)
    upper = torch.special.ndtr((0.5 - residual.abs()) / sigma)
    lower = torch.special.ndtr((-0.5 - residual.abs()) / sigma)
    return float(-torch.log2((upper - lower).clamp_min(1e-30)).sum())


class LatentCoder:
    """Codes images with one model on one device."""

    def __init__(self, model: torch.nn.Module, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        eb = model.entropy_bottleneck
        if eb._quantized_cdf.numel() == 0:
            raise ModelError("the model has no entropy-coding tables: call entropy_bottleneck.update() first")
        self.z_tables = ChannelTables(
            eb._quantized_cdf.cpu().numpy(), eb._cdf_length.cpu().numpy(), eb._offset.cpu().numpy()
        )
        # A float64 twin for everything the decoder recomputes (see the module docstring).
        self.f64 = copy.deepcopy(self.model).double()
        self.medians = eb._get_medians().detach().double().reshape(-1, 1, 1).to(self.device)
        self.table = scale_table()

    def _support_from_z(self, z_sym: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        z_hat = torch.from_numpy(z_sym).to(self.device, torch.float64)[None] + self.medians
        return self.f64.support(z_hat)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, q: float, measure: bool = False) -> Latents:
        """x: (1, 3, H, W) float in [0, 1], H and W multiples of the model stride.

        ``measure`` also returns the ideal information content of z and y (benchmarks only: it costs
        an extra likelihood pass on every slice)."""
        gain, _ = self.f64.gains(torch.tensor([q], dtype=torch.float64, device=self.device), torch.float64)
        y = self.model.g_a(x.to(self.device, torch.float32)).double() * gain
        check_finite("the latent y", y.cpu().numpy())
        z = self.model.h_a(y.float())
        z_sym = torch.round(z[0].double() - self.medians).cpu().numpy().astype(np.int64)
        z_sym = self.z_tables.clamp(z_sym)
        z_enc = constriction.stream.queue.RangeEncoder()
        self.z_tables.encode(z_enc, z_sym)
        ideal = None
        if measure:
            z_hat = torch.from_numpy(z_sym).to(self.device, torch.float32) + self.medians.float()
            z_lik = self.model.entropy_bottleneck._likelihood(z_hat.reshape(z_hat.shape[0], 1, -1))[0]
            ideal = {"z": float(-torch.log2(z_lik.clamp_min(1e-9)).sum()), "y": 0.0}

        support = self._support_from_z(z_sym)
        y_enc = constriction.stream.queue.RangeEncoder()
        y_hat = []
        for k, y_k in enumerate(y.split(self.model.cfg.slices, dim=1)):
            mu, sigma = self.f64.slice_params(k, support, y_hat)
            index = self.table.index(sigma.cpu().numpy())
            residual = torch.round(y_k - mu).clamp(-MAX_RESIDUAL, MAX_RESIDUAL)
            self.table.encode(y_enc, residual.cpu().numpy().astype(np.int64), index)
            if measure:
                ideal["y"] += _gaussian_bits(residual, sigma)
            y_hat_k = mu + residual
            y_hat.append(y_hat_k + self.f64.lrp(k, support, y_hat, y_hat_k))
        return Latents(
            z_bytes=z_enc.get_compressed().astype("<u4").tobytes(),
            y_bytes=y_enc.get_compressed().astype("<u4").tobytes(),
            y_hat=torch.cat(y_hat, dim=1),
            ideal_bits=ideal,
        )

    @torch.no_grad()
    def decode(self, z_bytes: bytes, y_bytes: bytes, height: int, width: int, q: float) -> torch.Tensor:
        """The y_hat of :meth:`encode`, bit for bit, from the streams. height/width: padded size."""
        s = self.model.stride
        cfg = self.model.cfg
        try:
            z_dec = constriction.stream.queue.RangeDecoder(_words(z_bytes))
            z_sym = self.z_tables.decode(z_dec, (cfg.Z, height // s, width // s))
            support = self._support_from_z(z_sym)
            y_dec = constriction.stream.queue.RangeDecoder(_words(y_bytes))
            y_hat = []
            for k in range(len(cfg.slices)):
                mu, sigma = self.f64.slice_params(k, support, y_hat)
                index = self.table.index(sigma.cpu().numpy())
                residual = torch.from_numpy(self.table.decode(y_dec, index)).to(mu)
                y_hat_k = mu + residual
                y_hat.append(y_hat_k + self.f64.lrp(k, support, y_hat, y_hat_k))
        except (AssertionError, ValueError, RuntimeError, OverflowError) as e:  # constriction's bad-data errors
            raise BitstreamError(f"corrupt bitstream: range decoding failed ({e})") from None
        return torch.cat(y_hat, dim=1)

    @torch.no_grad()
    def synthesize(self, y_hat: torch.Tensor, q: float) -> torch.Tensor:
        """x_hat (1, 3, H, W) float32 in [0, 1] from the decoded latents."""
        _, inv_gain = self.f64.gains(torch.tensor([q], dtype=torch.float64, device=self.device), torch.float64)
        return self.model.g_s((y_hat * inv_gain).float()).clamp_(0, 1)
