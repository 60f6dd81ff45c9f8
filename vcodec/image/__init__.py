"""The still-image front end: image I/O (modes, alpha, palette, 16-bit, metadata), the image units of the
container, and the image API (:class:`Codec`, :func:`compress`, :func:`decompress`).

The API loads on first use (PEP 562): ``vcodec info`` reads the units without importing torch.
"""

__all__ = ["Codec", "DEFAULT_QUALITY", "compress", "compress_to", "decompress", "get_codec"]


def __getattr__(name: str):
    if name in __all__:
        from vcodec.image import api

        return getattr(api, name)
    raise AttributeError(f"module 'vcodec.image' has no attribute {name!r}")
