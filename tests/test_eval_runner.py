"""The evaluation runner: cache and resume, JSON layout, bad input."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vcodec.eval import runner
from vcodec.eval.codecs import register_codec
from vcodec.eval.codecs.base import ImageCodec
from vcodec.eval.errors import CodecFailedError, EvalError
from vcodec.eval.runner import CodecSpec, evaluate
from vcodec.errors import UnsupportedInputError, VcodecError


@register_codec
class CountingCodec(ImageCodec):
    """Lossy in a known way (keeps the top bits) and counts its calls."""

    name = "test-counting"
    knob = "bits kept 1-8"
    quality_range = (1, 8)
    default_qualities = (2, 6)
    encodes = 0
    fail_on: set = set()

    @property
    def description(self) -> str:
        return "keep the top q bits of each sample; one byte per sample"

    def encode(self, rgb, quality):
        type(self).encodes += 1
        if quality in self.fail_on:
            raise RuntimeError("boom")
        mask = (0xFF << (8 - int(quality))) & 0xFF
        return bytes([int(quality)]) + (rgb & mask).tobytes()

    def decode(self, data, size):
        return np.frombuffer(data[1:], np.uint8).reshape(*size, 3)


def write_images(folder: Path, count=3, size=(24, 32)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture(autouse=True)
def reset_counter():
    CountingCodec.encodes = 0
    CountingCodec.fail_on = set()


def test_second_run_encodes_nothing(tmp_path):
    data = write_images(tmp_path / "set")
    spec = CodecSpec.parse("test-counting:2,6")
    first = evaluate([data], [spec], tmp_path / "cache.jsonl", progress=False)
    assert CountingCodec.encodes == 6
    second = evaluate([data], [spec], tmp_path / "cache.jsonl", progress=False)
    assert CountingCodec.encodes == 6
    assert json.dumps(second[0].to_json()) == json.dumps(first[0].to_json())  # NaN-safe comparison
    # A new quality computes only the new points.
    evaluate([data], [CodecSpec.parse("test-counting:2,6,7")], tmp_path / "cache.jsonl", progress=False)
    assert CountingCodec.encodes == 9


def test_average_is_the_arithmetic_mean_in_compressai_layout(tmp_path):
    data = write_images(tmp_path / "set", count=2)
    (result,) = evaluate([data], [CodecSpec.parse("test-counting:3,8")], tmp_path / "c.jsonl", progress=False)
    doc = result.to_json()
    assert doc["name"] == "test-counting" and doc["description"]
    assert "arithmetic mean" in doc["averaging"] and doc["num_images"] == 2
    res = doc["results"]
    assert set(res) == {"quality", "bpp", "psnr-rgb", "ms-ssim", "encoding_time", "decoding_time"}
    assert res["quality"] == [3, 8]
    assert all(len(v) == 2 for v in res.values())
    bytes_per_image = 1 + 24 * 32 * 3
    assert res["bpp"][0] == pytest.approx(bytes_per_image * 8 / (24 * 32))
    per_image = [r for r in result.records if r["quality"] == 3]
    assert res["psnr-rgb"][0] == pytest.approx(np.mean([r["psnr-rgb"] for r in per_image]))
    assert res["psnr-rgb"][1] == math.inf  # 8 bits kept: lossless
    assert math.isnan(res["ms-ssim"][0])  # 24 x 32 is too small for 5-scale MS-SSIM
    assert len(result.per_image_json()["images"]) == 4


def test_time_columns_are_medians_so_one_stall_does_not_move_them():
    from vcodec.eval.runner import CodecResult

    rows = [{"quality": 1, "bpp": 1.0, "psnr-rgb": 30.0, "ms-ssim": 0.9, "encoding_time": t, "decoding_time": t / 2}
            for t in (1.0, 1.1, 0.9, 30.0)]  # the last image stalled
    curve = CodecResult("set", "c", "", (1,), rows).average()
    assert curve.encoding_time == [pytest.approx(1.05)] and curve.decoding_time == [pytest.approx(0.525)]
    assert curve.median_time("encoding_time") == pytest.approx(1.05)


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    spec = CodecSpec.parse("test-counting")
    with pytest.raises(EvalError, match="holds no images"):
        evaluate([tmp_path / "empty"], [spec], tmp_path / "c.jsonl", progress=False)
    with pytest.raises(EvalError, match="does not exist"):
        evaluate([tmp_path / "nope"], [spec], tmp_path / "c.jsonl", progress=False)


def test_unreadable_image_fails_before_any_work_and_keeps_the_cache(tmp_path):
    data = write_images(tmp_path / "set")
    spec = CodecSpec.parse("test-counting:2")
    evaluate([data], [spec], tmp_path / "cache.jsonl", progress=False)
    before = (tmp_path / "cache.jsonl").read_text()
    (data / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UnsupportedInputError, match="broken.png"):
        evaluate([data], [CodecSpec.parse("test-counting:2,5")], tmp_path / "cache.jsonl", progress=False)
    assert CountingCodec.encodes == 3
    assert (tmp_path / "cache.jsonl").read_text() == before


def test_failing_encoder_names_the_task_and_keeps_finished_results(tmp_path):
    data = write_images(tmp_path / "set")
    CountingCodec.fail_on = {5}
    with pytest.raises(CodecFailedError, match="test-counting at quality 5 on img0.png.*boom"):
        evaluate([data], [CodecSpec.parse("test-counting:2,5")], tmp_path / "cache.jsonl", progress=False)
    CountingCodec.fail_on = set()
    CountingCodec.encodes = 0
    evaluate([data], [CodecSpec.parse("test-counting:2,5")], tmp_path / "cache.jsonl", progress=False)
    assert CountingCodec.encodes == 3  # quality 2 came from the cache


def test_torn_cache_line_is_skipped(tmp_path):
    data = write_images(tmp_path / "set", count=1)
    spec = CodecSpec.parse("test-counting:2")
    evaluate([data], [spec], tmp_path / "cache.jsonl", progress=False)
    with open(tmp_path / "cache.jsonl", "a") as f:
        f.write('{"key": "abc", "bpp": 1.')  # a crash mid-write
    with pytest.warns(UserWarning, match="unreadable cache line"):
        evaluate([data], [spec], tmp_path / "cache.jsonl", progress=False)
    assert CountingCodec.encodes == 1


def test_same_folder_name_twice_is_refused(tmp_path):
    a = write_images(tmp_path / "a" / "kodak", count=1)
    b = write_images(tmp_path / "b" / "kodak", count=1)
    with pytest.raises(EvalError, match="two datasets are named 'kodak'"):
        evaluate([a, b], [CodecSpec.parse("test-counting")], tmp_path / "c.jsonl", progress=False)


def test_16_bit_images_are_refused_not_quantised(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 1000, np.uint16)).save(path)
    with pytest.raises(UnsupportedInputError, match="not 8-bit"):
        runner.load_rgb(path)


def test_parallel_workers_give_the_same_numbers(tmp_path):
    data = write_images(tmp_path / "set", count=2, size=(40, 48))
    spec = CodecSpec.parse("jpeg:20,80")
    (parallel,) = evaluate([data], [spec], tmp_path / "p.jsonl", workers=2, progress=False)
    (serial,) = evaluate([data], [spec], tmp_path / "s.jsonl", workers=1, progress=False)
    for key in ("bpp", "psnr-rgb"):
        assert parallel.to_json()["results"][key] == serial.to_json()["results"][key]
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 4
    assert all(isinstance(json.loads(line)["bytes"], int) for line in (tmp_path / "p.jsonl").read_text().splitlines())
    assert issubclass(CodecFailedError, VcodecError)
