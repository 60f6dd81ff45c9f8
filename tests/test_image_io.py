"""What goes in and what comes back: metadata, encoded-image bytes, file objects, layouts, the PNG writer."""

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

import vcodec
from vcodec.errors import UnsupportedInputError
from vcodec.image import bitstream
from vcodec.image.png import PngWriter

from conftest import smooth_image

XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'


@pytest.fixture(scope="module")
def icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()  # a real profile, not sRGB's


@pytest.fixture(scope="module")
def wide_gamut() -> bytes:
    # An RGB profile that is not sRGB: a photo tagged with it shifts colour if the tag is lost.
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes().replace(b"sRGB", b"wRGB")


def _jpeg_with_metadata(rng, icc_profile: bytes, orientation: int = 6) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "vcodec-test-camera"  # Make
    buf = io.BytesIO()
    Image.fromarray(smooth_image(rng, 24, 40)).save(buf, "JPEG", exif=exif, icc_profile=icc_profile, xmp=XMP)
    return buf.getvalue()


def test_icc_exif_and_xmp_round_trip(codec, rng, wide_gamut):
    data = codec.compress(_jpeg_with_metadata(rng, wide_gamut), 6)  # the bytes of an encoded image
    kept = bitstream.parse(data).metadata
    assert set(kept) == {"icc_profile", "exif", "xmp"} and kept["icc_profile"] == wide_gamut
    out = codec.decompress(data)
    assert out.size == (24, 40)  # the orientation was applied to the pixels...
    exif = out.getexif()
    assert exif.get(0x010F) == "vcodec-test-camera" and 0x0112 not in exif  # ...and taken out of the EXIF
    assert out.info["icc_profile"] == wide_gamut and out.info["xmp"] == XMP
    buf = io.BytesIO()
    out.save(buf, "PNG")  # Pillow writes the profile of info on its own
    assert Image.open(buf).info["icc_profile"] == wide_gamut


def test_strip_drops_the_metadata(codec, rng, wide_gamut):
    data = codec.compress(io.BytesIO(_jpeg_with_metadata(rng, wide_gamut)), 6, strip=True)
    assert bitstream.parse(data).metadata == {} and "icc_profile" not in codec.decompress(data).info


def test_profile_of_another_colour_space_is_dropped_with_a_warning(codec, rng, icc):
    im = Image.fromarray(smooth_image(rng, 16, 16))
    im.info["icc_profile"] = icc  # a LAB profile on RGB pixels
    with pytest.warns(UserWarning, match="ICC profile for Lab dropped"):
        data = codec.compress(im, 4)
    assert bitstream.parse(data).metadata == {}


def test_animated_input_warns_that_only_the_first_frame_is_coded(codec, rng, tmp_path):
    frames = [Image.fromarray(smooth_image(rng, 20, 20)) for _ in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match=r"animated \(3 frames\): only the first frame is coded"):
        data = codec.compress(path, 4)
    assert codec.decompress(data).size == (20, 20)


def test_bitstreams_as_bytes_file_objects_and_lists(codec, rng):
    a, b = (codec.compress(smooth_image(rng, 16, 24), q) for q in (2, 7))
    assert vcodec.decompress(io.BytesIO(a)).shape == (16, 24, 3)
    assert codec.decompress(bytearray(b)).shape == (16, 24, 3)
    outs = vcodec.decompress([a, io.BytesIO(b)])
    assert isinstance(outs, list) and len(outs) == 2 and not np.array_equal(outs[0], outs[1])
    with pytest.raises(vcodec.BitstreamError, match="path"):
        codec.decompress("photo.vcc")


@pytest.mark.parametrize("shape, message", [
    ((32, 48, 3), r"got shape \(32, 48, 3\): this looks like \(H, W, C\); pass img.permute\(2, 0, 1\)"),
    ((1, 3, 8, 8, 1), r"got shape \(1, 3, 8, 8, 1\)"),
    ((5, 8, 8), r"got shape \(5, 8, 8\)"),
])
def test_tensor_layout_errors_name_the_shape_passed(codec, shape, message):
    with pytest.raises(UnsupportedInputError, match=message):
        codec.compress(torch.zeros(shape), 4)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P"])
def test_png_writer_streams_what_pillow_reads(rng, mode, wide_gamut):
    rgb = smooth_image(rng, 37, 29)
    alpha = rng.integers(0, 256, (37, 29), dtype=np.uint8)
    planes = {"L": rgb[..., 0], "LA": np.dstack([rgb[..., 0], alpha]), "RGB": rgb,
              "RGBA": np.dstack([rgb, alpha]), "P": rgb[..., 1] // 16}
    palette = bytes(range(48)) + bytes(720)
    buf = io.BytesIO()
    png = PngWriter(buf, 29, 37, mode, palette, {"icc_profile": wide_gamut, "xmp": XMP})
    for y in range(0, 37, 10):
        png.write(planes[mode][y : y + 10])
    png.close()
    back = Image.open(io.BytesIO(buf.getvalue()))
    assert back.mode == mode and back.info["icc_profile"] == wide_gamut and back.info["xmp"] == XMP
    np.testing.assert_array_equal(np.asarray(back), planes[mode])
    if mode == "P":
        assert back.getpalette()[:48] == list(range(48))
