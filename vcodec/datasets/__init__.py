"""Training and validation data read from a folder of images."""

from vcodec.datasets.folder import (
    Augment,
    RandomPatches,
    StepBatches,
    center_crop64,
    derived_seed,
    list_images,
    load_rgb,
    split,
    validation_images,
)

__all__ = [
    "Augment", "RandomPatches", "StepBatches", "center_crop64", "derived_seed", "list_images", "load_rgb", "split",
    "validation_images",
]
