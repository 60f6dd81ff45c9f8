"""The vcodec command through a real subprocess."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import smooth_image


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "vcodec.cli.main", *map(str, args)], input=stdin,
                          capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "photo.png"
    Image.fromarray(smooth_image(np.random.default_rng(3), 50, 70)).save(path)
    return path


def test_encode_info_decode_roundtrip(photo, tmp_path):
    vcc, png = tmp_path / "photo.vcc", tmp_path / "back.png"
    r = run("encode", photo, "-o", vcc, "-q", "6.5")
    assert r.returncode == 0, r.stderr
    assert b"bpp" in r.stderr
    r = run("info", vcc)
    assert r.returncode == 0 and b"70x50 RGB" in r.stdout and b"quality:  6.5" in r.stdout
    r = run("decode", vcc, "-o", png)
    assert r.returncode == 0, r.stderr
    assert Image.open(png).size == (70, 50)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.png", "photo.vcc"]  # no temp files left


def test_stdin_stdout(photo):
    enc = run("encode", "-", "-o", "-", stdin=photo.read_bytes())
    assert enc.returncode == 0 and enc.stdout[:4] == b"VCDC"
    dec = run("decode", "-", "-o", "-", stdin=enc.stdout)
    assert dec.returncode == 0 and dec.stdout[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["decode", "{photo}", "-o", "{tmp}/x.png"], b"not a vcodec bitstream"),
        (["encode", "{tmp}/missing.png", "-o", "{tmp}/x.vcc"], b"no such file"),
        (["encode", "{photo}", "-o", "{photo}"], b"refusing to overwrite"),
        (["encode", "{photo}", "-o", "{tmp}/x.vcc", "-q", "12"], b"quality"),
        (["encode", "{photo}", "-o", "{tmp}/nofolder/x.vcc"], b"does not exist"),
        (["encode", "{photo}", "-o", "{tmp}/x.vcc", "--model", "nope"], b"unknown model"),
        (["info", "{photo}"], b"not a vcodec bitstream"),
    ],
)
def test_errors_are_one_line(photo, tmp_path, args, message):
    before = photo.read_bytes()
    r = run(*[a.format(photo=photo, tmp=tmp_path) for a in args])
    assert r.returncode != 0
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and message in r.stderr, r.stderr
    assert b"Traceback" not in r.stderr
    assert photo.read_bytes() == before


def test_truncated_file_is_a_clear_error(photo, tmp_path):
    vcc = tmp_path / "a.vcc"
    assert run("encode", photo, "-o", vcc).returncode == 0
    vcc.write_bytes(vcc.read_bytes()[:-10])
    r = run("decode", vcc, "-o", tmp_path / "a.png")
    assert r.returncode != 0 and b"truncated" in r.stderr and not (tmp_path / "a.png").exists()


def test_roundtrip_command_on_bundled_sample():
    r = run("roundtrip", "-q", "3")
    assert r.returncode == 0, r.stderr
    assert b"sample.png" in r.stdout and b"PSNR" in r.stdout and b"bpp" in r.stdout
