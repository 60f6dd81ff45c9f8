import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vcodec.codec import container
from vcodec.errors import BitstreamError

from conftest import smooth_image


def _header(**kw):
    base = dict(mode="RGB", width=33, height=17, quality=3.25, model="vcodec-base", digest=b"\x01" * 8)
    base.update(kw)
    return container.Header(**base)


def test_pack_parse_roundtrip():
    streams = [b"zzzz", b"yyyyyyyy", b"alpha"]
    data = container.pack(_header(mode="RGBA", kind="tensor", flags=1), streams)
    header, out = container.parse(data)
    assert out == streams
    assert (header.mode, header.width, header.height, header.quality, header.kind, header.flags) == (
        "RGBA", 33, 17, 3.25, "tensor", 1)
    assert header.lengths == [4, 8, 5]


def _reseal(data: bytes, fixed: bytes) -> bytes:
    """Replace the fixed header fields and recompute the CRC, so only the field under test is wrong."""
    header, streams = container.parse(data)
    name_len = fixed[-1]
    head_len = container._FIXED.size + name_len + 8 + 1 + 4 * len(streams)
    head = fixed + data[container._FIXED.size : head_len]
    payload = data[head_len + 4 :]
    return head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload


@pytest.fixture(scope="module")
def real_stream():
    from vcodec.codec import get_codec

    return get_codec().compress(smooth_image(np.random.default_rng(0), 40, 56), quality=5)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(magic=b"VCDX"), "magic"),
        (dict(version=9), "version"),
        (dict(mode=17), "mode"),
        (dict(width=0), "size"),
        (dict(width=1 << 31, height=1 << 31), "size"),
        (dict(width=40000), "size"),
        (dict(quality=65535), "quality"),
        (dict(flags=0x80), "flags"),
    ],
)
def test_bad_header_fields(real_stream, fields, message):
    values = dict(zip(["magic", "version", "mode", "kind", "flags", "width", "height", "quality", "name_len"],
                      container._FIXED.unpack(real_stream[: container._FIXED.size])))
    values.update(fields)
    data = _reseal(real_stream, container._FIXED.pack(*values.values()))
    with pytest.raises(BitstreamError, match=message):
        container.parse(data)


def test_every_truncation_is_a_bitstream_error(real_stream):
    for n in range(len(real_stream)):
        with pytest.raises(BitstreamError):
            container.parse(real_stream[:n])


def test_trailing_bytes_rejected(real_stream):
    with pytest.raises(BitstreamError, match="trailing"):
        container.parse(real_stream + b"\0")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_bit_flips_are_detected(real_stream, data):
    pos = data.draw(st.integers(0, len(real_stream) - 1))
    bit = data.draw(st.integers(0, 7))
    flipped = bytearray(real_stream)
    flipped[pos] ^= 1 << bit
    with pytest.raises(BitstreamError):
        container.parse(bytes(flipped))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_are_rejected(blob):
    with pytest.raises(BitstreamError):
        container.parse(blob)
    with pytest.raises(BitstreamError):
        container.parse(container.MAGIC + blob)


def test_not_bytes():
    with pytest.raises(BitstreamError):
        container.parse("VCDC")
