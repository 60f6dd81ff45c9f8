"""compressai's entropy models, which training and export use (and the coder never imports).

The EntropyBottleneck learns the density of z and builds its integer CDF tables (``update``); the
GaussianConditional gives the training likelihood of each slice. Importing compressai costs about 2.4 s
(see ``vcodec.models.layers``), so only the training flavour of a model imports this module.
"""

import warnings

with warnings.catch_warnings():  # compressai 1.2 still uses torch.jit.script, deprecated in torch 2.10+
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.entropy_models import EntropyBottleneck, GaussianConditional

__all__ = ["EntropyBottleneck", "GaussianConditional"]
