"""Video evaluation: metrics, the x264/x265 anchors and vcodec all-intra behind one contract, cache, report, CLI."""

import json
import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from vcodec.eval.codecs.pyav import H264_SEI, _annexb_nal_units, _h264_nal_type
from vcodec.eval.errors import CodecFailedError, EvalError
from vcodec.eval.metrics import psnr_rgb
from vcodec.eval.video import report
from vcodec.eval.video.codecs import EncodedVideo, VideoCodec, create_video_codec, register_video_codec
from vcodec.eval.video.metrics import frame_metrics
from vcodec.eval.video.runner import Clip, VideoCodecSpec, evaluate, load_clip
from vcodec.video.io import VideoWriter


def gradient_clip(n=6, h=32, w=48) -> list[np.ndarray]:
    """A gradient moving 2 px right and 1 px down a frame, with a little texture."""
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(n):
        x, y = xx - 2 * i, yy - i
        base = np.stack([x * 4 + 30, y * 6 + 20, (x + y) * 2 + 60], -1) + 25 * np.sin(x / 3.0)[..., None]
        frames.append(np.clip(base, 0, 255).astype(np.uint8))
    return frames


def make_clip(frames, name="synthetic") -> Clip:
    import hashlib

    return Clip(name, frames, Fraction(25), hashlib.sha256(b"".join(f.tobytes() for f in frames)).hexdigest())


def test_frame_metrics_on_known_errors():
    x = gradient_clip(1)[0]
    assert all(math.isinf(v) for v in frame_metrics(x, x).values())
    assert x.max() <= 251  # room for the shift
    grey_shift = x + np.uint8(4)  # +4 on R, G and B: only Y moves
    m = frame_metrics(x, grey_shift)
    assert m["psnr-y"] == pytest.approx(20 * math.log10(255 / 4))
    assert m["psnr-rgb"] == pytest.approx(psnr_rgb(x, grey_shift))
    assert math.isinf(m["psnr-u"]) or m["psnr-u"] > 90
    noisy = np.clip(x + np.random.default_rng(0).normal(0, 3, x.shape), 0, 255).astype(np.uint8)
    m = frame_metrics(x, noisy)
    assert m["psnr-yuv"] == pytest.approx((6 * m["psnr-y"] + m["psnr-u"] + m["psnr-v"]) / 8)


@pytest.mark.parametrize("name", ["x264-420", "x264-444", "x265-420", "x265-444"])
def test_anchor_codes_an_i_frame_every_intra_period_and_decodes_from_the_bytes(name):
    frames = gradient_clip(6)
    codec = create_video_codec(name, {"intra_period": 4})
    fine, coarse = codec.encode(iter(frames), 22), codec.encode(iter(frames), 40)
    for encoded in (fine, coarse):
        assert sum(encoded.frame_bytes) == len(encoded.bitstream)
        assert encoded.frame_types == ["I", "P", "P", "P", "I", "P"]
    assert len(coarse.bitstream) < len(fine.bitstream)
    decoded = {q: list(codec.decode(e.bitstream, 48, 32)) for q, e in ((22, fine), (40, coarse))}
    assert all(len(d) == 6 and d[0].shape == (32, 48, 3) and d[0].dtype == np.uint8 for d in decoded.values())
    psnr = {q: np.mean([psnr_rgb(f, g) for f, g in zip(frames, d)]) for q, d in decoded.items()}
    assert 25 < psnr[40] < psnr[22]


def test_x264_stream_carries_no_sei_and_odd_sizes_are_padded_for_420():
    frames = [f[:31, :47] for f in gradient_clip(3)]
    codec = create_video_codec("x264-420", {"intra_period": 32})
    encoded = codec.encode(iter(frames), 26)
    assert H264_SEI not in {_h264_nal_type(u) for u in _annexb_nal_units(encoded.bitstream)}
    decoded = list(codec.decode(encoded.bitstream, 47, 31))
    assert [d.shape for d in decoded] == [(31, 47, 3)] * 3
    assert min(psnr_rgb(f, d) for f, d in zip(frames, decoded)) > 30
    assert "keyint=32:scenecut=0:bframes=0" in codec.description and "tune=zerolatency" in codec.description


def test_vcodec_intra_is_each_frame_a_still_with_a_length(codec):
    from vcodec.coding.container import leb128

    frames = gradient_clip(2, 32, 32)
    intra = create_video_codec("vcodec-intra")
    encoded = intra.encode(iter(frames), 3)
    stills = [codec.compress(f, quality=3) for f in frames]
    assert encoded.bitstream == b"".join(leb128(len(s)) + s for s in stills)
    assert encoded.frame_bytes == [len(leb128(len(s))) + len(s) for s in stills]
    assert encoded.frame_types == ["I", "I"]
    decoded = list(intra.decode(encoded.bitstream, 32, 32))
    assert all((d == codec.decompress(s, output="numpy")).all() for d, s in zip(decoded, stills))
    assert "weights" in intra.description


@register_video_codec
class KeepTopBits(VideoCodec):
    """Lossless framing of lossy samples: one byte of quality, then the top q bits of every sample."""

    name = "test-top-bits"
    knob = "bits 1-8"
    quality_range = (1, 8)
    default_qualities = (2, 6)
    encodes = 0

    @property
    def description(self) -> str:
        return f"top q bits of each sample, intra period {self.intra_period}"

    def encode(self, frames, quality):
        type(self).encodes += 1
        mask = (0xFF << (8 - int(quality))) & 0xFF
        chunks = [(f & mask).tobytes() for f in frames]
        chunks[0] = bytes([int(quality)]) + chunks[0]
        return EncodedVideo(b"".join(chunks), [len(c) for c in chunks], ["I"] + ["P"] * (len(chunks) - 1))

    def decode(self, bitstream, width, height):
        data = np.frombuffer(bitstream[1:], np.uint8).reshape(-1, height, width, 3)
        yield from data


def test_evaluate_caches_per_codec_settings_and_quality(tmp_path):
    clip = make_clip(gradient_clip(4))
    specs = [VideoCodecSpec.parse("test-top-bits:3,5"), VideoCodecSpec.parse("x264-420:24,34")]
    KeepTopBits.encodes = 0
    first = evaluate(clip, specs, tmp_path / "cache.jsonl", intra_period=2, progress=False)
    assert KeepTopBits.encodes == 2
    again = evaluate(clip, specs, tmp_path / "cache.jsonl", intra_period=2, progress=False)
    assert KeepTopBits.encodes == 2  # nothing measured twice
    assert [r.records for r in again] == [json.loads(json.dumps(r.records)) for r in first]
    evaluate(clip, specs[:1], tmp_path / "cache.jsonl", intra_period=3, progress=False)
    assert KeepTopBits.encodes == 4  # another intra period is another setting

    top = first[0].record(3)
    assert top["bytes"] == 4 * 32 * 48 * 3 + 1 and top["bpp"] == pytest.approx(8 * top["bytes"] / (32 * 48 * 4))
    assert top["per_frame"]["bpp"][0] > top["per_frame"]["bpp"][1]  # the quality byte rides on frame 1
    assert top["psnr-rgb"] == pytest.approx(np.mean(top["per_frame"]["psnr-rgb"]))
    assert first[0].record(5)["psnr-rgb"] > top["psnr-rgb"]
    doc = first[1].to_json()
    assert doc["results"]["quality"] == [24, 34] and len(doc["per_frame"][0]["psnr-yuv"]) == 4


def test_a_codec_that_loses_frames_is_reported():
    class Dropper(KeepTopBits):
        name = "test-dropper"

        def decode(self, bitstream, width, height):
            yield from list(super().decode(bitstream, width, height))[:-1]

    register_video_codec(Dropper)
    with pytest.raises(CodecFailedError, match="decoded as 2"):
        evaluate(make_clip(gradient_clip(3)), [VideoCodecSpec.parse("test-dropper:4")], None, progress=False)


def test_bd_rates_table_and_plots(tmp_path):
    clip = make_clip(gradient_clip(4))
    specs = [VideoCodecSpec.parse("x264-420:22,28,34,40"), VideoCodecSpec.parse("x264-444:22,28,34,40")]
    results = evaluate(clip, specs, None, intra_period=4, progress=False)
    assert report.bd_rate(results[0], results[0]) == pytest.approx(0, abs=1e-9)
    assert math.isfinite(report.bd_rate(results[0], results[1], "psnr-yuv"))
    table = report.bd_markdown(results, ["x264-420", "x264-444"], "psnr-yuv")
    assert "| **x264-444** |" in table and "| YUV-PSNR (dB) | BD-rate vs x264-420 (%) | BD-rate vs x264-444" in table
    row = next(line for line in table.splitlines() if line.startswith("| **x264-444** |"))
    assert f"{report.bd_rate(results[0], results[1], 'psnr-yuv'):+.1f} | +0.0 |" in row
    assert report.nearest_quality(results[0], results[0].record(28)["psnr-rgb"] + 0.1) == 28
    report.plot_rd(results, tmp_path / "rd.png", "test")
    report.plot_frames(results, {"x264-420": 28, "x264-444": 28}, tmp_path / "frames.png", "test")
    for name in ("rd.png", "frames.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_spec_errors():
    with pytest.raises(EvalError, match="unknown video codec"):
        VideoCodecSpec.parse("x266-420")
    with pytest.raises(EvalError, match="CRF 0-51"):
        VideoCodecSpec.parse("x264-420:60")
    with pytest.raises(EvalError, match="intra period"):
        create_video_codec("x264-420", {"intra_period": 0})


def test_cli_eval_video(tmp_path):
    frames = gradient_clip(4)
    with VideoWriter(tmp_path / "clip.mkv", 48, 32, 25) as out:
        for f in frames:
            out.write(f)
    assert len(load_clip(tmp_path / "clip.mkv")) == 4
    cmd = [sys.executable, "-m", "vcodec.cli.main", "eval-video", str(tmp_path / "clip.mkv"), "--codec",
           "x264-420:26,36", "--codec", "x265-420:26,36", "--frames", "3", "--intra-period", "2", "-o",
           str(tmp_path / "out"), "--no-progress"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "out" / "clip"
    assert {p.name for p in folder.iterdir()} == {"x264-420.json", "x265-420.json", "bd_rate.md", "rd.png",
                                                  "frames.png"}  # fmt: skip
    doc = json.loads((folder / "x265-420.json").read_text())
    assert doc["num_frames"] == 3 and doc["per_frame"][0]["type"] == ["I", "P", "I"]
    assert "BD-rate vs x264-420" in done.stdout

    bad = subprocess.run(cmd[:5] + ["--codec", "nope", "-o", str(tmp_path / "o2")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown video codec" in bad.stderr
