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
    # The synthesis runs every this many steps; between, a local quadratic model of the distortion stands in
    # (vcodec.coding.refine.LocalDistortion), its curvature the linear-synthesis estimate times ``curvature``.
    distortion_every: int = 1
    curvature: float = 0.7
    # On the CPU, the synthesis of each distortion update runs on a second thread while the steps go on,
    # and its model stands in from the next update on (one interval late): the two cores work at once.
    background: bool = False
    # Refinement weighs the distortion at this multiple of the level's lambda (in its objective and in the
    # check that keeps the refined latents): with the quality's gains fixed, the refined latents of a
    # higher lambda land on a better curve than those of the level's own (docs/results/effort.md).
    lmbda_scale: float = 1.0


# Levels 1 .. 4 round plainly (RDO was measured to lose on the held-out split: vcodec.coding.latent);
# 5 .. 9 refine y and z with SGA, the step size decaying along a half cosine to a tenth, the synthesis run
# every tenth step and its local model between (docs/results/effort.md has the held-out sweep that chose
# this). On a 768 x 512 Kodak image, one thread beside a second encode (benchmarks/kodak.py's setting), a
# step with the synthesis costs about 0.8 s and one without about 0.15 s, so level 5 takes about 10 s.
# Level 9 runs the synthesis every 5th step on a second thread, one interval late (background), so its
# steps cost only the rate's (0.15-0.19 s, by machine): 600 steps, 99 s for kodim05 at q7 on two idle cores
# (the class of VTM's encoder, 126 s). On a slower 2-core machine 560 steps took 111 s before the refinement
# copy's GELUs ran NHWC (4 % off a step), so 600 should take about 115 s there, inside the 120 s the slowest
# level may take.
_REFINE = dict(lr_end=0.1, refine_z=True, distortion_every=10)
EFFORTS = {
    1: Effort(1), 2: Effort(2), 3: Effort(3), 4: Effort(4),
    # Short runs settle better from the smaller step size (at 40 steps: -2.0 % against -0.7 % at 0.02).
    5: Effort(5, iterations=40, lr=0.01, **_REFINE),
    6: Effort(6, iterations=80, lr=0.01, **_REFINE),
    7: Effort(7, iterations=150, lr=0.02, **_REFINE),
    # Levels 8 and 9 also aim at 1.6 x the level's lambda. Held-out, level 9 with SGA's rounding: -9.31 % at
    # 1.6, -9.24 % at 1.25, -9.03 % at 2 against -8.59 % at 1; level 8: -8.05 % against -7.74 %. Level 7
    # gains nothing from it (-6.72 % against -6.69 %): the scale pays only on the longer runs.
    8: Effort(8, iterations=250, lr=0.02, lmbda_scale=1.6, **_REFINE),
    9: Effort(9, iterations=600, lr=0.02, lmbda_scale=1.6,
              **{**_REFINE, "distortion_every": 5, "background": True}),
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
