"""Learning-rate schedules as data: rows ``(at, factor)`` of a piecewise-constant multiplier of the base
learning rate, ``at`` a fraction of the run (its steps, or its minutes when the run is planned in time),
plus a linear warmup over the first steps of the run.
"""

from __future__ import annotations

from bisect import bisect_right

from vcodec.errors import VcodecError

Rows = tuple[tuple[float, float], ...]

SCHEDULES: dict[str, Rows] = {
    # Constant, then one drop by 10x for the last 10 %: the low-lr tail is where the rate-distortion
    # trade-off settles (Ballé et al. and CompressAI's recipes drop near the end in the same way).
    "default": ((0.0, 1.0), (0.9, 0.1)),
    "two-drops": ((0.0, 1.0), (0.8, 0.3), (0.95, 0.1)),
    # Fine-tuning from shipped weights: already trained, so stay low.
    "finetune": ((0.0, 0.3), (0.7, 0.1)),
}


def parse(text: str) -> Rows:
    """A schedule name from SCHEDULES, or rows written ``at:factor,at:factor,...`` (e.g. ``0:1,0.9:0.1``)."""
    if text in SCHEDULES:
        return SCHEDULES[text]
    try:
        rows = tuple((float(a), float(f)) for a, f in (item.split(":") for item in text.split(",")))
    except ValueError:
        names = ", ".join(SCHEDULES)
        raise VcodecError(f"schedule {text!r} is neither a name ({names}) nor rows 'at:factor,...'") from None
    if not rows or rows[0][0] != 0.0 or any(b[0] <= a[0] for a, b in zip(rows, rows[1:])):
        raise VcodecError(f"schedule {text!r}: rows must start at 0 and increase")
    return rows


def factor(rows: Rows, progress: float) -> float:
    """The multiplier in force at ``progress`` (fraction of the run done)."""
    return rows[max(0, bisect_right([at for at, _ in rows], progress) - 1)][1]


def learning_rate(base: float, rows: Rows, progress: float, step: int, warmup: int) -> float:
    """``base * factor``, ramped linearly over the first ``warmup`` steps."""
    ramp = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    return base * factor(rows, progress) * ramp
