"""A small model that takes a context, as a P-frame model will: it codes x given a reference c.

It is the tiny image model with three conditional paths, each the place the contract lets a context in:
the analysis sees ``x - c``, the support adds a learned map of ``c`` (a temporal prior beside the
hyperprior), and the synthesis adds ``c`` back. Its weights are random but seeded; nothing here is
trained. It exists to show that a context model goes through the coder without touching its internals.
"""

import torch
import torch.nn.functional as F
from torch import nn

from vcodec import zoo
from vcodec.models.swin_charm import SwinCharm


class ContextToy(SwinCharm):
    takes_context = True

    def __init__(self, cfg, coding: bool = False):
        super().__init__(cfg, coding=coding)
        # reference (3 channels) -> 2M channels at the latent resolution, added to (mean, scale) support
        self.prior = nn.Conv2d(3, 2 * cfg.M, kernel_size=self.latent_stride, stride=self.latent_stride)

    def analysis(self, x, context=None):
        return self.g_a(x - context + 0.5)

    def hyper_synthesis(self, z_hat, context=None):
        mean, scale = self.h_s(z_hat).chunk(2, dim=1)
        prior_mean, prior_scale = self.prior(context - 0.5).chunk(2, dim=1)
        return mean + prior_mean, scale + prior_scale

    def synthesis(self, y_hat, context=None):
        return self.g_s(y_hat) - 0.5 + context


def build_context_toy(seed: int = 0) -> ContextToy:
    torch.manual_seed(seed)
    model = ContextToy(zoo.entry("vcodec-tiny").config)
    model.model_name = "context-toy"
    return zoo.make_coder_ready(model)


def reference_for(x: torch.Tensor) -> torch.Tensor:
    """A plausible reference: x shifted by two pixels and quantised to 8 bits, as a decoded frame is."""
    return torch.round(F.pad(x, (2, 0, 1, 0), mode="replicate")[..., : x.shape[2], : x.shape[3]] * 255) / 255
