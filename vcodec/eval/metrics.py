"""Per-image quality and rate metrics, and the dataset average.

All metrics compare 8-bit RGB images (H x W x 3 uint8): the original as read from disk and the
codec's 8-bit reconstruction, as a user would see them.

- PSNR-RGB: 10 log10(255^2 / MSE), the MSE taken over all pixels and the 3 channels together
  (as CompressAI). Identical images give +inf.
- MS-SSIM: pytorch_msssim with its defaults (5 scales, 11x11 Gaussian window, data range 1 on
  [0, 1] float32 values, as CompressAI; float64 differs by ~1e-7 and is 3x slower). The 4
  down-samplings need a short side of at least 161 px; smaller images get NaN rather than a score
  on fewer scales, which would not be comparable with published numbers.
- bpp: the real size of what the codec wrote (file, codestream or bitstream, headers included),
  8 * bytes / (W * H).

Dataset averages follow CompressAI: the arithmetic mean over images of per-image bpp, PSNR and
MS-SSIM (not the PSNR of the mean MSE). A NaN/inf in any image carries into the mean.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

# pytorch_msssim asserts short side > (win_size - 1) * 2**4 with its default 11-tap window.
MS_SSIM_MIN_SIDE = 161

AVERAGING = (
    "arithmetic mean over images of per-image bpp, PSNR-RGB and MS-SSIM, as CompressAI "
    "(not the PSNR of the mean MSE)"
)


def psnr_rgb(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """PSNR in dB between two 8-bit RGB images; +inf when they are identical."""
    _check_pair(original, reconstruction)
    mse = np.mean((original.astype(np.float64) - reconstruction.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ms_ssim_rgb(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """MS-SSIM (5 scales) between two 8-bit RGB images; NaN when the short side is < 161 px."""
    _check_pair(original, reconstruction)
    if min(original.shape[:2]) < MS_SSIM_MIN_SIDE:
        return math.nan
    import torch
    from pytorch_msssim import ms_ssim

    def to_tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).unsqueeze(0).float() / 255

    with torch.no_grad():
        return float(ms_ssim(to_tensor(original), to_tensor(reconstruction), data_range=1.0))


def bits_per_pixel(num_bytes: int, width: int, height: int) -> float:
    return num_bytes * 8 / (width * height)


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean; NaN for no values. inf/NaN entries propagate on purpose."""
    values = list(values)
    return math.fsum(values) / len(values) if values else math.nan


def median(values: Iterable[float]) -> float:
    """Median of the finite values; NaN for none. For times: one stall (a page-in, another process taking
    the core) moves a mean by its whole length and a median not at all."""
    values = sorted(v for v in values if v is not None and math.isfinite(v))
    if not values:
        return math.nan
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _check_pair(original: np.ndarray, reconstruction: np.ndarray) -> None:
    if original.shape != reconstruction.shape or original.ndim != 3 or original.shape[2] != 3:
        raise ValueError(
            f"expected two H x W x 3 images of the same size, got {original.shape} and {reconstruction.shape}"
        )
