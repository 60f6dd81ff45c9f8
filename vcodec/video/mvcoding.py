"""Range coding of a P-frame's motion-vector field (``vcodec.video.motion``).

Vectors are coded in raster order of the 8 x 8 block grid, each as its difference from its predictor
(``vcodec.video.motion.predictor_at``: the median of the decoded neighbours). Each component of the
difference is an Exp-Golomb class (0 for a zero difference, k for 2^(k-1) <= |d| < 2^k) drawn from an
adaptive model, then a sign bit and the bits below the leading one (uniform). The class model adapts
with integer counts, the same on both sides, with a context of its own for blocks whose left and top
differences were both zero, where a zero is most likely; a repeated vector costs a small fraction of a bit.
"""

from __future__ import annotations

import constriction
import numpy as np

from vcodec.entropy.gaussian import decode_symbols
from vcodec.errors import BitstreamError
from vcodec.video.motion import QPEL, RANGE, predictor_at

MAX_COMPONENT = 2 * RANGE * QPEL  # no difference is larger than the span of the vectors
CLASSES = int(MAX_COMPONENT).bit_length() + 1
_BIT = constriction.stream.model.Uniform(2)


class _Adaptive:
    """Counts per context, starting flat; the model of a symbol is the counts before it."""

    def __init__(self, contexts: int, size: int):
        self.counts = np.ones((contexts, size), dtype=np.int64)

    def model(self, ctx: int):
        c = self.counts[ctx]
        return constriction.stream.model.Categorical(c / c.sum(), perfect=False)

    def update(self, ctx: int, symbol: int) -> None:
        self.counts[ctx, symbol] += 16
        if self.counts[ctx].sum() > 1 << 16:  # keep adapting: halve old evidence
            self.counts[ctx] = (self.counts[ctx] + 1) // 2


def _context(zero_diff: np.ndarray, i: int, j: int) -> int:
    left = zero_diff[i, j - 1] if j > 0 else True
    top = zero_diff[i - 1, j] if i > 0 else True
    return int(left and top)


def encode(field: np.ndarray) -> bytes:
    """The range-coded bytes of an (Hb, Wb, 2) integer vector field."""
    hb, wb = field.shape[:2]
    field = field.astype(np.int64)
    if np.abs(field).max(initial=0) > RANGE * QPEL:
        raise ValueError("vector out of range")
    enc = constriction.stream.queue.RangeEncoder()
    classes = _Adaptive(2, CLASSES)
    zero_diff = np.zeros((hb, wb), dtype=bool)
    for i in range(hb):
        for j in range(wb):
            diff = field[i, j] - predictor_at(field, i, j)
            ctx = _context(zero_diff, i, j)
            zero_diff[i, j] = not diff.any()
            for d in diff.tolist():
                k = abs(d).bit_length()
                enc.encode(np.array([k], dtype=np.int32), classes.model(ctx))
                classes.update(ctx, k)
                if k:
                    enc.encode(np.array([d < 0], dtype=np.int32), _BIT)
                    if k > 1:
                        low = abs(d) - (1 << (k - 1))
                        enc.encode(np.array([low], dtype=np.int32), constriction.stream.model.Uniform(1 << (k - 1)))
    return enc.get_compressed().astype("<u4").tobytes()


def decode(data: bytes, hb: int, wb: int) -> np.ndarray:
    """The (Hb, Wb, 2) field of :func:`encode`, or BitstreamError."""
    if len(data) % 4:
        raise BitstreamError("corrupt bitstream: the motion stream is not a whole number of words")
    dec = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype="<u4").astype(np.uint32))
    field = np.zeros((hb, wb, 2), dtype=np.int64)
    classes = _Adaptive(2, CLASSES)
    zero_diff = np.zeros((hb, wb), dtype=bool)
    for i in range(hb):
        for j in range(wb):
            ctx = _context(zero_diff, i, j)
            diff = []
            for _ in range(2):
                k = int(decode_symbols(dec, classes.model(ctx), 1)[0])
                classes.update(ctx, k)
                d = 0
                if k:
                    negative = int(decode_symbols(dec, _BIT, 1)[0])
                    low = int(decode_symbols(dec, constriction.stream.model.Uniform(1 << (k - 1)), 1)[0]) if k > 1 else 0
                    d = (1 << (k - 1)) + low
                    d = -d if negative else d
                diff.append(d)
            zero_diff[i, j] = not any(diff)
            field[i, j] = predictor_at(field, i, j) + np.array(diff)
            if np.abs(field[i, j]).max() > RANGE * QPEL:
                raise BitstreamError("corrupt bitstream: a motion vector is out of range")
    return field.astype(np.int32)
