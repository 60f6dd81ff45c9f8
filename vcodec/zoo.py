"""The weights zoo: named models, their weights files, the export format and the digest.

    register_model(name, config)   a builder per name, with its configuration as data
    build(name)                    fresh weights (training flavour; ``coding=True`` for the coder's)
    load(name | weights file)      shipped or given weights, read with ``torch.load(weights_only=True)``
    make_coder_ready(model)        the integer CDF tables of z, from the fp16 weights that ship
    export(model, path)            the weights file: {format, version, model, config, state_dict}
    digest(model)                  8 bytes over the configuration and the weights as the coder uses them

A weights file names its model and carries its configuration, so a file made with other settings than
today's defaults decodes as it was trained, and its digest (written into every bitstream) changes with
any change of either. ``vcodec/models/`` holds the nn.Modules only; file I/O and formats live here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import torch

from vcodec.errors import ModelError
from vcodec.models.contract import CodableModel

WEIGHTS_FORMAT = "vcodec-weights"
WEIGHTS_VERSION = 1
DEFAULT_MODEL = "vcodec-base"
# compressai's EntropyBottleneck keeps its coding tables in buffers that start empty and are resized to
# the stored shape on load.
_CDF_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length")


@dataclass(frozen=True)
class Entry:
    name: str
    config: Any  # a frozen dataclass instance: the model's table of sizes
    builder: Callable[..., CodableModel]  # builder(config, coding=bool)
    description: str = ""


_REGISTRY: dict[str, Entry] = {}


def register_model(name: str, config, description: str = ""):
    """Register ``builder(config, coding=False)`` under ``name`` with its default configuration."""

    def wrap(builder):
        _REGISTRY[name] = Entry(name, config, builder, description)
        return builder

    return wrap


def _swin_charm(config, coding: bool = False):
    from vcodec.models.swin_charm import SwinCharm

    return SwinCharm(config, coding=coding)


def _pframe(config, coding: bool = False):
    from vcodec.models.pframe import PFrameModel

    return PFrameModel(config, coding=coding)


def _register_builtin() -> None:
    from vcodec.models.pframe import PFrameConfig
    from vcodec.models.swin_charm import SwinCharmConfig

    # The shipped models have a checkerboard context in every slice (grown onto their trained weights).
    register_model("vcodec-base", SwinCharmConfig(spatial_context=64), "the shipped image model")(_swin_charm)
    register_model(
        "vcodec-tiny",
        SwinCharmConfig(dims=(16, 24, 32), M=48, Z=32, depths=(1, 1, 1), heads=(1, 1, 2), slices=(8, 8, 16, 16),
                        slice_hidden=32, hyper=(48, 64)),
        "a small variant for tests and experiments; ships no weights",
    )(_swin_charm)
    register_model("vcodec-p", PFrameConfig(spatial_context=64), "the shipped P-frame model (video)")(_pframe)


_register_builtin()


def names() -> list[str]:
    """Every registered model, with or without shipped weights."""
    return sorted(_REGISTRY)


def weights_path(name: str) -> Path:
    return Path(str(resources.files("vcodec") / "weights" / f"{name}.pt"))


def available_models() -> list[str]:
    """The models that can code out of the box: those that ship weights."""
    return [n for n in names() if weights_path(n).is_file()]


def entry(name: str) -> Entry:
    if name not in _REGISTRY:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return _REGISTRY[name]


def config_to_dict(config) -> dict:
    """The stored form of a configuration (and what the digest hashes). A field marked ``omit_default``
    (one added after weights had shipped) is left out at its default, so that those weights keep their
    file and their digest; :func:`config_from_dict` puts it back."""
    values = json.loads(json.dumps(dataclasses.asdict(config)))
    for f in dataclasses.fields(config):
        if f.metadata.get("omit_default") and getattr(config, f.name) == f.default:
            del values[f.name]
    return values


def config_from_dict(template, values: dict):
    """A configuration of ``template``'s type from stored values (lists back to tuples); an ``omit_default``
    field the values leave out takes its default."""
    known = {f.name: f for f in dataclasses.fields(template)}
    unknown = set(values) - set(known)
    if unknown:
        raise ModelError(f"weights configuration has unknown fields: {', '.join(sorted(unknown))}")
    fixed = {k: f.default for k, f in known.items() if f.metadata.get("omit_default") and k not in values}
    fixed.update({k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    return dataclasses.replace(template, **fixed)


def grow(model: CodableModel, changes: dict) -> CodableModel:
    """``model`` with its configuration changed by ``changes`` (e.g. {"spatial_context": 64}) and its
    weights carried over. Only modules that start at zero may be new (the model's
    ``zero_start_prefixes``), so the grown model codes exactly as the old one until it trains."""
    known = {f.name for f in dataclasses.fields(model.cfg)}
    if set(changes) - known:
        raise ModelError(f"cannot grow {', '.join(sorted(set(changes) - known))}: not a field of the configuration")
    grown = type(model)(dataclasses.replace(model.cfg, **changes), coding=False)
    old, new = model.state_dict(), grown.state_dict()
    added = [k for k in new if k not in old]
    refused = [k for k in added if not k.startswith(getattr(grown, "zero_start_prefixes", ()))]
    if refused or any(k not in new for k in old):
        raise ModelError(f"growing {', '.join(sorted(changes))} changes more than zero-started modules "
                         f"(e.g. {(refused or [k for k in old if k not in new])[0]})")
    load_state_dict(grown, {**{k: new[k] for k in added}, **old})
    grown.model_name = getattr(model, "model_name", DEFAULT_MODEL)
    return grown


def build(name: str = DEFAULT_MODEL, config=None, coding: bool = False) -> CodableModel:
    """A freshly initialised model (random weights) of the named configuration."""
    e = entry(name)
    model = e.builder(config if config is not None else e.config, coding=coding)
    model.model_name = name
    return model


def export_state_dict(model: CodableModel) -> dict[str, torch.Tensor]:
    """The compact state dict we ship: parameters as fp16, integer tables as int32, and the few float
    buffers (compressai's lower bounds and GDN pedestal) as they are: fp16 would flush the likelihood
    bound 1e-9 to zero, and a zero likelihood is an infinite rate."""
    params = {name for name, _ in model.named_parameters()}

    def compact(name: str, v: torch.Tensor) -> torch.Tensor:
        if not v.is_floating_point():
            return v.int()
        return v.half() if name in params else v

    return {k: compact(k, v).cpu().contiguous() for k, v in model.state_dict().items()}


def load_state_dict(model: CodableModel, state: dict[str, torch.Tensor]) -> CodableModel:
    """Load weights into ``model``. A coding model drops what only training uses (the density networks of
    the entropy models); anything else that does not fit is a ModelError."""
    own = dict(model.state_dict())
    state = {k: v for k, v in state.items() if k in own or not model.is_training_only(k)}
    buffers = dict(model.named_buffers())
    for key, value in state.items():
        if key.rsplit(".", 1)[-1] in _CDF_BUFFERS and key in buffers:
            buffers[key].resize_(value.shape)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as e:
        raise ModelError(f"weights do not fit the model: {str(e).splitlines()[0]}") from None
    return model


def make_coder_ready(model: CodableModel) -> CodableModel:
    """Round the weights to the fp16 that ships, then build the integer CDF tables of z from them
    (``EntropyBottleneck.update``, with its support re-derived from the learned density rather than the
    quantiles the auxiliary loss reached). The coder reads exactly these tables. The re-derived quantiles
    (a parameter, so fp16 in the file) are rounded again, so that the model in memory is the one a load
    of its file gives: the same digest and the same medians of z."""
    load_state_dict(model, export_state_dict(model))
    model.entropy_bottleneck.update(force=True, update_quantiles=True)
    load_state_dict(model, export_state_dict(model))
    return model.eval()


def digest(model: CodableModel) -> bytes:
    """8-byte digest of the configuration and of the weights as the coder uses them (the training-only
    density networks left out, so both flavours of one set of weights agree); written into every
    bitstream."""
    h = hashlib.sha256()
    h.update(json.dumps(config_to_dict(model.cfg), sort_keys=True).encode())
    for key, value in sorted(model.coding_state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.digest()[:8]


def export(model: CodableModel, path: str | Path, name: str | None = None) -> Path:
    """Write the weights file of ``model`` atomically."""
    name = name or getattr(model, "model_name", None) or DEFAULT_MODEL
    payload = {"format": WEIGHTS_FORMAT, "version": WEIGHTS_VERSION, "model": name,
               "config": config_to_dict(model.cfg), "state_dict": export_state_dict(model)}
    save_atomic(payload, path)
    return Path(path)


def save_atomic(obj, path: str | Path) -> None:
    """torch.save to a temporary file next to ``path``, then rename: a kill mid-write leaves the old
    file intact, never a truncated one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_weights(path: str | Path) -> tuple[str | None, dict | None, dict[str, torch.Tensor]]:
    """(model name, configuration, state dict) of a weights file, a training checkpoint or a plain state
    dict; name and configuration are None where the file does not say."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"no weights file {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt or foreign file: torch raises many kinds
        raise ModelError(f"cannot read weights {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(obj, dict):
        raise ModelError(f"{path} is not a vcodec weights file")
    if obj.get("format") == WEIGHTS_FORMAT:
        if obj.get("version") != WEIGHTS_VERSION:
            raise ModelError(f"{path}: weights format version {obj.get('version')} is not supported")
        return obj.get("model"), obj.get("config"), obj["state_dict"]
    if isinstance(obj.get("model"), dict):  # a training checkpoint
        cfg = obj.get("config") or {}
        return cfg.get("model"), obj.get("model_config"), obj["model"]
    return None, None, obj


def load(name: str | None = DEFAULT_MODEL, weights: str | Path | None = None, coding: bool = True) -> CodableModel:
    """The named model with its shipped weights, or the weights file given (which names its own model),
    in eval mode on the CPU, with ``model_name`` and ``digest`` set. ``coding=False`` keeps the training
    flavour (the density networks, for training and measurements)."""
    if weights is None:
        if name is None:
            raise ModelError("give a model name or a weights file")
        path = weights_path(entry(name).name)
        if not path.is_file():
            raise ModelError(f"model {name!r} ships no weights; available: {', '.join(available_models())}")
    else:
        path = Path(weights)
    file_name, config, state = read_weights(path)
    name = file_name or name or DEFAULT_MODEL
    e = entry(name)
    model = build(name, config_from_dict(e.config, config) if config else None, coding=coding)
    load_state_dict(model, state).eval()
    model.digest = digest(model)
    return model
