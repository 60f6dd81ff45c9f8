"""Variable-rate Swin-Transformer transform coder with a channel-autoregressive entropy model.

Transforms: Swin blocks between strided convolutions (Zhu, Yang & Cohen, 2022, "Transformer-based
Transform Coding", ICLR; Liu et al., 2023, "Learned Image Compression with Mixed Transformer-CNN
Architectures", arXiv:2303.14978). Entropy model: hyperprior (Ballé et al., 2018, arXiv:1802.01436) and
channel-wise autoregression with latent residual prediction (Minnen & Singh, 2020, arXiv:2007.08739),
uneven slices as in ELIC (He et al., 2022, arXiv:2203.10886). Variable rate: per-level gain vectors
interpolated in log space (Cui et al., 2021, "Asymmetric Gained Deep Image Compression", arXiv:2003.02012).

Each transform is a linear block transform plus a deep residual path:

    g_a(x) = B_a(x) + P(deep_a(x))      B_a: 16x16 block DCT (stride 16), P: 1x1 conv, zero at start
    g_s(y) = B_s(y) + deep_s(y)         B_s: its transpose;  deep_s ends in a conv that is zero at start

B_a and B_s start as an orthonormal block DCT (``block_dct_basis``), so a fresh model is a transform coder
from step 0 (about 35 dB unquantised on photos) instead of an autoencoder that first has to learn to
reconstruct; the deep paths then learn what the DCT misses. Both stay trainable.

    x -> g_a -> y -> *gain(q) -> y_s -> h_a -> z -> [Q, EB] -> z_hat -> h_s -> (mean, scale) support
                                   \\-> slices y_0..y_K, each coded given the support and y_hat_<k:
                                        mu_k, sigma_k = nets(support, y_hat_<k)
                                        y_hat_k = mu_k + round(y_k - mu_k) + lrp_k(support, y_hat_<=k)
    y_hat * inv_gain(q) -> g_s -> x_hat

``q`` is the quality in level units: 0 is the lowest level, ``levels - 1`` the highest, and any value
between them interpolates the gains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from vcodec.models.contract import CodableModel
from vcodec.models.layers import GDN, SliceNet, SpatialContext, SwinStage, ZTables, conv, deconv, quantize_ste

# CompressAI's MSE lambda grid (applied to 255^2 * MSE): about 0.1 to 1.5 bpp on Kodak.
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.0932, 0.1800)
# Side of the linear block transform: the stride of the deep paths (four stride-2 layers), so not a knob.
BLOCK = 16


@dataclass(frozen=True)
class SwinCharmConfig:
    dims: tuple[int, int, int] = (64, 96, 128)  # widths at 1/2, 1/4 and 1/8 resolution
    M: int = 192  # latent channels at 1/16
    Z: int = 128  # hyper-latent channels at 1/64
    depths: tuple[int, int, int] = (2, 2, 2)  # Swin blocks at 1/4, 1/8 and 1/16
    heads: tuple[int, int, int] = (3, 4, 6)
    window: int = 8
    mlp_ratio: float = 2.0
    slices: tuple[int, ...] = (16, 16, 32, 64, 64)  # uneven, as ELIC: the first slices are small and cheap
    slice_hidden: int = 128
    # Width of each slice's checkerboard context network (SpatialContext), 0 for none: a slice is then
    # coded in one pass, given the hyperprior and the slices before it only. Left out of the stored
    # configuration while 0, so weights from before the field keep their digest (vcodec.zoo.config_to_dict).
    spatial_context: int = field(default=0, metadata={"omit_default": True})
    hyper: tuple[int, int] = (192, 256)
    # Quantisation step, in units of the orthonormal DCT of [0, 1] pixels, that the top level starts with:
    # 0.08 gives about 38 dB; the lower levels start coarser through the gains.
    block_step: float = 0.08
    lmbdas: tuple[float, ...] = LAMBDAS


def block_dct_basis(block: int, channels: int) -> torch.Tensor:
    """(channels, 3, block, block) orthonormal basis functions: a decorrelating colour transform times the
    2-D DCT-II, the lowest frequencies first. A twelfth of the channels go to each chroma component and the
    rest to luma, close to what a PCA of photo blocks keeps (measured on the training folder: 0.3 dB below
    the PCA unquantised, the same rate-distortion after quantisation)."""
    k, i = torch.arange(block, dtype=torch.float64)[:, None], torch.arange(block, dtype=torch.float64)[None]
    dct = torch.cos(torch.pi * (2 * i + 1) * k / (2 * block)) * (2 / block) ** 0.5
    dct[0] /= 2**0.5
    colour = torch.tensor([[1, 1, 1], [1, 0, -1], [1, -2, 1]], dtype=torch.float64)
    colour = colour / colour.norm(dim=1, keepdim=True)
    freqs = sorted(((u, v) for u in range(block) for v in range(block)), key=lambda f: (f[0] + f[1], max(f), f[0]))
    chroma = channels // 12
    picked = [(0, f) for f in freqs[: channels - 2 * chroma]] + [(c, f) for c in (1, 2) for f in freqs[:chroma]]
    # Coarse frequencies first across components: the first slices of the channel-autoregressive entropy
    # model then hold the coefficients that predict the others best.
    picked.sort(key=lambda cf: (cf[1][0] + cf[1][1], cf[0]))
    rows = [torch.einsum("i,j,c->cij", dct[u], dct[v], colour[c]) for c, (u, v) in picked]
    return torch.stack(rows).float()


class BlockAnalysis(nn.Module):
    """g_a: ``B_a(x) + P(deep(x))`` (see the module docstring)."""

    def __init__(self, cfg: SwinCharmConfig):
        super().__init__()
        # The basis is the parameter, in orthonormal units, and the step a fixed factor: Adam moves every
        # weight by about the learning rate, which would be a large relative change of basis / step.
        self.block = nn.Parameter(block_dct_basis(BLOCK, cfg.M))
        self.step = cfg.block_step
        self.deep = _analysis(cfg)
        self.proj = nn.Conv2d(cfg.M, cfg.M, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x - 1/2: the DC coefficients are then about zero-mean. The linear path stays fp32 under
        # autocast: the DC coefficients reach ~100 steps, where bf16 keeps only half a step.
        with _full_precision(x):
            linear = F.conv2d(_at_least_fp32(x) - 0.5, self.block, stride=BLOCK) / self.step
        return linear + self.proj(self.deep(x)).to(linear.dtype)


class BlockSynthesis(nn.Module):
    """g_s: ``B_s(y) + deep(y)`` (see the module docstring)."""

    def __init__(self, cfg: SwinCharmConfig):
        super().__init__()
        self.block = nn.Parameter(block_dct_basis(BLOCK, cfg.M))
        self.step = cfg.block_step
        self.deep = _synthesis(cfg)
        nn.init.zeros_(self.deep[-1].weight)
        nn.init.zeros_(self.deep[-1].bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        with _full_precision(y):  # see BlockAnalysis: the latents carry more bits than bf16 holds
            linear = F.conv_transpose2d(_at_least_fp32(y) * self.step, self.block, stride=BLOCK) + 0.5
        return linear + self.deep(y).to(linear.dtype)


def _full_precision(x: torch.Tensor):
    """Autocast off for the enclosed ops, on the device of ``x``."""
    return torch.autocast(x.device.type, enabled=False)


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _analysis(cfg: SwinCharmConfig) -> nn.Sequential:
    d0, d1, d2 = cfg.dims
    return nn.Sequential(
        conv(3, d0, kernel_size=5, stride=2),
        GDN(d0),
        conv(d0, d1, kernel_size=3, stride=2),
        SwinStage(d1, cfg.depths[0], cfg.heads[0], cfg.window, cfg.mlp_ratio),
        conv(d1, d2, kernel_size=3, stride=2),
        SwinStage(d2, cfg.depths[1], cfg.heads[1], cfg.window, cfg.mlp_ratio),
        conv(d2, cfg.M, kernel_size=3, stride=2),
        SwinStage(cfg.M, cfg.depths[2], cfg.heads[2], cfg.window, cfg.mlp_ratio),
    )


def _synthesis(cfg: SwinCharmConfig) -> nn.Sequential:
    d0, d1, d2 = cfg.dims
    return nn.Sequential(
        SwinStage(cfg.M, cfg.depths[2], cfg.heads[2], cfg.window, cfg.mlp_ratio),
        deconv(cfg.M, d2, kernel_size=3, stride=2),
        SwinStage(d2, cfg.depths[1], cfg.heads[1], cfg.window, cfg.mlp_ratio),
        deconv(d2, d1, kernel_size=3, stride=2),
        SwinStage(d1, cfg.depths[0], cfg.heads[0], cfg.window, cfg.mlp_ratio),
        deconv(d1, d0, kernel_size=3, stride=2),
        GDN(d0, inverse=True),
        deconv(d0, 3, kernel_size=5, stride=2),
    )


class SwinCharm(CodableModel):
    """See the module docstring. ``forward`` is the training graph; coding lives in ``vcodec.coding``.

    ``coding=True`` builds the model as the coder holds it: the hyper-latent's integer tables and medians
    (``ZTables``) instead of compressai's entropy models, whose density networks only training and export
    use. Both load the same weights."""

    stride = 64
    latent_stride = BLOCK
    # The Swin windows at 1/16 span 8 latents of 16 px; their grid starts at a window's origin. With 128 px
    # of context on each side a window's core matches the whole-image transforms to 0.013 of a grey level
    # (synthesis) on Kodak; 64 px, misaligned, is 2.7 grey levels off.
    tile_align = 128
    tile_margin = 128
    # The density of z is not part of coding (the CDF tables are), so the digest leaves it out.
    training_only_prefixes = ("gaussian_conditional.", "entropy_bottleneck.matrices", "entropy_bottleneck.biases",
                              "entropy_bottleneck.factors", "entropy_bottleneck.target",
                              "entropy_bottleneck.likelihood_lower_bound")
    # Modules a configuration change may add to trained weights (vcodec.zoo.grow): they start at zero.
    zero_start_prefixes = ("spatial_nets.",)
    # With everything but these frozen the distortion does not depend on what trains (straight-through
    # rounding passes no gradient to mu, and the hyperprior only shapes mu and sigma): a training step can
    # stop before the synthesis.
    rate_only_prefixes = ("h_a.", "h_s.", "mean_nets.", "scale_nets.", "spatial_nets.", "entropy_bottleneck.")

    def __init__(self, cfg: SwinCharmConfig = SwinCharmConfig(), coding: bool = False):
        super().__init__()
        self.cfg = cfg
        self.slices = tuple(cfg.slices)
        M, (h0, h1) = cfg.M, cfg.hyper
        assert sum(cfg.slices) == M, "slices must partition the latent channels"
        self.g_a = BlockAnalysis(cfg)
        self.g_s = BlockSynthesis(cfg)
        self.h_a = nn.Sequential(
            conv(M, h0, kernel_size=3, stride=1),
            nn.GELU(),
            conv(h0, h0, kernel_size=3, stride=2),
            nn.GELU(),
            conv(h0, cfg.Z, kernel_size=3, stride=2),
        )
        self.h_s = nn.Sequential(
            deconv(cfg.Z, h0, kernel_size=3, stride=2),
            nn.GELU(),
            deconv(h0, h1, kernel_size=3, stride=2),
            nn.GELU(),
            nn.Conv2d(h1, 2 * M, 1),
        )
        prev = [sum(cfg.slices[:k]) for k in range(len(cfg.slices))]
        self.mean_nets = nn.ModuleList(SliceNet(M + p, cfg.slice_hidden, c) for p, c in zip(prev, cfg.slices))
        self.scale_nets = nn.ModuleList(SliceNet(M + p, cfg.slice_hidden, c) for p, c in zip(prev, cfg.slices))
        self.lrp_nets = nn.ModuleList(SliceNet(M + p + c, cfg.slice_hidden, c) for p, c in zip(prev, cfg.slices))
        self.spatial_context = cfg.spatial_context > 0
        if self.spatial_context:
            self.spatial_nets = nn.ModuleList(SpatialContext(c, cfg.spatial_context) for c in cfg.slices)
        if coding:
            self.entropy_bottleneck = ZTables(cfg.Z)
        else:
            from vcodec.models.training_entropy import EntropyBottleneck, GaussianConditional

            self.entropy_bottleneck = EntropyBottleneck(cfg.Z)
            self.gaussian_conditional = GaussianConditional(None)
        # MSE-optimal quantisation steps scale as 1/sqrt(lambda): start the gains there so every level
        # has a distinct rate from the first step instead of having to find it.
        lm = torch.tensor(cfg.lmbdas, dtype=torch.float32)
        log_gain = 0.5 * torch.log(lm / lm[-1])
        self.log_gain = nn.Parameter(log_gain[:, None].repeat(1, M))
        self.log_inv_gain = nn.Parameter(-log_gain[:, None].repeat(1, M))

    # -- rate -----------------------------------------------------------------------------------------

    @property
    def levels(self) -> int:
        return len(self.cfg.lmbdas)

    def lmbda(self, q: torch.Tensor) -> torch.Tensor:
        """The rate-distortion weight of (fractional) level ``q``, interpolated in log space."""
        table = torch.log(torch.tensor(self.cfg.lmbdas, dtype=torch.float64, device=q.device))
        return torch.exp(self._interp(table[:, None], q)).squeeze(1).to(torch.float32)

    def _interp(self, table: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        q = q.to(table.dtype).clamp(0, self.levels - 1)
        lo = q.floor().clamp(max=self.levels - 2).long()
        t = (q - lo.to(q.dtype))[:, None]
        return (1 - t) * table[lo] + t * table[lo + 1]

    def gains(self, q: torch.Tensor, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.exp(self._interp(self.log_gain.to(dtype), q))
        ig = torch.exp(self._interp(self.log_inv_gain.to(dtype), q))
        return g[:, :, None, None], ig[:, :, None, None]

    # -- transforms (the contract) -------------------------------------------------------------------

    def analysis(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.g_a(x)

    def hyper_analysis(self, y: torch.Tensor) -> torch.Tensor:
        return self.h_a(y)

    def hyper_synthesis(self, z_hat: torch.Tensor, context: torch.Tensor | None = None):
        return self.h_s(z_hat).chunk(2, dim=1)

    def slice_params(self, k: int, support, y_hat_prev: list[torch.Tensor]):
        mean_support, scale_support = support
        mu = self.mean_nets[k](torch.cat([mean_support, *y_hat_prev], dim=1))
        sigma = self.scale_nets[k](torch.cat([scale_support, *y_hat_prev], dim=1))
        return mu, F.softplus(sigma)

    def spatial_params(self, k: int, mu: torch.Tensor, sigma: torch.Tensor, anchor_residual: torch.Tensor):
        return self.spatial_nets[k](mu, sigma, anchor_residual)

    def lrp(self, k: int, support, y_hat_prev: list[torch.Tensor], y_hat_k: torch.Tensor) -> torch.Tensor:
        """A bounded correction of the quantisation error of slice ``k``."""
        return 0.5 * torch.tanh(self.lrp_nets[k](torch.cat([support[0], *y_hat_prev, y_hat_k], dim=1)))

    def synthesis(self, y_hat: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.g_s(y_hat)

    def latent_error_weights(self) -> torch.Tensor:
        """From the linear synthesis: channel c adds ``step * e`` times its basis function, so its squared
        error is ``(step * e)^2 * |basis_c|^2``. The basis is trained, no longer orthonormal (squared norms
        of 0.16 to 0.82 in vcodec-base); the deep path's share is left to the coder's tuned factor."""
        basis = self.g_s.block.detach().double().flatten(1)
        return (self.g_s.step**2) * basis.pow(2).sum(1)

    # -- the hyper-latent's tables -------------------------------------------------------------------

    def z_tables(self):
        eb = self.entropy_bottleneck
        if isinstance(eb, ZTables):
            return eb.tables()
        return eb._quantized_cdf, eb._cdf_length, eb._offset

    def z_medians(self) -> torch.Tensor:
        return self.entropy_bottleneck.quantiles[:, 0, 1]

    def z_shape(self, height: int, width: int) -> tuple[int, int, int]:
        return self.cfg.Z, height // self.stride, width // self.stride

    def z_bits(self, z_hat: torch.Tensor) -> torch.Tensor:
        """-log2 p of each element of z_hat (N, Z, h, w) under the learned density: for measurements and the
        encoder's refinement, never for coding (z is coded with the integer tables)."""
        eb = self.entropy_bottleneck
        density = eb.density() if isinstance(eb, ZTables) else eb
        n, c = z_hat.shape[:2]
        lik = density._likelihood(z_hat.transpose(0, 1).reshape(c, 1, -1))[0]
        return -torch.log2(lik.clamp_min(1e-9)).reshape(c, n, *z_hat.shape[2:]).transpose(0, 1)

    # -- training -------------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, q: torch.Tensor, context: torch.Tensor | None = None,
                rate_only: bool = False) -> dict:
        """The training graph. ``rate_only`` stops before the synthesis (no "x_hat"): for a phase that
        trains only the entropy model, whose distortion does not depend on it."""
        gain, inv_gain = self.gains(q)
        y = self.analysis(x, context) * gain
        z = self.hyper_analysis(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        y_slices = y.split(self.slices, dim=1)
        y_likelihoods = [None] * len(self.slices)

        def quantize(k, mu, sigma, lrp, mask):
            _, likelihood = self.gaussian_conditional(y_slices[k], sigma, means=mu)
            # A checkerboard's second pass holds the likelihoods of its positions; the first, the rest.
            y_likelihoods[k] = likelihood if mask is None or y_likelihoods[k] is None else \
                torch.where(mask, likelihood, y_likelihoods[k])
            return quantize_ste(y_slices[k] - mu) + mu

        y_hat = self.slice_schedule(self.hyper_synthesis(z_hat, context), quantize)
        likelihoods = {"y": torch.cat(y_likelihoods, dim=1), "z": z_likelihoods}
        if rate_only:
            return {"likelihoods": likelihoods}
        x_hat = self.synthesis(y_hat * inv_gain, context)
        return {"x_hat": x_hat, "likelihoods": likelihoods}

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_bottleneck.loss()
