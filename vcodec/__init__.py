"""vcodec: a learned image and video codec.

    import vcodec
    data = vcodec.compress(image, quality=4)   # PIL image, path, numpy array or tensor -> bytes
    image = vcodec.decompress(data)
    clip = vcodec.compress_video("clip.mp4", quality=4)   # a path, a frame pattern or frames -> bytes
    for frame in vcodec.decompress_video(clip): ...       # (H, W, 3) uint8, one at a time

The names below load on first use, so ``import vcodec`` (and the CLI's help, version and info) does not
pay for torch.
"""

import os

# The decoder's float64 path must give the same bits on every machine and thread count. MKL picks its
# kernels and its reduction order by CPU and thread count unless told otherwise: on an Intel Xeon its
# float64 convolutions differed between one and two threads (and from AMD's). Conditional numerical
# reproducibility fixes both; it must be set before torch loads MKL, so before any torch import here (a
# program that imports torch before vcodec must set it itself).
os.environ.setdefault("MKL_CBWR", "COMPATIBLE,STRICT")

from vcodec.errors import BitstreamError, ModelError, UnsupportedInputError, VcodecError

__version__ = "0.2.0"
__all__ = [
    "BitstreamError", "Codec", "ModelError", "UnsupportedInputError", "VcodecError", "VideoCodec",
    "available_models", "compress", "compress_to", "compress_video", "decompress", "decompress_video", "load_model",
]

_LAZY = {
    "Codec": ("vcodec.image.api", "Codec"),
    "compress": ("vcodec.image.api", "compress"),
    "compress_to": ("vcodec.image.api", "compress_to"),
    "decompress": ("vcodec.image.api", "decompress"),
    "VideoCodec": ("vcodec.video.codec", "VideoCodec"),
    "compress_video": ("vcodec.video.codec", "compress_video"),
    "decompress_video": ("vcodec.video.codec", "decompress_video"),
    "available_models": ("vcodec.zoo", "available_models"),
    "load_model": ("vcodec.zoo", "load"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vcodec' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
