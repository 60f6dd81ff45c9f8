"""The vcodec container, version 2: a file header, then typed, length-prefixed, checksummed units.

    file  = magic "VCDC" | version u8 | unit | unit | ...
    unit  = type u8 | length leb128 | payload (length bytes) | crc32 u32 of type, length and payload

Fixed-size integers are little-endian; lengths are LEB128 (7 bits a byte, low bits first, at most 5
bytes), as AV1's OBU sizes, so small units pay one or two bytes for them. ``docs/format.md`` is the
reference. The container knows units, not what
is in them: the still-image front end (``vcodec.image``) and the video front end (``vcodec.video``)
define their units' payloads and their order. Types 0x80 and up are ancillary: a reader that does not
know one skips it; an unknown type below 0x80 is an error.

Nothing is allocated from a unit's numbers before they are checked against the bytes that are really
there, and every unit's checksum is verified before its payload is read.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from vcodec.errors import BitstreamError

MAGIC = b"VCDC"
VERSION = 2

# Unit types. The image units follow an IMAGE header; the video units follow a SEQUENCE header.
IMAGE = 0x01  # image header: mode, size, quality, model (vcodec.image.bitstream)
LATENTS = 0x02  # the range-coded z and y of one image or tile
ALPHA = 0x03  # the alpha plane, zlib
PALETTE = 0x04  # 768-byte RGB palette of a P image
METADATA = 0x05  # ICC profile, EXIF, XMP
SEQUENCE = 0x10  # video sequence header (vcodec.video.bitstream)
IFRAME = 0x11  # a video frame coded by the image model
PFRAME_V1 = 0x12  # retired: a P-frame of the first motion coding (known, so that it gets its own message)
PFRAME = 0x13  # a video frame coded given the previous decoded frame
ANCILLARY = 0x80  # this type and above: skippable

UNIT_NAMES = {IMAGE: "image", LATENTS: "latents", ALPHA: "alpha", PALETTE: "palette", METADATA: "metadata",
              SEQUENCE: "sequence", IFRAME: "I-frame", PFRAME: "P-frame",
              PFRAME_V1: "P-frame (first motion coding)"}
# No unit is larger than this (a 256 MP image at 2 bpp is 64 MB): a corrupt length cannot ask for more.
MAX_UNIT = 1 << 30

_FILE = struct.Struct("<4sB")
_CRC = struct.Struct("<I")
MAX_NAME = 64
_LEB128_BYTES = 5


def leb128(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_leb128(read, what: str) -> tuple[int, bytes]:
    """(value, its raw bytes) of a LEB128 number read a byte at a time with ``read(1)``."""
    raw, value = bytearray(), 0
    for i in range(_LEB128_BYTES):
        b = read(1)
        if not b:
            raise BitstreamError(f"truncated bitstream: it ends inside a {what}")
        raw += b
        value |= (b[0] & 0x7F) << (7 * i)
        if not b[0] & 0x80:
            return value, bytes(raw)
    raise BitstreamError(f"corrupt bitstream: a {what} runs over {_LEB128_BYTES} bytes")


@dataclass
class Unit:
    type: int
    payload: bytes

    @property
    def name(self) -> str:
        return UNIT_NAMES.get(self.type, f"unit 0x{self.type:02x}")


def file_header() -> bytes:
    return _FILE.pack(MAGIC, VERSION)


def pack_unit(unit: Unit) -> bytes:
    if not 0 <= unit.type <= 0xFF or len(unit.payload) > MAX_UNIT:
        raise ValueError(f"cannot pack {unit.name} of {len(unit.payload)} bytes")
    head = bytes([unit.type]) + leb128(len(unit.payload))
    return head + unit.payload + _CRC.pack(zlib.crc32(unit.payload, zlib.crc32(head)))


def pack(units: list[Unit]) -> bytes:
    return file_header() + b"".join(pack_unit(u) for u in units)


def check_file_header(head: bytes) -> None:
    """BitstreamError unless ``head`` (the first 5 bytes) opens a vcodec file this version reads."""
    if not head:
        raise BitstreamError("empty input: not a vcodec bitstream")
    if not head.startswith(MAGIC[: len(head)]):
        raise BitstreamError("not a vcodec bitstream (bad magic number)")
    if len(head) < _FILE.size:
        raise BitstreamError("truncated bitstream: shorter than its file header")
    version = head[4]
    if version == 1:
        raise BitstreamError("this is a vcodec format version 1 file (vcodec 0.1); this vcodec reads version 2: "
                             "decode it with vcodec 0.1, then encode it again")
    if version != VERSION:
        raise BitstreamError(f"unsupported format version {version} (this vcodec reads version {VERSION})")


def _read_unit(utype: int, read) -> Unit:
    """The unit of type ``utype`` (its first byte, already read); ``read(n)`` gives the next n bytes, or
    fewer at the end."""
    length, raw = read_leb128(read, "unit length")
    head = bytes([utype]) + raw
    if length > MAX_UNIT:
        raise BitstreamError(f"corrupt bitstream: a unit claims {length} bytes")
    name = UNIT_NAMES.get(utype, f"unit 0x{utype:02x}")
    payload = read(length)
    if len(payload) < length:
        raise BitstreamError(f"truncated bitstream: it ends inside the {name} unit")
    crc = read(_CRC.size)
    if len(crc) < _CRC.size:
        raise BitstreamError(f"truncated bitstream: it ends inside the {name} unit's checksum")
    if zlib.crc32(payload, zlib.crc32(head)) != _CRC.unpack(crc)[0]:
        raise BitstreamError(f"corrupt bitstream: checksum mismatch in the {name} unit")
    if utype not in UNIT_NAMES and utype < ANCILLARY:
        raise BitstreamError(f"corrupt bitstream: unknown unit type 0x{utype:02x}")
    return Unit(utype, payload)


def parse(data: bytes) -> list[Unit]:
    """Every known unit of a whole bitstream, in order (ancillary units this version does not know are
    skipped), or BitstreamError saying what is wrong."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BitstreamError(f"expected bytes, got {type(data).__name__}")
    view = memoryview(data)
    check_file_header(bytes(view[: _FILE.size]))
    pos = _FILE.size
    units = []

    def read(n: int) -> bytes:
        nonlocal pos
        out = bytes(view[pos : pos + n])
        pos += len(out)
        return out

    while pos < len(view):
        unit = _read_unit(read(1)[0], read)
        if unit.type in UNIT_NAMES:
            units.append(unit)
    return units


def iter_units(stream: BinaryIO) -> Iterator[Unit]:
    """Units read one at a time from a binary stream (the file header first): memory stays one unit."""
    check_file_header(stream.read(_FILE.size))
    while True:
        head = stream.read(1)
        if not head:
            return
        unit = _read_unit(head[0], stream.read)
        if unit.type in UNIT_NAMES:
            yield unit


class Fields:
    """Reads the fixed fields of a unit's payload; running past its end is a BitstreamError."""

    def __init__(self, payload: bytes, what: str):
        self.data, self.pos, self.what = payload, 0, what

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise BitstreamError(f"corrupt bitstream: the {self.what} unit is too short")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size))

    def leb128(self) -> int:
        return read_leb128(self.take_upto, f"length in the {self.what} unit")[0]

    def take_upto(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out

    def end(self) -> None:
        if self.pos != len(self.data):
            raise BitstreamError(f"corrupt bitstream: {len(self.data) - self.pos} stray bytes in the {self.what} unit")

    def model_ref(self) -> tuple[str, bytes]:
        """A model name (u8 length, printable ASCII) and its 8-byte weights digest."""
        (n,) = self.unpack("B")
        if not 1 <= n <= MAX_NAME:
            raise BitstreamError("corrupt header: bad model name length")
        try:
            name = self.take(n).decode("ascii")
        except UnicodeDecodeError:
            raise BitstreamError("corrupt header: model name is not ASCII") from None
        if not name.isprintable():
            raise BitstreamError("corrupt header: model name is not printable")
        return name, self.take(8)


def pack_model_ref(name: str, digest: bytes) -> bytes:
    raw = name.encode("ascii")
    if not 1 <= len(raw) <= MAX_NAME or len(digest) != 8:
        raise ValueError(f"bad model reference {name!r}")
    return bytes([len(raw)]) + raw + digest


def pack_streams(streams: list[bytes]) -> bytes:
    """Several byte strings in one payload: a LEB128 length before each but the last."""
    return b"".join(leb128(len(s)) for s in streams[:-1]) + b"".join(streams)


def unpack_streams(payload: bytes, count: int, what: str) -> list[bytes]:
    f = Fields(payload, what)
    lengths = [f.leb128() for _ in range(count - 1)]
    if sum(lengths) > len(payload) - f.pos:
        raise BitstreamError(f"corrupt bitstream: the {what} unit's stream lengths exceed it")
    out = [f.take(n) for n in lengths]
    return out + [f.rest()]
