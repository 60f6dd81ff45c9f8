"""``vcodec eval`` through its argparse registration (add_parser), as vcodec.cli wires it."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vcodec.eval.cli import add_parser
from vcodec.eval.errors import EvalError
from vcodec.errors import VcodecError

VTM = Path(__file__).resolve().parents[1].parent / "shared" / "anchors" / "kodak" / "vtm.json"


def parse(argv):
    parser = argparse.ArgumentParser(prog="vcodec")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture
def dataset(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    yy, xx = np.mgrid[0:48, 0:64]
    for i in range(2):
        rgb = np.stack([xx * 3 + i * 20, yy * 4, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"im{i}.png")
    return folder


def test_eval_writes_json_table_and_plot(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    args = parse(["eval", str(dataset), "--codec", "jpeg:10,30,60,90", "--codec", "webp:10,50,90", "--out", str(out),
                  "--anchor", "jpeg", "--no-progress"])  # fmt: skip
    assert args.func(args) == 0
    doc = json.loads((out / "tiny" / "webp.json").read_text())
    assert doc["name"] == "webp" and len(doc["results"]["bpp"]) == 3
    assert doc["results"]["ms-ssim"] == [None, None, None]  # strict JSON: NaN written as null
    assert (out / "tiny" / "webp.per-image.json").is_file()
    table = (out / "tiny" / "bd_rate.md").read_text()
    assert "Anchor: **jpeg**" in table and "| webp |" in table and "arithmetic mean" in table
    assert "jpeg,0,jpeg,pchip,0.0000" in (out / "tiny" / "bd_rate.csv").read_text()
    assert (out / "tiny" / "rd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "cache.jsonl").is_file()
    assert "wrote" in capsys.readouterr().out


@pytest.mark.skipif(not VTM.is_file(), reason="shared anchors not found")
def test_anchor_and_references_from_files(dataset, tmp_path):
    out = tmp_path / "out"
    args = parse(["eval", str(dataset), "--codec", "jpeg:10,50,90", "--out", str(out), "--anchor", str(VTM),
                  "--reference", str(VTM), "--bd-method", "cubic", "--no-progress"])  # fmt: skip
    assert args.func(args) == 0
    assert "Anchor: **VTM**" in (out / "tiny" / "bd_rate.md").read_text()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--codec", "nosuch"], "unknown codec 'nosuch'"),
        (["--codec", "jpeg", "--codec", "jpeg:5"], "given twice"),
        (["--codec", "jpeg", "--anchor", "webp"], "neither a codec of this run"),
        (["--codec", "jpeg", "--anchor", "missing.json"], "does not exist"),
        ([], "at least one --codec"),
    ],
)
def test_bad_requests_raise_one_clear_vcodec_error(dataset, tmp_path, argv, message):
    args = parse(["eval", str(dataset), "--out", str(tmp_path / "out"), "--no-progress", *argv])
    with pytest.raises(EvalError, match=message):
        args.func(args)
    assert not (tmp_path / "out").exists()  # refused before any work


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    args = parse(["eval", str(tmp_path / "empty"), "--codec", "jpeg", "--out", str(tmp_path / "out")])
    with pytest.raises(VcodecError, match="holds no images"):
        args.func(args)


def test_list_codecs(capsys):
    args = parse(["eval", "--list-codecs"])
    assert args.func(args) == 0
    listing = capsys.readouterr().out
    assert "jpeg " in listing and "hevc-444" in listing and "vcodec" in listing
