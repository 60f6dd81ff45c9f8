"""vcodec: a learned image codec.

    import vcodec
    data = vcodec.compress(image, quality=4)   # PIL image, path, numpy array or tensor -> bytes
    image = vcodec.decompress(data)

The names below load on first use, so ``import vcodec`` (and the CLI's help, version and info) does not
pay for torch.
"""

from vcodec.errors import BitstreamError, ModelError, UnsupportedInputError, VcodecError

__version__ = "0.2.0"
__all__ = [
    "BitstreamError", "Codec", "ModelError", "UnsupportedInputError", "VcodecError", "available_models",
    "compress", "decompress", "load_model",
]

_LAZY = {
    "Codec": ("vcodec.image.api", "Codec"),
    "compress": ("vcodec.image.api", "compress"),
    "decompress": ("vcodec.image.api", "decompress"),
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
