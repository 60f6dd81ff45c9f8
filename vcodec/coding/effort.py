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
    lr: float = 0.0  # Adam step size on the latents
    refine_z: bool = False  # also refine the hyper-latent z
    rdo: bool = False  # the one-step RDO pass after rounding (vcodec.coding.latent.RDO_WEIGHT)


EFFORTS = {level: Effort(level) for level in range(MIN_EFFORT, MAX_EFFORT + 1)}


def effort(level) -> Effort:
    """The effort of a level 1 .. 9, or a VcodecError."""
    try:
        value = int(level)
    except (TypeError, ValueError):
        raise VcodecError(f"effort must be an integer from {MIN_EFFORT} to {MAX_EFFORT}, got {level!r}") from None
    if value != level and not (isinstance(level, str) and level.strip().isdigit()) or value not in EFFORTS:
        raise VcodecError(f"effort must be an integer from {MIN_EFFORT} to {MAX_EFFORT}, got {level!r}")
    return EFFORTS[value]
