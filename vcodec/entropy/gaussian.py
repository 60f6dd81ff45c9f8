"""Range coding of the residuals ``r = round(y - mu)`` under zero-mean discretized Gaussians.

The decoder must rebuild exactly the probability table the encoder used. A scale is therefore never
handed to the coder as a float: it is snapped to the nearest entry of a fixed log-spaced table, and each
table entry owns an integer probability table built once, the same way, on every machine.

Symbols outside an entry's support ``[-S, S]`` are coded as the edge symbol (an escape) followed by
their excess in Exp-Golomb form, so any residual up to ``MAX_RESIDUAL`` survives exactly.
"""

from __future__ import annotations

import math

import constriction
import numpy as np

from vcodec.errors import BitstreamError, UnsupportedInputError

# 0.11 is the scale floor the Gaussian conditional uses in training (compressai's default bound), and
# 256 covers the widest residuals at the highest quality. 128 levels put neighbours 6.3 % apart: the
# worst-case rate penalty of snapping a scale is (ln 1.031)^2 ≈ 0.001 nats a symbol, which keeps the
# whole coding overhead well under the 0.5 % budget even at the lowest rates.
SCALE_MIN = 0.11
SCALE_MAX = 256.0
SCALE_LEVELS = 128
# Support in units of the scale: beyond 8 sigma a Gaussian has ~1e-15 mass, so only real outliers
# (which the Gaussian never models well) pay the escape.
SUPPORT_SIGMAS = 8.0
# Integer probability grid. Probabilities are rounded to it in float64 before constriction sees them, so
# a last-ulp difference in erfc between two machines cannot change a table.
PMF_BITS = 22
# Residuals are clamped to this before coding. Real latents stay far inside (|y| < 2^10 even at the
# highest quality); the clamp bounds the Exp-Golomb code so a corrupt stream cannot ask for huge values.
MAX_RESIDUAL = 1 << 15
_EG_CLASSES = MAX_RESIDUAL.bit_length() + 1


def decode_symbols(decoder, model, count: int) -> np.ndarray:
    """``decoder.decode`` with constriction's complaints about invalid data turned into BitstreamError."""
    try:
        return decoder.decode(model, count)
    except (AssertionError, ValueError, RuntimeError) as e:  # constriction signals bad data with these
        raise BitstreamError(f"corrupt bitstream: range decoding failed ({e})") from None


def _gaussian_counts(scale: float, support: int) -> np.ndarray:
    """Integer pmf over ``-support..support``; the two edge bins carry the tails (the escapes)."""
    k = np.arange(-support + 1, support)
    upper = np.array([0.5 * math.erfc(-(v + 0.5) / (scale * math.sqrt(2.0))) for v in k])
    lower = np.array([0.5 * math.erfc(-(v - 0.5) / (scale * math.sqrt(2.0))) for v in k])
    tail = 0.5 * math.erfc((support - 0.5) / (scale * math.sqrt(2.0)))
    probs = np.concatenate([[tail], upper - lower, [tail]])
    return np.maximum(1, np.rint(probs * (1 << PMF_BITS))).astype(np.int64)


class ScaleTable:
    """The fixed table of scales and, for each, a constriction model of the residual."""

    def __init__(self, levels: int = SCALE_LEVELS, lo: float = SCALE_MIN, hi: float = SCALE_MAX):
        self.log_lo = math.log(lo)
        self.log_step = (math.log(hi) - math.log(lo)) / (levels - 1)
        self.scales = np.exp(self.log_lo + self.log_step * np.arange(levels))
        self.supports = np.maximum(2, np.ceil(SUPPORT_SIGMAS * self.scales)).astype(np.int64)
        # Built on first use: all 128 cost 0.4 s (the wide ones have thousands of bins), a start-up that a
        # small image, which meets a few dozen scales, should not pay.
        self._models: list = [None] * levels
        self._escape_class = constriction.stream.model.Categorical(
            np.full(_EG_CLASSES, 1.0 / _EG_CLASSES), perfect=False
        )

    def model(self, level: int):
        """The constriction model of table entry ``level``."""
        m = self._models[level]
        if m is None:
            counts = _gaussian_counts(float(self.scales[level]), int(self.supports[level]))
            m = self._models[level] = constriction.stream.model.Categorical(counts / counts.sum(), perfect=False)
        return m

    def index(self, sigma: np.ndarray) -> np.ndarray:
        """Nearest table entry in the log domain for each scale (float64 in, int64 out)."""
        pos = (np.log(np.maximum(sigma, 1e-30)) - self.log_lo) / self.log_step
        return np.clip(np.rint(pos), 0, len(self.scales) - 1).astype(np.int64)

    def encode(self, encoder, residual: np.ndarray, index: np.ndarray) -> None:
        """Append integer residuals (any shape) with their table indices to a range encoder."""
        residual = np.clip(residual.reshape(-1).astype(np.int64), -MAX_RESIDUAL, MAX_RESIDUAL)
        index = index.reshape(-1)
        support = self.supports[index]
        symbols = np.clip(residual, -support, support) + support
        for level in np.unique(index):
            sel = index == level
            encoder.encode(symbols[sel].astype(np.int32), self.model(level))
        escaped = np.abs(residual) >= support
        self._encode_excess(encoder, (np.abs(residual) - support)[escaped])

    def decode(self, decoder, index: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`encode`: residuals with the shape of ``index``."""
        flat = index.reshape(-1)
        support = self.supports[flat]
        symbols = np.empty(flat.shape, dtype=np.int64)
        for level in np.unique(flat):
            sel = flat == level
            symbols[sel] = decode_symbols(decoder, self.model(level), int(sel.sum()))
        residual = symbols - support
        escaped = np.abs(residual) >= support
        excess = self._decode_excess(decoder, int(escaped.sum()))
        residual[escaped] = np.sign(residual[escaped]) * (support[escaped] + excess)
        if np.any(np.abs(residual) > MAX_RESIDUAL):
            raise BitstreamError("corrupt bitstream: a latent residual is out of range")
        return residual.reshape(index.shape)

    def _encode_excess(self, encoder, excess: np.ndarray) -> None:
        # Exp-Golomb: the bit length as a class, then the bits below the leading one, uniformly.
        if excess.size == 0:
            return
        value = excess + 1
        nbits = np.floor(np.log2(value)).astype(np.int64)
        encoder.encode(nbits.astype(np.int32), self._escape_class)
        for v, b in zip(value.tolist(), nbits.tolist()):
            if b:
                encoder.encode(np.array([v - (1 << b)], dtype=np.int32), constriction.stream.model.Uniform(1 << b))

    def _decode_excess(self, decoder, count: int) -> np.ndarray:
        if count == 0:
            return np.zeros(0, dtype=np.int64)
        nbits = decode_symbols(decoder, self._escape_class, count).astype(np.int64)
        out = np.empty(count, dtype=np.int64)
        for i, b in enumerate(nbits.tolist()):
            low = int(decode_symbols(decoder, constriction.stream.model.Uniform(1 << b), 1)[0]) if b else 0
            out[i] = (1 << b) + low - 1
        return out


def check_finite(name: str, array: np.ndarray) -> None:
    if not np.all(np.isfinite(array)):
        raise UnsupportedInputError(f"cannot code {name}: it holds NaN or infinite values")
