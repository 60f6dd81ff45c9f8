"""The container format and the pipelines that glue a model to the range coder."""

from vcodec.codec.api import DEFAULT_QUALITY, Codec, compress, decompress, get_codec
from vcodec.codec.container import Header, parse

__all__ = ["Codec", "DEFAULT_QUALITY", "Header", "compress", "decompress", "get_codec", "parse"]
