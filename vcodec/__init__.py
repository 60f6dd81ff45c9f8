"""vcodec: a learned image codec.

    import vcodec
    data = vcodec.compress(image, quality=4)   # PIL image, path, numpy array or tensor -> bytes
    image = vcodec.decompress(data)
"""

from vcodec.codec import Codec, compress, decompress
from vcodec.errors import BitstreamError, ModelError, UnsupportedInputError, VcodecError
from vcodec.models import available_models, load_model

__version__ = "0.1.0"
__all__ = [
    "BitstreamError", "Codec", "ModelError", "UnsupportedInputError", "VcodecError", "available_models",
    "compress", "decompress", "load_model",
]
