"""A still image in the container: the IMAGE header unit, then its LATENTS, ALPHA, PALETTE and METADATA.

    IMAGE     mode u8 | kind u8 | flags u8 | width u16 | height u16 | quality u16 | model name and digest
              [| tile side u16, when flags has FLAG_TILED]
    LATENTS   z length leb128 | z | y       (one unit per tile, raster order; one for an untiled image)
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
from vcodec.coding.tiles import MAX_TILE, tile_count
from vcodec.errors import BitstreamError

MODES = ("L", "RGB", "RGBA", "LA", "P")
KINDS = ("pil", "numpy", "tensor")
FLAG_REDUCED_16BIT = 1
FLAG_TILED = 2  # coded in tiles: the tile side follows the model reference
FLAGS = FLAG_REDUCED_16BIT | FLAG_TILED
# Images are padded to this before coding; the tiles and the untiled limit are on the padded size.
STRIDE = 64
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
    flags: int = 0  # FLAG_REDUCED_16BIT; FLAG_TILED follows from ``tile``
    tile: int = 0  # tile side in px; 0: one tile, the whole image

    def pack(self) -> bytes:
        flags = (self.flags & ~FLAG_TILED) | (FLAG_TILED if self.tile else 0)
        head = _HEADER.pack(MODES.index(self.mode), KINDS.index(self.kind), flags, self.width, self.height,
                            self.quality.code) + container.pack_model_ref(self.model, self.digest)
        return head + (struct.pack("<H", self.tile) if self.tile else b"")

    @property
    def padded(self) -> tuple[int, int]:
        """(height, width) as coded: padded to a multiple of the stride."""
        return self.height + (-self.height) % STRIDE, self.width + (-self.width) % STRIDE

    @property
    def tiles(self) -> int:
        hp, wp = self.padded
        return tile_count(hp, wp, self.tile) if self.tile else 1

    @classmethod
    def parse(cls, payload: bytes) -> "ImageHeader":
        f = Fields(payload, "image header")
        mode, kind, flags, width, height, code = f.unpack("BBBHHH")
        model, digest = f.model_ref()
        tile = f.unpack("H")[0] if flags & FLAG_TILED else 0
        f.end()
        if mode >= len(MODES):
            raise BitstreamError(f"corrupt header: unknown image mode {mode}")
        if kind >= len(KINDS):
            raise BitstreamError(f"corrupt header: unknown input kind {kind}")
        if flags & ~FLAGS:
            raise BitstreamError(f"corrupt header: unknown flags {flags:#x}")
        if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE and width * height <= MAX_PIXELS):
            raise BitstreamError(f"corrupt header: image size {width}x{height} is out of range")
        header = cls(MODES[mode], width, height, Quality.from_code(code), model, digest, KINDS[kind],
                     flags & ~FLAG_TILED, tile)
        # The decoder's memory follows the tile, so the tile is bounded, and an untiled image is one tile.
        if flags & FLAG_TILED and not (STRIDE <= tile <= MAX_TILE and tile % STRIDE == 0):
            raise BitstreamError(f"corrupt header: tile side {tile} is not a multiple of {STRIDE} up to {MAX_TILE}")
        if not tile and max(header.padded) > MAX_TILE:
            raise BitstreamError(f"corrupt header: an untiled image is at most {MAX_TILE} a side, "
                                 f"this one claims {width}x{height}")
        return header


@dataclass
class ImageFile:
    header: ImageHeader
    tiles: list[tuple[bytes, bytes]]  # (z, y) of every tile, raster order
    alpha: bytes | None = None
    palette: bytes | None = None
    metadata: dict[str, bytes] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # bytes of each unit as stored, for `vcodec info`

    @property
    def z(self) -> bytes:
        """z of all tiles, joined (its size; the stream itself of an untiled image)."""
        return b"".join(z for z, _ in self.tiles)

    @property
    def y(self) -> bytes:
        return b"".join(y for _, y in self.tiles)


def pack(img: ImageFile) -> bytes:
    h = img.header
    if len(img.tiles) != h.tiles:
        raise ValueError(f"{len(img.tiles)} tiles for an image of {h.tiles}")
    units = [Unit(IMAGE, h.pack())] + [Unit(LATENTS, container.pack_streams([z, y])) for z, y in img.tiles]
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
    # A claimed size is checked against the units really there before anything is allocated from it.
    tiles = header.tiles
    end = 1
    while end < len(units) and units[end].type == LATENTS:
        end += 1
    latents, rest = [u.payload for u in units[1:end]], units[end:]
    if len(latents) != tiles:
        if len(latents) < tiles and not rest:
            what = "latents unit is" if tiles == 1 else f"latents units of tiles {len(latents) + 1}..{tiles} are"
            raise BitstreamError(f"truncated bitstream: the {what} missing")
        raise BitstreamError(f"corrupt bitstream: {len(latents)} latents units for the {tiles} tile(s) of a "
                             f"{header.width}x{header.height} image")
    expected = ([ALPHA] if header.mode in ("RGBA", "LA") else []) + ([PALETTE] if header.mode == "P" else [])
    found = [u.type for u in rest]
    if found and found[-1] == METADATA:
        found = found[:-1]
    if found != expected:
        if len(found) < len(expected) and found == expected[: len(found)]:
            missing = container.UNIT_NAMES[expected[len(found)]]
            raise BitstreamError(f"truncated bitstream: the {missing} unit is missing")
        names = ", ".join(container.UNIT_NAMES.get(t, hex(t)) for t in found)
        raise BitstreamError(f"corrupt bitstream: units [{names}] do not fit a {header.mode} image")
    by_type = {u.type: u.payload for u in rest}
    streams = [tuple(container.unpack_streams(p, 2, "latents")) for p in latents]
    palette = by_type.get(PALETTE)
    if palette is not None and len(palette) != PALETTE_BYTES:
        raise BitstreamError("corrupt bitstream: the palette is not 256 RGB entries")
    metadata = parse_metadata(by_type[METADATA]) if METADATA in by_type else {}
    sizes: dict[str, int] = {}
    for u in units:
        sizes[u.name] = sizes.get(u.name, 0) + len(u.payload)
    return ImageFile(header, streams, by_type.get(ALPHA), palette, metadata, sizes)
