"""Still-image codecs through Pillow: JPEG, WebP, JPEG 2000 and AVIF, all in memory.

The rate is the size of what ``Image.save`` writes: the .jpg/.webp/.avif file, or for JPEG 2000
the raw .j2k codestream (no JP2 box wrapper, as is usual for codec comparisons).
"""

from __future__ import annotations

import io

import numpy as np
import PIL
from PIL import Image, features

from vcodec.eval.codecs.base import ImageCodec, register_codec


class _PillowCodec(ImageCodec):
    format: str = ""  # Pillow format name for Image.save
    feature: str = ""  # PIL.features name that must be present

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if cls.feature and not features.check(cls.feature):
            return f"this Pillow {PIL.__version__} was built without {cls.feature} support"
        return None

    def save_options(self, quality: float) -> dict:
        raise NotImplementedError

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(rgb, "RGB").save(buffer, self.format, **self.save_options(quality))
        return buffer.getvalue()

    def decode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))


@register_codec
class Jpeg(_PillowCodec):
    name = "jpeg"
    format = "JPEG"
    feature = "jpg"
    knob = "quality 1-100"
    quality_range = (1, 100)
    default_qualities = (5, 10, 15, 25, 40, 60, 75, 90)
    subsampling = 2  # Pillow: 0 = 4:4:4, 2 = 4:2:0

    @property
    def description(self) -> str:
        chroma = "4:4:4" if self.subsampling == 0 else "4:2:0"
        return (
            f"JPEG baseline {chroma}, Pillow {PIL.__version__} (libjpeg-turbo {features.version('libjpeg_turbo')}), "
            "quality=q, default Huffman tables (optimize=False); .jpg file size"
        )

    def save_options(self, quality: float) -> dict:
        return {"quality": int(quality), "subsampling": self.subsampling, "optimize": False}


@register_codec
class Jpeg444(Jpeg):
    name = "jpeg-444"
    subsampling = 0


@register_codec
class WebP(_PillowCodec):
    name = "webp"
    format = "WEBP"
    feature = "webp"
    knob = "quality 0-100"
    quality_range = (0, 100)
    default_qualities = (0, 5, 15, 30, 50, 70, 80, 90)

    @property
    def description(self) -> str:
        return (
            f"WebP lossy (VP8 intra, 4:2:0 only), Pillow {PIL.__version__} with libwebp {features.version('webp')}, "
            "quality=q, method=6 (slowest, best); .webp file size"
        )

    def save_options(self, quality: float) -> dict:
        return {"quality": int(quality), "method": 6, "lossless": False}


@register_codec
class Jpeg2000(_PillowCodec):
    name = "jpeg2000"
    format = "JPEG2000"
    feature = "jpg_2000"
    knob = "target bpp"
    quality_range = (0.01, 24)
    integer_quality = False
    default_qualities = (0.06, 0.12, 0.25, 0.4, 0.6, 0.9, 1.3, 2.0)

    @property
    def description(self) -> str:
        return (
            f"JPEG 2000, Pillow {PIL.__version__} with OpenJPEG {features.version('jpg_2000')}, raw .j2k codestream, "
            "irreversible 9/7 wavelet, mct=1 (RGB->YCC), one quality layer at compression ratio 24/target_bpp, "
            "default 6 resolution levels (Pillow's defaults, reversible 5/3 without colour transform, are "
            "lossless-style)"
        )

    def save_options(self, quality: float) -> dict:
        return {
            "no_jp2": True,
            "irreversible": True,
            "mct": 1,
            "quality_mode": "rates",
            "quality_layers": [24 / quality],
        }


@register_codec
class Avif444(_PillowCodec):
    name = "avif-444"
    format = "AVIF"
    feature = "avif"
    knob = "quality 0-100"
    quality_range = (0, 100)
    default_qualities = (5, 15, 30, 45, 60, 70, 80, 88)
    speed = 4  # aom: 0 slowest/best .. 10; speed 1 is ~3 % better in BD-rate and 3x slower

    @classmethod
    def unavailable_reason(cls) -> str | None:
        reason = super().unavailable_reason()
        if reason is None:
            from PIL import _avif

            if not _avif.encoder_codec_available("aom"):
                reason = "Pillow's libavif has no aom encoder"
        return reason

    @property
    def description(self) -> str:
        from PIL import _avif

        return (
            f"AVIF 4:4:4, Pillow {PIL.__version__} with libavif {features.version('avif')} ({_avif.codec_versions()}), "
            f"aom all-intra, quality=q, speed={self.speed}, max_threads=1, tune=psnr (libavif leaves aom at "
            "tune=ssim otherwise), full range, RGB<->YUV by libavif; .avif file size (container included)"
        )

    def save_options(self, quality: float) -> dict:
        return {
            "quality": int(quality),
            "subsampling": "4:4:4",
            "speed": self.speed,
            "codec": "aom",
            "max_threads": 1,
            "range": "full",
            "advanced": {"tune": "psnr"},
        }
