"""Video I/O: round trips through y4m, FFV1 mkv and frame patterns, sources PyAV reads, colour, errors."""

import os
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from vcodec.errors import UnsupportedInputError, VcodecError
from vcodec.eval.metrics import psnr_rgb
from vcodec.video import color
from vcodec.video.io import VideoWriter, frame_to_rgb, is_video_path, open_video

H, W = 19, 35  # odd on purpose


def clip(n=4, h=H, w=W, seed=0) -> list[np.ndarray]:
    """A moving gradient with mild noise: natural enough for lossy codecs, different in every frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(n):
        base = np.stack([(xx + 2 * i) * 6, (yy + i) * 11, (xx + yy) * 3 + 40 + 5 * i], -1)
        frames.append(np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8))
    return frames


def write(path, frames, fps=25, **kwargs):
    with VideoWriter(path, frames[0].shape[1], frames[0].shape[0], fps, **kwargs) as out:
        for f in frames:
            out.write(f)
    return path


def test_ffv1_mkv_round_trip_is_exact(tmp_path):
    frames = clip()
    source = open_video(write(tmp_path / "a.mkv", frames, Fraction(30000, 1001)))
    assert (source.width, source.height, source.fps) == (W, H, Fraction(30000, 1001))
    got = list(source)
    assert len(got) == len(frames)
    assert all(g.dtype == np.uint8 and (g == f).all() for g, f in zip(got, frames))


def test_y4m_is_444_full_range_and_round_trips_within_rounding(tmp_path):
    frames = clip()
    path = write(tmp_path / "a.y4m", frames, 50)
    header = path.read_bytes().split(b"\n", 1)[0].split()
    assert header[:4] == [b"YUV4MPEG2", f"W{W}".encode(), f"H{H}".encode(), b"F50:1"]
    assert b"C444" in header and b"XCOLORRANGE=FULL" in header
    source = open_video(path)
    assert (source.width, source.height, source.fps, source.frame_count) == (W, H, 50, 4)
    got = list(source)
    assert len(got) == 4
    for g, f in zip(got, frames):
        assert np.abs(g.astype(int) - f).max() <= 2 and psnr_rgb(f, g) > 48
    # What is written is BT.601 full range, the matrix FFmpeg assumes for an untagged stream.
    planes = np.frombuffer(path.read_bytes()[len(b" ".join(header)) + 1 + len(b"FRAME\n"):][: 3 * H * W], np.uint8)
    assert (planes.reshape(3, H, W) == color.rgb_to_ycbcr(frames[0], "bt601", full_range=True)).all()


def test_pattern_round_trip_numbers_from_1(tmp_path):
    frames = clip(3)
    write(tmp_path / "f_%03d.png", frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f_001.png", "f_002.png", "f_003.png"]
    source = open_video(tmp_path / "f_%03d.png")
    assert (source.width, source.height, source.frame_count, source.fps) == (W, H, 3, 25)
    assert all((g == f).all() for g, f in zip(source, frames))


def test_pattern_finds_its_first_number_and_stops_at_a_gap(tmp_path):
    frames = clip(5)
    for n, f in zip((7, 8, 9, 11, 12), frames):  # 10 is missing
        Image.fromarray(f).save(tmp_path / f"{n:04d}.png")
    Image.fromarray(frames[0]).save(tmp_path / "0005.jpg")  # another suffix: not part of the sequence
    source = open_video(tmp_path / "%04d.png")
    assert source.frame_count == 3
    assert all((g == f).all() for g, f in zip(source, frames[:3]))


def test_pattern_width_must_match_exactly(tmp_path):
    Image.fromarray(clip(1)[0]).save(tmp_path / "7.png")
    with pytest.raises(UnsupportedInputError, match="no file matches"):
        open_video(tmp_path / "%04d.png")  # would be 0007.png
    assert open_video(tmp_path / "%d.png").frame_count == 1


def test_folder_of_images_in_natural_order(tmp_path):
    frames = clip(3)
    for name, f in zip(("f2.png", "f10.png", "f1.png"), (frames[1], frames[2], frames[0])):
        Image.fromarray(f).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a frame")
    got = list(open_video(tmp_path))
    assert len(got) == 3 and all((g == f).all() for g, f in zip(got, frames))


@pytest.mark.parametrize("suffix", [".mkv", ".y4m", "/%02d.png"])
def test_max_frames_stops_early_and_sources_read_twice(tmp_path, suffix):
    frames = clip(5)
    (tmp_path / "seq").mkdir()
    path = write(str(tmp_path / "seq") + suffix, frames)
    source = open_video(path, max_frames=2)
    assert source.frame_count in (2, None)
    first, second = list(source), list(source)
    assert len(first) == len(second) == 2
    assert all((a == b).all() for a, b in zip(first, second))
    assert list(open_video(path, max_frames=0)) == []


def test_frames_are_read_one_at_a_time(tmp_path):
    frames = clip(4)
    write(tmp_path / "%d.png", frames)
    source = open_video(tmp_path / "%d.png")
    (tmp_path / "4.png").write_bytes(b"damaged after opening")
    it = iter(source)
    assert (next(it) == frames[0]).all()  # the damaged last frame is not touched yet
    with pytest.raises(UnsupportedInputError, match="4.png"):
        list(it)


def test_x264_mp4_is_read_with_its_rate_and_frame_count(tmp_path):
    frames = clip(6, 32, 48)
    path = tmp_path / "a.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(24))
        s.width, s.height, s.pix_fmt = 48, 32, "yuv420p"
        s.options = {"qp": "0", "preset": "ultrafast"}
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p")  # swscale: BT.601 limited
            vf.pts = i
            c.mux(s.encode(vf))
        c.mux(s.encode(None))
    source = open_video(path)
    assert (source.width, source.height, source.fps, source.frame_count) == (48, 32, 24, 6)
    got = list(source)
    # Lossless coding: what is left is 4:2:0 chroma and the 8-bit limited-range YCbCr of swscale.
    assert len(got) == 6 and min(psnr_rgb(f, g) for f, g in zip(frames, got)) > 35


def _yuv444_frame(rgb, matrix, full_range, colorspace, color_range):
    frame = av.VideoFrame.from_ndarray(color.rgb_to_ycbcr(rgb, matrix, full_range), format="yuv444p")
    frame.colorspace, frame.color_range = colorspace, color_range
    return frame


def test_ycbcr_is_read_with_its_tagged_matrix_and_range():
    rgb = clip(1, 24, 32)[0]
    tagged = frame_to_rgb(_yuv444_frame(rgb, "bt709", False, 1, 1))  # BT.709, limited: as tagged
    assert np.abs(tagged.astype(int) - rgb).max() <= 3
    untagged = frame_to_rgb(_yuv444_frame(rgb, "bt601", False, 2, 0))  # untagged: BT.601 limited, as FFmpeg
    assert np.abs(untagged.astype(int) - rgb).max() <= 3
    wrong = frame_to_rgb(_yuv444_frame(rgb, "bt709", False, 2, 0))
    assert psnr_rgb(rgb, wrong) < psnr_rgb(rgb, tagged) - 10


def test_420_and_10_bit_ycbcr_convert_close_to_the_source():
    smooth = clip(1, 24, 32)[0]
    frame = av.VideoFrame.from_ndarray(smooth, format="rgb24")
    for fmt in ("yuv420p", "yuv422p", "yuv420p10le", "nv12", "gray"):
        got = frame_to_rgb(frame.reformat(format=fmt))
        assert got.shape == smooth.shape and got.dtype == np.uint8
        if fmt != "gray":
            assert psnr_rgb(smooth, got) > 30, fmt


def test_audio_is_ignored_with_a_warning(tmp_path):
    frames = clip(3)
    path = tmp_path / "av.mkv"
    with av.open(str(path), "w") as c:
        v = c.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = W, H, "bgr0"
        a = c.add_stream("pcm_s16le", rate=8000)
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            c.mux(v.encode(vf))
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.int16), format="s16", layout="mono")
        samples.sample_rate, samples.pts = 8000, 0
        c.mux(a.encode(samples))
        c.mux(a.encode(None))
        c.mux(v.encode(None))
    with pytest.warns(UserWarning, match="audio ignored"):
        source = open_video(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert all((g == f).all() for g, f in zip(source, frames))


def test_a_file_with_audio_only_has_no_video_stream(tmp_path):
    path = tmp_path / "sound.mka"
    with av.open(str(path), "w") as c:
        a = c.add_stream("pcm_s16le", rate=8000)
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        samples.sample_rate, samples.pts = 8000, 0
        c.mux(a.encode(samples))
        c.mux(a.encode(None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UnsupportedInputError, match="no video stream"):
            open_video(path)


def test_source_errors_are_one_line(tmp_path):
    (tmp_path / "junk.mp4").write_bytes(os.urandom(2000))
    (tmp_path / "empty").mkdir()
    (tmp_path / "mixed").mkdir()
    Image.fromarray(clip(1)[0]).save(tmp_path / "mixed" / "1.png")
    Image.fromarray(clip(1, 20, 30)[0]).save(tmp_path / "mixed" / "2.png")
    os.mkfifo(tmp_path / "pipe.y4m")
    cases = [
        (tmp_path / "missing.mp4", "no such file"),
        (tmp_path / "junk.mp4", "not a video"),
        (tmp_path / "empty", "holds no images"),
        (tmp_path / "nowhere" / "%04d.png", "no such folder"),
        (tmp_path / "empty" / "%04d.png", "no file matches"),
        (tmp_path / "mixed", "one size"),
        (tmp_path / "mixed" / "%d.png", "one size"),
        (tmp_path / "pipe.y4m", "not a regular file"),
        (tmp_path / "%d_%d.png", "one %d"),
    ]
    for path, message in cases:
        with pytest.raises(UnsupportedInputError, match=message) as e:
            open_video(path)
        assert "\n" not in str(e.value)


def test_writer_is_atomic_and_leaves_nothing_after_an_error(tmp_path):
    frames = clip(2)
    for name in ("a.mkv", "a.y4m"):
        with pytest.raises(RuntimeError):
            with VideoWriter(tmp_path / name, W, H) as out:
                out.write(frames[0])
                assert not (tmp_path / name).exists()  # only the temporary file so far
                raise RuntimeError("interrupted")
        assert list(tmp_path.iterdir()) == []


def test_writer_refuses_the_input_and_bad_frames(tmp_path):
    frames = clip(2)
    path = write(tmp_path / "in.mkv", frames)
    before = path.read_bytes()
    with pytest.raises(VcodecError, match="overwrite the input"):
        VideoWriter(path, W, H, source=path)
    write(tmp_path / "%d.png", frames)
    source = open_video(tmp_path / "%d.png")
    with pytest.raises(VcodecError, match="overwrite the input"):
        write(tmp_path / "%d.png", frames, source=source)
    assert path.read_bytes() == before
    with pytest.raises(UnsupportedInputError, match="uint8 RGB frame"):
        with VideoWriter(tmp_path / "b.mkv", W, H) as out:
            out.write(frames[0][:, :-1])
    with pytest.raises(VcodecError, match="use a .y4m, a .mkv"):
        VideoWriter(tmp_path / "b.mp4", W, H)
    with pytest.raises(VcodecError, match="does not exist"):
        VideoWriter(tmp_path / "nowhere" / "b.mkv", W, H)


def test_is_video_path(tmp_path):
    assert is_video_path("clip.MP4") and is_video_path("a.y4m") and is_video_path("x/f_%04d.png")
    assert is_video_path(tmp_path)  # a folder of frames
    assert not is_video_path("photo.png") and not is_video_path("image.vcc") and not is_video_path("100%.png")
