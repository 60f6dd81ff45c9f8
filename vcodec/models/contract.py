"""The contract between a codable model and vcodec's latent coder (``vcodec.coding.latent``).

A model that follows it is coded by the same coder, container and range coder as every other one, with
no change to their internals: the image model, and a P-frame model conditioned on its reference.

    x [, context] -> analysis -> y -> * gain(q) -> hyper_analysis -> z
    z_hat  = round(z - z_medians) + z_medians              coded with the integer tables of z_tables()
    support = hyper_synthesis(z_hat [, context])                                            (float64)
    for k in slices:                                               (slice_schedule: the one slice loop)
        mu_k, sigma_k = slice_params(k, support, y_hat_<k)                                  (float64)
        y_hat_k = mu_k + r_k,  r_k an integer residual (the coded symbol)
          with a spatial context, in two passes over a checkerboard (He et al., 2021, arXiv:2103.15306):
          the anchors (i + j even) as above, then the rest with
          mu_k, sigma_k = spatial_params(k, mu_k, sigma_k, anchor residuals)               (float64)
        y_hat_k += lrp(k, support, y_hat_<k, y_hat_k)                                       (float64)
    x_hat = synthesis(y_hat * inv_gain(q) [, context])

**The float64 set.** The decoder recomputes the probability model of every symbol, possibly on other
hardware, and must find the very tables the encoder used. Everything between the decoded symbols and the
coder's tables therefore runs in float64 at coding time, where a different summation order moves a
result by ~1e-16 instead of float32's ~1e-7 (which was seen to flip scale indices between two CPU code
paths): ``gains``, ``hyper_synthesis``, ``slice_params``, ``spatial_params`` and ``lrp``, and the
*context* wherever it enters them. z is coded with the integer tables stored in the weights, never
recomputed. ``analysis``, ``hyper_analysis`` and the image ``synthesis`` may run in float32: the encoder
alone runs the first two, and an image's pixels feed nothing back. A video decoder feeds its output back
as the next reference, so there the synthesis joins the float64 set too
(``vcodec.coding.latent.LatentCoder.synthesize(exact=True)``).

**Context.** A P-frame model takes the reference (the decoder's previous output, or a motion-compensated
prediction made from it) as ``context`` in ``analysis``, ``hyper_synthesis`` and ``synthesis``; an image
model ignores it (``None``). The coder hands the same context to the encoder's and the decoder's calls, in
float64 wherever it reaches the float64 set, so a context built from decoded pixels or coded integers keeps
decoding exact.

**Quality.** ``q`` is a model level: 0 is the lowest, ``levels - 1`` the highest, fractions interpolate.
The user's scale (1 .. levels) and the stored code are ``vcodec.coding.quality``'s business.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

#: quantize(k, mu_k, sigma_k, lrp_k, mask) -> y_hat_k before its LRP. ``lrp_k(v)`` is the LRP correction
#: of slice k for a candidate ``v`` (the encoder's RDO weighs candidates with it). ``mask`` is None when
#: the whole slice is coded at once; with a spatial context it is a boolean (1, 1, h, w) of the positions
#: this pass codes (the anchors, then the rest), and only the returned values there count.
Quantizer = Callable[[int, torch.Tensor, torch.Tensor, Callable[[torch.Tensor], torch.Tensor], torch.Tensor | None],
                     torch.Tensor]


def anchors(y: torch.Tensor) -> torch.Tensor:
    """The checkerboard's first pass: (1, 1, h, w) True where i + j is even, for a latent ``y``."""
    h, w = y.shape[-2:]
    i = torch.arange(h, device=y.device)[:, None]
    j = torch.arange(w, device=y.device)[None]
    return ((i + j) % 2 == 0)[None, None]


class CodableModel(nn.Module):
    """Base class of the models the latent coder codes. See the module docstring for the data flow.

    Subclasses set :attr:`stride`, :attr:`latent_stride` and :attr:`slices` and implement the methods that
    raise ``NotImplementedError``. Everything the coder calls is listed here; it touches no other member.
    """

    #: inputs are padded to a multiple of this (the down-sampling of z relative to x)
    stride: int = 64
    #: down-sampling of y relative to x
    latent_stride: int = 16
    #: channels of each slice of y, in coding order
    slices: tuple[int, ...] = ()
    #: whether the model needs a context (a P-frame model) or takes None (an image model)
    takes_context: bool = False
    #: transforms run in windows of a large image (``vcodec.coding.tiles``): window origins are multiples
    #: of this, so every window-attention grid of a window agrees with the whole image's
    tile_align: int = 64
    #: context, in pixels, a window of the transforms needs beyond its core for its output there to match
    #: the whole-image transform (to well under a grey level)
    tile_margin: int = 128
    #: state-dict keys (prefixes) that only training uses: the entropy models' density networks
    training_only_prefixes: tuple[str, ...] = ()
    #: whether each slice is coded in two checkerboard passes, the second given the first
    #: (``spatial_params``)
    spatial_context: bool = False

    def is_training_only(self, key: str) -> bool:
        return key.startswith(self.training_only_prefixes)

    def coding_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights as the coder uses them (what the digest covers)."""
        return {k: v for k, v in self.state_dict().items() if not self.is_training_only(k)}

    # -- rate ----------------------------------------------------------------------------------------

    @property
    def levels(self) -> int:
        """Number of trained quality levels; q runs from 0 to levels - 1."""
        raise NotImplementedError

    def lmbda(self, q: torch.Tensor) -> torch.Tensor:
        """(N,) rate-distortion weight (on 255^2 * MSE) of the levels ``q`` (N,)."""
        raise NotImplementedError

    def gains(self, q: torch.Tensor, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample (gain, inverse gain), each (N, M, 1, 1). float64 at coding time."""
        raise NotImplementedError

    # -- transforms ----------------------------------------------------------------------------------

    def analysis(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """y (N, M, H/latent_stride, W/latent_stride) of x (N, 3, H, W) in [0, 1]; encoder only."""
        raise NotImplementedError

    def hyper_analysis(self, y: torch.Tensor) -> torch.Tensor:
        """z of the gained latent ``y * gain``; encoder only."""
        raise NotImplementedError

    def hyper_synthesis(self, z_hat: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """The support every slice is predicted from (hyperprior, and a temporal prior from the context).
        float64 at coding time."""
        raise NotImplementedError

    def slice_params(self, k: int, support: tuple[torch.Tensor, ...], y_hat_prev: list[torch.Tensor]):
        """(mu_k, sigma_k) of slice ``k`` given the support and the slices decoded before it. float64."""
        raise NotImplementedError

    def spatial_params(self, k: int, mu: torch.Tensor, sigma: torch.Tensor, anchor_residual: torch.Tensor):
        """(mu_k, sigma_k) of the second checkerboard pass of slice ``k``, given the first pass's and the
        anchors' residuals ``y_hat_k - mu_k`` (zero elsewhere). float64. Only with ``spatial_context``."""
        raise NotImplementedError

    def lrp(self, k: int, support, y_hat_prev: list[torch.Tensor], y_hat_k: torch.Tensor) -> torch.Tensor:
        """Latent residual prediction: the correction added to slice ``k`` after quantisation. float64."""
        raise NotImplementedError

    def synthesis(self, y_hat: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """x_hat (N, 3, H, W) of the ungained latent ``y_hat * inv_gain``."""
        raise NotImplementedError

    def latent_error_weights(self) -> torch.Tensor:
        """(M,) squared pixel error (summed over the 3 x H x W values in [0, 1]) that a unit error of each
        channel of the ungained latent causes, at one latent position. The encoder's RDO multiplies it by
        the level's inverse gain squared and lambda to price a latent error in bits."""
        raise NotImplementedError

    # -- the hyper-latent's coding tables ------------------------------------------------------------

    def z_tables(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(quantized_cdf (Z, L), cdf_length (Z,), offset (Z,)): the integer CDFs z is coded with."""
        raise NotImplementedError

    def z_medians(self) -> torch.Tensor:
        """(Z,) the per-channel medians z is quantised around."""
        raise NotImplementedError

    def z_shape(self, height: int, width: int) -> tuple[int, int, int]:
        """(Z, h, w) of the hyper-latent of a padded image of ``height`` x ``width``."""
        raise NotImplementedError

    # -- the one slice loop --------------------------------------------------------------------------

    def slice_schedule(self, support: tuple[torch.Tensor, ...], quantize: Quantizer) -> torch.Tensor:
        """y_hat, slice after slice: the one loop behind the training forward, the encoder and the decoder.

        ``quantize`` decides each slice's values: rounding with a straight-through gradient in training,
        the rounded (or rate-distortion optimised) residuals in the encoder, the decoded residuals in the
        decoder. The LRP is added here, the same way for all three. With a spatial context each slice
        takes two passes: the anchors given the channel context, the rest given the anchors too."""
        y_hat: list[torch.Tensor] = []
        for k in range(len(self.slices)):
            mu, sigma = self.slice_params(k, support, y_hat)
            prev = list(y_hat)

            def lrp(v, k=k, prev=prev):
                return self.lrp(k, support, prev, v)

            if not self.spatial_context:
                y_hat_k = quantize(k, mu, sigma, lrp, None)
            else:
                first = anchors(mu)
                y_first = quantize(k, mu, sigma, lrp, first)
                residual = torch.where(first, y_first - mu, torch.zeros_like(mu))
                mu2, sigma2 = self.spatial_params(k, mu, sigma, residual)
                y_hat_k = torch.where(first, y_first, quantize(k, mu2, sigma2, lrp, ~first))
            y_hat.append(y_hat_k + self.lrp(k, support, prev, y_hat_k))
        return torch.cat(y_hat, dim=1)
