"""The still-image codec: pixels to a vcodec bitstream and back."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from vcodec import zoo
from vcodec.coding.effort import DEFAULT_EFFORT, effort as effort_level
from vcodec.coding.latent import LatentCoder
from vcodec.coding.quality import Quality, user_range
from vcodec.errors import BitstreamError, VcodecError
from vcodec.image import bitstream
from vcodec.image.bitstream import FLAG_REDUCED_16BIT, ImageFile, ImageHeader
from vcodec.image.io import MAX_PIXELS, MAX_SIDE, Planes, from_planes, pack_alpha, to_planes, unpack_alpha

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
    values between levels interpolate. The encoder rounds the latents; ``rdo=True`` moves some towards
    zero by their rate-distortion cost instead (smaller files at lower quality; with the shipped weights it
    loses 1.6 % BD-rate on the held-out split, so it is off); decoding is the same.
    ``model`` is a registered name or a loaded model; ``weights`` a weights file (which names its model).
    ``effort`` (1 .. 9, default 4) is how hard the encoder searches (``vcodec.coding.effort``); it changes
    the encoder only, never what the decoder needs.
    """

    def __init__(self, model: str | torch.nn.Module = zoo.DEFAULT_MODEL, device: str = "cpu", weights=None,
                 name: str | None = None, rdo: bool = False, effort: int = DEFAULT_EFFORT):
        dev = _device(device)
        if isinstance(model, str) or model is None:
            model = zoo.load(model, weights)
        self.name = name or getattr(model, "model_name", None) or zoo.DEFAULT_MODEL
        self.model = model
        self.digest = getattr(model, "digest", None) or zoo.digest(model)
        self.coder = LatentCoder(model, dev)
        self.rdo = rdo
        self.effort = effort_level(effort).level

    @property
    def quality_range(self) -> tuple[float, float]:
        return user_range(self.model.levels)

    def quality(self, value) -> Quality:
        return Quality.from_user(value, self.model.levels)

    def _pad(self, rgb: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0
        s = self.model.stride
        h, w = rgb.shape[:2]
        return F.pad(x, (0, (-w) % s, 0, (-h) % s), mode="replicate")

    def encode_planes(self, planes: Planes, quality, effort: int | None = None) -> tuple[bytes, torch.Tensor]:
        """The bitstream and the latents the decoder will rebuild (for tests and analysis)."""
        q = self.quality(quality)
        e = effort_level(self.effort if effort is None else effort)
        h, w = planes.rgb.shape[:2]
        if not (w <= MAX_SIDE and h <= MAX_SIDE and w * h <= MAX_PIXELS):
            raise VcodecError(f"image of {w}x{h} is too large (at most {MAX_PIXELS >> 20} MP and {MAX_SIDE} a side)")
        latents = self.coder.encode(self._pad(planes.rgb), q.level, rdo=self.rdo or e.rdo, effort=e)
        header = ImageHeader(mode=planes.mode, width=w, height=h, quality=q, model=self.name, digest=self.digest,
                             kind=planes.kind, flags=FLAG_REDUCED_16BIT if planes.reduced_16bit else 0)
        img = ImageFile(header, latents.z_bytes, latents.y_bytes,
                        alpha=pack_alpha(planes.alpha) if planes.mode in ("RGBA", "LA") else None,
                        palette=planes.palette if planes.mode == "P" else None)
        return bitstream.pack(img), latents.y_hat

    def compress(self, img, quality=DEFAULT_QUALITY, effort: int | None = None):
        """Bitstream bytes of an image: PIL image, file path, numpy (H, W[, C]) uint8/uint16/float in [0, 1],
        or tensor (C, H, W) in [0, 1]. A batch tensor (N, C, H, W) gives a list of bitstreams.
        ``effort`` overrides the codec's effort for this call."""
        if isinstance(img, torch.Tensor) and img.ndim == 4:
            return [self.compress(im, quality, effort) for im in img]
        return self.encode_planes(to_planes(img), quality, effort)[0]

    def parse(self, data: bytes) -> ImageFile:
        """The image units of ``data``, checked against this codec's model and weights."""
        img = bitstream.parse(data)
        h = img.header
        if h.model != self.name:
            raise BitstreamError(f"bitstream was made with model {h.model!r}, this codec holds {self.name!r}")
        if h.digest != self.digest:
            raise BitstreamError(f"bitstream was made with other weights of {h.model!r} "
                                 f"(digest {h.digest.hex()}, these weights are {self.digest.hex()})")
        Quality.from_code(h.quality.code, self.model.levels)
        if h.width * h.height > MAX_PIXELS:
            raise BitstreamError(f"image of {h.width}x{h.height} is larger than this decoder codes "
                                 f"({MAX_PIXELS >> 20} MP)")
        return img

    def decode_latents(self, data: bytes) -> tuple[ImageFile, torch.Tensor]:
        img = self.parse(data)
        s = self.model.stride
        h = img.header
        hp, wp = h.height + (-h.height) % s, h.width + (-h.width) % s
        return img, self.coder.decode(img.z, img.y, hp, wp, h.quality.level)

    def decompress(self, data: bytes, output: str | None = None):
        """The image of a bitstream, in its original size and mode.

        ``output`` picks the type: "pil", "numpy" (H, W[, C] uint8) or "tensor" (C, H, W float in [0, 1]);
        by default the type that was compressed."""
        if output is not None and output not in bitstream.KINDS:
            raise VcodecError(f"output must be one of {', '.join(bitstream.KINDS)}, got {output!r}")
        img, y_hat = self.decode_latents(data)
        h = img.header
        x_hat = self.coder.synthesize(y_hat, h.quality.level)
        rgb = _to_uint8(x_hat[:, :, : h.height, : h.width])
        alpha = unpack_alpha(img.alpha, h.height, h.width) if h.mode in ("RGBA", "LA") else None
        return from_planes(rgb, h.mode, output or h.kind, alpha, img.palette)


@functools.lru_cache(maxsize=4)
def get_codec(model: str = zoo.DEFAULT_MODEL, device: str = "cpu") -> Codec:
    """A cached Codec, so repeated module-level calls load the weights once."""
    return Codec(model, device)


def compress(img, quality=DEFAULT_QUALITY, model: str = zoo.DEFAULT_MODEL, device: str = "cpu",
             effort: int | None = None):
    """Compress an image with a cached :class:`Codec`; see :meth:`Codec.compress`."""
    return get_codec(model, device).compress(img, quality, effort)


def decompress(data: bytes, output: str | None = None, device: str = "cpu"):
    """Decompress a bitstream with the model named in its header; see :meth:`Codec.decompress`."""
    return get_codec(bitstream.parse(data).header.model, device).decompress(data, output)
