"""Inputs and outputs: PIL images, image files, numpy arrays and torch tensors to 8-bit planes and back.

The model codes RGB. Grey images are coded as RGB with equal channels, alpha is kept losslessly in a
stream of its own (zlib), and a palette image keeps its palette so it decodes to mode P again.
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from vcodec.errors import BitstreamError, UnsupportedInputError

# The transforms hold whole-image activations (about 300 bytes a pixel at peak), so 32 MP is the most
# that fits a 16 GiB machine without tiling.
MAX_PIXELS = 1 << 25
MAX_SIDE = 1 << 15

@dataclass
class Planes:
    rgb: np.ndarray  # (H, W, 3) uint8
    mode: str  # the mode to give back on decode: L, RGB, RGBA, LA or P
    kind: str = "pil"  # what the caller handed in: pil, numpy or tensor
    alpha: np.ndarray | None = None  # (H, W) uint8
    palette: bytes | None = None  # 768-byte RGB palette of a P image
    reduced_16bit: bool = False


def open_image(path: str | Path) -> Image.Image:
    """Open an image file with its EXIF orientation applied."""
    try:
        with Image.open(path) as im:
            w, h = im.size  # known from the header: refuse before decoding any pixel
            if w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
                raise UnsupportedInputError(f"{path}: {w}x{h} is larger than vcodec codes ({MAX_PIXELS >> 20} MP, "
                                            f"{MAX_SIDE} a side)")
            im.load()
            return ImageOps.exif_transpose(im)
    except FileNotFoundError:
        raise UnsupportedInputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UnsupportedInputError(f"{path} is a directory, not an image") from None
    except UnidentifiedImageError:
        raise UnsupportedInputError(f"{path} is not an image vcodec can read (PNG, JPEG, WebP, TIFF, BMP, PPM...)") from None
    except Image.DecompressionBombError as e:
        raise UnsupportedInputError(f"{path}: {e}") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt files
        raise UnsupportedInputError(f"cannot read image {path}: {e}") from None


def _reduce_16bit(a: np.ndarray) -> np.ndarray:
    warnings.warn("16-bit input reduced to 8 bits: vcodec codes 8-bit images", stacklevel=3)
    return np.clip(np.rint(a.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def _from_pil(im: Image.Image) -> Planes:
    mode = im.mode
    if mode == "P":
        if "transparency" in im.info:
            return _from_pil(im.convert("RGBA"))
        pal = im.getpalette() or []
        palette = bytes(pal[:768]).ljust(768, b"\0")
        return Planes(np.asarray(im.convert("RGB")), "P", palette=palette)
    if mode == "PA":
        return _from_pil(im.convert("RGBA"))
    if mode == "1":
        return _from_pil(im.convert("L"))
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        return _from_array(np.asarray(im).astype(np.uint16 if mode != "I" else np.int64), "pil")
    if mode in ("L", "LA"):
        a = np.asarray(im)
        grey = a if mode == "L" else a[..., 0]
        return Planes(np.repeat(grey[..., None], 3, axis=2), mode, alpha=None if mode == "L" else a[..., 1].copy())
    if mode == "RGBA":
        a = np.asarray(im)
        return Planes(a[..., :3].copy(), "RGBA", alpha=a[..., 3].copy())
    if mode in ("RGB", "CMYK", "YCbCr", "LAB", "HSV"):
        return Planes(np.asarray(im.convert("RGB")), "RGB")
    raise UnsupportedInputError(f"unsupported image mode {mode!r}")


def _from_array(a: np.ndarray, kind: str) -> Planes:
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise UnsupportedInputError(f"expected an image array of shape (H, W), (H, W, 1..4), got {tuple(a.shape)}")
    reduced = False
    if a.dtype == np.uint8:
        pass
    elif a.dtype in (np.uint16, np.int32, np.int64) and a.size and a.min() >= 0 and a.max() <= 65535:
        if a.dtype == np.uint16 or a.max() > 255:
            a, reduced = _reduce_16bit(a), True
        else:
            a = a.astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise UnsupportedInputError("the image holds NaN or infinite values")
        if a.min() < 0 or a.max() > 1:
            raise UnsupportedInputError("float images must hold values in [0, 1]")
        a = np.rint(a.astype(np.float64) * 255).astype(np.uint8)
    else:
        raise UnsupportedInputError(f"unsupported pixel type {a.dtype}")
    c = a.shape[2]
    grey = c in (1, 2)
    rgb = np.repeat(a[..., :1], 3, axis=2) if grey else a[..., :3]
    alpha = a[..., -1].copy() if c in (2, 4) else None
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]
    return Planes(np.ascontiguousarray(rgb), mode, kind, alpha, None, reduced)


def to_planes(img) -> Planes:
    """Planes of a PIL image, a path, a numpy array (H, W[, C]) or a tensor (C, H, W) in [0, 1]."""
    if isinstance(img, (str, Path)):
        img = open_image(img)
    if isinstance(img, Image.Image):
        planes = _from_pil(img)
        planes.kind = "pil"
        if planes.rgb.shape[0] < 1 or planes.rgb.shape[1] < 1:
            raise UnsupportedInputError("the image is empty")
        return planes
    if isinstance(img, torch.Tensor):
        if img.ndim != 3:
            raise UnsupportedInputError(f"expected a tensor of shape (C, H, W), got {tuple(img.shape)}")
        arr = img.detach().cpu()
        arr = arr.numpy() if arr.dtype != torch.bfloat16 else arr.float().numpy()
        return _from_array(np.moveaxis(arr, 0, -1), "tensor")
    if isinstance(img, np.ndarray):
        return _from_array(img, "numpy")
    raise UnsupportedInputError(f"cannot code a {type(img).__name__}: give a PIL image, a path, a numpy array or a tensor")


def pack_alpha(alpha: np.ndarray) -> bytes:
    return zlib.compress(np.ascontiguousarray(alpha).tobytes(), 9)


def unpack_alpha(data: bytes, height: int, width: int) -> np.ndarray:
    # A bounded inflate: a corrupt stream cannot make us allocate more than the image needs.
    d = zlib.decompressobj()
    try:
        raw = d.decompress(data, height * width)
    except zlib.error as e:
        raise BitstreamError(f"corrupt alpha stream: {e}") from None
    if len(raw) != height * width or not d.eof or d.unconsumed_tail:
        raise BitstreamError("corrupt alpha stream: wrong size")
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width)


def from_planes(rgb: np.ndarray, mode: str, kind: str, alpha=None, palette: bytes | None = None):
    """The decoded image in the caller's kind and the original mode."""
    if mode in ("L", "LA"):
        grey = np.rint(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
        chans = [grey] if mode == "L" else [grey, alpha]
    else:
        chans = [rgb[..., i] for i in range(3)] + ([alpha] if mode == "RGBA" else [])
    a = np.stack(chans, axis=2)
    if kind == "numpy":
        return a[..., 0] if mode == "L" else a
    if kind == "tensor":
        return torch.from_numpy(np.moveaxis(a, -1, 0).copy()).float() / 255.0
    if mode == "P":
        pal = Image.new("P", (1, 1))
        pal.putpalette(palette)
        return Image.fromarray(rgb, "RGB").quantize(palette=pal, dither=Image.Dither.NONE)
    return Image.fromarray(a[..., 0] if mode == "L" else a, mode)
