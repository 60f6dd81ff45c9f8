"""The container (typed, length-prefixed, checksummed units) and the image units on top of it."""

import io
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vcodec.coding import container
from vcodec.coding.container import Unit
from vcodec.coding.quality import Quality
from vcodec.errors import BitstreamError
from vcodec.image import bitstream
from vcodec.image.bitstream import ImageFile, ImageHeader

from conftest import smooth_image


def _image(mode="RGB", **kw) -> ImageFile:
    header = ImageHeader(mode=mode, width=33, height=17, quality=Quality(325), model="vcodec-base",
                         digest=b"\x01" * 8, **kw)
    return ImageFile(header, [(b"zzzz", b"yyyyyyyy")], alpha=b"alpha" if mode in ("RGBA", "LA") else None,
                     palette=bytes(768) if mode == "P" else None)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16383, 16384, (1 << 30) - 1])
def test_leb128_roundtrip(value):
    raw = container.leb128(value)
    assert len(raw) == max(1, (value.bit_length() + 6) // 7)
    assert container.read_leb128(io.BytesIO(raw).read, "length") == (value, raw)


def test_units_roundtrip_and_stream_reading():
    units = [Unit(container.IMAGE, b"head"), Unit(container.LATENTS, b"x" * 300), Unit(container.ALPHA, b"")]
    data = container.pack(units)
    assert container.parse(data) == units
    assert list(container.iter_units(io.BytesIO(data))) == units


def test_ancillary_units_are_skipped_unknown_ones_refused():
    data = container.pack([Unit(container.IMAGE, b"h"), Unit(0xC0, b"future"), Unit(container.LATENTS, b"l")])
    assert [u.type for u in container.parse(data)] == [container.IMAGE, container.LATENTS]
    with pytest.raises(BitstreamError, match="unknown unit type 0x42"):
        container.parse(container.pack([Unit(0x42, b"?")]))


def test_image_pack_parse_roundtrip():
    img = _image("RGBA", kind="tensor", flags=1)
    img.metadata = {"icc_profile": b"icc!", "exif": b"Exif\0\0data"}
    out = bitstream.parse(bitstream.pack(img))
    h = out.header
    assert (h.mode, h.width, h.height, h.quality.user, h.kind, h.flags) == ("RGBA", 33, 17, 3.25, "tensor", 1)
    assert (out.tiles, out.alpha, out.metadata) == (img.tiles, img.alpha, img.metadata)


def test_version_1_files_get_a_clear_message():
    v1 = b"VCDC\x01\x01\x00\x00" + bytes(40)
    with pytest.raises(BitstreamError, match="version 1 .*decode it with vcodec 0.1"):
        bitstream.parse(v1)


def _reseal_header(data: bytes, payload: bytes) -> bytes:
    """Swap the IMAGE unit's payload for ``payload`` with a valid length and checksum, so only the field
    under test is wrong."""
    units = container.parse(data)
    return container.pack([Unit(container.IMAGE, payload)] + units[1:])


@pytest.fixture(scope="module")
def real_stream():
    from vcodec.image.api import get_codec

    return get_codec().compress(smooth_image(np.random.default_rng(0), 40, 56), quality=5)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(mode=17), "mode"),
        (dict(kind=9), "kind"),
        (dict(width=0), "size"),
        (dict(flags=0x80), "flags"),
    ],
)
def test_bad_header_fields(real_stream, fields, message):
    head = container.parse(real_stream)[0].payload
    values = dict(zip(["mode", "kind", "flags", "width", "height", "quality"], struct.unpack("<BBBHHH", head[:9])))
    values.update(fields)
    data = _reseal_header(real_stream, struct.pack("<BBBHHH", *values.values()) + head[9:])
    with pytest.raises(BitstreamError, match=message):
        bitstream.parse(data)


def test_quality_out_of_the_models_range_is_refused(real_stream):
    from vcodec.image.api import get_codec

    head = container.parse(real_stream)[0].payload
    data = _reseal_header(real_stream, head[:7] + struct.pack("<H", 65535) + head[9:])
    with pytest.raises(BitstreamError, match="quality"):
        get_codec().decompress(data)


def test_missing_or_misordered_units(real_stream):
    units = container.parse(real_stream)
    with pytest.raises(BitstreamError, match="latents unit is missing"):
        bitstream.parse(container.pack(units[:1]))
    with pytest.raises(BitstreamError, match="not a still image"):
        bitstream.parse(container.pack(units[1:]))
    with pytest.raises(BitstreamError, match="do not fit"):
        bitstream.parse(container.pack(units + [Unit(container.PALETTE, bytes(768))]))


def test_every_truncation_is_a_bitstream_error(real_stream):
    for n in range(len(real_stream)):
        with pytest.raises(BitstreamError):
            bitstream.parse(real_stream[:n])


def test_trailing_bytes_rejected(real_stream):
    with pytest.raises(BitstreamError, match="trailing|truncated"):
        bitstream.parse(real_stream + b"\0")


def test_a_huge_length_claim_allocates_nothing():
    # A unit that claims a gigabyte in a 20-byte file: refused from the length, before any read.
    data = container.file_header() + bytes([container.LATENTS]) + container.leb128(container.MAX_UNIT) + bytes(10)
    with pytest.raises(BitstreamError, match="truncated"):
        container.parse(data)
    too_big = container.file_header() + bytes([container.LATENTS]) + container.leb128(container.MAX_UNIT + 1)
    with pytest.raises(BitstreamError, match="claims"):
        container.parse(too_big)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_bit_flips_are_detected(real_stream, data):
    pos = data.draw(st.integers(0, len(real_stream) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(real_stream)
    flipped[pos] ^= 1 << bit
    with pytest.raises(BitstreamError):
        bitstream.parse(bytes(flipped))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_rejected(blob):
    with pytest.raises(BitstreamError):
        bitstream.parse(blob)
    with pytest.raises(BitstreamError):
        bitstream.parse(container.MAGIC + bytes([container.VERSION]) + blob)


def test_checksum_covers_type_and_length():
    data = bytearray(container.pack([Unit(container.IMAGE, b"abc")]))
    data[5] = container.ALPHA  # the type byte, with the payload and its CRC untouched
    with pytest.raises(BitstreamError, match="checksum"):
        container.parse(bytes(data))


def test_not_bytes():
    with pytest.raises(BitstreamError):
        container.parse("VCDC")
