"""Range coding of the hyper-latent z with per-channel categorical models.

The tables are the integer CDFs that compressai's ``EntropyBottleneck.update()`` stores
(``_quantized_cdf``, ``_cdf_length``, ``_offset``). They travel inside the weights file, so encoder and
decoder read the very same integers instead of recomputing them on their own hardware.
"""

from __future__ import annotations

import constriction
import numpy as np

from vcodec.entropy.gaussian import decode_symbols


class ChannelTables:
    """One categorical model per channel over the symbols ``offset .. offset + n - 1``."""

    def __init__(self, quantized_cdf: np.ndarray, cdf_length: np.ndarray, offset: np.ndarray):
        self.offsets = offset.astype(np.int64)
        # compressai's last CDF slot is its own overflow symbol; vcodec clamps instead, so drop it.
        self.sizes = cdf_length.astype(np.int64) - 2
        self._models = []
        for c in range(len(cdf_length)):
            cdf = quantized_cdf[c, : self.sizes[c] + 1].astype(np.int64)
            # constriction needs two symbols at least; a spare one is never clamped into.
            pmf = np.diff(cdf).astype(np.float64) if self.sizes[c] > 1 else np.array([1.0, 1.0])
            self._models.append(constriction.stream.model.Categorical(np.maximum(pmf, 1.0), perfect=False))

    def clamp(self, symbols: np.ndarray) -> np.ndarray:
        """Clamp integer symbols of shape (C, H, W) into each channel's support."""
        lo = self.offsets[:, None, None]
        hi = lo + self.sizes[:, None, None] - 1
        return np.clip(symbols, lo, hi)

    def encode(self, encoder, symbols: np.ndarray) -> None:
        """Append symbols (C, H, W), already clamped, to a range encoder."""
        for c in range(symbols.shape[0]):
            encoder.encode((symbols[c].reshape(-1) - self.offsets[c]).astype(np.int32), self._models[c])

    def decode(self, decoder, shape: tuple[int, int, int]) -> np.ndarray:
        c_, h, w = shape
        out = np.empty(shape, dtype=np.int64)
        for c in range(c_):
            out[c] = decode_symbols(decoder, self._models[c], h * w).reshape(h, w) + self.offsets[c]
        return out
