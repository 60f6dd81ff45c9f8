"""The P-frame model: codes a frame given its motion-compensated prediction from the previous decoded frame.

Conditional coding (Ladune et al., 2020, "Optical Flow and Mode Selection for Learning-based Video
Coding", arXiv:2008.02580; Li, Li & Lu, 2021, "Deep Contextual Video Compression", NeurIPS,
arXiv:2109.15047) built so that it already works before any video training: it *is* the image model
coding the prediction residual, plus three conditional paths that start at zero.

    p = MC(x_hat_prev, motion)                                   the context (exact: integer MC of 8-bit frames)
    y = g_a(x - p + 1/2) + A(p)                                  residual analysis   + conditional analysis
    support = h_s(z_hat) + T(p)                                  hyperprior          + temporal prior
    x_hat = p + g_s(y_hat) - 1/2 + S(p, g_s(y_hat))              residual synthesis  + conditional synthesis

g_a, g_s, h_a, h_s and the slice networks start as the image model's (``vcodec-base``), whose block-DCT
path is a transform coder of the residual from step 0; A, T and S end in zero-initialised layers, so a
fresh P model is exactly residual coding with the image model, and training adds what the reference
can tell: where the residual will be small (T), what the residual misses (S), and what to send (A).

The context enters hyper_synthesis (the float64 set) through T, computed from the exact prediction; the
synthesis of a decoded frame runs in float64 too, since it is the next frame's reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vcodec.models.swin_charm import BLOCK, SwinCharm, SwinCharmConfig


@dataclass(frozen=True)
class PFrameConfig(SwinCharmConfig):
    context_hidden: int = 128  # width of the conditional paths


class _Features(nn.Module):
    """Features of the prediction at the latent resolution: its block transform (the image model's basis,
    fixed) followed by a lean 1x1 / depthwise 3x3 stack. The last layer starts at zero."""

    def __init__(self, cfg: SwinCharmConfig, out: int):
        super().__init__()
        hidden = cfg.context_hidden
        self.net = nn.Sequential(
            nn.Conv2d(cfg.M, hidden, 1),
            nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden),
            nn.GELU(),
            nn.Conv2d(hidden, out, 1),
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, coefficients: torch.Tensor) -> torch.Tensor:
        return self.net(coefficients)


class PFrameModel(SwinCharm):
    """See the module docstring."""

    takes_context = True
    # The temporal prior only feeds the entropy parameters, as the hyper synthesis does.
    rate_only_prefixes = SwinCharm.rate_only_prefixes + ("prior.",)

    def __init__(self, cfg: PFrameConfig = PFrameConfig(), coding: bool = False):
        super().__init__(cfg, coding=coding)
        M = cfg.M
        self.cond_a = _Features(cfg, M)
        self.prior = _Features(cfg, 2 * M)
        hidden = 32
        # S: a light pixel-domain refinement from the prediction and the decoded residual, zero at start.
        self.cond_s = nn.Sequential(
            nn.Conv2d(6, hidden, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.GELU(),
            nn.Conv2d(hidden, 3, 3, padding=1),
        )
        nn.init.zeros_(self.cond_s[-1].weight)
        nn.init.zeros_(self.cond_s[-1].bias)

    def _coefficients(self, p: torch.Tensor) -> torch.Tensor:
        """The prediction in the image model's block-transform domain, in units of its base step (fp32
        under autocast, as the image model's own block transforms)."""
        with torch.autocast(p.device.type, enabled=False):
            p = p.to(torch.promote_types(p.dtype, torch.float32))
            return F.conv2d(p - 0.5, self.g_a.block.to(p.dtype), stride=BLOCK) / self.g_a.step

    def analysis(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.g_a(x - context + 0.5) + self.cond_a(self._coefficients(context))

    def hyper_synthesis(self, z_hat: torch.Tensor, context: torch.Tensor | None = None):
        mean, scale = self.h_s(z_hat).chunk(2, dim=1)
        t_mean, t_scale = self.prior(self._coefficients(context)).chunk(2, dim=1)
        return mean + t_mean, scale + t_scale

    def synthesis(self, y_hat: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        residual = self.g_s(y_hat) - 0.5
        return context + residual + self.cond_s(torch.cat([context - 0.5, residual], dim=1))



#: the modules a P model adds to the image model it starts from
CONDITIONAL = ("cond_a.", "prior.", "cond_s.")


def from_image_model(image_model: SwinCharm, cfg: PFrameConfig | None = None) -> PFrameModel:
    """A fresh P model (training flavour) that starts as ``image_model`` coding residuals, the conditional
    paths at zero. Seeded, so that the same image model gives the same P model (and digest) every time."""
    from vcodec import zoo

    base = image_model.cfg
    cfg = cfg or PFrameConfig(**{k: getattr(base, k) for k in base.__dataclass_fields__})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = PFrameModel(cfg, coding=False)
    state = {**model.state_dict(), **{k: v for k, v in image_model.state_dict().items()}}
    return zoo.load_state_dict(model, state)
