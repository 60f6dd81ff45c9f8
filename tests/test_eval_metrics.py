"""Metrics and the RGB <-> YCbCr conversions the video codecs depend on."""

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vcodec.eval import metrics
from vcodec.eval.codecs.ycbcr import downsample_420, rgb_to_ycbcr, upsample_420, ycbcr_to_rgb

KODIM = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "kodak" / "kodim01.png"


def smooth_image(h=192, w=256, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w * 200, yy / h * 180, (xx + yy) / (h + w) * 220], -1) + 20
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def test_psnr_of_identical_images_is_inf():
    x = smooth_image(32, 32)
    assert metrics.psnr_rgb(x, x) == math.inf


def test_psnr_of_a_known_error():
    x = smooth_image(32, 32)
    y = x.copy()
    y[0, 0, 0] ^= 1  # one sample off by 1: MSE = 1 / (32 * 32 * 3)
    assert metrics.psnr_rgb(x, y) == pytest.approx(10 * math.log10(255**2 * 32 * 32 * 3))


def test_psnr_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        metrics.psnr_rgb(smooth_image(32, 32), smooth_image(32, 33))


def test_ms_ssim_needs_161_pixels_and_is_nan_below():
    assert math.isnan(metrics.ms_ssim_rgb(smooth_image(160, 300), smooth_image(160, 300)))
    x = smooth_image(161, 170)
    assert metrics.ms_ssim_rgb(x, x) == pytest.approx(1.0, abs=1e-6)
    noisy = np.clip(x.astype(int) + 20, 0, 255).astype(np.uint8)
    assert 0 < metrics.ms_ssim_rgb(x, noisy) < 1


def test_bpp_and_arithmetic_mean():
    assert metrics.bits_per_pixel(1000, 100, 80) == 1.0
    assert metrics.mean([30.0, 40.0]) == 35.0  # mean of PSNRs, not PSNR of the mean MSE
    assert math.isnan(metrics.mean([]))
    assert metrics.median([3.0, 1.0, 100.0]) == 3.0 and metrics.median([1.0, 2.0, math.nan]) == 1.5
    assert math.isnan(metrics.median([]))


def test_uncoded_ycbcr_round_trip_is_above_50_db():
    x = np.asarray(Image.open(KODIM).convert("RGB")) if KODIM.is_file() else smooth_image()
    planes = rgb_to_ycbcr(x)
    assert planes.shape == (3, *x.shape[:2]) and planes.dtype == np.uint8
    assert metrics.psnr_rgb(x, ycbcr_to_rgb(planes)) > 50


def test_ycbcr_of_grey_is_neutral_chroma():
    grey = np.full((4, 4, 3), 77, np.uint8)
    y, cb, cr = rgb_to_ycbcr(grey)
    assert (y == 77).all() and (cb == 128).all() and (cr == 128).all()
    assert (ycbcr_to_rgb(np.stack([y, cb, cr])) == grey).all()


def test_420_resampling_keeps_flat_planes_and_odd_sizes():
    plane = np.full((5, 7), 90, np.uint8)
    small = downsample_420(plane)
    assert small.shape == (3, 4) and (small == 90).all()
    assert (upsample_420(small, 5, 7) == 90).all()
