"""A video in the container: one SEQUENCE header unit, then one unit per frame, in display order.

    SEQUENCE  width u16 | height u16 | fps numerator u32 | denominator u32 | frame count u32
              | intra period u32 (0: only the first frame) | colour u8 (0: sRGB / BT.709 RGB, 8 bits)
              | I model name and digest | P model name and digest
    IFRAME    frame index u32 | quality u16 | z length leb128 | z | y
    PFRAME    frame index u32 | quality u16 | motion length leb128 | motion | z length leb128 | z | y
              (type 0x13; 0x12, the P-frame of the first motion coding, is retired and refused)

The frame count is written when the encoder knows it; a streamed encode writes the count at the end
(0xFFFFFFFF while unknown). Frame indices must run 0, 1, 2, ... : a unit out of order, a missing unit or
a P-frame without a decoded frame before it is a BitstreamError. A decoder can start at any I-frame.
``docs/format.md`` is the reference; the generic framing is :mod:`vcodec.coding.container`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

from vcodec.coding import container
from vcodec.coding.container import IFRAME, PFRAME, PFRAME_V1, SEQUENCE, Fields, Unit
from vcodec.coding.quality import Quality
from vcodec.errors import BitstreamError

UNKNOWN_COUNT = 0xFFFFFFFF
MAX_SIDE = 0xFFFF
MAX_PIXELS = 1 << 26  # 64 MP a frame: beyond any video this decoder handles
COLOURS = ("rgb",)
_SEQ = struct.Struct("<HHIIIIB")
_FRAME = struct.Struct("<IH")


@dataclass
class SequenceHeader:
    width: int
    height: int
    fps: Fraction
    frame_count: int  # UNKNOWN_COUNT while streaming
    intra_period: int  # 0: only the first frame is an I-frame
    i_model: str
    i_digest: bytes
    p_model: str
    p_digest: bytes
    colour: str = "rgb"

    def pack(self) -> bytes:
        return (_SEQ.pack(self.width, self.height, self.fps.numerator, self.fps.denominator, self.frame_count,
                          self.intra_period, COLOURS.index(self.colour))
                + container.pack_model_ref(self.i_model, self.i_digest)
                + container.pack_model_ref(self.p_model, self.p_digest))

    @classmethod
    def parse(cls, payload: bytes) -> "SequenceHeader":
        f = Fields(payload, "sequence header")
        width, height, num, den, count, period, colour = f.unpack("HHIIIIB")
        i_model, i_digest = f.model_ref()
        p_model, p_digest = f.model_ref()
        f.end()
        if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE and width * height <= MAX_PIXELS):
            raise BitstreamError(f"corrupt header: frame size {width}x{height} is out of range")
        if num == 0 or den == 0:
            raise BitstreamError(f"corrupt header: frame rate {num}/{den}")
        if colour >= len(COLOURS):
            raise BitstreamError(f"corrupt header: unknown colour format {colour}")
        return cls(width, height, Fraction(num, den), count, period, i_model, i_digest, p_model, p_digest,
                   COLOURS[colour])

    def is_intra(self, index: int) -> bool:
        return index == 0 or (self.intra_period > 0 and index % self.intra_period == 0)


@dataclass
class Frame:
    index: int
    intra: bool
    quality: Quality
    z: bytes
    y: bytes
    motion: bytes = b""

    def unit(self) -> Unit:
        head = _FRAME.pack(self.index, self.quality.code)
        if self.intra:
            return Unit(IFRAME, head + container.pack_streams([self.z, self.y]))
        return Unit(PFRAME, head + container.pack_streams([self.motion, self.z, self.y]))

    @classmethod
    def from_unit(cls, unit: Unit) -> "Frame":
        if unit.type == PFRAME_V1:
            raise BitstreamError("this clip was made by an earlier vcodec: its P-frames use the retired first "
                                 "motion coding (unit 0x12); encode it again from the source")
        if unit.type not in (IFRAME, PFRAME):
            raise BitstreamError(f"corrupt bitstream: a {unit.name} unit where a frame belongs")
        f = Fields(unit.payload, unit.name)
        index, code = f.unpack("IH")
        quality = Quality.from_code(code)
        if unit.type == IFRAME:
            z, y = container.unpack_streams(f.rest(), 2, unit.name)
            return cls(index, True, quality, z, y)
        motion, z, y = container.unpack_streams(f.rest(), 3, unit.name)
        return cls(index, False, quality, z, y, motion)

    @property
    def size(self) -> int:
        return len(self.unit().payload)


def header_unit(header: SequenceHeader) -> Unit:
    return Unit(SEQUENCE, header.pack())


def read_header(units) -> tuple[SequenceHeader, "iter"]:
    """The sequence header from the first unit of an iterator of units, and the iterator (at the frames)."""
    units = iter(units)
    first = next(units, None)
    if first is None:
        raise BitstreamError("truncated bitstream: it holds no units")
    if first.type != SEQUENCE:
        raise BitstreamError(f"not a video: the first unit is {first.name} (a still image? decode it to an image)")
    return SequenceHeader.parse(first.payload), units


def frames(header: SequenceHeader, units, start: int = 0):
    """Frames in order, checked: consecutive indices from ``start``, I-frames where the header puts them,
    and no more than the header's frame count."""
    expected = start
    for unit in units:
        frame = Frame.from_unit(unit)
        if frame.index != expected:
            raise BitstreamError(f"corrupt bitstream: frame {frame.index} where frame {expected} belongs "
                                 "(units missing or out of order)")
        if frame.intra != header.is_intra(frame.index):
            kind = "an I-frame" if header.is_intra(frame.index) else "a P-frame"
            raise BitstreamError(f"corrupt bitstream: frame {frame.index} should be {kind}")
        if header.frame_count != UNKNOWN_COUNT and frame.index >= header.frame_count:
            raise BitstreamError(f"corrupt bitstream: more frames than the {header.frame_count} announced")
        yield frame
        expected += 1
    if header.frame_count != UNKNOWN_COUNT and expected < header.frame_count:
        raise BitstreamError(f"truncated bitstream: {expected} of {header.frame_count} frames")
