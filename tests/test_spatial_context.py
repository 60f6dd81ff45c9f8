"""The checkerboard spatial context (SwinCharmConfig.spatial_context): grown onto trained weights it codes
as before; trained, the decoder follows it bit for bit; a rate-only phase trains it without the synthesis."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from vcodec import zoo
from vcodec.coding.latent import LatentCoder
from vcodec.errors import ModelError
from vcodec.models.swin_charm import SwinCharmConfig
from vcodec.train.tasks import trains_rate_only
from vcodec.train.trainer import Trainer

from conftest import smooth_image
from test_train import config, data  # noqa: F401  (the module's fixture)


def _tiny():
    torch.manual_seed(0)
    return zoo.make_coder_ready(zoo.build("vcodec-tiny"))


def _grown(trained: bool):
    model = zoo.grow(_tiny(), {"spatial_context": 8})
    if trained:  # what training would do to the zero-started layers
        torch.manual_seed(1)
        for net in model.spatial_nets:
            nn.init.normal_(net.net[-1].weight, std=0.2)
    return zoo.make_coder_ready(model)


def _image(model):
    rgb = smooth_image(np.random.default_rng(7), 2 * model.stride, 3 * model.stride)
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255


def test_stored_configuration_leaves_the_off_context_out():
    assert "spatial_context" not in zoo.config_to_dict(SwinCharmConfig())
    on = zoo.config_to_dict(SwinCharmConfig(spatial_context=64))
    assert on["spatial_context"] == 64
    assert zoo.config_from_dict(SwinCharmConfig(), on).spatial_context == 64
    assert zoo.config_from_dict(SwinCharmConfig(spatial_context=64), zoo.config_to_dict(SwinCharmConfig())) \
        .spatial_context == 0


def test_a_grown_context_codes_as_before():
    base, grown = LatentCoder(_tiny()), LatentCoder(_grown(trained=False))
    x = _image(base.model)
    a, b = base.encode(x, 1.5, measure=True), grown.encode(x, 1.5, measure=True)
    assert torch.equal(a.y_hat, b.y_hat) and a.z_bytes == b.z_bytes
    assert b.ideal_bits["y"] == pytest.approx(a.ideal_bits["y"], rel=1e-9)  # the same models, two passes
    assert abs(len(a.y_bytes) - len(b.y_bytes)) <= 8
    assert torch.equal(grown.decode(b.z_bytes, b.y_bytes, x.shape[2], x.shape[3], 1.5), b.y_hat)


@pytest.mark.parametrize("q", [0.0, 2.5])
def test_a_trained_context_decodes_bit_for_bit(q):
    base, coder = LatentCoder(_tiny()), LatentCoder(_grown(trained=True))
    x = _image(coder.model)
    latents = coder.encode(x, q)
    threads = torch.get_num_threads()
    try:
        decoded = []
        for n in (1, 2):
            torch.set_num_threads(n)
            decoded.append(coder.decode(latents.z_bytes, latents.y_bytes, x.shape[2], x.shape[3], q))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(d, latents.y_hat) for d in decoded)
    # The context is used: the second pass's means moved, so other latents than without it.
    assert not torch.equal(latents.y_hat, base.encode(x, q).y_hat)


def test_grow_refuses_a_change_that_is_not_zero_started():
    with pytest.raises(ModelError):
        zoo.grow(_tiny(), {"slice_hidden": 16})
    with pytest.raises(ModelError):
        zoo.grow(_tiny(), {"no_such_field": 1})


def test_rate_only_phase_trains_the_context(data, tmp_path):  # noqa: F811
    trainable = {"h_a", "h_s", "mean_nets", "scale_nets", "spatial_nets", "entropy_bottleneck"}
    frozen = tuple(sorted({n.split(".")[0] for n, _ in _tiny().named_parameters()} - trainable))
    trainer = Trainer(config(data, tmp_path, grow=("spatial_context=8",), freeze=frozen, steps=3))
    assert trainer.run() == "done"
    assert trainer.task.rate_only
    rows = [json.loads(r) for r in (tmp_path / "log.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["event"] == "train"]
    assert train and all(math.isfinite(r["loss"]) and math.isnan(r["mse"]) for r in train)
    last = trainer.model.spatial_nets[0].net[-1].weight
    assert last.abs().sum() > 0  # it moved off zero
    torch.manual_seed(0)  # the trainer's initial weights
    start = zoo.build("vcodec-tiny")
    assert torch.equal(trainer.model.g_s.block.detach(), start.g_s.block.detach())  # frozen
    assert not torch.equal(trainer.model.h_s[-1].weight.detach(), start.h_s[-1].weight.detach())  # trained
    # The hyperprior alone is a rate-only phase; the LRP shapes y_hat itself, so one that trains it is not.
    start.requires_grad_(False)
    start.h_s.requires_grad_(True)
    assert trains_rate_only(start)
    start.lrp_nets.requires_grad_(True)
    assert not trains_rate_only(start)


def test_video_rate_only_phase_trains_the_context_and_the_temporal_prior(data, tmp_path):  # noqa: F811
    intra = tmp_path / "intra.pt"
    zoo.export(_tiny(), intra, name="vcodec-tiny")
    trainable = {"mean_nets", "scale_nets", "spatial_nets", "entropy_bottleneck", "prior"}
    from vcodec.models.pframe import from_image_model

    p_model = from_image_model(zoo.load(None, weights=intra, coding=False))
    frozen = tuple(sorted({n.split(".")[0] for n, _ in p_model.named_parameters()} - trainable))
    clip = tmp_path / "clips" / "a"
    clip.mkdir(parents=True)
    rgb = smooth_image(np.random.default_rng(3), 96, 136)
    for t in range(4):  # a pan of 2 pixels a frame
        Image.fromarray(np.ascontiguousarray(rgb[:, 2 * t : 2 * t + 128])).save(clip / f"im{t + 1}.png")
    out = tmp_path / "run"
    cfg = config(clip.parent, out, task="video", model="vcodec-p", intra_model=str(intra), photos=str(data),
                 sequence_length=3, grow=("spatial_context=8",), freeze=frozen, steps=3)
    trainer = Trainer(cfg)
    assert trainer.run() == "done"
    assert trainer.task.rate_only
    train = [json.loads(r) for r in (out / "log.jsonl").read_text().splitlines()]
    train = [r for r in train if r["event"] == "train"]
    assert train and all(math.isfinite(r["loss"]) and math.isnan(r["mse"]) for r in train)
    assert trainer.model.spatial_nets[0].net[-1].weight.abs().sum() > 0  # the context moved off zero
    assert torch.equal(trainer.model.cond_s[-1].weight.detach(), p_model.cond_s[-1].weight.detach())  # frozen
