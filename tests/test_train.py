"""The training pipeline end to end on the tiny model: steps, resume, time budget, export, errors."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from vcodec.errors import ModelError, VcodecError
from vcodec import zoo
from vcodec.train import checkpoint
from vcodec.train.config import TrainConfig, plan
from vcodec.train.export import export
from vcodec.train.trainer import Trainer, from_options


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Eight small smooth images (gradients plus noise), some smaller than a 64 patch on one side."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(96, 128), (80, 80), (128, 96), (64, 100), (70, 90), (100, 64), (96, 96), (48, 120)]):
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w) + 60], -1) + rng.normal(0, 8, (h, w, 3))
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(root / f"img{i}.png")
    return root


def config(data, out, **kw) -> TrainConfig:
    base = dict(model="vcodec-tiny", data=str(data), out=str(out), steps=4, patch_size=64, batch_size=2, warmup=2,
                val_every=0, log_every=1, ckpt_minutes=0, threads=1, progress=False, val_fraction=0.25)
    return plan(TrainConfig(**{**base, **kw}))


def train_losses(out) -> dict[int, float]:
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in lines if r["event"] == "train"}


@pytest.fixture(scope="module")
def full_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    trainer = Trainer(config(data, out))
    return out, trainer, trainer.run()


def test_steps_run_with_finite_loss(full_run):
    out, trainer, reason = full_run
    assert reason == "done" and trainer.step == 4
    losses = train_losses(out)
    assert sorted(losses) == [1, 2, 3, 4] and all(math.isfinite(v) for v in losses.values())
    ckpt = checkpoint.load(out / "last.pt")
    assert ckpt["step"] == 4 and ckpt["samples"] == 8 and ckpt["skipped"] == 0


def test_resume_continues_exactly(full_run, data, tmp_path):
    out, _, _ = full_run
    first = Trainer(config(data, tmp_path, stop_at=2))
    assert first.run() == "stop_at" and first.step == 2
    # Resume as the CLI does: the stored recipe, only the options given now on top.
    second = from_options({"resume": str(tmp_path / "last.pt"), "threads": 1, "progress": False})
    assert second.step == 2 and second.lr() == first.lr()
    assert second.run() == "done" and second.step == 4
    # Same batches, same quantisation noise, same optimizer state: the very same losses.
    assert train_losses(tmp_path) == train_losses(out)


def test_time_budget_stops_and_saves(data, tmp_path):
    trainer = Trainer(config(data, tmp_path, steps=10_000, time_budget=0.05))
    assert trainer.run() == "time_budget"
    assert 0 < trainer.step < 10_000 and trainer.elapsed() < 3
    assert checkpoint.load(tmp_path / "last.pt")["step"] == trainer.step


def test_time_planned_run_ends_on_the_low_lr(data, tmp_path):
    # No --steps: the run is as long as the time budget, and its schedule fractions are fractions of time.
    trainer = Trainer(config(data, tmp_path, steps=None, time_budget=0.05, schedule="0:1,0.5:0.1", warmup=0))
    assert trainer.cfg.minutes == 0.05
    assert trainer.run() == "time_budget"
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "log.jsonl").read_text().splitlines() if '"train"' in line]
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-5)


def test_nonfinite_gradient_is_skipped(data, tmp_path):
    trainer = Trainer(config(data, tmp_path))
    param = trainer.model.g_s.block  # the deep path starts at zero output, so only this has a gradient at once
    before = param.detach().clone()
    handle = param.register_hook(lambda g: g * float("nan"))
    batch = next(iter(trainer.loader))
    assert trainer.train_step(batch) is None
    handle.remove()
    assert trainer.skipped == 1 and torch.equal(param.detach(), before)
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert trainer.train_step(batch) is not None and not torch.equal(param.detach(), before)


def test_export_and_init_weights(full_run, data, tmp_path):
    out, _, _ = full_run
    weights = tmp_path / "tiny.pt"
    sidecar = export(out / "last.pt", weights, val_images=2)
    model = zoo.load("vcodec-tiny", weights=weights)
    assert model.entropy_bottleneck._quantized_cdf.numel() > 0  # update(force=True) ran before export
    meta = json.loads(weights.with_suffix(".json").read_text())
    assert meta == json.loads(json.dumps(sidecar))
    assert meta["digest"] == model.digest.hex()  # what bitstreams made with the file will carry
    assert meta["steps"] == 4 and meta["data"]["images"] == 8 and len(meta["lmbdas"]) == model.levels
    assert meta["recipe"]["patch_size"] == 64 and meta["recipe"]["level_weight"] == 0.0
    assert [row["q"] for row in meta["validation"]["levels"]] == list(range(model.levels))
    assert all(math.isfinite(row["bpp"]) and math.isfinite(row["psnr"]) for row in meta["validation"]["levels"])
    # Fine-tuning from shipped weights: no optimizer state, the short warmup.
    trainer = Trainer(config(data, tmp_path / "ft", init_weights=str(weights), warmup=None, steps=1))
    assert trainer.cfg.warmup == 100
    assert trainer.run() == "done" and trainer.step == 1


def test_moving_average_is_kept_resumed_and_exported(full_run, data, tmp_path):
    out, trainer, _ = full_run
    ckpt = checkpoint.load(out / "last.pt")
    name = "g_s.block"
    ema, now, start = ckpt["ema"][name], ckpt["model"][name], trainer.ema[trainer.net_names.index(name)]
    assert torch.equal(ema, start)
    # Four steps with decay 0.999 move the average a little towards the weights, not onto them.
    assert not torch.equal(ema, now)
    plain, averaged = tmp_path / "plain.pt", tmp_path / "ema.pt"
    export(out / "last.pt", plain, validate=False)
    export(out / "last.pt", averaged, validate=False, ema=True)
    a, b = zoo.load("vcodec-tiny", plain), zoo.load("vcodec-tiny", averaged)
    assert a.digest != b.digest
    assert torch.equal(b.g_s.block, ema.half().float()) and torch.equal(a.g_s.block, now.half().float())


def test_level_weight_changes_the_loss(full_run, data, tmp_path):
    out, _, _ = full_run
    weighted = Trainer(config(data, tmp_path / "w", level_weight=0.5, steps=1))
    assert weighted.run() == "done"
    # Same seed, so the same first batch: only the per-sample weights differ.
    assert train_losses(tmp_path / "w")[1] != pytest.approx(train_losses(out)[1])
    with pytest.raises(VcodecError, match="--level-weight"):
        Trainer(config(data, tmp_path / "bad", level_weight=-1.0))


def test_empty_folder_is_a_user_error(tmp_path):
    with pytest.raises(VcodecError, match="no images"):
        Trainer(config(tmp_path, tmp_path / "out"))


def test_kodak_is_refused(tmp_path):
    with pytest.raises(VcodecError, match="Kodak"):
        Trainer(config(tmp_path / "kodak", tmp_path / "out"))


def test_unreadable_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read checkpoint"):
        checkpoint.load(bad)


def test_cli_reports_one_line(tmp_path):
    cmd = [sys.executable, "-m", "vcodec.train", "run", "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("vcodec: error: no images (") and errors[0].endswith(str(tmp_path))
    assert "Traceback" not in proc.stderr
