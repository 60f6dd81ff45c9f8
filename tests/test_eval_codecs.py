"""Real encodes and decodes through Pillow and PyAV on a small generated image."""

import numpy as np
import pytest
from PIL import Image

from vcodec.cli.main import sample_image
from vcodec.eval.codecs import codec_class, codec_names, create_codec
from vcodec.eval.codecs.pyav import H264_SEI, _annexb_nal_units, _h264_nal_type
from vcodec.eval.errors import EvalError
from vcodec.eval.metrics import psnr_rgb
from vcodec.eval.runner import CodecSpec
from vcodec.errors import VcodecError


def small_image(h=40, w=56, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 4, yy * 5, (xx + yy) * 2], -1) + 10
    return np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "name, low, high",
    [("jpeg", 10, 90), ("webp", 10, 90), ("jpeg2000", 0.5, 4.0), ("h264-444", 40, 20), ("hevc-444", 40, 20)],
)
def test_round_trip_and_the_quality_knob(name, low, high):
    codec = create_codec(name)
    x = small_image()
    coarse, fine = codec.encode(x, low), codec.encode(x, high)
    assert isinstance(coarse, bytes) and 0 < len(coarse) < len(fine)
    x_coarse, x_fine = codec.decode(coarse, x.shape[:2]), codec.decode(fine, x.shape[:2])
    assert x_fine.shape == x.shape and x_fine.dtype == np.uint8
    assert 20 < psnr_rgb(x, x_coarse) < psnr_rgb(x, x_fine)


def test_h264_stream_has_no_sei_and_decodes_without_it():
    codec = create_codec("h264-444")
    x = small_image()
    stream = codec.encode(x, 30)
    types = [_h264_nal_type(u) for u in _annexb_nal_units(stream)]
    assert H264_SEI not in types and 5 in types  # IDR slice kept, x264's version SEI gone
    assert psnr_rgb(x, codec.decode(stream, x.shape[:2])) > 30


def test_annexb_split_keeps_every_byte():
    stream = b"\x00\x00\x00\x01\x67abc\x00\x00\x01\x06sei\x00\x00\x01\x65slice"
    units = _annexb_nal_units(stream)
    assert b"".join(units) == stream
    assert [_h264_nal_type(u) for u in units] == [7, 6, 5]


def test_every_codec_describes_itself_or_says_why_not():
    for name in codec_names():
        cls = codec_class(name)
        assert cls.default_qualities and all(cls.check_quality(q) == q for q in cls.default_qualities)
        reason = cls.unavailable_reason()
        assert reason is None or isinstance(reason, str)


def test_unknown_codec_and_bad_qualities_are_clear_errors():
    with pytest.raises(EvalError, match="unknown codec 'jpg'.*jpeg"):
        CodecSpec.parse("jpg:10")
    with pytest.raises(EvalError, match="integer"):
        CodecSpec.parse("jpeg:10.5")
    with pytest.raises(EvalError, match=r"\[1, 100\]"):
        CodecSpec.parse("jpeg:0")
    with pytest.raises(EvalError, match="numbers"):
        CodecSpec.parse("jpeg:ten")
    assert issubclass(EvalError, VcodecError)


def test_codec_spec_defaults_and_duplicates():
    assert CodecSpec.parse("webp").qualities == codec_class("webp").default_qualities
    assert CodecSpec.parse("jpeg:10,20,10").qualities == (10, 20)
    assert CodecSpec.parse("jpeg2000:0.5,1").qualities == (0.5, 1.0)


def test_vcodec_quantisation_is_part_of_its_cache_key():
    """Plain rounding and RDO give other bitstreams, so they must not share cached results."""
    rdo, plain = create_codec("vcodec", {"rdo": True}), create_codec("vcodec")
    assert rdo.description != plain.description
    x = np.asarray(Image.open(sample_image()).convert("RGB"))
    assert len(rdo.encode(x, 2)) < len(plain.encode(x, 2))
