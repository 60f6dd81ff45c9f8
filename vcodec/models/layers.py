"""Building blocks of the transforms.

- Swin Transformer blocks (Liu et al., 2021, arXiv:2103.14030) working on (N, C, H, W) feature maps so
  they sit between ordinary convolutions: W-MSA and shifted W-MSA with a learned relative position bias.
  Any H and W are accepted: the map is padded to a multiple of the window inside the block and cropped
  after, so the transform never needs the caller to pad beyond its own stride.
- GDN and the strided convolutions, as compressai defines them, and the coder's view of the
  hyper-latent's tables (:class:`ZTables`).

Why GDN and the conv helpers are restated here instead of imported from compressai: importing compressai
costs 2.4 s on the 2-core machine (its package imports its point-cloud datasets, hence torch_geometric,
and scipy.stats), twice torch's own import, and a small encode must start in under 2 s. The coder needs
no compressai at all; training imports its EntropyBottleneck and GaussianConditional, whose density
models and CDF construction are compressai's (``vcodec.models.swin_charm``). ``GDN`` keeps compressai's
parameter names, reparametrisation and bound gradient, so the same weights load in either
(``tests/test_models.py`` checks the outputs agree).
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


def conv(cin: int, cout: int, kernel_size: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=kernel_size // 2)


def deconv(cin: int, cout: int, kernel_size: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, kernel_size, stride=stride, output_padding=stride - 1,
                              padding=kernel_size // 2)


class ChannelsLastGELU(nn.GELU):
    """nn.GELU that runs a channels-last 4-D tensor as the contiguous NHWC tensor it is in memory.

    The same function; only the kernel differs. torch's CPU GELU takes a slow path on channels-last
    tensors (1 x 128 x 32 x 48 in bf16, one thread: about 1.6 times the time of the same data viewed
    NHWC), so latent refinement's channels-last copy of the model swaps it in (``swap_gelu``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return super().forward(x)


def swap_gelu(module: nn.Module) -> nn.Module:
    """Replace every nn.GELU inside ``module`` by a ChannelsLastGELU of the same approximation, in place."""
    for name, child in module.named_children():
        if type(child) is nn.GELU:
            setattr(module, name, ChannelsLastGELU(approximate=child.approximate))
        else:
            swap_gelu(child)
    return module


def quantize_ste(x: torch.Tensor) -> torch.Tensor:
    """Rounding with the identity as its gradient (straight-through)."""
    return (torch.round(x) - x).detach() + x


class _LowerBoundFunction(torch.autograd.Function):
    """max(x, bound), passing the gradient where x is above the bound or the step would raise it."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x, bound)
        return torch.max(x, bound)

    @staticmethod
    def backward(ctx, grad):
        x, bound = ctx.saved_tensors
        return ((x >= bound) | (grad < 0)) * grad, None


class LowerBound(nn.Module):
    def __init__(self, bound: float):
        super().__init__()
        self.register_buffer("bound", torch.tensor([float(bound)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LowerBoundFunction.apply(x, self.bound.to(x.dtype))


class NonNegative(nn.Module):
    """Stores ``sqrt(v + pedestal)`` and returns ``max(stored, bound)^2 - pedestal``: a stable
    non-negative parameter (compressai's NonNegativeParametrizer, buffer names included)."""

    def __init__(self, minimum: float = 0.0, offset: float = 2**-18):
        super().__init__()
        self.register_buffer("pedestal", torch.tensor([offset**2]))
        self.lower_bound = LowerBound((minimum + offset**2) ** 0.5)

    def init(self, v: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(torch.max(v + self.pedestal, self.pedestal))

    def forward(self, stored: torch.Tensor) -> torch.Tensor:
        return self.lower_bound(stored) ** 2 - self.pedestal.to(stored.dtype)


class GDN(nn.Module):
    """Generalised divisive normalisation, ``x / sqrt(beta + gamma * x^2)``, or its inverse (times), as
    Ballé, Laparra & Simoncelli, 2016 (arXiv:1511.06281) and compressai.layers.GDN."""

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6, gamma_init: float = 0.1):
        super().__init__()
        self.inverse = inverse
        self.beta_reparam = NonNegative(minimum=beta_min)
        self.beta = nn.Parameter(self.beta_reparam.init(torch.ones(channels)))
        self.gamma_reparam = NonNegative()
        self.gamma = nn.Parameter(self.gamma_reparam.init(gamma_init * torch.eye(channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        beta = self.beta_reparam(self.beta)
        gamma = self.gamma_reparam(self.gamma).reshape(c, c, 1, 1)
        norm = F.conv2d(x * x, gamma, beta)
        return x * (torch.sqrt(norm) if self.inverse else torch.rsqrt(norm))


class _Tensors(nn.Module):
    """Buffers named 0, 1, ...: the state-dict layout of an nn.ParameterList, without parameters."""

    def __init__(self, shapes: list[tuple[int, ...]]):
        super().__init__()
        for i, shape in enumerate(shapes):
            self.register_buffer(str(i), torch.zeros(shape))

    def __getitem__(self, i: int) -> torch.Tensor:
        return getattr(self, str(i))


class ZTables(nn.Module):
    """What the coder needs of the hyper-latent's entropy model: the integer CDF tables and the medians,
    plus, for the encoder's latent refinement only, the learned density (:meth:`density`).

    It holds the tensors compressai's EntropyBottleneck stores, under the same names, so a coding model
    loads the shipped weights without importing compressai."""

    FILTERS = (3, 3, 3, 3)  # compressai's default density network, which vcodec's models use

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.quantiles = nn.Parameter(torch.zeros(channels, 1, 3))
        for name in ("_quantized_cdf", "_offset", "_cdf_length"):
            self.register_buffer(name, torch.zeros(0, dtype=torch.int32))
        f = (1,) + self.FILTERS + (1,)
        self.matrices = _Tensors([(channels, f[i + 1], f[i]) for i in range(len(f) - 1)])
        self.biases = _Tensors([(channels, f[i + 1], 1) for i in range(len(f) - 1)])
        self.factors = _Tensors([(channels, f[i + 1], 1) for i in range(len(f) - 2)])
        self._density = None

    def tables(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self._quantized_cdf, self._cdf_length, self._offset

    def medians(self) -> torch.Tensor:
        return self.quantiles[:, 0, 1]

    def density(self) -> nn.Module:
        """compressai's EntropyBottleneck with these weights (imported on first use: it costs ~2 s), for the
        likelihood of a candidate z during refinement. The coder itself never needs it."""
        if self._density is None:
            from vcodec.models.training_entropy import EntropyBottleneck

            eb = EntropyBottleneck(self.channels, filters=self.FILTERS)
            with torch.no_grad():
                for name in ("matrices", "biases", "factors"):
                    for i, p in enumerate(getattr(eb, name)):
                        p.copy_(getattr(self, name)[i])
                eb.quantiles.copy_(self.quantiles)
            self._density = eb.to(self.quantiles.device).eval().requires_grad_(False)
        return self._density


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


class SpatialContext(nn.Module):
    """The checkerboard context of one slice (He et al., 2021, "Checkerboard Context Model for Efficient
    Learned Image Compression", arXiv:2103.15306; in channel slices as ELIC, arXiv:2203.10886).

    The second pass of a slice sees the residuals ``y_hat - mu`` of its anchors, zero elsewhere, and the
    first pass's log scales; it shifts each mean and scales each sigma:

        d_mu, d_log_sigma = net(residual, log sigma)          5x5 conv, then 1x1 convs
        mu' = mu + d_mu,   sigma' = sigma * exp(d_log_sigma)

    The last layer starts at zero, so a fresh context leaves a trained model exactly as it was.
    """

    # bound on the log-scale change: a corrupt or extreme input cannot drive sigma to 0 or infinity
    MAX_LOG_SCALE = 4.0

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2 * channels, hidden, 5, padding=2),
            nn.GELU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.GELU(),
            nn.Conv2d(hidden, 2 * channels, 1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, mu: torch.Tensor, sigma: torch.Tensor, residual: torch.Tensor):
        log_sigma = torch.log(sigma.clamp_min(1e-6))
        d_mu, d_log_sigma = self.net(torch.cat([residual, log_sigma], dim=1)).chunk(2, dim=1)
        d_log_sigma = d_log_sigma.to(sigma.dtype).clamp(-self.MAX_LOG_SCALE, self.MAX_LOG_SCALE)
        return mu + d_mu.to(mu.dtype), sigma * torch.exp(d_log_sigma)
