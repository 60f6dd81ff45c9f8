"""The quality scale, in one place.

Users count 1 .. L, fractions allowed, L being the model's number of trained levels (8 for vcodec-base);
the model counts levels 0 .. L - 1; the container stores the user's value in hundredths (u16). Every
conversion between the three goes through :class:`Quality`, and the range comes from the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vcodec.errors import BitstreamError, VcodecError

#: the container keeps hundredths of a level
CODE_SCALE = 100
MAX_CODE = 0xFFFF


def user_range(levels: int) -> tuple[float, float]:
    """The user scale of a model with ``levels`` trained levels."""
    return 1.0, float(levels)


@dataclass(frozen=True)
class Quality:
    code: int  # what the container stores: the user's value in hundredths

    @property
    def user(self) -> float:
        """1 (smallest files) .. levels (best)."""
        return self.code / CODE_SCALE

    @property
    def level(self) -> float:
        """The model's level: 0 .. levels - 1."""
        return self.user - 1.0

    @classmethod
    def from_user(cls, value, levels: int) -> "Quality":
        """The quality a user asked for, rounded to what the container can store (so the encoder codes
        with exactly what the decoder will read back)."""
        lo, hi = user_range(levels)
        try:
            q = float(value)
        except (TypeError, ValueError):
            raise VcodecError(f"quality must be a number from {lo:g} to {hi:g}, got {value!r}") from None
        if not (math.isfinite(q) and lo <= q <= hi):
            raise VcodecError(f"quality must be from {lo:g} to {hi:g}, got {value!r}")
        return cls(round(q * CODE_SCALE))

    @classmethod
    def from_level(cls, level: float, levels: int) -> "Quality":
        return cls.from_user(level + 1.0, levels)

    @classmethod
    def from_code(cls, code: int, levels: int | None = None) -> "Quality":
        """A stored code, checked against the model's range when ``levels`` is known."""
        if not 0 <= code <= MAX_CODE:
            raise BitstreamError(f"corrupt header: quality code {code} is out of range")
        quality = cls(code)
        if levels is not None:
            lo, hi = user_range(levels)
            if not lo <= quality.user <= hi:
                raise BitstreamError(f"corrupt header: quality {quality.user:g} is out of range {lo:g}..{hi:g}")
        return quality

    def __str__(self) -> str:
        return f"{self.user:g}"
