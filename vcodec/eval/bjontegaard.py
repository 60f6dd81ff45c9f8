r"""Bjøntegaard delta rate and delta PSNR between two rate-distortion curves.

G. Bjøntegaard, "Calculation of average PSNR differences between RD-curves", VCEG-M33 (2001),
with the piecewise cubic interpolation of JVET-K0491 / VCEG-AL22 as the default.

    anchor (R_a, D_a) --\                       /-- avg of ln R_t - ln R_a over the common D range
                         >-- fit ln R = f(D) --<                                  -> BD-rate
    test   (R_t, D_t) --/    fit D = g(ln R)    \-- avg of D_t - D_a over the common ln R range
                                                                                   -> BD-PSNR

Two fits:
- ``"pchip"`` (default): piecewise cubic Hermite through every point (Fritsch & Carlson 1980,
  derivatives as in Moler's / SciPy's ``pchip``), integrated exactly segment by segment. It never
  overshoots, so one odd point cannot bend the whole curve.
- ``"cubic"``: the classic single 3rd-order least-squares polynomial of VCEG-M33.

Only the overlap of the two curves is compared; no extrapolation. Curves that do not overlap
give NaN. BD-rate is in percent (negative = the test curve needs fewer bits), BD-PSNR in dB.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from vcodec.errors import VcodecError

METHODS = ("pchip", "cubic")


class _Pchip:
    """Monotone piecewise cubic Hermite interpolant y(x) through the given points."""

    def __init__(self, x: np.ndarray, y: np.ndarray):
        self.x, self.y = x, y
        h = np.diff(x)
        delta = np.diff(y) / h
        d = np.zeros_like(y)
        if len(x) == 2:
            d[:] = delta[0]
        else:
            # Interior: weighted harmonic mean of the neighbouring slopes, 0 at a local extremum.
            w1 = 2 * h[1:] + h[:-1]
            w2 = h[1:] + 2 * h[:-1]
            same_sign = delta[:-1] * delta[1:] > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                harmonic = (w1 + w2) / (w1 / delta[:-1] + w2 / delta[1:])
            d[1:-1] = np.where(same_sign, harmonic, 0.0)
            d[0] = self._end_slope(h[0], h[1], delta[0], delta[1])
            d[-1] = self._end_slope(h[-1], h[-2], delta[-1], delta[-2])
        # y = c0 + c1 t + c2 t^2 + c3 t^3 on each segment, t = x - x_k
        self.c = np.stack(
            [
                y[:-1],
                d[:-1],
                (3 * delta - 2 * d[:-1] - d[1:]) / h,
                (d[:-1] + d[1:] - 2 * delta) / h**2,
            ]
        )

    @staticmethod
    def _end_slope(h0: float, h1: float, delta0: float, delta1: float) -> float:
        # One-sided three-point estimate, clipped so the end segment stays shape-preserving.
        d = ((2 * h0 + h1) * delta0 - h0 * delta1) / (h0 + h1)
        if np.sign(d) != np.sign(delta0):
            return 0.0
        if np.sign(delta0) != np.sign(delta1) and abs(d) > abs(3 * delta0):
            return 3 * delta0
        return d

    def _segment(self, xq: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.x, xq, side="right") - 1, 0, len(self.x) - 2)

    def __call__(self, xq) -> np.ndarray:
        xq = np.asarray(xq, dtype=np.float64)
        k = self._segment(xq)
        t = xq - self.x[k]
        c0, c1, c2, c3 = self.c[:, k]
        return c0 + t * (c1 + t * (c2 + t * c3))

    def integral(self, a: float, b: float) -> float:
        """Exact integral over [a, b], a <= b, both inside [x_0, x_n]."""
        total = 0.0
        for k in range(len(self.x) - 1):
            lo, hi = max(a, self.x[k]), min(b, self.x[k + 1])
            if hi <= lo:
                continue
            c0, c1, c2, c3 = self.c[:, k]
            antiderivative = lambda t: t * (c0 + t * (c1 / 2 + t * (c2 / 3 + t * c3 / 4)))  # noqa: E731
            total += antiderivative(hi - self.x[k]) - antiderivative(lo - self.x[k])
        return total


def _prepare(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Sort by x and merge points with equal x (their y averaged): the fit needs a function of x."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise VcodecError("an RD curve needs as many rates as distortions")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    xu, inverse = np.unique(x, return_inverse=True)
    yu = np.bincount(inverse, weights=y) / np.bincount(inverse)
    return xu, yu


def _average_over_overlap(x1, y1, x2, y2, method: str) -> float:
    """Mean of y2(x) - y1(x) over the common x range of both curves."""
    if method not in METHODS:
        raise VcodecError(f"unknown BD method {method!r}; choose one of {', '.join(METHODS)}")
    x1, y1 = _prepare(x1, y1)
    x2, y2 = _prepare(x2, y2)
    need = 4 if method == "cubic" else 2
    if len(x1) < need or len(x2) < need:
        raise VcodecError(f"BD {method} needs at least {need} distinct points per curve")
    lo, hi = max(x1[0], x2[0]), min(x1[-1], x2[-1])
    if hi <= lo:
        return math.nan
    if method == "cubic":
        integrals = []
        for x, y in ((x1, y1), (x2, y2)):
            p = np.polyint(np.polyfit(x, y, 3))
            integrals.append(np.polyval(p, hi) - np.polyval(p, lo))
    else:
        integrals = [_Pchip(x, y).integral(lo, hi) for x, y in ((x1, y1), (x2, y2))]
    return (integrals[1] - integrals[0]) / (hi - lo)


def bd_rate(
    rate_anchor: Sequence[float],
    psnr_anchor: Sequence[float],
    rate_test: Sequence[float],
    psnr_test: Sequence[float],
    method: str = "pchip",
) -> float:
    """BD-rate of the test curve against the anchor, in percent (NaN if the PSNR ranges do not overlap)."""
    log_anchor, log_test = _log_rates(rate_anchor, rate_test)
    avg = _average_over_overlap(psnr_anchor, log_anchor, psnr_test, log_test, method)
    return (math.exp(avg) - 1) * 100


def bd_psnr(
    rate_anchor: Sequence[float],
    psnr_anchor: Sequence[float],
    rate_test: Sequence[float],
    psnr_test: Sequence[float],
    method: str = "pchip",
) -> float:
    """BD-PSNR of the test curve against the anchor, in dB (NaN if the rate ranges do not overlap)."""
    log_anchor, log_test = _log_rates(rate_anchor, rate_test)
    return _average_over_overlap(log_anchor, psnr_anchor, log_test, psnr_test, method)


def _log_rates(*rates: Sequence[float]) -> list[np.ndarray]:
    arrays = [np.asarray(r, dtype=np.float64) for r in rates]
    if any(np.any(a <= 0) for a in arrays):
        raise VcodecError("Bjøntegaard deltas need positive rates")
    return [np.log(a) for a in arrays]


def psnr_at_rate(rate: Sequence[float], psnr: Sequence[float], at: float) -> float:
    """PSNR of a curve at one rate, PCHIP-interpolated in ln(rate); NaN outside the curve's range."""
    x, y = _prepare(np.log(np.asarray(rate, dtype=np.float64)), psnr)
    if len(x) < 2 or not x[0] <= math.log(at) <= x[-1]:
        return math.nan
    return float(_Pchip(x, y)(math.log(at)))
