"""Every model goes through the one coder: the contract test.

For each registered model, and for a small model that takes a context (``context_model.ContextToy``), the
decoder's y_hat must equal the encoder's bit for bit, whatever the thread count. The shipped model runs
with its weights; the others with seeded random weights made coder-ready.
"""

import numpy as np
import pytest
import torch

from vcodec import zoo
from vcodec.coding.latent import LatentCoder
from vcodec.errors import BitstreamError
from vcodec.models.contract import CodableModel

from conftest import smooth_image
from context_model import build_context_toy, reference_for


def _model(name: str) -> CodableModel:
    if name == "context-toy":
        return build_context_toy()
    if name in zoo.available_models():
        return zoo.load(name)
    torch.manual_seed(0)
    return zoo.make_coder_ready(zoo.build(name))


MODELS = zoo.names() + ["context-toy"]


@pytest.fixture(scope="module", params=MODELS)
def coder(request):
    return request.param, LatentCoder(_model(request.param))


def _input(model: CodableModel):
    s = model.stride
    rgb = smooth_image(np.random.default_rng(5), 2 * s, 3 * s)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    return x, (reference_for(x) if model.takes_context else None)


@pytest.mark.parametrize("q", [0.0, 2.5])
def test_contract_encoder_and_decoder_agree_bit_for_bit(coder, q):
    name, c = coder
    x, context = _input(c.model)
    q = min(q, c.model.levels - 1)
    latents = c.encode(x, q, context=context)
    threads = torch.get_num_threads()
    try:
        decoded = []
        for n in (1, 2):
            torch.set_num_threads(n)
            decoded.append(c.decode(latents.z_bytes, latents.y_bytes, x.shape[2], x.shape[3], q, context=context))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(d, latents.y_hat) for d in decoded), name
    x_hat = c.synthesize(latents.y_hat, q, context=context)
    assert x_hat.shape == x.shape and torch.isfinite(x_hat).all()
    exact = c.synthesize(latents.y_hat, q, context=context, exact=True)
    assert exact.dtype == torch.float64 and (exact - x_hat.double()).abs().max() < 1e-3


def test_contract_context_is_used_by_the_context_model():
    c = LatentCoder(build_context_toy())
    x, context = _input(c.model)
    latents = c.encode(x, 1.0, context=context)
    # A decoder with another reference has other probability models: other latents, or invalid symbols.
    try:
        other = c.decode(latents.z_bytes, latents.y_bytes, x.shape[2], x.shape[3], 1.0, context=context * 0.5)
    except BitstreamError:
        return
    assert not torch.equal(other, latents.y_hat)


def test_contract_model_reports_latent_error_weights():
    for name in MODELS:
        m = _model(name)
        w = m.latent_error_weights()
        assert w.shape == (sum(m.slices),) and (w > 0).all(), name
        # The weight is the squared pixel error that a unit error of one latent causes in the linear synthesis.
        with torch.no_grad():
            for c in (0, 5, sum(m.slices) - 1):
                e = torch.zeros(1, sum(m.slices), 2, 2)
                e[0, c, 1, 0] = 1.0
                pixels = m.g_s(e) - m.g_s(torch.zeros_like(e)) - m.g_s.deep(e) + m.g_s.deep(torch.zeros_like(e))
                assert float(pixels.pow(2).sum()) == pytest.approx(float(w[c]), rel=1e-4), (name, c)
