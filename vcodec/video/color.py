"""RGB <-> Y'CbCr for 8-bit video planes: the matrices of ITU-T H.273, full or limited ("studio") range.

    Y  = K_R R + K_G G + K_B B                   K_G = 1 - K_R - K_B
    Cb = (B - Y) / (2 (1 - K_B))                 Cr = (R - Y) / (2 (1 - K_R))
    full range:     Y' = Y,                 C' = C + 128            (0..255, as JPEG)
    limited range:  Y' = 16 + 219/255 Y,    C' = 128 + 224/255 C    (16..235 and 16..240)

Every step is float64 and rounded once at the end. The full-range BT.709 pair is the conversion of the
evaluation (``vcodec.eval.codecs.ycbcr`` is these functions with those arguments) and must stay
bit-identical to it: results cached on disk were measured with it.

Chroma of 4:2:0 / 4:2:2 / 4:4:0 planes is brought back to the luma size by bilinear interpolation, each
chroma sample sited at the centre of the 2 luma samples it covers along a subsampled axis (JPEG siting).
"""

from __future__ import annotations

import numpy as np

#: (K_R, K_B) by matrix name (H.273 MatrixCoefficients 1, 5/6, 9 and 7).
MATRICES = {
    "bt709": (0.2126, 0.0722),
    "bt601": (0.299, 0.114),
    "bt2020": (0.2627, 0.0593),
    "smpte240m": (0.212, 0.087),
}
# Limited range: Y' spans 219 codes above 16, chroma 224 codes around 128 (BT.601/709, 8 bit).
_Y_SCALE, _C_SCALE, _Y_OFFSET = 219 / 255, 224 / 255, 16


def _coefficients(matrix: str) -> tuple[float, float, float]:
    try:
        kr, kb = MATRICES[matrix]
    except KeyError:
        raise ValueError(f"unknown YCbCr matrix {matrix!r}; known: {', '.join(MATRICES)}") from None
    return kr, 1 - kr - kb, kb


def to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def rgb_to_ycbcr_float(rgb: np.ndarray, matrix: str = "bt709", full_range: bool = True) -> np.ndarray:
    """H x W x 3 RGB (0..255) -> 3 x H x W float64 planes (Y', Cb', Cr'), not rounded."""
    kr, kg, kb = _coefficients(matrix)
    r, g, b = np.moveaxis(rgb.astype(np.float64), -1, 0)
    y = kr * r + kg * g + kb * b
    cb, cr = (b - y) / (2 * (1 - kb)), (r - y) / (2 * (1 - kr))
    if not full_range:
        y, cb, cr = y * _Y_SCALE + _Y_OFFSET, cb * _C_SCALE, cr * _C_SCALE
    return np.stack([y, cb + 128, cr + 128])


def rgb_to_ycbcr(rgb: np.ndarray, matrix: str = "bt709", full_range: bool = True) -> np.ndarray:
    """H x W x 3 uint8 RGB -> 3 x H x W uint8 planes (Y', Cb', Cr'), rounded to nearest."""
    return to_uint8(rgb_to_ycbcr_float(rgb, matrix, full_range))


def ycbcr_to_rgb(ycbcr: np.ndarray, matrix: str = "bt709", full_range: bool = True) -> np.ndarray:
    """3 x H x W planes (Y', Cb', Cr') on the 8-bit scale (any dtype) -> H x W x 3 uint8 RGB, rounded."""
    kr, kg, kb = _coefficients(matrix)
    y, cb, cr = ycbcr.astype(np.float64) - np.array([0, 128, 128])[:, None, None]
    if not full_range:
        y, cb, cr = (y - _Y_OFFSET) / _Y_SCALE, cb / _C_SCALE, cr / _C_SCALE
    r = y + (2 * (1 - kr)) * cr
    b = y + (2 * (1 - kb)) * cb
    g = (y - kr * r - kb * b) / kg
    return to_uint8(np.stack([r, g, b], axis=-1))


def upsample_chroma(plane: np.ndarray, height: int, width: int) -> np.ndarray:
    """A chroma plane (ceil(H/2) or H rows, ceil(W/2) or W columns) -> H x W, bilinear, float64.

    Along a subsampled axis chroma sample k sits at luma position 2k + 0.5; the first and last samples
    are replicated outwards.
    """
    out = plane.astype(np.float64)
    for axis, size in ((0, height), (1, width)):
        if out.shape[axis] == size:
            continue
        if out.shape[axis] != (size + 1) // 2:
            raise ValueError(f"a chroma plane of {plane.shape} does not subsample {height} x {width} by 1 or 2")
        pos = (np.arange(size) - 0.5) / 2  # luma index i in chroma sample units
        lo = np.clip(np.floor(pos).astype(int), 0, out.shape[axis] - 1)
        hi = np.clip(lo + 1, 0, out.shape[axis] - 1)
        frac = np.clip(pos - np.floor(pos), 0, 1)
        frac = np.where(pos < 0, 0.0, frac)  # left/top edge: replicate the first sample
        shape = [1, 1]
        shape[axis] = size
        out = np.take(out, lo, axis) * (1 - frac.reshape(shape)) + np.take(out, hi, axis) * frac.reshape(shape)
    return out
