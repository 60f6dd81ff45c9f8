"""The still-image codec: pixels to a vcodec bitstream and back, any size in bounded memory (tiles)."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from vcodec import zoo
from vcodec.coding import tiles
from vcodec.coding.effort import DEFAULT_EFFORT, effort as effort_level
from vcodec.coding.quality import Quality, user_range
from vcodec.coding.latent import LatentCoder
from vcodec.coding.tiles import Progress, Tiling
from vcodec.errors import BitstreamError, ModelError, VcodecError
from vcodec.image import bitstream
from vcodec.image.bitstream import FLAG_REDUCED_16BIT, ImageFile, ImageHeader
from vcodec.image.io import MAX_PIXELS, Planes, check_size, from_planes, pack_alpha, to_planes, unpack_alpha

DEFAULT_QUALITY = 4.0


def _device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise VcodecError(f"unknown device {device!r}; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise VcodecError("device cuda was asked for, but no CUDA GPU is available")
    if dev.type not in ("cpu", "cuda"):
        raise VcodecError(f"unsupported device {device!r}; use cpu or cuda")
    return dev


def _to_uint8(x_hat: torch.Tensor) -> np.ndarray:
    """(H, W, 3) uint8 of x_hat (1, 3, H, W) in [0, 1], rounded; one float temporary, not three (a band of
    a wide image is hundreds of MB)."""
    return x_hat[0].mul(255.0).add_(0.5).to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()


def _bitstream_bytes(data) -> bytes:
    """The bytes of a bitstream handed in as bytes, a buffer or a binary file object."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    if hasattr(data, "read"):
        out = data.read()
        if isinstance(out, (bytes, bytearray)):
            return out
    if isinstance(data, (str, Path)):
        raise BitstreamError(f"expected the bytes of a bitstream, got the path {str(data)!r}: "
                             "pass Path(...).read_bytes() or an open file")
    raise BitstreamError(f"expected bytes or a binary file object of a bitstream, got {type(data).__name__}")


class Codec:
    """A loaded model ready to compress and decompress images.

    >>> codec = Codec()                    # the shipped model on the CPU
    >>> data = codec.compress(image, quality=5.5)
    >>> image2 = codec.decompress(data)

    ``quality`` runs from 1 (smallest files) to the model's number of levels (8 for vcodec-base);
    values between levels interpolate. The encoder rounds the latents; ``rdo=True`` moves some towards
    zero by their rate-distortion cost instead (smaller files at lower quality; with the shipped weights it
    loses 1.6 % BD-rate on the held-out split, so it is off); decoding is the same.
    ``model`` is a registered name or a loaded model; ``weights`` a weights file (which names its model).
    ``effort`` (1 .. 9, default 4) is how hard the encoder searches (``vcodec.coding.effort``); it changes
    the encoder only, never what the decoder needs.
    ``tiling`` sets the tile and transform-window sides (``vcodec.coding.tiles``): images larger than a
    tile are coded in tiles, in memory that does not grow with the image. ``max_pixels`` is the largest
    image this codec accepts, coding or decoding (256 MP by default, 2^30 at most).
    """

    def __init__(self, model: str | torch.nn.Module = zoo.DEFAULT_MODEL, device: str = "cpu", weights=None,
                 name: str | None = None, rdo: bool = False, effort: int = DEFAULT_EFFORT,
                 tiling: Tiling | None = None, max_pixels: int = MAX_PIXELS):
        dev = _device(device)
        if isinstance(model, str) or model is None:
            model = zoo.load(model, weights)
        self.name = name or getattr(model, "model_name", None) or zoo.DEFAULT_MODEL
        if model.takes_context:
            raise ModelError(f"{self.name} is a P-frame model: it codes video frames given a reference, not "
                             "stills (use vcodec.compress_video, or an image model)")
        self.model = model
        self.digest = getattr(model, "digest", None) or zoo.digest(model)
        self.coder = LatentCoder(model, dev)
        self.rdo = rdo
        self.effort = effort_level(effort).level
        self.tiling = tiling or Tiling()
        try:
            self.tiling.check(model.tile_align)
        except ValueError as e:
            raise VcodecError(str(e)) from None
        if not 1 <= max_pixels <= bitstream.MAX_PIXELS:
            raise VcodecError(f"max_pixels must be from 1 to {bitstream.MAX_PIXELS} (the format's limit), got {max_pixels}")
        self.max_pixels = max_pixels

    @property
    def quality_range(self) -> tuple[float, float]:
        return user_range(self.model.levels)

    def quality(self, value) -> Quality:
        return Quality.from_user(value, self.model.levels)

    def _pad(self, rgb: np.ndarray) -> torch.Tensor:
        """(1, 3, H', W') float in [0, 1] of (H, W, 3) uint8, padded by edge replication to a multiple of
        the stride."""
        x = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0
        s = self.model.stride
        h, w = rgb.shape[:2]
        return F.pad(x, (0, (-w) % s, 0, (-h) % s), mode="replicate")

    def _region(self, planes: Planes):
        def pixels(y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
            # Edge replication of the region equals the whole image's: the padding is at the bottom and
            # the right only, and a region reaching into it holds the last row and column.
            part = planes.region(y0, y1, x0, x1)
            x = torch.from_numpy(np.array(part, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0
            return F.pad(x, (0, x1 - x0 - part.shape[1], 0, y1 - y0 - part.shape[0]), mode="replicate")

        return pixels

    def _encode(self, planes: Planes, quality, effort: int | None, progress: Progress | None):
        q = self.quality(quality)
        e = effort_level(self.effort if effort is None else effort)
        h, w = planes.size
        check_size(w, h, self.max_pixels)
        s = self.model.stride
        hp, wp = h + (-h) % s, w + (-w) % s
        tile = 0 if max(hp, wp) <= self.tiling.tile else self.tiling.tile
        header = ImageHeader(mode=planes.mode, width=w, height=h, quality=q, model=self.name, digest=self.digest,
                             kind=planes.kind, flags=FLAG_REDUCED_16BIT if planes.reduced_16bit else 0, tile=tile)
        coded = tiles.encode_tiles(self.coder, self._region(planes), hp, wp, q.level,
                                   Tiling(tile or max(hp, wp), self.tiling.window), rdo=self.rdo or e.rdo, effort=e,
                                   progress=progress)
        return header, coded

    def _pack(self, header: ImageHeader, streams: list[tuple[bytes, bytes]], planes: Planes) -> bytes:
        img = ImageFile(header, streams,
                        alpha=pack_alpha(planes.alpha) if planes.mode in ("RGBA", "LA") else None,
                        palette=planes.palette if planes.mode == "P" else None,
                        metadata=planes.metadata)
        return bitstream.pack(img)

    def encode_planes(self, planes: Planes, quality, effort: int | None = None) -> tuple[bytes, torch.Tensor]:
        """The bitstream and the latents y_hat the decoder will rebuild, as one tensor of the whole image
        (for tests and analysis of small images)."""
        header, coded = self._encode(planes, quality, effort, None)
        latents = list(coded)
        return self._pack(header, [(t.z_bytes, t.y_bytes) for t in latents], planes), self._assemble(
            header, [t.y_hat for t in latents])

    def compress(self, img, quality=DEFAULT_QUALITY, effort: int | None = None, strip: bool = False,
                 progress: Progress | None = None):
        """Bitstream bytes of an image: PIL image, file path, the bytes (or a binary file object) of an
        image file, numpy (H, W[, C]) uint8/uint16/float in [0, 1], or tensor (C, H, W) in [0, 1]. A batch
        tensor (N, C, H, W) gives a list of bitstreams.

        ``effort`` overrides the codec's effort for this call. The ICC profile, EXIF and XMP of an image
        file or PIL image are kept unless ``strip``. ``progress(done, total)`` is called as the work goes."""
        if isinstance(img, torch.Tensor) and img.ndim == 4:
            return [self.compress(im, quality, effort) for im in img]
        planes = to_planes(img, strip=strip, max_pixels=self.max_pixels)
        return self.encode_bytes(planes, quality, effort, progress)

    def encode_bytes(self, planes: Planes, quality, effort=None, progress: Progress | None = None) -> bytes:
        """The bitstream of image planes (``vcodec.image.io.to_planes``) at one quality."""
        header, coded = self._encode(planes, quality, effort, progress)
        return self._pack(header, [(t.z_bytes, t.y_bytes) for t in coded], planes)

    def compress_to(self, img, bpp: float | None = None, size: int | None = None, psnr: float | None = None,
                    effort: int | None = None, strip: bool = False, progress: Progress | None = None):
        """Compress to a target: a rate in bits per pixel, a file ``size`` in bytes (never exceeded) or a
        PSNR-RGB in dB; give one. The continuous quality is searched by bisection on real bitstreams at
        ``effort`` (``vcodec.image.ratecontrol``). Returns what was reached: ``.data`` (the bitstream),
        ``.quality``, ``.bytes``, ``.bpp``, ``.psnr``; a target out of reach raises RateControlError."""
        from vcodec.image import ratecontrol

        target = ratecontrol.Target(bpp=bpp, size=size, psnr=psnr)
        planes = to_planes(img, strip=strip, max_pixels=self.max_pixels)
        return ratecontrol.search(self, planes, target, effort, progress)

    def parse(self, data) -> ImageFile:
        """The image units of ``data``, checked against this codec's model and weights."""
        img = bitstream.parse(_bitstream_bytes(data))
        h = img.header
        if h.model != self.name:
            raise BitstreamError(f"bitstream was made with model {h.model!r}, this codec holds {self.name!r}")
        if h.digest != self.digest:
            raise BitstreamError(f"bitstream was made with other weights of {h.model!r} "
                                 f"(digest {h.digest.hex()}, these weights are {self.digest.hex()})")
        Quality.from_code(h.quality.code, self.model.levels)
        check_size(h.width, h.height, self.max_pixels, "the bitstream's image")
        return img

    def _assemble(self, header: ImageHeader, parts: list[torch.Tensor]) -> torch.Tensor:
        """One latent tensor of the whole image from its tiles' (raster order)."""
        hp, wp = header.padded
        t = header.tile or max(hp, wp)
        cols = len(tiles.tile_spans(wp, t))
        return torch.cat([torch.cat(parts[i : i + cols], dim=3) for i in range(0, len(parts), cols)], dim=2)

    def decode_latents(self, data) -> tuple[ImageFile, torch.Tensor]:
        """The parsed units and y_hat of the whole image (for tests and analysis of small images)."""
        img = self.parse(data)
        h = img.header
        hp, wp = h.padded
        t = h.tile or max(hp, wp)
        spans = itertools.product(tiles.tile_spans(hp, t), tiles.tile_spans(wp, t))
        parts = [self.coder.decode(z, y, y1 - y0, x1 - x0, h.quality.level)
                 for ((y0, y1), (x0, x1)), (z, y) in zip(spans, img.tiles)]
        return img, self._assemble(h, parts)

    def decode_rows(self, data, progress: Progress | None = None) -> tuple[ImageFile, Iterator[tuple[int, np.ndarray]]]:
        """The parsed units, and the decoded image as bands of rows, top to bottom: ``(y0, rgb)`` with rgb
        (rows, width, 3) uint8. Memory stays a few rows of tiles, whatever the image size."""
        img = self.parse(data)
        h = img.header
        hp, wp = h.padded
        rows = tiles.decode_rows(self.coder, img.tiles, hp, wp, h.quality.level, h.tile or max(hp, wp),
                                 self.tiling.window, progress)

        def bands():
            for y0, y1, x_hat in rows:
                if y0 < h.height:
                    yield y0, _to_uint8(x_hat[:, :, : min(y1, h.height) - y0, : h.width])

        return img, bands()

    def decompress(self, data, output: str | None = None, progress: Progress | None = None):
        """The image of a bitstream, in its original size and mode; a list of bitstreams gives a list.

        ``data``: bytes or a binary file object (``io.BytesIO``, an open file). ``output`` picks the type:
        "pil" (with the ICC profile, EXIF and XMP in ``info``), "numpy" (H, W[, C] uint8) or "tensor"
        (C, H, W float in [0, 1]); by default the type that was compressed."""
        if isinstance(data, (list, tuple)):
            return [self.decompress(d, output) for d in data]
        if output is not None and output not in bitstream.KINDS:
            raise VcodecError(f"output must be one of {', '.join(bitstream.KINDS)}, got {output!r}")
        img, bands = self.decode_rows(data, progress)
        h = img.header
        # Pages are touched as rows arrive: memory follows what has been decoded, not the claimed size.
        rgb = np.empty((h.height, h.width, 3), dtype=np.uint8)
        for y0, band in bands:
            rgb[y0 : y0 + len(band)] = band
        alpha = unpack_alpha(img.alpha, h.height, h.width) if h.mode in ("RGBA", "LA") else None
        return from_planes(rgb, h.mode, output or h.kind, alpha, img.palette, img.metadata)


@functools.lru_cache(maxsize=4)
def get_codec(model: str | None = zoo.DEFAULT_MODEL, device: str = "cpu", weights: str | None = None) -> Codec:
    """A cached Codec, so repeated module-level calls load the weights once."""
    return Codec(model, device, weights=weights)


def compress(img, quality=DEFAULT_QUALITY, model: str = zoo.DEFAULT_MODEL, device: str = "cpu",
             effort: int | None = None, strip: bool = False):
    """Compress an image with a cached :class:`Codec`; see :meth:`Codec.compress`."""
    return get_codec(model, device).compress(img, quality, effort, strip=strip)


def compress_to(img, bpp: float | None = None, size: int | None = None, psnr: float | None = None,
                model: str = zoo.DEFAULT_MODEL, device: str = "cpu", effort: int | None = None, strip: bool = False):
    """Compress an image to a target bpp, size or PSNR with a cached :class:`Codec`; see
    :meth:`Codec.compress_to`."""
    return get_codec(model, device).compress_to(img, bpp, size, psnr, effort, strip)


def decompress(data, output: str | None = None, device: str = "cpu"):
    """Decompress a bitstream (bytes or a binary file object), or a list of them, with the model named in
    its header; see :meth:`Codec.decompress`."""
    if isinstance(data, (list, tuple)):
        return [decompress(d, output, device) for d in data]
    data = _bitstream_bytes(data)
    return get_codec(bitstream.parse(data).header.model, device).decompress(data, output)
