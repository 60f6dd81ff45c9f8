"""The still-image front end: image I/O (modes, alpha, palette, 16-bit), the image units of the container,
and the image API (:class:`Codec`, :func:`compress`, :func:`decompress`)."""

from vcodec.image.api import DEFAULT_QUALITY, Codec, compress, decompress, get_codec

__all__ = ["Codec", "DEFAULT_QUALITY", "compress", "decompress", "get_codec"]
