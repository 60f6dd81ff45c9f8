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


def _umask_022():
    import os

    os.umask(0o022)


def test_batch_encode_into_a_folder_and_decode_beside(photo, tmp_path):
    """Three files into a folder with the usual file mode, the ICC profile kept, then decoded beside."""
    import io

    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im = Image.open(photo)
    im.save(tmp_path / "a.png", icc_profile=icc)
    im.save(tmp_path / "b.jpg", quality=95)
    im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "c.png")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "vcodec.cli.main", "encode", *(tmp_path / n for n in ("a.png", "b.jpg", "c.png")),
                        "-o", f"{out}/", "--quiet"], capture_output=True, timeout=300, preexec_fn=_umask_022)
    assert r.returncode == 0 and r.stderr == b"", r.stderr  # --quiet after the command
    assert sorted(p.name for p in out.iterdir()) == ["a.vcc", "b.vcc", "c.vcc"]  # no temp files left
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o644}

    r = run("decode", *sorted(out.iterdir()), "--debug")
    assert r.returncode == 0, r.stderr
    assert Image.open(out / "a.png").info["icc_profile"] == icc and "icc_profile" not in Image.open(out / "c.png").info
    assert Image.open(out / "c.png").size == (70, 50)
    r = run("decode", out / "a.vcc")  # the output exists: vcodec does not replace a file it named itself
    assert r.returncode == 2 and b"exists; use -f" in r.stderr
    r = subprocess.run([sys.executable, "-m", "vcodec", "decode", "-r", out, "--format", "jpeg", "-q", "80"],
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert Image.open(io.BytesIO((out / "b.jpg").read_bytes())).format == "JPEG"


def test_a_failing_file_is_reported_and_the_rest_go_on(photo, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    r = run("encode", photo, tmp_path / "broken.png", tmp_path / "missing.png", "-o", f"{tmp_path}/out/")
    assert r.returncode == 2 and (tmp_path / "out" / "photo.vcc").is_file()
    lines = r.stderr.decode().strip().splitlines()
    assert any("broken.png" in line and "not an image" in line for line in lines), lines
    assert any("missing.png" in line for line in lines) and lines[-1] == "vcodec: 2 of 3 files failed"
    assert b"Traceback" not in r.stderr


def test_help_version_and_info_import_no_torch(photo, tmp_path):
    vcc = tmp_path / "p.vcc"
    assert run("encode", photo, "-o", vcc).returncode == 0
    code = ("import contextlib, io, sys\nfrom vcodec.cli.main import main\n"
            "for argv in (['--help'], ['--version'], ['encode', '--help']):\n"
            "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "        main(argv)\n"
            f"assert main(['info', {str(vcc)!r}]) == 0\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert b"70x50 RGB" in r.stdout


def test_models_by_name_or_weights_file(photo, tmp_path):
    from vcodec import zoo

    weights = zoo.weights_path(zoo.DEFAULT_MODEL)
    r = run("encode", photo, "-o", tmp_path / "w.vcc", "--model", weights)
    assert r.returncode == 0, r.stderr
    r = run("encode", photo, "-o", tmp_path / "t.vcc", "--model", "vcodec-tiny")
    assert r.returncode == 2 and b"ships no weights; available: vcodec-base" in r.stderr
    assert str(weights.parent).encode() not in r.stderr  # no install path in the message


def test_large_image_path_through_the_cli(tmp_path):
    """A forced small tile: the tiled, streamed path a large image takes, end to end."""
    src, vcc, png = tmp_path / "big.png", tmp_path / "big.vcc", tmp_path / "big.out.png"
    Image.fromarray(smooth_image(np.random.default_rng(5), 200, 300)).save(src)
    assert run("encode", src, "--tile", "128", "-q", "5").returncode == 0
    r = run("info", vcc)
    assert b"tiles:    6 of 128x128" in r.stdout
    r = run("decode", vcc, "-o", png, "--max-pixels", "60K")
    assert r.returncode == 0 and Image.open(png).size == (300, 200)
    r = run("decode", vcc, "-o", tmp_path / "x.png", "--max-pixels", "50K")
    assert r.returncode == 2 and b"300x200" in r.stderr and b"larger than vcodec codes (50000 pixels)" in r.stderr


def test_coding_imports_no_compressai(photo, tmp_path):
    """The coder needs only the stored tables and transforms: compressai (2.4 s to import, with
    torch_geometric and scipy.stats) is for training and the slow encoder efforts."""
    code = ("import sys\nfrom vcodec.cli.main import main\n"
            f"assert main(['encode', {str(photo)!r}, '-o', {str(tmp_path / 'a.vcc')!r}]) == 0\n"
            f"assert main(['decode', {str(tmp_path / 'a.vcc')!r}]) == 0\n"
            "found = sorted(m for m in ('compressai', 'torch_geometric', 'scipy') if m in sys.modules)\n"
            "assert not found, found\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.png").is_file()


def test_small_images_are_coded_on_one_thread(monkeypatch):
    """Without --threads a small image takes one thread (waking a second costs more than it gives)
    and a larger one gets torch's count back; --threads is left alone."""
    import argparse

    import torch

    from vcodec.cli import main as cli

    before = torch.get_num_threads()
    monkeypatch.setattr(cli, "_all_threads", 2)
    try:
        cli._threads_for(argparse.Namespace(threads=None), 128 * 96)
        assert torch.get_num_threads() == 1
        cli._threads_for(argparse.Namespace(threads=None), 768 * 512)
        assert torch.get_num_threads() == 2
        cli._threads_for(argparse.Namespace(threads=None), None)  # size unknown: all threads
        assert torch.get_num_threads() == 2
        torch.set_num_threads(3)
        cli._threads_for(argparse.Namespace(threads=3), 128 * 96)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_image_pixels_from_the_header(photo):
    from vcodec.cli.main import _image_pixels

    assert _image_pixels(str(photo)) == 70 * 50
    assert _image_pixels(photo.read_bytes()) == 70 * 50
    assert _image_pixels(str(photo) + ".missing") is None
