"""Encoder effort levels: how hard the encoder searches, as a table (configuration as data).

Effort changes only the encoder. Every bitstream decodes with the same decoder and format, whatever the
effort that made it; what changes is how the latents are chosen before they are range coded.

    1   plain rounding of y - mu
    4   the default: today's speed class
    5+  latent refinement against the fixed decoder (vcodec.coding.refine), then rounding
"""

from __future__ import annotations

from dataclasses import dataclass

from vcodec.errors import VcodecError

MIN_EFFORT, MAX_EFFORT, DEFAULT_EFFORT = 1, 9, 4


@dataclass(frozen=True)
class Effort:
    level: int
    iterations: int = 0  # gradient steps of latent refinement (0: none)
    lr: float = 0.0  # Adam step size on the latents, at the start
    lr_end: float = 1.0  # the step size at the end, as a share of lr (a half-cosine decay between)
    refine_z: bool = False  # also refine the hyper-latent z
    rdo: bool = False  # the one-step RDO pass after rounding (vcodec.coding.latent.RDO_WEIGHT)


# Levels 1 .. 4 round plainly (RDO was measured to lose on the held-out split: vcodec.coding.latent);
# 5 .. 9 refine y and z with SGA, the step size decaying along a half cosine to a tenth. A refinement
# step costs about 1.07 s on a 768 x 512 Kodak image on 2 cores (measured: 120 steps took 124-140 s), so
# level 9 takes about 110 s there (the class of VTM's encoder, 126 s), level 5 about 17 s.
_REFINE = dict(lr=0.01, lr_end=0.1, refine_z=True)
EFFORTS = {
    1: Effort(1), 2: Effort(2), 3: Effort(3), 4: Effort(4),
    5: Effort(5, iterations=15, **_REFINE),
    6: Effort(6, iterations=30, **_REFINE),
    7: Effort(7, iterations=50, **_REFINE),
    8: Effort(8, iterations=75, **_REFINE),
    9: Effort(9, iterations=100, **_REFINE),
}


def effort(level) -> Effort:
    """The effort of a level 1 .. 9 (an Effort passes through: for tuning), or a VcodecError."""
    if isinstance(level, Effort):
        return level
    try:
        value = int(level)
    except (TypeError, ValueError):
        raise VcodecError(f"effort must be an integer from {MIN_EFFORT} to {MAX_EFFORT}, got {level!r}") from None
    if value != level and not (isinstance(level, str) and level.strip().isdigit()) or value not in EFFORTS:
        raise VcodecError(f"effort must be an integer from {MIN_EFFORT} to {MAX_EFFORT}, got {level!r}")
    return EFFORTS[value]
