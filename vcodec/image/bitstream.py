"""A still image in the container: the IMAGE header unit, then its LATENTS, ALPHA, PALETTE and METADATA.

    IMAGE     mode u8 | kind u8 | flags u8 | width u16 | height u16 | quality u16 | model name and digest
    LATENTS   z length leb128 | z | y       (one unit: the whole padded image)
    ALPHA     zlib of the H x W alpha plane (modes RGBA and LA)
    PALETTE   768 bytes (mode P)
    METADATA  entries of kind u8 | length leb128 | bytes: 1 ICC profile, 2 EXIF, 3 XMP (optional)

``docs/format.md`` is the reference; the generic framing is :mod:`vcodec.coding.container`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from vcodec.coding import container
from vcodec.coding.container import ALPHA, IMAGE, LATENTS, METADATA, PALETTE, Fields, Unit
from vcodec.coding.quality import Quality
from vcodec.errors import BitstreamError

MODES = ("L", "RGB", "RGBA", "LA", "P")
KINDS = ("pil", "numpy", "tensor")
FLAG_REDUCED_16BIT = 1
# Format limits: a side fits in u16 and the pixel count in 2^30. What a decoder accepts can be less
# (vcodec.image.api.MAX_PIXELS).
MAX_SIDE = 0xFFFF
MAX_PIXELS = 1 << 30
PALETTE_BYTES = 768
METADATA_KINDS = {1: "icc_profile", 2: "exif", 3: "xmp"}

_HEADER = struct.Struct("<BBBHHH")


@dataclass
class ImageHeader:
    mode: str
    width: int
    height: int
    quality: Quality
    model: str
    digest: bytes
    kind: str = "pil"
    flags: int = 0

    def pack(self) -> bytes:
        return _HEADER.pack(MODES.index(self.mode), KINDS.index(self.kind), self.flags, self.width, self.height,
                            self.quality.code) + container.pack_model_ref(self.model, self.digest)

    @classmethod
    def parse(cls, payload: bytes) -> "ImageHeader":
        f = Fields(payload, "image header")
        mode, kind, flags, width, height, code = f.unpack("BBBHHH")
        model, digest = f.model_ref()
        f.end()
        if mode >= len(MODES):
            raise BitstreamError(f"corrupt header: unknown image mode {mode}")
        if kind >= len(KINDS):
            raise BitstreamError(f"corrupt header: unknown input kind {kind}")
        if flags & ~FLAG_REDUCED_16BIT:
            raise BitstreamError(f"corrupt header: unknown flags {flags:#x}")
        if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE and width * height <= MAX_PIXELS):
            raise BitstreamError(f"corrupt header: image size {width}x{height} is out of range")
        return cls(MODES[mode], width, height, Quality.from_code(code), model, digest, KINDS[kind], flags)


@dataclass
class ImageFile:
    header: ImageHeader
    z: bytes
    y: bytes
    alpha: bytes | None = None
    palette: bytes | None = None
    metadata: dict[str, bytes] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # bytes of each unit as stored, for `vcodec info`


def pack(img: ImageFile) -> bytes:
    h = img.header
    units = [Unit(IMAGE, h.pack()), Unit(LATENTS, container.pack_streams([img.z, img.y]))]
    if h.mode in ("RGBA", "LA"):
        units.append(Unit(ALPHA, img.alpha))
    if h.mode == "P":
        units.append(Unit(PALETTE, img.palette))
    if img.metadata:
        units.append(Unit(METADATA, pack_metadata(img.metadata)))
    return container.pack(units)


def pack_metadata(entries: dict[str, bytes]) -> bytes:
    codes = {name: code for code, name in METADATA_KINDS.items()}
    return b"".join(bytes([codes[k]]) + container.leb128(len(v)) + v for k, v in entries.items() if v)


def parse_metadata(payload: bytes) -> dict[str, bytes]:
    f, out = Fields(payload, "metadata"), {}
    while f.pos < len(payload):
        (code,) = f.unpack("B")
        value = f.take(f.leb128())
        if code in METADATA_KINDS:  # a newer kind this version does not know is skipped
            if METADATA_KINDS[code] in out:
                raise BitstreamError(f"corrupt bitstream: two {METADATA_KINDS[code]} entries")
            out[METADATA_KINDS[code]] = value
    return out


def parse(data: bytes) -> ImageFile:
    """The image units of a bitstream, checked for order and completeness."""
    units = container.parse(data)
    if not units:
        raise BitstreamError("truncated bitstream: it holds no units")
    if units[0].type != IMAGE:
        raise BitstreamError(f"not a still image: the first unit is {units[0].name} (a video? see vcodec info)")
    header = ImageHeader.parse(units[0].payload)
    expected = [LATENTS] + ([ALPHA] if header.mode in ("RGBA", "LA") else []) + ([PALETTE] if header.mode == "P" else [])
    found = [u.type for u in units[1:]]
    if found and found[-1] == METADATA:
        found = found[:-1]
    if found != expected:
        if len(found) < len(expected) and found == expected[: len(found)]:
            missing = container.UNIT_NAMES[expected[len(found)]]
            raise BitstreamError(f"truncated bitstream: the {missing} unit is missing")
        names = ", ".join(container.UNIT_NAMES.get(t, hex(t)) for t in found)
        raise BitstreamError(f"corrupt bitstream: units [{names}] do not fit a {header.mode} image")
    by_type = {u.type: u.payload for u in units[1:]}
    z, y = container.unpack_streams(by_type[LATENTS], 2, "latents")
    palette = by_type.get(PALETTE)
    if palette is not None and len(palette) != PALETTE_BYTES:
        raise BitstreamError("corrupt bitstream: the palette is not 256 RGB entries")
    metadata = parse_metadata(by_type[METADATA]) if METADATA in by_type else {}
    sizes = {u.name: len(u.payload) for u in units}
    return ImageFile(header, z, y, by_type.get(ALPHA), palette, metadata, sizes)
