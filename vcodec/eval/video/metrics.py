"""Per-frame quality and rate of a coded clip, and the clip means.

Both frames are 8-bit RGB: the source as read and the decoder's output, as a viewer sees them.

- PSNR-RGB: 10 log10(255^2 / MSE) over the 3 channels together (``vcodec.eval.metrics.psnr_rgb``).
- PSNR-Y, -U, -V: the same on each plane of Y'CbCr BT.709 *full range*, 4:4:4, computed in float64 from
  both RGB frames without rounding (``ycbcr.rgb_to_ycbcr_float``), peak 255. Chroma keeps full resolution:
  the source is RGB, and a 4:2:0 metric would hide the chroma a 4:2:0 codec throws away.
- YUV-PSNR: (6 PSNR-Y + PSNR-U + PSNR-V) / 8, the weighted mean of the plane PSNRs as in JVET's common
  test conditions and the learned-video literature (DCVC).
- bpp of a frame: 8 * (bytes spent on it) / (W * H); of the clip: 8 * len(bitstream) / (W * H * frames),
  which is the mean of the frame values because the frame bytes add up to the whole bitstream.

Clip means are arithmetic means over frames of the per-frame values (not the PSNR of the mean MSE), as
JVET and DCVC average. Identical frames give +inf and carry into the mean.
"""

from __future__ import annotations

import math

import numpy as np

from vcodec.eval.codecs.ycbcr import rgb_to_ycbcr_float
from vcodec.eval.metrics import psnr_rgb

YUV_WEIGHTS = (6, 1, 1)
DEFINITIONS = (
    "PSNR-RGB over the 3 channels; YUV-PSNR = (6 PSNR-Y + PSNR-U + PSNR-V) / 8 on Y'CbCr BT.709 full range 4:4:4 "
    "computed unrounded from both RGB frames; clip values are arithmetic means over frames of the per-frame values"
)


def _psnr(mse: float) -> float:
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def frame_metrics(original: np.ndarray, decoded: np.ndarray) -> dict[str, float]:
    """PSNR-RGB, PSNR-Y/U/V and YUV-PSNR of one decoded frame, in dB."""
    rgb = psnr_rgb(original, decoded)
    diff = rgb_to_ycbcr_float(original) - rgb_to_ycbcr_float(decoded)
    y, u, v = (_psnr(float(np.mean(d * d))) for d in diff)
    weights = sum(YUV_WEIGHTS)
    yuv = (YUV_WEIGHTS[0] * y + YUV_WEIGHTS[1] * u + YUV_WEIGHTS[2] * v) / weights
    return {"psnr-rgb": rgb, "psnr-y": y, "psnr-u": u, "psnr-v": v, "psnr-yuv": yuv}


def bits_per_pixel(num_bytes: int, width: int, height: int, frames: int = 1) -> float:
    return num_bytes * 8 / (width * height * frames)
