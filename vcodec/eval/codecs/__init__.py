"""Every codec the evaluation suite can run, by name (see ``codec_names()``).

Importing this package registers the built-in codecs; the libraries behind each are only touched
when one is created.
"""

from vcodec.eval.codecs import external, learned, pillow, pyav  # noqa: F401  (registration)
from vcodec.eval.codecs.base import ImageCodec, codec_class, codec_names, create_codec, register_codec

__all__ = ["ImageCodec", "codec_class", "codec_names", "create_codec", "register_codec"]
