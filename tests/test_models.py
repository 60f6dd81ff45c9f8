"""The transforms as built, before any training: the block-DCT start of g_a and g_s."""

import numpy as np
import pytest
import torch
from conftest import smooth_image

from vcodec.zoo import build as build_model
from vcodec.models.swin_charm import block_dct_basis


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a.clamp(0, 1) - b) ** 2).mean()))


@pytest.mark.parametrize("block, channels", [(16, 192), (16, 48), (8, 60)])
def test_block_basis_is_orthonormal_and_starts_with_dc(block, channels):
    basis = block_dct_basis(block, channels)
    assert basis.shape == (channels, 3, block, block)
    flat = basis.flatten(1).double()
    assert torch.allclose(flat @ flat.T, torch.eye(channels, dtype=torch.float64), atol=1e-5)
    # The first three channels are the flat blocks of the three colour components.
    for c in range(3):
        assert torch.allclose(basis[c], basis[c].mean((1, 2), keepdim=True).expand_as(basis[c]), atol=1e-6)


@pytest.fixture(scope="module")
def fresh():
    torch.manual_seed(0)
    return build_model("vcodec-tiny").eval()


def test_fresh_model_is_a_block_transform_coder(fresh):
    x = torch.from_numpy(smooth_image(np.random.default_rng(0), 64, 96)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        y = fresh.g_a(x)
        linear = fresh.g_a.block
        assert torch.equal(fresh.g_a.proj(fresh.g_a.deep(x)), torch.zeros_like(y))  # deep path: zero at start
        # 48 of 768 coefficients per block keep the smooth part (the noise costs about 3 dB); an untrained
        # autoencoder without the block path gives about 10 dB.
        assert psnr(fresh.g_s(y), x) > 27
        assert torch.equal(fresh.g_s.deep(y), torch.zeros_like(x))
        # Rounding after the per-level gains: a higher level is a finer quantiser from the start.
        scores = []
        for q in (0.0, 3.0, 7.0):
            gain, inv_gain = fresh.gains(torch.tensor([q]))
            scores.append(psnr(fresh.g_s(torch.round(y * gain) * inv_gain), x))
    assert scores[0] < scores[1] < scores[2]
    assert linear.requires_grad and fresh.g_s.block.requires_grad


def test_channels_last_gelu_is_gelu_on_channels_last_memory():
    """Refinement's copy swaps it in for speed: the values, gradients and layout must stay those of nn.GELU."""
    from torch import nn

    from vcodec.models.layers import ChannelsLastGELU, swap_gelu

    x = torch.randn(1, 24, 6, 10).contiguous(memory_format=torch.channels_last)
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    fast, plain = ChannelsLastGELU()(a), nn.GELU()(b)
    assert fast.is_contiguous(memory_format=torch.channels_last) and not fast.is_contiguous()
    torch.testing.assert_close(fast, plain)
    weights = torch.randn_like(x)
    (fast * weights).sum().backward()
    (plain * weights).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)
    flat = torch.randn(3, 5, 7)  # other layouts go straight to nn.GELU
    assert torch.equal(ChannelsLastGELU()(flat), nn.GELU()(flat))

    net = swap_gelu(nn.Sequential(nn.Conv2d(3, 4, 1), nn.GELU("tanh"), nn.Sequential(nn.GELU())))
    kinds = [m for m in net.modules() if isinstance(m, nn.GELU)]
    assert len(kinds) == 2 and all(type(m) is ChannelsLastGELU for m in kinds)
    assert kinds[0].approximate == "tanh"
