"""The one exception family of vcodec.

Every error a user can cause (a bad file, a corrupt bitstream, a bad argument) is a
``VcodecError``; the CLI prints its message as one line and exits non-zero.
"""


class VcodecError(Exception):
    """Base class of every error vcodec raises on purpose."""


class BitstreamError(VcodecError):
    """The bytes are not a valid vcodec bitstream (truncated, corrupt, wrong version...)."""


class UnsupportedInputError(VcodecError):
    """The input image, array or tensor cannot be coded (wrong shape, dtype, mode...)."""


class ModelError(VcodecError):
    """An unknown model name, or weights that do not match the model."""
