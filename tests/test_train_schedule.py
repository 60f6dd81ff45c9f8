"""Learning-rate schedules as data and the recipe of a resumed run."""

import pytest
import torch

from vcodec.errors import VcodecError
from vcodec.train import schedule
from vcodec.train.config import TrainConfig, merge, plan, to_dict
from vcodec.train.losses import level_weights, rd_loss


def test_named_and_written_schedules():
    assert schedule.parse("default") == schedule.SCHEDULES["default"]
    assert schedule.parse("0:1,0.8:0.3,0.95:0.1") == ((0.0, 1.0), (0.8, 0.3), (0.95, 0.1))
    for bad in ("fast", "0:1,0.5", "0.1:1", "0:1,0.5:0.1,0.4:0.01"):
        with pytest.raises(VcodecError, match="schedule"):
            schedule.parse(bad)


def test_factor_and_warmup():
    rows = schedule.SCHEDULES["default"]
    assert [schedule.factor(rows, p) for p in (0.0, 0.5, 0.8999, 0.9, 1.0)] == [1.0, 1.0, 1.0, 0.1, 0.1]
    assert schedule.learning_rate(1e-4, rows, 0.0, step=0, warmup=4) == pytest.approx(2.5e-5)
    assert schedule.learning_rate(1e-4, rows, 0.1, step=3, warmup=4) == pytest.approx(1e-4)
    assert schedule.learning_rate(1e-4, rows, 0.95, step=1000, warmup=4) == pytest.approx(1e-5)


def test_plan_fills_the_run_length_and_warmup():
    assert plan(TrainConfig(time_budget=90)).minutes == 90 and plan(TrainConfig(time_budget=90)).steps is None
    assert plan(TrainConfig(steps=10, time_budget=90)).minutes is None
    assert plan(TrainConfig()).warmup == 500 and plan(TrainConfig(init_weights="w.pt")).warmup == 100


def test_resume_keeps_the_recipe_not_the_session():
    stored = to_dict(plan(TrainConfig(data="d", out="o", lr=3e-4, val_levels=(0, 7), time_budget=5, stop_at=9)))
    cfg = merge(stored, {"time_budget": 20.0})
    assert cfg.lr == 3e-4 and cfg.val_levels == (0, 7) and cfg.minutes == 5
    assert cfg.time_budget == 20.0 and cfg.stop_at is None
    # The weights a run started from stay in its record across resumes.
    started = to_dict(plan(TrainConfig(data="d", out="o", init_weights="w.pt")))
    assert merge(started, {}).init_weights == "w.pt" and merge(stored, {}).init_weights is None


def test_level_weights_even_out_the_levels():
    grid = (0.0018, 0.0067, 0.025, 0.18)
    lmbda = torch.tensor(grid)
    assert torch.equal(level_weights(lmbda, grid, 0.0), torch.ones(4))
    w = level_weights(lmbda, grid, 0.5)
    assert float(w.mean()) == pytest.approx(1.0) and bool((w[:-1] > w[1:]).all())
    assert float(w[0] / w[-1]) == pytest.approx(10.0, rel=1e-5)  # (0.18 / 0.0018) ** 0.5
    # The weighted loss is the weighted mean of the per-sample RD terms.
    x = torch.full((2, 3, 4, 4), 0.5)
    out = {"x_hat": x + torch.tensor([0.1, 0.2]).view(2, 1, 1, 1), "likelihoods": {"y": torch.full((2, 1, 4, 4), 0.5)}}
    lm, weight = torch.tensor([0.01, 0.1]), torch.tensor([2.0, 0.5])
    plain = rd_loss(out, x, lm)
    terms = lm * 255**2 * plain["mse"] + plain["bpp"]
    assert float(rd_loss(out, x, lm, weight)["loss"]) == pytest.approx(float((weight * terms).mean()))


def test_report_table():
    from vcodec.train.report import markdown

    def val(step, elapsed, q0, q7):
        levels = [{"q": 0, "bpp": q0[0], "psnr": q0[1]}, {"q": 7, "bpp": q7[0], "psnr": q7[1]}]
        return {"event": "val", "step": step, "elapsed": elapsed, "levels": levels}

    records = [
        val(0, 0.0, (1.0, 8.0), (1.5, 8.1)),
        {"event": "train", "step": 50, "loss": 2.0, "bpp": 0.5, "psnr": 20.0, "lr": 1e-4, "samples_per_s": 7.0,
         "skipped": 0},
        val(500, 1800.0, (0.2, 24.0), (1.1, 30.5)),
    ]
    lines = markdown(records).splitlines()
    assert lines[0] == "| step | hours | q0 bpp / PSNR | q7 bpp / PSNR |"
    assert lines[3] == "| 500 | 0.50 | 0.200 / 24.00 | 1.100 / 30.50 |"
    assert markdown([]) == "(no validation in this log yet)\n"
