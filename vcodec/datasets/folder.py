"""Training data from any folder of images: a deterministic train/validation split, random patches.

Every random choice of a training sample (which image, crop, flip, downscale, quality level) is drawn
from a generator seeded by the sample's key ``(step, slot)`` and the run's seed, so a batch is a pure
function of its step: a resumed run sees exactly the batches the uninterrupted run would have seen,
whatever the number of loader workers, and nothing about the data has to be saved in a checkpoint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset, Sampler

from vcodec.errors import UnsupportedInputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm")


def list_images(root: str | Path) -> list[Path]:
    """Image files under ``root`` (recursive), sorted so every machine sees the same order."""
    root = Path(root)
    if not root.is_dir():
        raise UnsupportedInputError(f"data folder {root} does not exist or is not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise UnsupportedInputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {root}")
    return files


def is_validation(path: Path, fraction: float) -> bool:
    """Held out for validation? Decided by a hash of the file name alone, so the split never changes
    when images are added, removed or the folder moves."""
    h = int.from_bytes(hashlib.sha256(path.name.encode()).digest()[:8], "big")
    return h < fraction * 2**64


def split(files: list[Path], val_fraction: float) -> tuple[list[Path], list[Path]]:
    """(train, val). At least one image each when there are two or more images."""
    val = [p for p in files if is_validation(p, val_fraction)]
    train = [p for p in files if not is_validation(p, val_fraction)]
    if val_fraction > 0 and not val and len(files) > 1:
        val, train = train[-1:], train[:-1]
    if not train:
        train = val[:1]
    return train, val


def derived_seed(*parts) -> int:
    """A 62-bit seed from any tuple of ints and strings, the same on every machine and Python run
    (unlike ``hash``, which is salted per process)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big") >> 2


def load_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError) as e:
        raise UnsupportedInputError(f"cannot read image {path}: {e}") from None


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float().div_(255)  # a copy: PIL's arrays are read-only


@dataclass(frozen=True)
class Augment:
    patch: int = 256
    # Smallest downscale factor. Downscaling a larger region into the patch shows the model the denser
    # detail of wider views, not only the native-resolution texture of the (small) training photos.
    min_scale: float = 0.5
    flip: bool = True


class RandomPatches(Dataset):
    """Item ``(step, slot)`` -> ``(patch (3, p, p) float, q)`` with ``q`` an integer quality level.

    Decoded images are kept in memory up to ``cache_mb`` (a folder of a few hundred photos fits), so
    the loader is not the bottleneck on a CPU without workers to spare.
    """

    def __init__(self, files: list[Path], augment: Augment, levels: int, seed: int, rank: int = 0,
                 cache_mb: float = 1024):
        self.files, self.augment, self.levels = list(files), augment, levels
        self.seed, self.rank = seed, rank
        self._cache: dict[int, np.ndarray] = {}
        self._cache_left = cache_mb * 2**20

    def __len__(self) -> int:  # nominal: the sampler, not the length, decides how many items are drawn
        return len(self.files)

    def image(self, i: int) -> np.ndarray:
        if i in self._cache:
            return self._cache[i]
        rgb = load_rgb(self.files[i])
        if rgb.nbytes <= self._cache_left:
            self._cache[i] = rgb
            self._cache_left -= rgb.nbytes
        return rgb

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        g = torch.Generator().manual_seed(derived_seed(self.seed, self.rank, *key))

        def uniform() -> float:
            return float(torch.rand((), generator=g))

        rgb = self.image(int(torch.randint(len(self.files), (), generator=g)))
        q = int(torch.randint(self.levels, (), generator=g))
        p, (h, w) = self.augment.patch, rgb.shape[:2]
        # The patch is a region of side patch / scale resized to the patch, scale log-uniform in [lo, 1].
        # An image smaller than the patch gives lo = 1 and a region as large as it can be, upscaled:
        # a rare case, but any folder must work.
        lo = min(1.0, max(self.augment.min_scale, p / min(h, w)))
        side = min(h, w, round(p / lo ** uniform()))
        top, left = int(uniform() * (h - side + 1)), int(uniform() * (w - side + 1))
        crop = rgb[top:top + side, left:left + side]
        if side != p:
            crop = np.asarray(Image.fromarray(crop).resize((p, p), Image.Resampling.BICUBIC, reducing_gap=None))
        if self.augment.flip:
            if uniform() < 0.5:
                crop = crop[:, ::-1]
            if uniform() < 0.5:
                crop = crop[::-1]
        return to_tensor(crop), q


class StepBatches(Sampler):
    """Yields the keys of batch ``start``, ``start + 1``, ... for ``batch_size`` slots each, forever."""

    def __init__(self, batch_size: int, start: int = 0):
        self.batch_size, self.start = batch_size, start

    def __iter__(self):
        step = self.start
        while True:
            yield [(step, slot) for slot in range(self.batch_size)]
            step += 1


def center_crop64(x: torch.Tensor, multiple: int = 64) -> torch.Tensor:
    """Center-crop (.., H, W) to a multiple of ``multiple``; an image smaller than that is edge-padded."""
    h, w = x.shape[-2:]
    if h < multiple or w < multiple:
        x = torch.nn.functional.pad(x[None], (0, max(0, multiple - w), 0, max(0, multiple - h)), mode="replicate")[0]
        h, w = x.shape[-2:]
    hh, ww = h // multiple * multiple, w // multiple * multiple
    top, left = (h - hh) // 2, (w - ww) // 2
    return x[..., top:top + hh, left:left + ww]


def validation_images(files: list[Path], max_images: int | None = None) -> list[torch.Tensor]:
    """The first ``max_images`` held-out images as (3, H, W) tensors cropped to a multiple of 64."""
    files = files[:max_images] if max_images else files
    return [center_crop64(to_tensor(load_rgb(p))) for p in files]
