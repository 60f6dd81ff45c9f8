"""Rate control: the continuous quality that meets a target size, bpp or PSNR, found on real bitstreams.

    target = Target(bpp=0.5) | Target(size=20_000) | Target(psnr=34.0)
    result = search(codec, planes, target, effort)     # -> Reached(data, quality, bytes, bpp, psnr)

The quality is a code of hundredths of a level (what the container stores), so the search is a bisection
over integers: the rate grows with the quality (the model was trained for that; ties only make the search
stop early). Every probe is a real encode at the chosen effort, so what is reported is what was written.
A slow effort first brackets the answer with the default effort (a refined image has about 10 % fewer
bits at the same quality, so the bracket is widened by that), then bisects inside it at the chosen effort.

Tolerances: a size target is never exceeded and lands within 2 % below it; a bpp target within 2 % on
either side; a PSNR target within 0.05 dB (at or above it when the two sides are that close). When the
quality range cannot reach the target, :class:`RateControlError` says what the range gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vcodec.coding.effort import DEFAULT_EFFORT, effort as effort_level
from vcodec.coding.quality import CODE_SCALE, Quality
from vcodec.errors import VcodecError

RATE_TOLERANCE = 0.02
PSNR_TOLERANCE = 0.05
# A bisection over the quality codes takes at most log2(700) + 4 probes; a slow effort adds its bracket.
MAX_PROBES = 28


class RateControlError(VcodecError):
    """The target cannot be met within the model's quality range."""


@dataclass(frozen=True)
class Target:
    bpp: float | None = None
    size: int | None = None  # bytes of the whole file
    psnr: float | None = None  # dB, PSNR-RGB of the 8-bit decoded image

    def __post_init__(self):
        given = [v for v in (self.bpp, self.size, self.psnr) if v is not None]
        if len(given) != 1:
            raise VcodecError("give exactly one target: a bpp, a size in bytes or a PSNR")
        value = given[0]
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise VcodecError(f"the target must be a positive number, got {value!r}")

    def describe(self) -> str:
        if self.bpp is not None:
            return f"{self.bpp:g} bpp"
        if self.size is not None:
            return f"{self.size} bytes"
        return f"{self.psnr:g} dB"


@dataclass(frozen=True)
class Reached:
    data: bytes
    quality: float
    bytes: int
    bpp: float
    psnr: float
    probes: int

    def describe(self) -> str:
        return f"quality {self.quality:g}: {self.bytes} bytes, {self.bpp:.4f} bpp, {self.psnr:.2f} dB"


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


class _Prober:
    """Encodes at a quality code and remembers every result (the search asks for some codes twice)."""

    def __init__(self, codec, planes, effort, need_psnr: bool, progress=None):
        self.codec, self.planes, self.effort, self.need_psnr = codec, planes, effort, need_psnr
        self.progress = progress
        self.pixels = planes.rgb.shape[0] * planes.rgb.shape[1]
        self.seen: dict[tuple[int, int], Reached] = {}

    def __call__(self, code: int, effort=None) -> Reached:
        e = self.effort if effort is None else effort
        key = (code, e.level)
        if key not in self.seen:
            data = self.codec.encode_bytes(self.planes, code / CODE_SCALE, e)
            if self.progress:
                self.progress(len(self.seen) + 1, MAX_PROBES)
            psnr = float("nan")
            if self.need_psnr:
                rgb = np.asarray(self.codec.decompress(data, output="numpy"))
                rgb = np.repeat(rgb[..., None], 3, axis=2) if rgb.ndim == 2 else rgb[..., :3]
                psnr = _psnr(self.planes.rgb, rgb)
            self.seen[key] = Reached(data, code / CODE_SCALE, len(data), len(data) * 8 / self.pixels, psnr,
                                     len(self.seen) + 1)
        return self.seen[key]


def _value(r: Reached, target: Target) -> float:
    if target.bpp is not None:
        return r.bpp
    if target.size is not None:
        return float(r.bytes)
    return r.psnr


def _goal(target: Target) -> float:
    return target.bpp if target.bpp is not None else float(target.size) if target.size is not None else target.psnr


def _good(r: Reached, target: Target) -> bool:
    v, goal = _value(r, target), _goal(target)
    if target.size is not None:
        return goal * (1 - RATE_TOLERANCE) <= v <= goal
    if target.bpp is not None:
        return abs(v / goal - 1) <= RATE_TOLERANCE
    return abs(v - goal) <= PSNR_TOLERANCE


def _bisect(probe, lo: int, hi: int, target: Target, effort=None) -> Reached | None:
    """The first acceptable probe between codes lo < hi, where value(lo) < goal <= value(hi) (or None)."""
    goal = _goal(target)
    best = None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        r = probe(mid, effort)
        if _good(r, target):
            return r
        if _value(r, target) < goal:
            lo = mid
        else:
            hi = mid
        best = r
    for code in (hi, lo):  # neighbours one hundredth apart: take an acceptable one if there is one
        r = probe(code, effort)
        if _good(r, target):
            return r
    return None


def search(codec, planes, target: Target, effort=None, progress=None) -> Reached:
    """The encode that meets ``target`` (see the module docstring), at ``effort`` (default: the codec's).
    ``progress(probes, MAX_PROBES)`` is called after each probe."""
    e = effort_level(codec.effort if effort is None else effort)
    probe = _Prober(codec, planes, e, need_psnr=target.psnr is not None, progress=progress)
    levels = codec.model.levels
    lo_code, hi_code = Quality.from_user(1, levels).code, Quality.from_user(levels, levels).code
    goal = _goal(target)

    # Bracket. At a slow effort, bisect with the default effort first, then start the real search from a
    # bracket around that answer: refinement moves the rate by a few quality hundredths, not by levels.
    lo, hi = lo_code, hi_code
    if e.iterations:
        fast = effort_level(DEFAULT_EFFORT)
        rough = _bisect(probe, lo_code, hi_code, target, fast) if _value(probe(lo_code, fast), target) < goal else None
        if rough is not None:
            centre = round(rough.quality * CODE_SCALE)
            lo, hi = max(lo_code, centre - 60), min(hi_code, centre + 60)
    low, high = probe(lo), probe(hi)
    if _value(low, target) >= goal and lo > lo_code:
        lo, low = lo_code, probe(lo_code)
    if _value(high, target) < goal and hi < hi_code:
        hi, high = hi_code, probe(hi_code)
    for r in (low, high):
        if _good(r, target):
            return r
    if _value(low, target) > goal:
        raise RateControlError(f"cannot reach {target.describe()}: the lowest quality gives {low.describe()}")
    if _value(high, target) < goal:
        raise RateControlError(f"cannot reach {target.describe()}: the highest quality gives {high.describe()}")
    found = _bisect(probe, lo, hi, target)
    if found is None:
        near = min(probe.seen.values(), key=lambda r: abs(_value(r, target) - goal))
        raise RateControlError(f"cannot meet {target.describe()} within the tolerance: the nearest is "
                               f"{near.describe()} (one hundredth of a quality level apart)")
    return found
