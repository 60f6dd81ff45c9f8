"""Turn a training checkpoint into shipped weights: the compact state dict plus a provenance sidecar.

    OUT.pt    export_state_dict(model) after entropy_bottleneck.update(): fp16 floats and the
              integer CDF tables of z, which the coder reads as they are
    OUT.json  steps, data, lambda grid, wall time, hardware, samples/s, per-level validation bpp / PSNR
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path

import torch

from vcodec.datasets import list_images, split, validation_images
from vcodec.errors import VcodecError
from vcodec import zoo
from vcodec.train import checkpoint
from vcodec.train.config import TrainConfig, to_dict
from vcodec.train.losses import evaluate


def export(ckpt_path: str | Path, out: str | Path, data: str | None = None, val_images: int | None = None,
           validate: bool = True, device: str = "cpu", ema: bool = False) -> dict:
    """Write ``out`` and its sidecar ``out`` with suffix .json; return the sidecar's content.

    Validation runs on the run's own held-out split (the same file-name hash), every level, on at most
    ``val_images`` images (all when None); ``data`` replaces the run's data folder when it has moved.
    """
    ckpt = checkpoint.load(ckpt_path)
    cfg, info = ckpt["config"], ckpt["data"]
    defaults = to_dict(TrainConfig())
    entry = zoo.entry(cfg["model"])
    stored = ckpt.get("model_config")
    model = zoo.build(entry.name, zoo.config_from_dict(entry.config, stored) if stored else None)
    state = dict(ckpt["model"])
    if ema:
        if not ckpt.get("ema"):
            raise VcodecError(f"{ckpt_path} holds no moving average of the weights (trained with --ema 0?)")
        state.update(ckpt["ema"])
    zoo.make_coder_ready(zoo.load_state_dict(model, state))

    validation = None
    if validate and cfg.get("task", "image") != "image":
        validation = _task_validation(cfg, model, data, torch.device(device))
    elif validate:
        _, val_files = split(list_images(data or info["folder"]), cfg["val_fraction"])
        images = validation_images(val_files, val_images)
        dev = torch.device(device)
        rows = evaluate(model.to(dev), images, list(range(model.levels)), dev)
        model.cpu()
        validation = {"images": len(images), "files": [p.name for p in val_files[:len(images)]], "levels": rows}

    out = Path(out)
    zoo.export(model, out, entry.name)
    sidecar = {
        "model": cfg["model"],
        "config": zoo.config_to_dict(model.cfg),
        "digest": zoo.digest(model).hex(),
        "weights_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "checkpoint": str(Path(ckpt_path).resolve()),
        "steps": ckpt["step"],
        "ema": ckpt.get("ema_decay") if ema else None,
        "skipped_steps": ckpt["skipped"],
        "samples": ckpt["samples"],
        "wall_time_s": round(ckpt["elapsed"], 1),
        "train_time_s": round(ckpt["train_seconds"], 1),
        "samples_per_s": round(ckpt["samples"] / max(ckpt["train_seconds"], 1e-9), 3),
        "hardware": ckpt["hardware"],
        "world_size": ckpt["world_size"],
        "torch": torch.__version__,
        "data": {k: len(v) if k == "val_images" else v for k, v in info.items()},
        "lmbdas": list(model.cfg.lmbdas),
        # A field newer than the checkpoint gets its default, the value the run trained with.
        "recipe": {k: cfg.get(k, defaults[k]) for k in ("patch_size", "min_scale", "batch_size", "lr", "aux_lr",
                                                         "schedule", "warmup", "clip", "level_weight", "steps",
                                                         "minutes", "seed", "init_weights")},
        "validation": validation,
        "last_training_validation": ckpt.get("validation"),
    }
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(sidecar, indent=2) + "\n")
    os.replace(tmp, out.with_suffix(".json"))
    return sidecar


def _task_validation(cfg: dict, model, data: str | None, device: torch.device) -> dict:
    """A task's own validation (the video task's P-frame sequences) on the run's held-out data."""
    from vcodec.train.config import merge
    from vcodec.train.tasks import make_task

    task = make_task(merge(cfg, {"val_every": 1} | ({"data": data} if data else {})))
    model.to(device)
    task.bind(model, device)
    task.data(0, True)
    try:
        return task.validate(model, device)
    finally:
        model.cpu()
