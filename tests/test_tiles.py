"""Tiles and transform windows (vcodec.coding.tiles): small images with a forced small tiling exercise the
path a large image takes."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from vcodec.coding import container, tiles
from vcodec.coding.tiles import Tiling
from vcodec.errors import BitstreamError, UnsupportedInputError
from vcodec.image import bitstream

from conftest import smooth_image


@given(st.integers(1, 300).map(lambda n: 64 * n), st.sampled_from([256, 384, 512, 1024]))
def test_windows_cut_the_axis_on_the_grid(length, window):
    spans = tiles.window_spans(length, window, margin=128, align=128)
    assert spans[0].core[0] == 0 and spans[-1].core[1] == length
    for a, b in zip(spans, spans[1:]):
        assert a.core[1] == b.core[0] and a.core[1] % 128 == 0
    for s in spans:
        (c0, c1), (w0, w1) = s.core, s.window
        assert w0 <= c0 < c1 <= w1 and w0 % 128 == 0
        assert w0 == 0 or c0 - w0 >= 128  # a full margin wherever there is image to see
        assert w1 == length or w1 - c1 >= 128
        assert w1 - w0 <= max(window, 3 * 128) + 128 or length <= window


@pytest.fixture(scope="module")
def tiled(codec):
    """A codec of the shipped model with 128 px tiles and 256 px windows (cores of 128 px)."""
    from vcodec.image.api import Codec

    return Codec(codec.model, tiling=Tiling(tile=128, window=256))


@pytest.fixture(scope="module")
def picture():
    return smooth_image(np.random.default_rng(7), 200, 330)


def test_tiled_bitstream_decodes_the_encoders_latents_exactly(tiled, picture):
    from vcodec.image.io import to_planes

    data, y_hat = tiled.encode_planes(to_planes(picture), 5)
    img, decoded = tiled.decode_latents(data)
    assert img.header.tile == 128 and img.header.tiles == 2 * 3 == len(img.tiles)  # padded 256 x 384
    assert sum(u.type == container.LATENTS for u in container.parse(data)) == 6
    assert torch.equal(decoded, y_hat)


def test_tiles_cost_little_and_leave_no_seams(codec, tiled, picture):
    """Against whole-image coding: about the same rate and PSNR, and the error at the tile boundaries no
    worse than elsewhere (no seam to see)."""
    whole, cut = codec.compress(picture, 5), tiled.compress(picture, 5)
    assert len(cut) < 1.15 * len(whole)
    err = {}
    for name, data in (("whole", whole), ("tiled", cut)):
        err[name] = (codec.decompress(data).astype(np.float64) - picture) ** 2 if name == "whole" else (
            tiled.decompress(data).astype(np.float64) - picture) ** 2
    psnr = {k: 10 * np.log10(255**2 / v.mean()) for k, v in err.items()}
    assert psnr["tiled"] > psnr["whole"] - 0.3
    seams = np.zeros(picture.shape[:2], bool)
    for c in (128, 256):
        seams[max(0, c - 4) : c + 4] = True
        seams[:, c - 4 : c + 4] = True
    assert err["tiled"][seams].mean() < 1.3 * err["tiled"][~seams].mean()


def test_streamed_rows_make_the_image(tiled, picture):
    data = tiled.compress(picture, 3)
    _, bands = tiled.decode_rows(data)
    bands = list(bands)
    assert [y0 for y0, _ in bands] == sorted(y0 for y0, _ in bands) and bands[0][0] == 0
    rows = np.concatenate([b for _, b in bands])
    np.testing.assert_array_equal(rows, tiled.decompress(data))


def test_decoder_windows_match_whole_image_synthesis(codec, tiled, picture):
    """The same bitstream synthesised in 256 px windows and as a whole: within one grey level."""
    from vcodec.image.api import Codec

    data = tiled.compress(picture, 6)
    whole_synthesis = Codec(codec.model, tiling=Tiling(tile=128, window=1024))
    diff = np.abs(tiled.decompress(data).astype(int) - whole_synthesis.decompress(data).astype(int))
    assert diff.max() <= 1


def test_progress_reports_every_step(tiled, picture):
    seen = []
    data = tiled.compress(picture, 2, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == list(range(1, len(seen) + 1))
    seen.clear()
    tiled.decompress(data, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1]


def _header(**fields) -> bitstream.ImageHeader:
    from vcodec.coding.quality import Quality

    values = dict(mode="RGB", width=33, height=17, quality=Quality(400), model="vcodec-base", digest=b"\1" * 8)
    return bitstream.ImageHeader(**(values | fields))


def test_a_small_bitstream_claiming_a_huge_image_is_refused_from_its_units():
    # 16384 x 16384 in 1024 px tiles is 256 tiles: a file with one latents unit is refused before decoding.
    head = container.Unit(container.IMAGE, _header(width=16384, height=16384, tile=1024).pack())
    one = container.Unit(container.LATENTS, container.pack_streams([b"", b""]))
    with pytest.raises(BitstreamError, match=r"truncated bitstream: the latents units of tiles 2..256 are missing"):
        bitstream.parse(container.pack([head, one]))
    with pytest.raises(BitstreamError, match=r"1 latents units for the 256 tile"):
        bitstream.parse(container.pack([head, one, container.Unit(container.METADATA, b"")]))


@pytest.mark.parametrize("fields, message", [
    (dict(width=4000, height=3000), "untiled image is at most 2048"),
    (dict(width=4000, height=3000, tile=4096), "tile side 4096"),
    (dict(width=4000, height=3000, tile=100), "tile side 100"),
])
def test_tile_fields_are_checked(fields, message):
    with pytest.raises(BitstreamError, match=message):
        bitstream.ImageHeader.parse(_header(**fields).pack())


def test_decoder_refuses_images_over_its_limit(codec, picture, monkeypatch):
    data = codec.compress(picture, 4)
    monkeypatch.setattr(codec, "max_pixels", 10_000)
    with pytest.raises(UnsupportedInputError, match=r"330x200 .* larger than vcodec codes \(10000 pixels\)"):
        codec.decompress(data)


def test_untiled_images_keep_their_bitstream(codec):
    """An image of one tile writes no tile field: its bitstream is the untiled format."""
    data = codec.compress(smooth_image(np.random.default_rng(1), 64, 96), 4)
    header = bitstream.parse(data).header
    assert header.tile == 0 and not container.parse(data)[0].payload[2] & bitstream.FLAG_TILED
