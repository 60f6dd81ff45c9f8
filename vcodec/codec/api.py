"""The image codec: pixels to a vcodec bitstream and back."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from vcodec.codec import container
from vcodec.codec.imageio import Planes, from_planes, pack_alpha, to_planes, unpack_alpha
from vcodec.codec.latent import LatentCoder
from vcodec.errors import BitstreamError, VcodecError
from vcodec.models import DEFAULT_MODEL, load_model, weights_digest

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
    return (x_hat[0].permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


class Codec:
    """A loaded model ready to compress and decompress images.

    >>> codec = Codec()                    # the shipped model on the CPU
    >>> data = codec.compress(image, quality=5.5)
    >>> image2 = codec.decompress(data)

    ``quality`` runs from 1 (smallest files) to the model's number of levels (8 for vcodec-base);
    values between levels interpolate. ``rdo=False`` makes the encoder round the latents plainly instead
    of choosing them by rate-distortion cost (larger files; for comparisons); decoding is the same.
    """

    def __init__(self, model: str | torch.nn.Module = DEFAULT_MODEL, device: str = "cpu", weights=None,
                 name: str | None = None, rdo: bool = True):
        dev = _device(device)
        if isinstance(model, str):
            name, model = model, load_model(model, weights)
        self.name = name or DEFAULT_MODEL
        self.model = model
        self.digest = weights_digest(model)
        self.coder = LatentCoder(model, dev)
        self.rdo = rdo

    @property
    def quality_range(self) -> tuple[float, float]:
        return 1.0, float(self.model.levels)

    def _quality(self, quality) -> float:
        lo, hi = self.quality_range
        try:
            q = float(quality)
        except (TypeError, ValueError):
            raise VcodecError(f"quality must be a number from {lo:g} to {hi:g}, got {quality!r}") from None
        if not (math.isfinite(q) and lo <= q <= hi):
            raise VcodecError(f"quality must be from {lo:g} to {hi:g}, got {quality!r}")
        # The header keeps hundredths; code with exactly what the decoder will read back.
        return round(q * container.QUALITY_SCALE) / container.QUALITY_SCALE

    def _pad(self, rgb: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0
        s = self.model.stride
        h, w = rgb.shape[:2]
        return F.pad(x, (0, (-w) % s, 0, (-h) % s), mode="replicate")

    def encode_planes(self, planes: Planes, quality) -> tuple[bytes, torch.Tensor]:
        """The bitstream and the latents the decoder will rebuild (for tests and analysis)."""
        q = self._quality(quality)
        h, w = planes.rgb.shape[:2]
        if not (w <= container.MAX_SIDE and h <= container.MAX_SIDE and w * h <= container.MAX_PIXELS):
            raise VcodecError(f"image of {w}x{h} is too large (at most {container.MAX_SIDE} a side)")
        latents = self.coder.encode(self._pad(planes.rgb), q - 1, rdo=self.rdo)
        streams = [latents.z_bytes, latents.y_bytes]
        if planes.mode in ("RGBA", "LA"):
            streams.append(pack_alpha(planes.alpha))
        if planes.mode == "P":
            streams.append(planes.palette)
        header = container.Header(
            mode=planes.mode, width=w, height=h, quality=q, model=self.name, digest=self.digest, kind=planes.kind,
            flags=container.FLAG_REDUCED_16BIT if planes.reduced_16bit else 0,
        )
        return container.pack(header, streams), latents.y_hat

    def compress(self, img, quality=DEFAULT_QUALITY):
        """Bitstream bytes of an image: PIL image, file path, numpy (H, W[, C]) uint8/uint16/float in [0, 1],
        or tensor (C, H, W) in [0, 1]. A batch tensor (N, C, H, W) gives a list of bitstreams."""
        if isinstance(img, torch.Tensor) and img.ndim == 4:
            return [self.compress(im, quality) for im in img]
        return self.encode_planes(to_planes(img), quality)[0]

    def decode_latents(self, data: bytes) -> tuple[container.Header, list[bytes], torch.Tensor]:
        header, streams = container.parse(data, self.quality_range)
        if header.model != self.name:
            raise BitstreamError(f"bitstream was made with model {header.model!r}, this codec holds {self.name!r}")
        if header.digest != self.digest:
            raise BitstreamError(
                f"bitstream was made with other weights of {header.model!r} "
                f"(digest {header.digest.hex()}, these weights are {self.digest.hex()})"
            )
        s = self.model.stride
        hp, wp = header.height + (-header.height) % s, header.width + (-header.width) % s
        y_hat = self.coder.decode(streams[0], streams[1], hp, wp, header.quality - 1)
        return header, streams, y_hat

    def decompress(self, data: bytes, output: str | None = None):
        """The image of a bitstream, in its original size and mode.

        ``output`` picks the type: "pil", "numpy" (H, W[, C] uint8) or "tensor" (C, H, W float in [0, 1]);
        by default the type that was compressed."""
        if output is not None and output not in container.KINDS:
            raise VcodecError(f"output must be one of {', '.join(container.KINDS)}, got {output!r}")
        header, streams, y_hat = self.decode_latents(data)
        x_hat = self.coder.synthesize(y_hat, header.quality - 1)
        rgb = _to_uint8(x_hat[:, :, : header.height, : header.width])
        alpha = unpack_alpha(streams[2], header.height, header.width) if header.mode in ("RGBA", "LA") else None
        palette = None
        if header.mode == "P":
            palette = streams[2]
            if len(palette) != 768:
                raise BitstreamError("corrupt bitstream: the palette is not 256 RGB entries")
        return from_planes(rgb, header.mode, output or header.kind, alpha, palette)


@functools.lru_cache(maxsize=4)
def get_codec(model: str = DEFAULT_MODEL, device: str = "cpu") -> Codec:
    """A cached Codec, so repeated module-level calls load the weights once."""
    return Codec(model, device)


def compress(img, quality=DEFAULT_QUALITY, model: str = DEFAULT_MODEL, device: str = "cpu"):
    """Compress an image with a cached :class:`Codec`; see :meth:`Codec.compress`."""
    return get_codec(model, device).compress(img, quality)


def decompress(data: bytes, output: str | None = None, device: str = "cpu"):
    """Decompress a bitstream with the model named in its header; see :meth:`Codec.decompress`."""
    header, _ = container.parse(data, quality_range=(0.0, 655.35))
    return get_codec(header.model, device).decompress(data, output)
