"""RGB <-> YCbCr, BT.709 full range, 8 bit, for the codecs that take YCbCr planes.

The arithmetic is ``vcodec.video.color``'s (one definition of the matrices for the whole package); this
module fixes its arguments for the evaluation.

Both directions round to nearest. Truncation instead (as compressai 1.2.8's bench does) caps an
*uncoded* round trip at 43.7 dB PSNR-RGB on Kodak and costs a coded curve up to 2 dB at high
rates; with rounding the uncoded round trip is about 53 dB, far above any point we measure.

    Y  = 0.2126 R + 0.7152 G + 0.0722 B
    Cb = (B - Y) / 1.8556 + 128          (ITU-T H.273, full range: 2^(n-1) offset)
    Cr = (R - Y) / 1.5748 + 128

4:2:0 chroma is the 2x2 box mean (sample sited between the 4 luma samples) going down and the
matching bilinear interpolation coming back, computed in float64 and rounded once.
"""

from __future__ import annotations

import numpy as np

from vcodec.video import color

_to_uint8 = color.to_uint8


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 RGB -> 3 x H x W uint8 planes (Y, Cb, Cr)."""
    return color.rgb_to_ycbcr(rgb, "bt709", full_range=True)


def rgb_to_ycbcr_float(rgb: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 RGB -> 3 x H x W float64 planes (Y, Cb, Cr), unrounded (for metrics)."""
    return color.rgb_to_ycbcr_float(rgb, "bt709", full_range=True)


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """3 x H x W uint8 planes (Y, Cb, Cr) -> H x W x 3 uint8 RGB."""
    return color.ycbcr_to_rgb(ycbcr, "bt709", full_range=True)


def downsample_420(plane: np.ndarray) -> np.ndarray:
    """H x W uint8 -> ceil(H/2) x ceil(W/2) uint8, 2x2 box mean (odd edges replicated)."""
    h, w = plane.shape
    p = np.pad(plane.astype(np.float64), ((0, h % 2), (0, w % 2)), mode="edge")
    return _to_uint8((p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]) / 4)


def upsample_420(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of downsample_420: bilinear, chroma sample k sited at luma position 2k + 0.5."""
    return _to_uint8(color.upsample_chroma(plane, height, width))
