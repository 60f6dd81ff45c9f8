"""Training sequences for the P-frame model: short clips of consecutive frames, with their motion.

Two sources, mixed per sample:

- **clips**: folders of numbered frames (``im1.png .. im7.png``, as the Vimeo-90K septuplets), a random
  run of ``length`` frames, the same random crop and flips for all of them, played forwards or backwards;
- **synthetic motion** from still photos (DCVC and others train on such augmentations when video is
  scarce): a crop of one photo that pans, zooms, rotates a little and changes brightness from frame to
  frame, with a little noise, so the model sees motion of every direction and speed.

Each sample also carries the motion vectors of every frame against the one before it, searched on the
*source* frames here in the data loader (``vcodec.video.motion.search``), so that the training step only
compensates: the encoder searches on the decoded frame instead, which at training rates is close.

As everywhere in ``vcodec.datasets``, a sample is a pure function of (seed, rank, step, slot).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from vcodec.datasets.folder import derived_seed, is_validation, load_rgb, to_tensor
from vcodec.errors import UnsupportedInputError

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def list_clips(root: str | Path, min_frames: int = 2) -> list[list[Path]]:
    """Folders under ``root`` holding at least ``min_frames`` images, each as its sorted frame list."""
    root = Path(root)
    if not root.is_dir():
        raise UnsupportedInputError(f"clip folder {root} does not exist or is not a folder")
    clips = []
    for folder in sorted({p.parent for p in root.rglob("*") if p.suffix.lower() in FRAME_SUFFIXES}):
        frames = sorted((p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES),
                        key=lambda p: (len(p.stem), p.stem))
        if len(frames) >= min_frames:
            clips.append(frames)
    if not clips:
        raise UnsupportedInputError(f"no clips (folders of {min_frames}+ frames) found in {root}")
    return clips


# Clips are few (16 in the Vimeo sample): at least an eighth is held out.
MIN_CLIP_FRACTION = 0.125


def is_held_out_clip(frames: list[Path], fraction: float = MIN_CLIP_FRACTION) -> bool:
    """Whether a clip belongs to the validation split: a hash of its parent and clip folder names, at
    ``fraction`` (at least MIN_CLIP_FRACTION)."""
    folder = frames[0].parent
    return is_validation(Path(f"{folder.parent.name}_{folder.name}"), max(fraction, MIN_CLIP_FRACTION))


def synthetic_clip(photo: np.ndarray, length: int, patch: int, g: torch.Generator) -> list[np.ndarray]:
    """``length`` frames of ``patch`` x ``patch`` from one photo under a smooth random motion."""

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=g))

    h, w = photo.shape[:2]
    speed = uniform(0, 6) if uniform(0, 1) < 0.8 else uniform(6, 16)  # pixels a frame, mostly slow
    angle = uniform(0, 2 * math.pi)
    vy, vx = speed * math.sin(angle), speed * math.cos(angle)
    zoom = math.exp(uniform(-0.03, 0.03)) if uniform(0, 1) < 0.5 else 1.0
    rot = math.radians(uniform(-1.0, 1.0)) if uniform(0, 1) < 0.3 else 0.0
    light = math.exp(uniform(-0.03, 0.03)) if uniform(0, 1) < 0.3 else 1.0
    noise = uniform(0, 2.0)
    # The path must stay inside the photo: centre the start where the whole path fits.
    reach = patch / 2 * 1.2 + speed * length + 2
    cy = uniform(min(reach, h / 2), max(h - reach, h / 2))
    cx = uniform(min(reach, w / 2), max(w - reach, w / 2))
    img = Image.fromarray(photo)
    frames = []
    for t in range(length):
        s, r = zoom**t, rot * t
        c, si = math.cos(r) / s, math.sin(r) / s
        # Output pixel (u, v) around the patch centre samples the photo at centre + A (u, v).
        x0, y0 = cx + vx * t, cy + vy * t
        a, b, d, e = c, -si, si, c
        off_x = x0 - a * patch / 2 - b * patch / 2
        off_y = y0 - d * patch / 2 - e * patch / 2
        frame = img.transform((patch, patch), Image.Transform.AFFINE, (a, b, off_x, d, e, off_y),
                              resample=Image.Resampling.BICUBIC)
        f = np.asarray(frame).astype(np.float32) * light**t
        if noise:
            f += noise * torch.randn(f.shape, generator=g).numpy()
        frames.append(np.clip(np.rint(f), 0, 255).astype(np.uint8))
    return frames


class VideoSequences(Dataset):
    """Item ``(step, slot)`` -> ``(frames (T, 3, p, p) float, q, vectors (T - 1, Hb, Wb, 2) int)``."""

    def __init__(self, clips: list[list[Path]], photos: list[Path], length: int, patch: int, levels: int,
                 seed: int, rank: int = 0, synthetic_share: float = 0.5, motion_lambda=None):
        if not clips and not photos:
            raise UnsupportedInputError("no training clips and no photos for synthetic motion")
        self.clips, self.photos = clips, photos
        self.length, self.patch, self.levels, self.seed, self.rank = length, patch, levels, seed, rank
        self.synthetic_share = synthetic_share if clips and photos else (1.0 if photos else 0.0)
        self.motion_lambda = motion_lambda  # q -> the search's lambda (as the encoder's at that level)
        self._cache: dict[Path, np.ndarray] = {}

    def __len__(self) -> int:
        return max(1, len(self.clips) + len(self.photos))

    def _load(self, path: Path) -> np.ndarray:
        if path not in self._cache:
            self._cache[path] = load_rgb(path)
        return self._cache[path]

    def _clip(self, g: torch.Generator) -> list[np.ndarray]:
        frames = self.clips[int(torch.randint(len(self.clips), (), generator=g))]
        n = min(self.length, len(frames))
        start = int(torch.randint(len(frames) - n + 1, (), generator=g))
        rgb = [self._load(p) for p in frames[start : start + n]]
        if float(torch.rand((), generator=g)) < 0.5:
            rgb = rgb[::-1]
        h, w = rgb[0].shape[:2]
        p = self.patch
        if min(h, w) < p:
            scale = p / min(h, w)
            size = (max(p, round(w * scale)), max(p, round(h * scale)))
            rgb = [np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BICUBIC)) for f in rgb]
            h, w = rgb[0].shape[:2]
        top = int(torch.randint(h - p + 1, (), generator=g))
        left = int(torch.randint(w - p + 1, (), generator=g))
        flip = float(torch.rand((), generator=g)) < 0.5
        out = [f[top : top + p, left : left + p] for f in rgb]
        return [np.ascontiguousarray(f[:, ::-1]) if flip else np.ascontiguousarray(f) for f in out]

    def __getitem__(self, key: tuple[int, int]):
        from vcodec.video import motion

        g = torch.Generator().manual_seed(derived_seed(self.seed, self.rank, "video", *key))
        q = int(torch.randint(self.levels, (), generator=g))
        if float(torch.rand((), generator=g)) < self.synthetic_share:
            photo = self._load(self.photos[int(torch.randint(len(self.photos), (), generator=g))])
            frames = synthetic_clip(photo, self.length, self.patch, g)
        else:
            frames = self._clip(g)
            while len(frames) < self.length:  # a short clip: hold its last frame
                frames.append(frames[-1])
        lam = self.motion_lambda(q) if self.motion_lambda else 4.0
        vectors = np.stack([motion.search(frames[t], frames[t - 1], lam) for t in range(1, len(frames))])
        return torch.stack([to_tensor(f) for f in frames]), q, torch.from_numpy(vectors)
