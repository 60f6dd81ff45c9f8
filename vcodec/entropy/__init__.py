"""Probability tables and the range coder (constriction). Knows tensors and arrays, not nn.Modules."""

from vcodec.entropy.factorized import ChannelTables
from vcodec.entropy.gaussian import MAX_RESIDUAL, ScaleTable, check_finite

__all__ = ["ChannelTables", "MAX_RESIDUAL", "ScaleTable", "check_finite"]
