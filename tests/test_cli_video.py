"""The vcodec command on video: clips in, .vcv out, and back (in-process, so the models load once)."""

import av
import numpy as np
import pytest
from PIL import Image

import vcodec
from vcodec.cli.main import main
from tests.test_video_codec import moving_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    frames = moving_clip(4, 48, 64)
    (folder / "frames").mkdir()
    for i, f in enumerate(frames, 1):
        Image.fromarray(f).save(folder / "frames" / f"{i:02d}.png")
    return folder, frames


def read_y4m(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_pattern_encodes_beside_its_folder_and_decodes_to_y4m(clip, capsys):
    folder, frames = clip
    assert main(["encode", str(folder / "frames" / "%02d.png"), "-q", "3", "--intra-period", "2", "--quiet"]) == 0
    vcv = folder / "frames.vcv"
    data = vcv.read_bytes()
    assert main(["info", str(vcv)]) == 0
    out = capsys.readouterr().out
    assert "64x48 RGB" in out and "4 frames" in out
    types = [line.split()[1] for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert types == ["I", "P", "I", "P"]

    assert main(["decode", str(vcv), "--quiet"]) == 0
    decoded = read_y4m(folder / "frames.y4m")
    expected = list(vcodec.decompress_video(data))
    assert len(decoded) == 4
    # .y4m holds full-range BT.601 4:4:4, one rounding away from the decoder's RGB
    assert max(np.abs(a.astype(int) - b).max() for a, b in zip(decoded, expected)) <= 2
    psnr = [10 * np.log10(255**2 / np.mean((a.astype(float) - b) ** 2)) for a, b in zip(frames, decoded)]
    assert min(psnr) > 25


def test_decode_to_a_pattern_and_lossless_mkv_with_a_frame_limit(clip, tmp_path):
    folder, _ = clip
    vcv = tmp_path / "c.vcv"
    assert main(["encode", str(folder / "frames" / "%02d.png"), "-o", str(vcv), "--frames", "3", "--quiet"]) == 0
    expected = list(vcodec.decompress_video(vcv.read_bytes()))
    assert len(expected) == 3
    assert main(["decode", str(vcv), "-o", str(tmp_path / "out" / "%03d.png"), "--frames", "2", "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["001.png", "002.png"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "002.png")), expected[1])
    assert main(["decode", str(vcv), "-o", str(tmp_path / "c.mkv"), "--quiet"]) == 0
    with av.open(str(tmp_path / "c.mkv")) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert all(np.array_equal(a, b) for a, b in zip(decoded, expected))


def test_a_y4m_clip_is_recognised_as_video(clip, tmp_path):
    from vcodec.video.io import VideoWriter

    _, frames = clip
    src = tmp_path / "src.y4m"
    with VideoWriter(src, 64, 48, 25) as w:
        for f in frames[:2]:
            w.write(f)
    before = src.read_bytes()
    assert main(["encode", str(src), "--quiet"]) == 0
    assert len(list(vcodec.decompress_video((tmp_path / "src.vcv").read_bytes()))) == 2
    assert src.read_bytes() == before


def test_bad_video_bitstreams_give_one_line_and_exit_2(clip, tmp_path, capsys):
    folder, _ = clip
    vcv = tmp_path / "c.vcv"
    assert main(["encode", str(folder / "frames" / "%02d.png"), "-o", str(vcv), "--quiet"]) == 0
    data = vcv.read_bytes()
    (tmp_path / "cut.vcv").write_bytes(data[: len(data) - 7])
    capsys.readouterr()
    assert main(["decode", str(tmp_path / "cut.vcv"), "-o", str(tmp_path / "cut.y4m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vcodec: error:")
    assert not (tmp_path / "cut.y4m").exists()
    assert main(["info", str(tmp_path / "cut.vcv")]) == 2
    assert main(["encode", str(tmp_path / "none" / "%02d.png"), "-o", str(tmp_path / "n.vcv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("vcodec: error:")


def test_the_p_frame_model_is_refused_for_stills(clip, tmp_path, capsys):
    folder, _ = clip
    with pytest.raises(vcodec.ModelError, match="P-frame model"):
        vcodec.Codec("vcodec-p")
    assert main(["encode", str(folder / "frames" / "01.png"), "-o", str(tmp_path / "s.vcc"), "--model", "vcodec-p"]) == 2
    assert "P-frame model" in capsys.readouterr().err
