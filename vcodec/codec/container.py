"""The vcodec container: a small self-describing header, then the coded streams.

Layout (little-endian; docs/format.md is the reference):

    magic "VCDC" | version u8 | mode u8 | kind u8 | flags u8 | width u32 | height u32 | quality u16
    | name_len u8 | model name | weights digest 8 B | n_streams u8 | n_streams x length u32
    | crc32 u32 (of every byte before it and of the payload) | payload (the streams, in order)

Everything is validated before anything is allocated from the header's numbers.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from vcodec.errors import BitstreamError

MAGIC = b"VCDC"
VERSION = 1
MODES = ("L", "RGB", "RGBA", "LA", "P")
KINDS = ("pil", "numpy", "tensor")
FLAG_REDUCED_16BIT = 1
# The transforms hold whole-image activations (about 300 bytes a pixel at peak), so 32 MP is the most
# that fits a 16 GiB machine; larger images will need tiled coding (a future format version).
MAX_SIDE = 1 << 15
MAX_PIXELS = 1 << 25
QUALITY_SCALE = 100  # quality is stored in hundredths of a level
MAX_NAME = 64
MAX_STREAMS = 4

_FIXED = struct.Struct("<4sBBBBIIHB")
_LENGTH = struct.Struct("<I")


def streams_for_mode(mode: str) -> int:
    """z and y, plus alpha for modes with alpha, plus the palette for P."""
    return 2 + (mode in ("RGBA", "LA")) + (mode == "P")


@dataclass
class Header:
    mode: str
    width: int
    height: int
    quality: float
    model: str
    digest: bytes
    kind: str = "pil"
    flags: int = 0
    lengths: list[int] = field(default_factory=list)

    @property
    def quality_code(self) -> int:
        return round(self.quality * QUALITY_SCALE)


def pack(header: Header, streams: list[bytes]) -> bytes:
    if len(streams) != streams_for_mode(header.mode):
        raise ValueError(f"mode {header.mode} needs {streams_for_mode(header.mode)} streams, got {len(streams)}")
    name = header.model.encode("ascii")
    head = b"".join([
        _FIXED.pack(MAGIC, VERSION, MODES.index(header.mode), KINDS.index(header.kind), header.flags,
                    header.width, header.height, header.quality_code, len(name)),
        name,
        header.digest,
        bytes([len(streams)]),
        b"".join(_LENGTH.pack(len(s)) for s in streams),
    ])
    payload = b"".join(streams)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + _LENGTH.pack(crc) + payload


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise BitstreamError(f"truncated bitstream: it ends inside the {what}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def parse(data: bytes, quality_range: tuple[float, float] = (1.0, 8.0)) -> tuple[Header, list[bytes]]:
    """Header and streams of a bitstream, or BitstreamError saying what is wrong."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    r = _Reader(data)
    if not data.startswith(MAGIC):
        if len(data) < len(MAGIC) and MAGIC.startswith(data):
            raise BitstreamError("truncated bitstream: shorter than its magic number")
        raise BitstreamError("not a vcodec bitstream (bad magic number)")
    magic, version, mode, kind, flags, width, height, qcode, name_len = _FIXED.unpack(r.take(_FIXED.size, "header"))
    if version != VERSION:
        raise BitstreamError(f"unsupported format version {version} (this vcodec reads version {VERSION})")
    if mode >= len(MODES):
        raise BitstreamError(f"corrupt header: unknown image mode {mode}")
    if kind >= len(KINDS):
        raise BitstreamError(f"corrupt header: unknown input kind {kind}")
    if flags & ~FLAG_REDUCED_16BIT:
        raise BitstreamError(f"corrupt header: unknown flags {flags:#x}")
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE and width * height <= MAX_PIXELS):
        raise BitstreamError(f"corrupt header: image size {width}x{height} is out of range")
    quality = qcode / QUALITY_SCALE
    if not quality_range[0] <= quality <= quality_range[1]:
        raise BitstreamError(f"corrupt header: quality {quality} is out of range")
    if not 1 <= name_len <= MAX_NAME:
        raise BitstreamError("corrupt header: bad model name length")
    try:
        model = r.take(name_len, "model name").decode("ascii")
    except UnicodeDecodeError:
        raise BitstreamError("corrupt header: model name is not ASCII") from None
    if not model.isprintable():
        raise BitstreamError("corrupt header: model name is not printable")
    digest = r.take(8, "weights digest")
    n_streams = r.take(1, "stream count")[0]
    if n_streams != streams_for_mode(MODES[mode]):
        raise BitstreamError(f"corrupt header: {n_streams} streams for mode {MODES[mode]}")
    lengths = [_LENGTH.unpack(r.take(4, "stream lengths"))[0] for _ in range(n_streams)]
    head_end = r.pos
    (crc,) = _LENGTH.unpack(r.take(4, "checksum"))
    if r.pos + sum(lengths) != len(data):
        if r.pos + sum(lengths) > len(data):
            raise BitstreamError(f"truncated bitstream: {len(data)} bytes, the header announces {r.pos + sum(lengths)}")
        raise BitstreamError(f"corrupt bitstream: {len(data) - r.pos - sum(lengths)} bytes of trailing data")
    payload = data[r.pos :]
    if zlib.crc32(payload, zlib.crc32(data[:head_end])) != crc:
        raise BitstreamError("corrupt bitstream: checksum mismatch")
    streams, pos = [], 0
    for n in lengths:
        streams.append(payload[pos : pos + n])
        pos += n
    header = Header(MODES[mode], width, height, quality, model, digest, KINDS[kind], flags, lengths)
    return header, streams
