"""Named models: a configuration table and a builder per name, plus loading of the shipped weights.

Weights files are plain state dicts (floats in fp16, the entropy bottleneck's integer CDF tables as
int32) read with ``torch.load(weights_only=True)``, so loading never unpickles arbitrary objects.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from vcodec.errors import ModelError
from vcodec.models.swin_charm import SwinCharm, SwinCharmConfig

_REGISTRY: dict[str, Callable[[], nn.Module]] = {}
DEFAULT_MODEL = "vcodec-base"
# compressai's EntropyBottleneck keeps its coding tables in buffers that start empty and are resized to
# the stored shape on load.
_CDF_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length")


def register_model(name: str):
    def wrap(builder: Callable[[], nn.Module]):
        _REGISTRY[name] = builder
        return builder

    return wrap


@register_model("vcodec-base")
def _vcodec_base() -> nn.Module:
    return SwinCharm(SwinCharmConfig())


@register_model("vcodec-tiny")
def _vcodec_tiny() -> nn.Module:
    """A small variant for tests and quick experiments; ships no weights."""
    return SwinCharm(
        SwinCharmConfig(dims=(16, 24, 32), M=48, Z=32, depths=(1, 1, 1), heads=(1, 1, 2), slices=(8, 8, 16, 16),
                        slice_hidden=32, hyper=(48, 64))
    )


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def build_model(name: str = DEFAULT_MODEL) -> nn.Module:
    """A freshly initialised model (random weights) of the named configuration."""
    if name not in _REGISTRY:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return _REGISTRY[name]()


def weights_path(name: str) -> Path:
    return Path(str(resources.files("vcodec") / "weights" / f"{name}.pt"))


def export_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The compact state dict we ship: parameters as fp16, integer tables as int32, and the few float
    buffers (compressai's lower bounds and GDN pedestal) as they are: fp16 would flush the likelihood
    bound 1e-9 to zero, and a zero likelihood is an infinite rate."""
    params = {name for name, _ in model.named_parameters()}

    def compact(name: str, v: torch.Tensor) -> torch.Tensor:
        if not v.is_floating_point():
            return v.int()
        return v.half() if name in params else v

    return {k: compact(k, v).cpu().contiguous() for k, v in model.state_dict().items()}


def load_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    own = dict(model.named_buffers())
    for key, value in state.items():
        if key.rsplit(".", 1)[-1] in _CDF_BUFFERS and key in own:
            own[key].resize_(value.shape)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as e:
        raise ModelError(f"weights do not fit the model: {str(e).splitlines()[0]}") from None
    return model


def load_model(name: str = DEFAULT_MODEL, weights: str | Path | None = None) -> nn.Module:
    """The named model with its shipped weights (or the weights file given), in eval mode on the CPU."""
    model = build_model(name)
    path = Path(weights) if weights is not None else weights_path(name)
    if not path.is_file():
        raise ModelError(f"no weights for model {name!r} (looked for {path})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt or foreign file: torch raises many kinds
        raise ModelError(f"cannot read weights {path}: {e}") from None
    if not isinstance(state, dict):
        raise ModelError(f"{path} is not a vcodec weights file")
    state = state.get("model", state)  # a training checkpoint holds the model under "model"
    return load_state_dict(model, state).eval()


def weights_digest(model: nn.Module) -> bytes:
    """8-byte digest of the weights as the coder uses them; written into every bitstream."""
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.digest()[:8]
