"""Block motion for P-frames: encoder-side search on luma, and exact motion compensation.

    vectors = search(cur_rgb, ref_rgb, lmbda)     encoder only: any method may choose them
    pred    = compensate(ref_rgb, vectors)        encoder and decoder: integer arithmetic, bit-exact

Vectors are in quarter-pel units on a grid of BLOCK x BLOCK pixel blocks (BLOCK = 8). The search works on
16 x 16 blocks first and splits a block into four 8 x 8 ones where that lowers its cost (variable block
size); the coded field is always the 8 x 8 grid, and the vector coder (``vcodec.video.mvcoding``) makes a
repeated vector nearly free. Compensation interpolates the reference bilinearly in integers
(``(sum of weights * samples + 8) >> 4`` with quarter-pel weights), clamping at the frame edges, so the
prediction is the same on every machine: it is part of what the decoder's probability model sees.

The search minimises SAD on luma plus ``lmbda`` times an estimate of the vector's bits (its distance
from the median predictor), hierarchically: full search at quarter resolution, refinement at half and
full resolution, then quarter-pel refinement.
"""

from __future__ import annotations

import math

import numpy as np

BLOCK = 8  # the coded vector grid
BIG = 16  # the search's first block size
QPEL = 4  # vector units per pixel
RANGE = 32  # the search's reach (a vector component), in pixels
# Motion search weighs a vector bit against luma SAD by MOTION_LAMBDA / sqrt(lambda(q)): the SAD-domain
# multiplier of the H.264 reference encoder (the square root of the mode decision's), on vcodec's lambda.
# With the P model trained (1 664 steps) and vector bits priced as Exp-Golomb lengths, 1 and 1.4 were the
# best of 0.5 to 4 on the held-out Vimeo clips: -22 % BD-rate on the P-frames against 0.5, whose vectors
# took 55-62 % of the P-frame bytes (benchmarks/heldout_video.py; docs/results/video_encoder.md). With the bits
# priced as motion coding 2 codes them (_mv_bits), 0.7 was the best of 0.5, 0.7, 1.
# 0.5 had been the best of 0.25 to 1 for the untrained P model, the image model coding residuals.
MOTION_LAMBDA = 0.7


def search_lambda(lmbda: float, multiplier: float = MOTION_LAMBDA) -> float:
    """The search's weight of a vector bit against luma SAD at the model's rate-distortion ``lmbda``."""
    return multiplier / math.sqrt(lmbda)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Integer luma (BT.709 weights, 8-bit scale) of (H, W, 3) uint8, as int32."""
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    return (54 * r + 183 * g + 19 * b + 128) >> 8


def _pad_to(a: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.pad(a, ((0, h - a.shape[0]), (0, w - a.shape[1])) + ((0, 0),) * (a.ndim - 2), mode="edge")


def grid_shape(height: int, width: int) -> tuple[int, int]:
    return -(-height // BLOCK), -(-width // BLOCK)


class _Phases:
    """The 16 quarter-pel phases of an int32 plane, bilinearly interpolated in integers
    (``((4 - fy)((4 - fx) a + fx b) + fy((4 - fx) c + fx d) + 8) >> 4``) and edge-padded by MARGIN, so
    that any block's prediction is one gather."""

    MARGIN = RANGE + 8

    def __init__(self, plane: np.ndarray):
        m = self.MARGIN
        p = np.pad(plane.astype(np.int32), ((m, m + 1), (m, m + 1)), mode="edge")
        h, w = plane.shape[0] + 2 * m, plane.shape[1] + 2 * m
        a, b, c, d = p[:h, :w], p[:h, 1 : w + 1], p[1 : h + 1, :w], p[1 : h + 1, 1 : w + 1]
        self.phases = np.stack([((4 - fy) * ((4 - fx) * a + fx * b) + fy * ((4 - fx) * c + fx * d) + 8) >> 4
                                for fy in range(4) for fx in range(4)])
        self.shape, self.padded = plane.shape, (h, w)
        rows, cols = np.arange(plane.shape[0]) + m, np.arange(plane.shape[1]) + m
        self.base = rows[:, None] * w + cols[None, :]

    def block(self, mv: np.ndarray, i: int, j: int) -> np.ndarray:
        """The BLOCK x BLOCK prediction of block (i, j) for one vector."""
        limit = self.MARGIN - 1
        iy, ix = (int(np.clip(v >> 2, -limit, limit)) for v in mv)
        phase = int((mv[0] & 3) * 4 + (mv[1] & 3))
        y0, x0 = i * BLOCK + self.MARGIN + iy, j * BLOCK + self.MARGIN + ix
        return self.phases[phase, y0 : y0 + BLOCK, x0 : x0 + BLOCK]

    def predict(self, mv: np.ndarray, block: int) -> np.ndarray:
        """(H, W) prediction for vectors (Hb, Wb, 2) in quarter pels on a ``block`` grid covering the plane."""
        h, w = self.shape
        limit = self.MARGIN - 1
        iy = np.clip(mv[..., 0] >> 2, -limit, limit)
        ix = np.clip(mv[..., 1] >> 2, -limit, limit)
        phase = (mv[..., 0] & 3) * 4 + (mv[..., 1] & 3)
        offset = phase * (self.padded[0] * self.padded[1]) + iy * self.padded[1] + ix
        per_pixel = np.repeat(np.repeat(offset, block, 0), block, 1)[:h, :w]
        return self.phases.reshape(-1)[self.base + per_pixel]


def compensate(ref_rgb: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """The prediction (H, W, 3) uint8 of a frame from its reference and its (Hb, Wb, 2) vector field (dy, dx
    in quarter pels, one per BLOCK x BLOCK block, the last row and column of blocks cropped)."""
    pred = np.empty(ref_rgb.shape, dtype=np.uint8)
    for c in range(3):
        pred[..., c] = _Phases(ref_rgb[..., c]).predict(vectors.astype(np.int64), BLOCK)
    return pred


def _block_sad(diff: np.ndarray, block: int) -> np.ndarray:
    h, w = diff.shape
    return np.abs(diff).reshape(h // block, block, w // block, block).sum(axis=(1, 3))


def _shifted(ref: np.ndarray, dy: np.ndarray, dx: np.ndarray, block: int) -> np.ndarray:
    """The reference moved by per-block integer offsets (Hb, Wb), edge-clamped."""
    h, w = ref.shape
    yy = np.clip(np.arange(h)[:, None] + np.repeat(np.repeat(dy, block, 0), block, 1), 0, h - 1)
    xx = np.clip(np.arange(w)[None, :] + np.repeat(np.repeat(dx, block, 0), block, 1), 0, w - 1)
    return ref[yy, xx]


def _mv_bits(v: np.ndarray) -> np.ndarray:
    """Rough bits of a vector difference (quarter pels), shaped as ``vcodec.video.mvcoding`` prices it: a
    zero difference costs a fraction of a bit (its flag), a nonzero one its flag (about 4 bits where most
    blocks repeat their predictor) and an Exp-Golomb length per component. With MOTION_LAMBDA 0.7 this
    gained 2.3 % BD-rate on the held-out P-frames over plain Exp-Golomb lengths at 1.0."""
    a = np.abs(v)
    lengths = (2 * np.floor(np.log2(a + 1)) + 1).sum(axis=-1)
    return np.where(a.sum(axis=-1) > 0, 4 + lengths, 0.25)


def predictor_at(field: np.ndarray, i: int, j: int) -> np.ndarray:
    """The vector the coder predicts block (i, j) from, given the blocks before it in raster order: the
    median of left, top and top-right (top-left where there is no top-right); in the top row the left
    vector; in the left column the top one; zero for the first block."""
    wb = field.shape[1]
    if i == 0:
        return field[i, j - 1].astype(np.int64) if j else np.zeros(2, dtype=np.int64)
    if j == 0:
        return field[i - 1, j].astype(np.int64)
    third = field[i - 1, j + 1] if j + 1 < wb else field[i - 1, j - 1]
    return np.median(np.stack([field[i, j - 1], field[i - 1, j], third]), axis=0).astype(np.int64)


def _median_predictor(field: np.ndarray) -> np.ndarray:
    """:func:`predictor_at` for every block at once."""
    hb, wb = field.shape[:2]
    field = field.astype(np.int64)
    out = np.zeros_like(field)
    if hb > 1 and wb > 1:
        left, top = field[1:, :-1], field[:-1, 1:]
        third = np.concatenate([field[:-1, 2:], field[:-1, -2:-1]], axis=1)
        out[1:, 1:] = np.median(np.stack([left, top, third]), axis=0).astype(np.int64)
    out[0, 1:] = field[0, :-1]
    out[1:, 0] = field[:-1, 0]
    return out


def _full_search(cur: np.ndarray, ref: np.ndarray, block: int, radius: int, centre_y, centre_x, lmbda: float,
                 scale: int, pred: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best integer offsets (in this plane's pixels) within ``radius`` of each block's centre vector; the
    vector bits are counted from ``pred`` (quarter pels of the full-resolution frame; zero if None)."""
    if pred is None:
        pred = np.zeros(centre_y.shape + (2,), dtype=np.int64)
    hb, wb = cur.shape[0] // block, cur.shape[1] // block
    best = np.full((hb, wb), np.inf)
    by, bx = centre_y.copy(), centre_x.copy()
    uniform = not centre_y.any() and not centre_x.any()
    if uniform:  # every block searches around zero: one edge-padded plane, sliced per offset
        padded = np.pad(ref, radius, mode="edge")
    h, w = cur.shape
    for oy in range(-radius, radius + 1):
        for ox in range(-radius, radius + 1):
            dy, dx = centre_y + oy, centre_x + ox
            moved = (padded[radius + oy : radius + oy + h, radius + ox : radius + ox + w] if uniform
                     else _shifted(ref, dy, dx, block))
            cost = _block_sad(cur - moved, block).astype(np.float64)
            cost += lmbda * _mv_bits(np.stack([dy, dx], -1) * scale * QPEL - pred)
            better = cost < best
            best = np.where(better, cost, best)
            by, bx = np.where(better, dy, by), np.where(better, dx, bx)
    return by, bx, best


def _downsample(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    return (a[: h // 2 * 2 : 2, : w // 2 * 2 : 2] + a[1 : h // 2 * 2 : 2, : w // 2 * 2 : 2]
            + a[: h // 2 * 2 : 2, 1 : w // 2 * 2 : 2] + a[1 : h // 2 * 2 : 2, 1 : w // 2 * 2 : 2] + 2) >> 2


def _qpel_refine(cur: np.ndarray, ref: "_Phases", block: int, mv: np.ndarray, lmbda: float, pred: np.ndarray):
    """Refine quarter-pel vectors (Hb, Wb, 2) by +-2 quarter pels around ``mv``; cost SAD + lmbda * bits of
    the difference from ``pred``."""
    best_cost = np.full(mv.shape[:2], np.inf)
    best = mv.copy()
    for oy in range(-2, 3):
        for ox in range(-2, 3):
            cand = mv + np.array([oy, ox])
            p = ref.predict(cand, block)
            cost = _block_sad(cur - p, block) + lmbda * _mv_bits(cand - pred)
            better = cost < best_cost
            best_cost = np.where(better, cost, best_cost)
            best = np.where(better[..., None], cand, best)
    return best, best_cost


def search(cur_rgb: np.ndarray, ref_rgb: np.ndarray, lmbda: float = 4.0) -> np.ndarray:
    """The (Hb, Wb, 2) quarter-pel vector field, on the BLOCK grid, that predicts ``cur_rgb`` from
    ``ref_rgb`` (both (H, W, 3) uint8): hierarchical full search on 16 x 16 blocks, quarter-pel refinement,
    then a split into 8 x 8 blocks where that pays. ``lmbda`` weighs vector bits against luma SAD."""
    h, w = cur_rgb.shape[:2]
    hb, wb = grid_shape(h, w)
    hb2, wb2 = -(-hb // 2), -(-wb // 2)
    H, W = hb2 * BIG, wb2 * BIG
    cur, ref = _pad_to(luma(cur_rgb), H, W), _pad_to(luma(ref_rgb), H, W)

    # Integer search: quarter resolution (4 x 4 blocks, radius 16 there = 64 px), then half, then full.
    levels = [(cur, ref)]
    for _ in range(2):
        levels.append((_downsample(levels[-1][0]), _downsample(levels[-1][1])))
    zero = np.zeros((hb2, wb2), dtype=np.int64)
    # The coarse search twice: first lightly regularised, to find the motion, then with the vector bits
    # counted from the median of that field, so that the field comes out smooth where the motion is.
    # A block at depth d has 4^d times fewer pixels, so its SAD weighs a bit 4^d times less.
    c, r = levels[2]
    dy, dx, _ = _full_search(c, r, BIG >> 2, RANGE // 4, zero, zero, lmbda / 16 / 8, 4)
    first = np.stack([dy, dx], -1) * 4 * QPEL
    dy, dx, _ = _full_search(c, r, BIG >> 2, RANGE // 4, zero, zero, lmbda / 16, 4, _median_predictor(first))
    for depth in (1, 0):
        c, r = levels[depth]
        dy, dx = dy * 2, dx * 2
        pred = _median_predictor(np.stack([dy, dx], -1) * (QPEL << depth))
        dy, dx, _ = _full_search(c, r, BIG >> depth, 2, dy, dx, lmbda / 4**depth, 1 << depth, pred)
    limit = RANGE * QPEL
    mv16 = np.clip(np.stack([dy, dx], -1) * QPEL, -limit, limit)
    phases = _Phases(ref)
    mv16, cost16 = _qpel_refine(cur, phases, BIG, mv16, lmbda, _median_predictor(mv16))

    # Split: each 16 x 16 block into four 8 x 8 ones, each refined around its parent's vector.
    mv8 = np.repeat(np.repeat(mv16, 2, 0), 2, 1)
    pred8 = _median_predictor(mv8)
    split8, cost8 = mv8, None
    for oy in range(-4, 5, 2):
        for ox in range(-4, 5, 2):
            cand = mv8 + np.array([oy, ox])
            p = phases.predict(cand, BLOCK)
            cost = _block_sad(cur - p, BLOCK) + lmbda * _mv_bits(cand - pred8)
            if cost8 is None:
                cost8, split8 = cost, cand
            else:
                better = cost < cost8
                cost8 = np.where(better, cost, cost8)
                split8 = np.where(better[..., None], cand, split8)
    split8, cost8 = _qpel_refine(cur, phases, BLOCK, split8, lmbda, pred8)
    # A split costs three more vectors' worth of signalling at least: it must win by more than that.
    quad = cost8.reshape(hb2, 2, wb2, 2).sum(axis=(1, 3)) + 3 * lmbda * 2
    use_split = np.repeat(np.repeat(quad < cost16, 2, 0), 2, 1)[..., None]
    field = np.clip(np.where(use_split, split8, mv8), -limit, limit)[:hb, :wb]
    return _merge(cur, phases, field, lmbda).astype(np.int32)


def _merge(cur: np.ndarray, phases: "_Phases", field: np.ndarray, lmbda: float) -> np.ndarray:
    """In raster order, as the coder reads them, take each block's predicted vector (nearly free to code)
    wherever the SAD it adds is worth less than the bits it saves."""
    field = field.astype(np.int64).copy()
    hb, wb = field.shape[:2]
    repeat_bits = float(_mv_bits(np.zeros(2)))
    for i in range(hb):
        for j in range(wb):
            pred = predictor_at(field, i, j)
            own = field[i, j]
            if (own == pred).all():
                continue
            block = cur[i * BLOCK : (i + 1) * BLOCK, j * BLOCK : (j + 1) * BLOCK]
            own_cost = np.abs(block - phases.block(own, i, j)).sum() + lmbda * _mv_bits(own - pred)
            pred_cost = np.abs(block - phases.block(pred, i, j)).sum() + lmbda * repeat_bits
            if pred_cost < own_cost:
                field[i, j] = pred
    return field
