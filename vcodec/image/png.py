"""A streaming PNG writer: rows go out as they are decoded, so a decode to PNG holds a band of rows, never
the whole image (a 256 MP image is 768 MB of pixels, and Pillow would hold it at 4 bytes a pixel).

8-bit grey, grey + alpha, RGB, RGBA and palette images; the ICC profile (iCCP), EXIF (eXIf) and XMP (iTXt
``XML:com.adobe.xmp``) are written before the pixels. Each row gets the filter of smallest sum of
absolute signed bytes, libpng's and Pillow's heuristic, so files come out about Pillow's size.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOUR_TYPES = {"L": 0, "RGB": 2, "P": 3, "LA": 4, "RGBA": 6}
CHANNELS = {"L": 1, "RGB": 3, "P": 1, "LA": 2, "RGBA": 4}
# Pillow's default level: its files and ours are then alike in size and time.
COMPRESS_LEVEL = 6
# An IDAT chunk per this many compressed bytes: chunk lengths stay far below PNG's 2^31 limit.
_IDAT_BYTES = 1 << 20
# Bytes of rows filtered at once.
_FILTER_BYTES = 1 << 20


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _filtered(rows: np.ndarray, above: np.ndarray, bpp: int) -> np.ndarray:
    """Each row (n, stride) with its best filter type byte in front, given the row before the band."""
    x = rows.astype(np.int16)
    b = np.concatenate([above[None].astype(np.int16), x[:-1]], axis=0)  # the byte above
    a = np.zeros_like(x)
    a[:, bpp:] = x[:, :-bpp]  # the byte to the left
    c = np.zeros_like(x)
    c[:, bpp:] = b[:, :-bpp]  # above and to the left
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    candidates = np.stack([x, x - a, x - b, x - (a + b) // 2, x - paeth]).astype(np.uint8)  # mod 256
    cost = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)  # (5, n)
    cost[0] = np.abs(x).sum(axis=1)  # filter 0 is scored on the raw bytes, as libpng does
    best = cost.argmin(axis=0)
    out = np.empty((rows.shape[0], rows.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = best
    out[:, 1:] = candidates[best, np.arange(rows.shape[0])]
    return out


class PngWriter:
    """Write a PNG to a binary stream a band of rows at a time: ``write(rows)`` with rows (n, width[, C])
    uint8, top to bottom, then ``close()`` once all ``height`` rows are in."""

    def __init__(self, out: BinaryIO, width: int, height: int, mode: str, palette: bytes | None = None,
                 metadata: dict[str, bytes] | None = None, compress_level: int = COMPRESS_LEVEL):
        if mode not in COLOUR_TYPES:
            raise ValueError(f"cannot write mode {mode} as PNG")
        self.out, self.width, self.height, self.mode = out, width, height, mode
        self.bpp = CHANNELS[mode]
        self.rows_written = 0
        self._above = np.zeros(width * self.bpp, dtype=np.uint8)
        self._z = zlib.compressobj(compress_level)
        self._pending = bytearray()
        out.write(SIGNATURE)
        out.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPES[mode], 0, 0, 0)))
        metadata = metadata or {}
        if metadata.get("icc_profile"):
            out.write(_chunk(b"iCCP", b"ICC profile\x00\x00" + zlib.compress(metadata["icc_profile"])))
        if metadata.get("exif"):
            out.write(_chunk(b"eXIf", metadata["exif"]))
        if metadata.get("xmp"):
            out.write(_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + metadata["xmp"]))
        if mode == "P":
            out.write(_chunk(b"PLTE", palette))

    def write(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=np.uint8).reshape(len(rows), self.width * self.bpp)
        if self.rows_written + len(rows) > self.height:
            raise ValueError("more rows than the image has")
        # The filters hold ~40 bytes of temporaries a byte: a few rows at a time keep them small.
        step = max(1, _FILTER_BYTES // max(1, rows.shape[1]))
        for i in range(0, len(rows), step):
            part = rows[i : i + step]
            self._pending += self._z.compress(_filtered(part, self._above, self.bpp).tobytes())
            self._above = part[-1].copy()
            self.rows_written += len(part)
            self._flush(_IDAT_BYTES)

    def _flush(self, at_least: int) -> None:
        while len(self._pending) >= max(at_least, 1):
            n = min(len(self._pending), _IDAT_BYTES)
            self.out.write(_chunk(b"IDAT", bytes(self._pending[:n])))
            del self._pending[:n]

    def close(self) -> None:
        if self.rows_written != self.height:
            raise ValueError(f"{self.rows_written} of {self.height} rows written")
        self._pending += self._z.flush()
        self._flush(1)
        self.out.write(_chunk(b"IEND", b""))
