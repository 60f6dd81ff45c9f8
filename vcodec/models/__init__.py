"""nn.Modules only: transforms, hyper transforms and slice networks, and the registry of named models."""

from vcodec.models.registry import (
    DEFAULT_MODEL,
    available_models,
    build_model,
    export_state_dict,
    load_model,
    load_state_dict,
    register_model,
    weights_digest,
)
from vcodec.models.swin_charm import LAMBDAS, SwinCharm, SwinCharmConfig

__all__ = [
    "DEFAULT_MODEL", "LAMBDAS", "SwinCharm", "SwinCharmConfig", "available_models", "build_model",
    "export_state_dict", "load_model", "load_state_dict", "register_model", "weights_digest",
]
