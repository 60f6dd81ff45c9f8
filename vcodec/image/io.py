"""Inputs and outputs: PIL images, image files, encoded image bytes, numpy arrays and torch tensors to
8-bit planes and back.

The model codes RGB. Grey images are coded as RGB with equal channels, alpha is kept losslessly in a
stream of its own (zlib), and a palette image keeps its palette so it decodes to mode P again. The ICC
profile, EXIF and XMP of an image file travel in a METADATA unit (``strip=True`` drops them); the EXIF
orientation is applied to the pixels and removed from the EXIF kept.

torch is imported only when a tensor is handed in or asked for, so reading images costs no torch.
"""

from __future__ import annotations

import io
import sys
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vcodec.errors import BitstreamError, UnsupportedInputError
from vcodec.image.bitstream import MAX_SIDE

# The format's limits are 65535 a side and 2^30 pixels (vcodec.image.bitstream). What the codec accepts
# by default is less: 2^28 = 16384 x 16384, the largest image whose 8-bit pixels (768 MB), with the
# tiles' working memory, keep the peak under 2 GB. It can be raised up to the format's (max_pixels=).
MAX_PIXELS = 1 << 28
EXIF_PREFIX = b"Exif\x00\x00"  # JPEG's APP1 prefix; the container keeps the TIFF structure after it
# ICC profiles whose colour space the decoded pixels are in (the header's data colour space field).
_ICC_SPACES = (b"RGB ", b"GRAY")


@dataclass
class Planes:
    """An image as vcodec codes it. ``pixels``: (H, W, 3) or grey (H, W) uint8, or an RGB PIL image
    (kept as it is: a copy of a large photo would double the memory)."""

    pixels: np.ndarray | Image.Image
    mode: str  # the mode to give back on decode: L, RGB, RGBA, LA or P
    kind: str = "pil"  # what the caller handed in: pil, numpy or tensor
    alpha: np.ndarray | None = None  # (H, W) uint8
    palette: bytes | None = None  # 768-byte RGB palette of a P image
    reduced_16bit: bool = False
    metadata: dict[str, bytes] = field(default_factory=dict)  # icc_profile, exif (TIFF), xmp

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        if isinstance(self.pixels, Image.Image):
            return self.pixels.height, self.pixels.width
        return self.pixels.shape[0], self.pixels.shape[1]

    def region(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """(h, w, 3) uint8 of rows y0..y1 and columns x0..x1, clipped to the image."""
        h, w = self.size
        y1, x1 = min(y1, h), min(x1, w)
        if isinstance(self.pixels, Image.Image):
            return np.asarray(self.pixels.crop((x0, y0, x1, y1)))
        part = self.pixels[y0:y1, x0:x1]
        return np.repeat(part[..., None], 3, axis=2) if part.ndim == 2 else part

    @property
    def rgb(self) -> np.ndarray:
        """The whole image, (H, W, 3) uint8."""
        return self.region(0, self.size[0], 0, self.size[1])


def check_size(width: int, height: int, max_pixels: int = MAX_PIXELS, what: str = "image") -> None:
    """UnsupportedInputError naming the limit that a ``width`` x ``height`` image is over."""
    if width > MAX_SIDE or height > MAX_SIDE:
        raise UnsupportedInputError(f"{what} of {width}x{height} is too large: vcodec codes at most {MAX_SIDE} px a side")
    if width * height > max_pixels:
        raise UnsupportedInputError(f"{what} of {width}x{height} ({width * height / 1e6:.1f} MP) is larger than vcodec "
                                    f"codes ({_mp(max_pixels)}); raise the limit with --max-pixels or max_pixels=")


def _mp(pixels: int) -> str:
    return f"{pixels / 1e6:.0f} MP" if pixels >= 10**6 else f"{pixels} pixels"


def open_image(source, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image file (a path, a binary file object, or the encoded bytes) with its EXIF orientation
    applied. The size is checked from the file's header, before any pixel is decoded."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source, name = io.BytesIO(bytes(source)), "the image bytes"
    else:
        name = str(source) if isinstance(source, (str, Path)) else "the image"
    bomb_limit = Image.MAX_IMAGE_PIXELS
    try:
        # Pillow's decompression-bomb guard stops at 179 MP; vcodec checks the size itself, just below.
        Image.MAX_IMAGE_PIXELS = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source)
    except FileNotFoundError:
        raise UnsupportedInputError(f"no such file: {name}") from None
    except IsADirectoryError:
        raise UnsupportedInputError(f"{name} is a directory, not an image") from None
    except UnidentifiedImageError:
        raise UnsupportedInputError(f"{name} is not an image vcodec can read (PNG, JPEG, WebP, TIFF, BMP, PPM...)") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise UnsupportedInputError(f"cannot read image {name}: {e}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = bomb_limit
    try:
        w, h = im.size
        check_size(w, h, max_pixels, name)
        if getattr(im, "n_frames", 1) > 1:
            warnings.warn(f"{name} is animated ({im.n_frames} frames): only the first frame is coded "
                          "(vcodec codes still images)", stacklevel=2)
        im.load()
        # exif_transpose copies even an upright image; transpose in place, and only when it is needed.
        if im.getexif().get(0x0112, 1) != 1:
            ImageOps.exif_transpose(im, in_place=True)
        return im
    except UnsupportedInputError:
        im.close()
        raise
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt files
        im.close()
        raise UnsupportedInputError(f"cannot read image {name}: {e}") from None


def metadata_of(im: Image.Image) -> dict[str, bytes]:
    """The ICC profile, EXIF (TIFF structure, without JPEG's prefix) and XMP of an opened image."""
    out = {}
    icc = im.info.get("icc_profile")
    if icc:
        if icc[16:20] in _ICC_SPACES:
            out["icc_profile"] = bytes(icc)
        else:
            warnings.warn(f"ICC profile for {icc[16:20].decode('latin-1').strip()} dropped: vcodec codes RGB "
                          "and grey, converted without it", stacklevel=3)
    exif = im.info.get("exif")
    if exif:
        exif = bytes(exif)
        out["exif"] = exif[len(EXIF_PREFIX):] if exif.startswith(EXIF_PREFIX) else exif
    xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    if xmp:
        out["xmp"] = xmp.encode() if isinstance(xmp, str) else bytes(xmp)
    return out


def _reduce_16bit(a: np.ndarray) -> np.ndarray:
    warnings.warn("16-bit input reduced to 8 bits: vcodec codes 8-bit images", stacklevel=4)
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
        grey = a if mode == "L" else np.ascontiguousarray(a[..., 0])
        return Planes(grey, mode, alpha=None if mode == "L" else a[..., 1].copy())
    if mode == "RGBA":
        a = np.asarray(im)
        return Planes(a[..., :3], "RGBA", alpha=a[..., 3].copy())
    if mode == "RGB":
        return Planes(im, "RGB")
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return Planes(im.convert("RGB"), "RGB")
    raise UnsupportedInputError(f"unsupported image mode {mode!r}")


def _from_array(a: np.ndarray, kind: str, shown: tuple | None = None) -> Planes:
    """``shown``: the shape as the caller passed it (a tensor's (C, H, W)), for the messages."""
    shown = tuple(a.shape) if shown is None else shown
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        layout = "(C, H, W) with 1 to 4 channels" if kind == "tensor" else "(H, W) or (H, W, C) with 1 to 4 channels"
        raise UnsupportedInputError(f"expected an image of shape {layout}, got shape {shown}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise UnsupportedInputError(f"the image is empty (shape {shown})")
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
    pixels = np.ascontiguousarray(a[..., 0] if c in (1, 2) else a[..., :3])
    alpha = a[..., -1].copy() if c in (2, 4) else None
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[c]
    return Planes(pixels, mode, kind, alpha, None, reduced)


def _tensor_planes(t) -> Planes:
    shape = tuple(t.shape)
    if t.ndim != 3 or not 1 <= shape[0] <= 4:
        hint = ""
        if t.ndim == 3 and 1 <= shape[2] <= 4:
            hint = ": this looks like (H, W, C); pass img.permute(2, 0, 1)"
        elif t.ndim == 4:
            hint = ": a batch (N, C, H, W) goes to Codec.compress, which returns a list"
        raise UnsupportedInputError(f"expected a tensor of shape (C, H, W) with 1 to 4 channels, got shape {shape}{hint}")
    import torch  # already imported: a tensor was handed in

    arr = t.detach().cpu()
    arr = arr.float().numpy() if arr.dtype == torch.bfloat16 else arr.numpy()
    return _from_array(np.moveaxis(arr, 0, -1), "tensor", shape)


def _is_tensor(img) -> bool:
    torch = sys.modules.get("torch")  # a tensor cannot exist before torch is imported
    return torch is not None and isinstance(img, torch.Tensor)


def to_planes(img, strip: bool = False, max_pixels: int = MAX_PIXELS) -> Planes:
    """Planes of a PIL image, a path, a binary file object or the bytes of an encoded image file, a numpy
    array (H, W[, C]) or a tensor (C, H, W) in [0, 1]. ``strip`` drops the ICC profile, EXIF and XMP."""
    if isinstance(img, (str, Path, bytes, bytearray, memoryview)) or hasattr(img, "read"):
        img = open_image(img, max_pixels)
    if isinstance(img, Image.Image):
        if img.width < 1 or img.height < 1:
            raise UnsupportedInputError("the image is empty")
        metadata = {} if strip else metadata_of(img)
        planes = _from_pil(img)
        planes.kind, planes.metadata = "pil", metadata
        space = b"GRAY" if planes.mode in ("L", "LA") else b"RGB "
        icc = metadata.get("icc_profile")
        if icc and icc[16:20] != space:
            # e.g. a grey profile on a palette image whose pixels decode as RGB: the output could not carry it
            warnings.warn(f"ICC profile for {icc[16:20].decode('latin-1').strip()} dropped: the image is coded as "
                          f"{planes.mode}", stacklevel=2)
            del metadata["icc_profile"]
    elif _is_tensor(img):
        planes = _tensor_planes(img)
    elif isinstance(img, np.ndarray):
        planes = _from_array(img, "numpy")
    else:
        raise UnsupportedInputError(f"cannot code a {type(img).__name__}: give a PIL image, a path, the bytes of an "
                                    "image file, a numpy array or a tensor")
    h, w = planes.size
    check_size(w, h, max_pixels)
    return planes


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


def output_channels(rgb: np.ndarray, mode: str, alpha: np.ndarray | None = None) -> np.ndarray:
    """(h, w, C) uint8 of decoded RGB rows in the original mode: L (C = 1), LA, RGB, RGBA; P gives RGB
    (mapped to its palette by the caller)."""
    if mode in ("L", "LA"):
        grey = np.rint(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
        return grey[..., None] if mode == "L" else np.stack([grey, alpha], axis=2)
    if mode == "RGBA":
        return np.concatenate([rgb, alpha[..., None]], axis=2)
    return rgb


def to_palette(rgb: np.ndarray, palette: bytes) -> Image.Image:
    """A P image of RGB pixels mapped to the nearest colour of ``palette`` (each pixel on its own, so rows
    can be mapped one band at a time)."""
    pal = Image.new("P", (1, 1))
    pal.putpalette(palette)
    return Image.fromarray(rgb, "RGB").quantize(palette=pal, dither=Image.Dither.NONE)


def pil_metadata(metadata: dict[str, bytes]) -> dict:
    """The metadata as Pillow's ``info`` and ``save`` keywords name it."""
    out = {}
    if metadata.get("icc_profile"):
        out["icc_profile"] = metadata["icc_profile"]
    if metadata.get("exif"):
        out["exif"] = EXIF_PREFIX + metadata["exif"]
    if metadata.get("xmp"):
        out["xmp"] = metadata["xmp"]
    return out


def from_planes(rgb: np.ndarray, mode: str, kind: str, alpha=None, palette: bytes | None = None,
                metadata: dict[str, bytes] | None = None):
    """The decoded image in the caller's kind and the original mode; a PIL image carries the metadata in
    its ``info`` (so ``image.save`` keeps the ICC profile)."""
    if kind == "pil" and mode == "P":
        im = to_palette(rgb, palette)
    else:
        a = output_channels(rgb, mode, alpha)
        if kind == "numpy":
            return a[..., 0] if mode == "L" else a
        if kind == "tensor":
            import torch

            return torch.from_numpy(np.moveaxis(a, -1, 0).copy()).float() / 255.0
        im = Image.fromarray(a[..., 0] if mode == "L" else a, mode)
    im.info.update(pil_metadata(metadata or {}))
    return im
