"""Window-attention building blocks for the transforms.

Swin Transformer blocks (Liu et al., 2021, arXiv:2103.14030) working on (N, C, H, W) feature maps so
they sit between ordinary convolutions: W-MSA and shifted W-MSA with a learned relative position bias.
Any H and W are accepted: the map is padded to a multiple of the window inside the block and cropped
after, so the transform never needs the caller to pad beyond its own stride.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


def _relative_position_index(window: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


@functools.lru_cache(maxsize=64)
def _shift_mask(hp: int, wp: int, window: int, shift: int) -> torch.Tensor:
    """Additive mask (nW, w*w, w*w) that keeps tokens of different pre-shift regions apart."""
    region = torch.zeros(hp, wp)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for hs in cuts:
        for ws in cuts:
            region[hs, ws] = label
            label += 1
    win = region.view(hp // window, window, wp // window, window).permute(0, 2, 1, 3).reshape(-1, window * window)
    different = win[:, :, None] != win[:, None, :]
    return torch.zeros(different.shape).masked_fill(different, float("-inf"))


class WindowAttention(nn.Module):
    def __init__(self, dim: int, heads: int, window: int):
        super().__init__()
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.rel_bias = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.rel_bias, std=0.02)
        self.register_buffer("rel_index", _relative_position_index(window).flatten(), persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape  # b = batch * windows, n = window * window tokens
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        bias = self.rel_bias[self.rel_index].view(n, n, self.heads).permute(2, 0, 1).to(x.dtype)
        if mask is not None:  # (nW, n, n): the same mask for every image of the batch
            bias = (bias[None] + mask.to(x)[:, None]).repeat(b // mask.shape[0], 1, 1, 1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class SwinBlock(nn.Module):
    """Pre-norm Swin block: (shifted) window attention, then an MLP, both residual."""

    def __init__(self, dim: int, heads: int, window: int = 8, shift: bool = False, mlp_ratio: float = 2.0):
        super().__init__()
        self.window, self.shift = window, window // 2 if shift else 0
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        win = self.window
        t = x.permute(0, 2, 3, 1)
        s = self.norm1(t)
        ph, pw = (-h) % win, (-w) % win
        if ph or pw:
            s = F.pad(s, (0, 0, 0, pw, 0, ph))
        hp, wp = h + ph, w + pw
        # A shift only makes sense when there is more than one window to mix across.
        shift = self.shift if (hp > win or wp > win) else 0
        mask = None
        if shift:
            s = torch.roll(s, (-shift, -shift), (1, 2))
            mask = _shift_mask(hp, wp, win, shift)
        s = s.view(n, hp // win, win, wp // win, win, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, win * win, c)
        s = self.attn(s, mask)
        s = s.view(n, hp // win, wp // win, win, win, c).permute(0, 1, 3, 2, 4, 5).reshape(n, hp, wp, c)
        if shift:
            s = torch.roll(s, (shift, shift), (1, 2))
        t = t + s[:, :h, :w]
        t = t + self.mlp(self.norm2(t))
        return t.permute(0, 3, 1, 2)


class SwinStage(nn.Sequential):
    """``depth`` Swin blocks alternating regular and shifted windows."""

    def __init__(self, dim: int, depth: int, heads: int, window: int = 8, mlp_ratio: float = 2.0):
        super().__init__(*(SwinBlock(dim, heads, window, shift=i % 2 == 1, mlp_ratio=mlp_ratio) for i in range(depth)))


class SliceNet(nn.Module):
    """Lean network at the latent resolution: 1x1 conv, depthwise 3x3, 1x1 conv.

    Used for the per-slice mean, scale and latent-residual-prediction (LRP) transforms, where a full 3x3
    convolution stack would cost most of the decoder time for little gain.
    """

    def __init__(self, cin: int, hidden: int, cout: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, hidden, 1),
            nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden),
            nn.GELU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.GELU(),
            nn.Conv2d(hidden, cout, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
