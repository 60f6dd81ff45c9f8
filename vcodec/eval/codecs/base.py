"""The contract every evaluated codec speaks, and the registry of codecs by name.

    rgb (H x W x 3 uint8) -> encode(rgb, quality) -> bytes
                          -> decode(bytes, (H, W)) -> rgb_hat (H x W x 3 uint8)

``len(bytes)`` is the rate: everything a decoder needs, written as the codec's own file or
elementary stream. ``decode`` also gets the original (H, W): every bitstream carries its size,
but VTM's decoder writes headerless YUV, and it is cheaper to be told than to parse an SPS.
Nothing else may pass from encoder to decoder.

``description`` names the library versions and every setting that changes the result; the
result cache keys on it, so a new library version or setting is re-measured.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from vcodec.eval.errors import CodecUnavailableError, EvalError


class SweptCodec(abc.ABC):
    """What image and video codecs share: a name, a quality knob and its sweep, and a check of it."""

    name: ClassVar[str]
    #: What the quality number means for this codec, e.g. "quality 0-100", "QP", "CRF 0-51".
    knob: ClassVar[str]
    #: Sweep used when the user gives no quality list.
    default_qualities: ClassVar[tuple[float, ...]]
    quality_range: ClassVar[tuple[float, float]]
    integer_quality: ClassVar[bool] = True

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this codec cannot run on this machine, or None when it can."""
        return None

    @classmethod
    def check_quality(cls, quality: float) -> float:
        lo, hi = cls.quality_range
        if not lo <= quality <= hi or (cls.integer_quality and quality != int(quality)):
            kind = "an integer" if cls.integer_quality else "a number"
            raise EvalError(f"{cls.name}: {cls.knob} must be {kind} in [{lo:g}, {hi:g}], got {quality:g}")
        return int(quality) if cls.integer_quality else float(quality)


class Registry:
    """Codec classes by name (one registry for images, one for video)."""

    def __init__(self, kind: str):
        self.kind, self.classes = kind, {}

    def register(self, cls):
        if cls.name in self.classes and self.classes[cls.name] is not cls:
            raise ValueError(f"{self.kind} name {cls.name!r} registered twice")
        self.classes[cls.name] = cls
        return cls

    def get(self, name: str):
        try:
            return self.classes[name]
        except KeyError:
            raise EvalError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self.classes))}") from None

    def names(self) -> list[str]:
        return sorted(self.classes)

    def create(self, name: str, options: dict | None = None):
        """Instantiate a registered codec, or raise CodecUnavailableError saying what is missing."""
        cls = self.get(name)
        reason = cls.unavailable_reason()
        if reason:
            raise CodecUnavailableError(f"{self.kind} {name!r} is not available: {reason}")
        return cls(**(options or {}))


class ImageCodec(SweptCodec):
    #: Chosen to span about 0.05-2 bpp on Kodak.
    default_qualities: ClassVar[tuple[float, ...]]

    @property
    @abc.abstractmethod
    def description(self) -> str: ...

    @abc.abstractmethod
    def encode(self, rgb: np.ndarray, quality: float) -> bytes: ...

    @abc.abstractmethod
    def decode(self, data: bytes, size: tuple[int, int]) -> np.ndarray: ...


_REGISTRY = Registry("codec")
register_codec, codec_class, codec_names, create_codec = (_REGISTRY.register, _REGISTRY.get, _REGISTRY.names,
                                                          _REGISTRY.create)


