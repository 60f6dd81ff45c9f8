"""Training tasks: what one step optimises. The loop (``vcodec.train.trainer``) owns devices, DDP,
clocks, checkpoints, signals and the schedule, and runs one task:

    task.build_model(init)      -> the model to train (fresh, or from the weights file ``init``)
    task.bind(model, device)    -> after the model is built, placed and its --freeze applied
    task.data(rank, main)       -> (training dataset of (step, slot) keys, data info for logs and export)
    task.batch_to(batch, device, memory_format) -> the batch on the device
    task.loss(net, model, batch) -> {"loss": scalar tensor, ...}  (forward under the loop's autocast)
    task.metrics(result)         -> floats to log (after the step's one host sync)
    task.validate(model, device) -> per-level rows on the held-out split

``image`` is the still-image rate-distortion task; a video task plugs in the same way.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vcodec.datasets import Augment, RandomPatches, list_images, split, validation_images
from vcodec.errors import VcodecError
from vcodec.train.losses import evaluate, level_weights, psnr, rate_loss, rd_loss


def refuse_test_sets(folder: str) -> None:
    """Kodak and the video test clip are kept for evaluation: training never reads them."""
    parts = [part.lower() for part in Path(folder).resolve().parts]
    if any("kodak" in part for part in parts):
        raise VcodecError(f"refusing to train on {folder}: Kodak is kept for evaluation")
    if any("basketballpass" in part for part in parts):
        raise VcodecError(f"refusing to train on {folder}: the BasketballPass clip is kept for evaluation")


class ImageRD:
    """Random patches with a random quality level each; loss ``mean_i w_i (lmbda_i 255^2 MSE_i + bpp_i)``."""

    name = "image"

    def __init__(self, cfg):
        self.cfg = cfg
        if not 0 <= cfg.level_weight <= 2:
            raise VcodecError(f"--level-weight must be from 0 to 2, got {cfg.level_weight:g}")
        self.val_set: list[torch.Tensor] = []

    def build_model(self, init: str | None):
        from vcodec import zoo

        return zoo.load(self.cfg.model, weights=init, coding=False) if init else zoo.build(self.cfg.model)

    def bind(self, model, device) -> None:
        self.levels, self.lmbdas, self.device = model.levels, tuple(model.cfg.lmbdas), device
        self.rate_only = trains_rate_only(model)
        cfg = self.cfg
        self.val_levels = list(cfg.val_levels) if cfg.val_levels is not None else list(range(self.levels))
        if any(not 0 <= q < self.levels for q in self.val_levels):
            raise VcodecError(f"--val-levels must lie in 0..{self.levels - 1}")

    def data(self, rank: int, main: bool):
        cfg = self.cfg
        refuse_test_sets(cfg.data)
        files = list_images(cfg.data)
        train_files, val_files = split(files, cfg.val_fraction)
        info = {"folder": str(Path(cfg.data).resolve()), "images": len(files), "train_images": len(train_files),
                "val_images": [p.name for p in val_files]}
        self.val_set = validation_images(val_files, cfg.val_images) if cfg.val_every and main else []
        dataset = RandomPatches(train_files, Augment(cfg.patch_size, cfg.min_scale), self.levels, cfg.seed, rank)
        return dataset, info

    @staticmethod
    def batch_to(batch, device: torch.device, memory_format) -> tuple[torch.Tensor, torch.Tensor]:
        x, q = batch
        return x.to(device, non_blocking=True).contiguous(memory_format=memory_format), q.to(device).float()

    def loss(self, net, model, batch) -> dict:
        x, q = batch
        lmbda = model.lmbda(q)
        weight = level_weights(lmbda, self.lmbdas, self.cfg.level_weight)
        if self.rate_only:
            # Only the entropy model trains and the distortion does not depend on it: no synthesis.
            return rate_loss(net(x, q, rate_only=True), x, weight)
        return rd_loss(net(x, q), x, lmbda, weight)

    @staticmethod
    def metrics(result: dict) -> dict:
        mse = result["mse"].tolist()
        return {"loss": result["loss"].item(), "bpp": result["bpp"].mean().item(), "mse": sum(mse) / len(mse),
                "psnr": sum(psnr(m) for m in mse) / len(mse)}

    def validate(self, model, device) -> dict:
        return {"levels": evaluate(model, self.val_set, self.val_levels, device), "images": len(self.val_set)}


def trains_rate_only(model) -> bool:
    """Whether every parameter that trains is one of the model's ``rate_only_prefixes`` (a rate-only phase:
    the distortion does not depend on what trains, so a step can stop before the synthesis)."""
    prefixes = getattr(model, "rate_only_prefixes", None)
    training = [n for n, p in model.named_parameters() if p.requires_grad]
    return bool(prefixes) and all(n.startswith(prefixes) for n in training)


def make_task(cfg):
    from vcodec.train.video_task import VideoRD

    tasks = {"image": ImageRD, "video": VideoRD}
    if cfg.task not in tasks:
        raise VcodecError(f"unknown training task {cfg.task!r}; known: {', '.join(tasks)}")
    return tasks[cfg.task](cfg)
