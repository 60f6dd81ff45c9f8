"""Training data: the held-out split, deterministic random patches, validation crops."""

import numpy as np
import pytest
import torch
from PIL import Image

from vcodec.datasets import Augment, RandomPatches, StepBatches, center_crop64, list_images, load_rgb, split
from vcodec.errors import UnsupportedInputError


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(1)
    for i, (h, w) in enumerate([(300, 200), (90, 120), (40, 50)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / f"a{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    Image.fromarray(np.zeros((70, 70), np.uint8)).save(tmp_path / "sub" / "gray.jpg")  # grayscale: read as RGB
    return tmp_path


def test_list_images_recursive_sorted(folder):
    found = [p.relative_to(folder).as_posix() for p in list_images(folder)]
    assert found == ["a0.png", "a1.png", "a2.png", "sub/gray.jpg"]
    assert load_rgb(folder / "sub" / "gray.jpg").shape == (70, 70, 3)


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(UnsupportedInputError, match="no images"):
        list_images(tmp_path)
    with pytest.raises(UnsupportedInputError, match="does not exist"):
        list_images(tmp_path / "missing")


def test_unreadable_image(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(UnsupportedInputError, match="cannot read image"):
        load_rgb(tmp_path / "bad.png")


def test_split_depends_on_names_only(tmp_path):
    names = [f"img_{i:04d}.jpg" for i in range(2000)]
    train, val = split([tmp_path / n for n in names], 0.05)
    assert 60 < len(val) < 140 and len(train) + len(val) == 2000
    # Another folder, another order, a subset: every image keeps its side of the split.
    _, val2 = split([tmp_path / "elsewhere" / n for n in reversed(names[:1000])], 0.05)
    assert {p.name for p in val2} == {p.name for p in val if p.name in set(names[:1000])}
    assert split([tmp_path / "only.png"], 0.05) == ([tmp_path / "only.png"], [])
    train, val = split([tmp_path / "a.png", tmp_path / "b.png"], 0.05)
    assert len(train) == len(val) == 1


def test_patches_are_a_function_of_the_key(folder):
    files = list_images(folder)
    ds = RandomPatches(files, Augment(patch=64), levels=8, seed=3)
    x, q = ds[(5, 1)]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1 and 0 <= q < 8
    y, r = RandomPatches(files, Augment(patch=64), levels=8, seed=3)[(5, 1)]  # a fresh dataset, as after a resume
    assert torch.equal(x, y) and q == r
    assert not torch.equal(x, ds[(5, 2)][0])
    assert not torch.equal(x, RandomPatches(files, Augment(patch=64), levels=8, seed=3, rank=1)[(5, 1)][0])


def test_small_images_are_upscaled_to_the_patch(folder):
    ds = RandomPatches([folder / "a2.png"], Augment(patch=64), levels=8, seed=0)  # 40 x 50 < 64
    assert all(ds[(s, 0)][0].shape == (3, 64, 64) for s in range(5))


def test_step_batches_start_where_asked():
    it = iter(StepBatches(batch_size=2, start=7))
    assert next(it) == [(7, 0), (7, 1)] and next(it) == [(8, 0), (8, 1)]


def test_center_crop64():
    assert center_crop64(torch.rand(3, 100, 130)).shape == (3, 64, 128)
    assert center_crop64(torch.rand(3, 40, 70)).shape == (3, 64, 64)
    x = torch.rand(3, 128, 192)
    assert torch.equal(center_crop64(x), x)
