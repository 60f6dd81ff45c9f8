"""nn.Modules only: the codable-model contract, transforms, hyper transforms and slice networks.

Named models, weights files and digests are in :mod:`vcodec.zoo`; coding is in :mod:`vcodec.coding`.
"""

from vcodec.models.contract import CodableModel
from vcodec.models.swin_charm import LAMBDAS, SwinCharm, SwinCharmConfig

__all__ = ["CodableModel", "LAMBDAS", "SwinCharm", "SwinCharmConfig"]
