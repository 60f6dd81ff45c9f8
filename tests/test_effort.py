"""Encoder effort: latent refinement changes only the encoder, pays for itself, and is deterministic;
rate control lands on its targets with real bitstreams."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from vcodec.cli.main import main, sample_image
from vcodec.coding.effort import DEFAULT_EFFORT, EFFORTS, MAX_EFFORT, effort
from vcodec.coding.refine import LocalDistortion, sga_round
from vcodec.errors import VcodecError
from vcodec.image import Codec
from vcodec.image.io import to_planes
from vcodec.image.ratecontrol import RateControlError

# The shipped short levels' refinement (step size, decay, z, the local distortion model), shortened to 30
# steps for the tests.
QUICK = dataclasses.replace(EFFORTS[5], level=0, iterations=30)


@pytest.fixture(scope="module")
def codec():
    return Codec()


@pytest.fixture(scope="module")
def picture():
    return np.asarray(Image.open(sample_image()).convert("RGB"))[:128, :192].copy()


def psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2))


def test_the_table_spends_more_search_with_each_level():
    levels = [EFFORTS[e] for e in range(1, MAX_EFFORT + 1)]
    assert levels[0].iterations == 0 and not levels[0].rdo
    assert EFFORTS[DEFAULT_EFFORT].iterations == 0  # the default stays in today's speed class
    iterations = [e.iterations for e in levels]
    assert iterations == sorted(iterations) and iterations[-1] > 0
    for bad in (0, 10, 2.5, "fast", None):
        with pytest.raises(VcodecError, match="effort"):
            effort(bad)


def test_refinement_lowers_the_real_cost_and_decodes_with_the_same_decoder(codec, picture):
    x = torch.from_numpy(picture).permute(2, 0, 1)[None].double() / 255
    # On this small crop (8 x 12 latents) 30 steps sometimes gain nothing at a low rate: SGA's random
    # rounding makes the gain of a short run noisy there. 120 steps gain about 1 %.
    longer = dataclasses.replace(QUICK, iterations=120)
    for quality in (1.5, 6.25):
        level = codec.quality(quality).level
        plain = codec.compress(picture, quality, effort=1)
        refined = codec.compress(picture, quality, effort=longer)
        assert refined != plain
        costs = []
        for data in (plain, refined):
            out = np.asarray(codec.decompress(data, output="numpy"))
            y = torch.from_numpy(out).permute(2, 0, 1)[None].double() / 255
            lmbda = longer.lmbda_scale * float(codec.model.lmbda(torch.tensor([level])))
            costs.append(len(data) * 8 + lmbda * 255**2 / 3 * float(((y - x) ** 2).sum()))  # training's loss
        assert costs[1] < costs[0]
        assert psnr(picture, np.asarray(codec.decompress(refined, output="numpy"))) > 20


def test_a_larger_lambda_scale_refines_towards_more_bits_and_less_distortion(codec, picture):
    runs = []
    for scale in (1.0, 2.0):
        data = codec.compress(picture, 4, effort=dataclasses.replace(QUICK, iterations=60, lmbda_scale=scale))
        runs.append((len(data), psnr(picture, np.asarray(codec.decompress(data, output="numpy")))))
    (bytes_1, psnr_1), (bytes_2, psnr_2) = runs
    assert bytes_2 > bytes_1 and psnr_2 > psnr_1


def test_soft_rounding_leans_to_the_nearer_integer_and_hardens_as_it_cools():
    v = torch.linspace(-2.95, 2.95, 60, dtype=torch.float64)
    cold = sga_round(v, 0.05, torch.Generator().manual_seed(1))
    assert float((cold - torch.round(v)).abs().max()) < 1e-3  # no value within 0.05 of a half
    lo = torch.floor(v)
    # Warm: every value lies between floor and ceil, and the mean share of ceil grows with the distance
    # from floor, through a half at a half.
    d = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9], dtype=torch.float64).repeat(4000)
    warm = sga_round(d, 0.5, torch.Generator().manual_seed(2))
    assert bool(((warm >= 0) & (warm <= 1)).all())
    assert bool((sga_round(v, 0.5, torch.Generator()) - lo).abs().le(1).all())
    share = warm.reshape(4000, 5).mean(0)
    assert bool((share.diff() > 0.05).all()) and abs(float(share[2]) - 0.5) < 0.02


def test_the_local_distortion_model_matches_the_synthesis_near_its_reference(codec, picture):
    model = codec.coder.refinement_model()
    x = torch.from_numpy(picture).permute(2, 0, 1)[None].float() / 255
    q = torch.tensor([3.0])
    with torch.no_grad():
        y_hat = torch.round(codec.coder.latent(x, 3.0)).float()
    _, inv_gain = model.gains(q)

    def true_distortion(v):
        return (model.synthesis(v * inv_gain, None) - x).pow(2).sum()

    local = LocalDistortion(model, q, x, None, weight=1.0, curvature=0.7)
    local.update(y_hat)
    at_ref = y_hat.clone().requires_grad_(True)
    local(at_ref).backward()
    exact = y_hat.clone().requires_grad_(True)
    true_distortion(exact).backward()
    assert float(local(y_hat)) == 0
    assert torch.allclose(at_ref.grad, exact.grad, rtol=1e-4, atol=1e-7)  # the synthesis' own gradient
    # A small move along the gradient: the model predicts the true change to within a few percent.
    step = -1e-2 * exact.grad / exact.grad.abs().max()
    with torch.no_grad():
        change = float(true_distortion(y_hat + step) - true_distortion(y_hat))
    predicted = float(local(y_hat + step))
    assert change < 0 and abs(predicted - change) < 0.05 * abs(change)


def test_refinement_is_deterministic(codec, picture):
    assert codec.compress(picture, 3, effort=QUICK) == codec.compress(picture, 3, effort=QUICK)
    # With the synthesis on a second thread too: the schedule does not depend on which thread is first.
    background = dataclasses.replace(QUICK, background=True, distortion_every=5)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        first = codec.compress(picture, 3, effort=background)
        assert torch.get_num_threads() == 2  # refinement runs on one thread and gives the count back
        assert codec.compress(picture, 3, effort=background) == first != codec.compress(picture, 3, effort=QUICK)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("kind, value", [("bpp", None), ("size", None), ("psnr", None)])
def test_rate_control_meets_its_target(codec, picture, kind, value):
    planes_pixels = picture.shape[0] * picture.shape[1]
    probe = codec.compress(picture, 4.37)
    decoded = np.asarray(codec.decompress(probe, output="numpy"))
    goal = {"bpp": len(probe) * 8 / planes_pixels, "size": len(probe), "psnr": psnr(picture, decoded)}[kind]
    reached = codec.compress_to(picture, **{kind: goal})
    got = np.asarray(codec.decompress(reached.data, output="numpy"))
    if kind == "bpp":
        assert abs(len(reached.data) * 8 / planes_pixels / goal - 1) <= 0.02
    elif kind == "size":
        assert 0.98 * goal <= len(reached.data) <= goal
    else:
        assert abs(psnr(picture, got) - goal) <= 0.05
    assert reached.bytes == len(reached.data) and 1 <= reached.quality <= 8


def test_rate_control_says_when_a_target_is_out_of_reach(codec, picture):
    with pytest.raises(RateControlError, match="lowest quality"):
        codec.compress_to(picture, size=10)
    with pytest.raises(RateControlError, match="highest quality"):
        codec.compress_to(picture, psnr=80)
    with pytest.raises(VcodecError, match="exactly one"):
        codec.compress_to(picture, bpp=0.5, size=1000)


def test_cli_target_size_never_goes_over(tmp_path, capsys, picture):
    src = tmp_path / "p.png"
    Image.fromarray(picture).save(src)
    assert main(["encode", str(src), "--target-size", "1500"]) == 0
    size = (tmp_path / "p.vcc").stat().st_size
    assert 1470 <= size <= 1500
    assert "quality" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["encode", str(src), "-o", str(tmp_path / "x.vcc"), "--target-bpp", "-1"])
    assert e.value.code == 2
