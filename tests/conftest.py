import os

# Threads that wait passively, as the vcodec command sets them (vcodec.cli.main): on a machine whose cores
# are busy, OpenMP's spinning threads make the many small ops of a tiled image 20x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="session")
def codec():
    from vcodec.image.api import get_codec

    torch.set_num_threads(2)
    return get_codec()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def smooth_image(rng, h, w, channels=3):
    """A natural-ish test image: smooth gradients plus mild noise (pure noise is unrepresentative)."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = [np.sin(xx / (7 + 3 * c) + c) * np.cos(yy / (5 + 2 * c)) for c in range(channels)]
    img = 127.5 + 90 * np.stack(base, axis=2) + rng.normal(0, 6, (h, w, channels))
    return np.clip(img, 0, 255).astype(np.uint8)
