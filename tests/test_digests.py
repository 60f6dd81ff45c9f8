"""Regression digests, in two layers, so that a retrain never touches the format's pins.

- **Format**: vcodec-tiny with seeded random weights codes a fixed input, whole and in tiles; the sha256 of
  its bitstream is pinned below. It changes only with the format, the coder or the encoder's choices (e.g. RDO), and
  then on purpose, together with docs/format.md.
- **Shipped weights**: the bitstream and the decoded pixels of the shipped model for a fixed input, in
  ``tests/expected/<model>.json``. New weights change them: regenerate with
  ``VCODEC_REGENERATE=1 python -m pytest tests/test_digests.py`` and commit the file with the weights.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from vcodec import zoo
from vcodec.coding import container
from vcodec.image import Codec

EXPECTED = Path(__file__).parent / "expected"
REGENERATE = os.environ.get("VCODEC_REGENERATE") == "1"

# sha256 of the tiny model's bitstream per (quality, rdo); see the module docstring.
FORMAT = {
    (1.0, False): "4959d8e82205a456d46f69db3702e5528265894f779f8a5ed39b22c6a598c2e9",
    (4.5, False): "64996b9411ea9106fffa76cf7a3d4223af4a9593786d0295e18989b72e4e9e88",
    (8.0, True): "d0cf46f7d3875f96a17939caf89107e5072dcbd3ec467311be8d395dedd488be",
}


def fixed_image(h: int = 48, w: int = 80) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 3, yy * 5, (xx + yy) * 2 + 30 * np.sin(xx / 5.0)], axis=2).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return Codec(zoo.make_coder_ready(zoo.build("vcodec-tiny")), name="vcodec-tiny")


@pytest.mark.parametrize("quality, rdo", sorted(FORMAT))
def test_format_digest_of_the_seeded_tiny_model(tiny, quality, rdo):
    tiny.rdo = rdo
    data = tiny.compress(fixed_image(), quality)
    assert hashlib.sha256(data).hexdigest() == FORMAT[(quality, rdo)]


# The same for a tiled image: 128 px tiles (six LATENTS units) and 256 px transform windows.
TILED = "a1aaf7b393316fb2169c55063c4be5420787c6561f0c6cfa8bf454903b3e6c63"


def test_format_digest_of_a_tiled_image(tiny):
    from vcodec.coding.tiles import Tiling

    tiled = Codec(tiny.model, name="vcodec-tiny", tiling=Tiling(tile=128, window=256))
    assert hashlib.sha256(tiled.compress(fixed_image(200, 300), 4.5)).hexdigest() == TILED


def _digests(data: bytes, pixels) -> dict:
    pixels = np.concatenate([np.ascontiguousarray(p).reshape(-1) for p in pixels])
    return {"bitstream": hashlib.sha256(data).hexdigest(), "pixels": hashlib.sha256(pixels.tobytes()).hexdigest(),
            "bytes": len(data)}


def fixed_clip(n: int = 3) -> list[np.ndarray]:
    """fixed_image() panning right by 2 px a frame."""
    wide = fixed_image(48, 80 + 2 * n)
    return [wide[:, 2 * (n - i) : 2 * (n - i) + 80].copy() for i in range(n)]


@pytest.mark.parametrize("name", zoo.available_models())
def test_shipped_weights_digests(name):
    entry = zoo.load(name)
    rows = {}
    if entry.takes_context:  # a P-frame model: a short clip through the video codec
        from vcodec.video.codec import VideoCodec

        codec, what = VideoCodec(p_model=name), "fixed_clip() 3 frames 80x48, intra period 32"
        for quality in (1.0, 4.0, 8.0):
            data = codec.compress(fixed_clip(), quality)
            rows[f"{quality:g}"] = _digests(data, list(codec.decode_units(iter(container.parse(data)))))
        digest = codec.p_model.digest
    else:
        codec, what = Codec(entry, name=name), "fixed_image() 80x48"
        for quality in (1.0, 4.0, 8.0):
            data = codec.compress(fixed_image(), quality)
            rows[f"{quality:g}"] = _digests(data, [codec.decompress(data)])
        digest = codec.digest
    path = EXPECTED / f"{name}.json"
    record = {"model": name, "weights_digest": digest.hex(), "input": what, "qualities": rows}
    if REGENERATE:
        path.write_text(json.dumps(record, indent=2) + "\n")
    expected = json.loads(path.read_text())
    assert expected["weights_digest"] == record["weights_digest"], "new weights: regenerate tests/expected"
    assert expected == record
