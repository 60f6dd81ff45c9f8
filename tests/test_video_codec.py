"""The video codec end to end: bit-exact round trips, drift-free decoding, random access, bad streams."""

import numpy as np
import pytest
import torch

from vcodec.coding import container
from vcodec.coding.container import Unit
from vcodec.errors import BitstreamError, UnsupportedInputError
from vcodec.video import bitstream, motion, mvcoding
from vcodec.video.codec import VideoCodec


def moving_clip(n: int, h: int, w: int, seed: int = 0) -> list[np.ndarray]:
    """A random smooth texture (not periodic, so motion is unambiguous) panning by 2 px right and 1 px down
    a frame, with mild noise."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    big_h, big_w = h + 2 * n + 8, w + 3 * n + 8
    noise = Image.fromarray(rng.integers(0, 256, (big_h, big_w, 3), dtype=np.uint8))
    scene = np.asarray(noise.filter(ImageFilter.GaussianBlur(3))).astype(np.float64)
    scene = (scene - scene.mean()) * 4 + 128
    frames = []
    for t in range(n):
        crop = scene[t : t + h, 2 * t : 2 * t + w] + rng.normal(0, 1, (h, w, 3))
        frames.append(np.clip(crop, 0, 255).astype(np.uint8))
    return frames


def vimeo_clip(n: int = 3):
    """The first frames of a training clip of the shared folder (the tests expect ../shared)."""
    from pathlib import Path

    from PIL import Image

    folder = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "video" / "vimeo_septuplet_sample" / "00002" / "0003"
    if not folder.is_dir():
        pytest.skip(f"the shared datasets are not beside the checkout ({folder})")
    return [np.asarray(Image.open(folder / f"im{i}.png").convert("RGB"))[:128, :192] for i in range(1, n + 1)]


@pytest.fixture(scope="module")
def vc():
    torch.set_num_threads(2)
    return VideoCodec()


@pytest.fixture(scope="module")
def coded(vc):
    frames = moving_clip(5, 45, 70)
    report = vc.encode_frames(frames, quality=3.5, intra_period=3, frame_count=5, keep_reconstructions=True)
    return frames, report, b"".join(report.pieces)


def test_decoder_output_is_the_encoders_reconstruction_bit_for_bit(vc, coded):
    frames, report, data = coded
    decoded = list(vc.decompress(data))
    assert len(decoded) == 5 and decoded[0].shape == (45, 70, 3) and decoded[0].dtype == np.uint8
    for enc, dec in zip(report.reconstructions, decoded):
        np.testing.assert_array_equal(enc, dec)
    assert [f.intra for f in report.frames] == [True, False, False, True, False]
    psnr = [10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)) for a, b in zip(frames, decoded)]
    assert min(psnr) > 28


def test_p_frames_of_a_real_clip_cost_far_less_than_i_frames(vc):
    report = vc.encode_frames(vimeo_clip(3), quality=4, intra_period=32, frame_count=3)
    i_bytes = report.frames[0].bytes
    assert all(f.bytes < 0.8 * i_bytes for f in report.frames[1:])


def test_decoding_is_independent_of_the_thread_count(vc, coded):
    _, _, data = coded
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = list(vc.decompress(data))
    finally:
        torch.set_num_threads(threads)
    two = list(vc.decompress(data))
    assert all(np.array_equal(a, b) for a, b in zip(one, two))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cpu_and_gpu_decode_the_same_frames(vc, coded):
    """Reference frames, motion compensation and the entropy model's inputs match across devices: a
    stream coded on the CPU decodes on the GPU to the same frames, and one coded on the GPU on the CPU."""
    frames, report, data = coded
    gpu = VideoCodec(device="cuda")
    assert all(np.array_equal(a, b) for a, b in zip(gpu.decompress(data), report.reconstructions))
    on_gpu = gpu.encode_frames(frames, quality=3.5, intra_period=3, frame_count=5, keep_reconstructions=True)
    decoded = list(vc.decompress(b"".join(on_gpu.pieces)))
    assert len(decoded) == 5 and all(np.array_equal(a, b) for a, b in zip(decoded, on_gpu.reconstructions))


def test_decoding_can_start_at_an_i_frame(vc, coded):
    _, report, data = coded
    from_three = list(vc.decompress(data, start=3))
    assert len(from_three) == 2
    np.testing.assert_array_equal(from_three[0], report.reconstructions[3])
    from_four = list(vc.decompress(data, start=4))  # starts decoding at frame 3, yields from 4
    np.testing.assert_array_equal(from_four[0], report.reconstructions[4])


@pytest.mark.parametrize("n, period", [(1, 32), (4, 32), (4, -1), (3, 1)])
def test_short_clips_and_intra_periods(vc, n, period):
    frames = moving_clip(n, 23, 37, seed=n)
    report = vc.encode_frames(frames, quality=2, intra_period=period, frame_count=n, keep_reconstructions=True)
    types = [f.intra for f in report.frames]
    assert types[0] and (all(types) if period == 1 else not any(types[1:]))
    decoded = list(vc.decompress(b"".join(report.pieces)))
    assert len(decoded) == n and all(np.array_equal(a, b) for a, b in zip(decoded, report.reconstructions))


def test_quality_offsets_lower_the_p_frames(vc):
    frames = moving_clip(3, 32, 48)
    plain = vc.encode_frames(frames, quality=5, intra_period=8, frame_count=3)
    offset = vc.encode_frames(frames, quality=5, intra_period=8, frame_count=3, quality_offsets=[-2])
    assert [f.quality for f in offset.frames] == [5, 3, 3]
    assert offset.frames[1].bytes < plain.frames[1].bytes


def test_corrupt_truncated_and_reordered_streams(vc, coded):
    _, _, data = coded
    units = container.parse(data)
    reordered = container.pack([units[0], units[1], units[3], units[2], *units[4:]])
    with pytest.raises(BitstreamError, match="out of order"):
        list(vc.decompress(reordered))
    with pytest.raises(BitstreamError, match="truncated"):
        list(vc.decompress(container.pack(units[:-1])))  # the header announces 5 frames
    with pytest.raises(BitstreamError, match="not a video"):
        list(vc.decompress(container.pack(units[1:])))
    retired = [Unit(container.PFRAME_V1, u.payload) if u.type == container.PFRAME else u for u in units]
    with pytest.raises(BitstreamError, match="retired first motion coding"):
        list(vc.decompress(container.pack(retired)))
    for cut in range(5, len(data), max(1, len(data) // 40)):
        with pytest.raises(BitstreamError):
            list(vc.decompress(data[:cut]))
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(BitstreamError):
        list(vc.decompress(bytes(flipped)))


def test_garbage_behind_valid_checksums_never_crashes(vc, coded):
    """Frame payloads rewritten with random bytes (checksums recomputed): an error or frames, nothing else."""
    _, _, data = coded
    units = container.parse(data)
    rng = np.random.default_rng(0)
    for i in range(1, len(units)):
        frame = bitstream.Frame.from_unit(units[i])
        frame.z, frame.y = (bytes(rng.integers(0, 256, len(b), dtype=np.uint8)) for b in (frame.z, frame.y))
        frame.motion = bytes(rng.integers(0, 256, len(frame.motion), dtype=np.uint8))
        broken = container.pack(units[:i] + [frame.unit()] + units[i + 1 :])
        try:
            out = list(vc.decompress(broken))
        except BitstreamError:
            continue
        assert len(out) == 5


def test_frames_of_another_size_are_refused(vc):
    frames = moving_clip(2, 32, 48) + [np.zeros((30, 48, 3), np.uint8)]
    with pytest.raises(UnsupportedInputError, match="the clip is 48x32"):
        vc.encode_frames(frames, quality=3)


def test_motion_vectors_round_trip_and_compensation_is_exact():
    frames = moving_clip(2, 48, 80)
    vectors = motion.search(frames[1], frames[0], lmbda=2.0)
    assert vectors.shape == (6, 10, 2)
    # The scene moved by (1, 2) pixels: (4, 8) quarter pels, found inside the frame.
    assert (vectors[1:-1, 1:-1] == [4, 8]).mean() > 0.8
    data = mvcoding.encode(vectors)
    np.testing.assert_array_equal(mvcoding.decode(data, 6, 10), vectors)
    pred = motion.compensate(frames[0], vectors)
    assert pred.dtype == np.uint8 and np.abs(pred.astype(int) - frames[1]).mean() < 4
    with pytest.raises(BitstreamError, match="whole number of words"):
        mvcoding.decode(data[:-1], 6, 10)
    rng = np.random.default_rng(0)
    for _ in range(20):  # garbage: an error, or vectors inside the range the compensation accepts
        try:
            field = mvcoding.decode(bytes(rng.integers(0, 256, 64, dtype=np.uint8)), 6, 10)
        except BitstreamError:
            continue
        assert np.abs(field).max() <= motion.RANGE * motion.QPEL


def test_vector_predictor_is_the_same_for_the_search_and_the_coder():
    field = np.random.default_rng(1).integers(-40, 40, (5, 7, 2))
    batch = motion._median_predictor(field)
    assert all((batch[i, j] == motion.predictor_at(field, i, j)).all() for i in range(5) for j in range(7))


def test_training_searches_motion_as_the_encoder_does():
    from vcodec.train import video_task
    from vcodec.video import codec

    assert video_task.MOTION_LAMBDA == codec.MOTION_LAMBDA
