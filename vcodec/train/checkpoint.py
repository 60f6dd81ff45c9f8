"""Checkpoint files: written atomically, read without unpickling arbitrary objects."""

from __future__ import annotations

from pathlib import Path

import torch

from vcodec import zoo
from vcodec.errors import ModelError

FORMAT = "vcodec-train-checkpoint"
VERSION = 1


save_atomic = zoo.save_atomic


def load(path: str | Path) -> dict:
    """A training checkpoint written by the trainer."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, foreign or not a torch file: torch raises many kinds
        raise ModelError(f"cannot read checkpoint {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ModelError(f"{path} is not a vcodec training checkpoint (for a weights file use --init-weights)")
    if ckpt.get("version") != VERSION:
        raise ModelError(f"{path}: checkpoint version {ckpt.get('version')} is not supported (expected {VERSION})")
    return ckpt
