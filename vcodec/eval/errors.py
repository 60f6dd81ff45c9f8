"""Errors of the evaluation suite; all are ``VcodecError`` so the CLI prints one line and exits non-zero."""

from vcodec.errors import VcodecError


class EvalError(VcodecError):
    """A bad evaluation request: unknown codec, bad quality list, empty or clashing dataset..."""


class CodecUnavailableError(EvalError):
    """The codec exists but cannot run here (missing library, encoder not on PATH, model not ready)."""


class CodecFailedError(EvalError):
    """An encoder or decoder failed on one image at one quality."""
