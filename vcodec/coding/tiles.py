"""Any image size in bounded memory: entropy coding in independent tiles, transforms in overlapping windows.

    +--------------+--------------+---     tiles: T x T px (T in the header), raster order, one LATENTS
    |   +--------+ |              |        unit each, entropy-coded independently (z, support and slices
    |   | window | |              |        see only their own tile)
    |   | +core+ | |              |
    |   | |    | | |              |        windows: the analysis and the synthesis run on a core plus
    |   | +----+ | |              |        ``model.tile_margin`` px of context on each side (clipped to the
    |   +--------+ |              |        image), origins on multiples of ``model.tile_align`` px, and
    +--------------+--------------+---     keep only the core: the pixels match the whole-image transform
                                           to well under a grey level, so there are no seams

The encoder walks the image in rows of windows and codes a row of tiles as soon as its latent y is
complete; the decoder decodes a row of tiles only when a window reaches into it and drops it when the
windows have passed. Memory is then a window's activations plus a few rows of tiles' latents, whatever
the image size, and time is linear in the pixels. The tiles cost rate where the entropy model loses its
neighbours (measured by ``benchmarks/tile_seams.py``); an image of one tile is coded exactly as untiled.

Everything here works on padded sizes (multiples of ``model.stride``) in pixels, latent slices at
``model.latent_stride``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:  # the geometry is torch-free: the container's parser and `vcodec info` use it
    import torch

    from vcodec.coding.effort import Effort
    from vcodec.coding.latent import Latents, LatentCoder

# The largest tile side a bitstream may ask for: the decoder holds about two rows of tiles' latents
# (6 bytes a pixel of the row) and one tile's float64 entropy model, so the tile bounds its memory.
MAX_TILE = 2048


@dataclass(frozen=True)
class Tiling:
    """How the encoder cuts an image. ``tile``: side of the entropy-coding tiles (px, a multiple of the
    model's ``tile_align``); ``window``: the largest side of a transform window, context included (px)."""

    # Tile 1024: a Kodak-sized image (768 x 512) is one tile, a 12 MP photo has 12, and the tiles cost
    # +0.14 % BD-rate at 512 px on Kodak (benchmarks/tile_seams.py), so about half that at 1024.
    # Window 768: a Kodak-sized image is one window (the whole-image transforms). Above about 768 px the
    # transforms' cost per pixel grows (1.5 s/MP at 768, 2.1 at 1024, one thread), which outweighs the
    # extra margins of smaller windows (cores of 512 px: 2.25x the pixels, against 1.8x for 1024), and
    # their activations stay near 300 MB.
    tile: int = 1024
    window: int = 768

    def check(self, align: int) -> None:
        for name, value in (("tile", self.tile), ("window", self.window)):
            if value < align or value % align:
                raise ValueError(f"{name} side {value} must be a positive multiple of {align}")
        if self.tile > MAX_TILE:
            raise ValueError(f"tile side {self.tile} is over the format's {MAX_TILE}")


@dataclass(frozen=True)
class Span:
    """One window along an axis: the core it produces and the window it reads, in px."""

    core: tuple[int, int]
    window: tuple[int, int]


def tile_spans(length: int, tile: int) -> list[tuple[int, int]]:
    return [(start, min(start + tile, length)) for start in range(0, length, tile)]


def window_spans(length: int, window: int, margin: int, align: int) -> list[Span]:
    """Cores that cut ``[0, length)`` at multiples of ``align``, each read with ``margin`` px of context
    (clipped to the axis), so that no window is much over ``window`` px. An axis that fits one window is
    one window without margins: the whole-image transform."""
    if length <= window:
        return [Span((0, length), (0, length))]
    inner = max(align, (window - 2 * margin) // align * align)
    n = -(-length // inner)
    bounds = [0] + [round(length * i / n / align) * align for i in range(1, n)] + [length]
    spans = []
    for c0, c1 in zip(bounds, bounds[1:]):
        spans.append(Span((c0, c1), (max(0, (c0 - margin) // align * align), min(length, c1 + margin))))
    return spans


def tile_count(height: int, width: int, tile: int) -> int:
    return len(tile_spans(height, tile)) * len(tile_spans(width, tile))


Progress = Callable[[int, int], None]  # (done, total) units of work


def release_memory() -> None:
    """Hand the heap's free pages back to the OS (glibc; elsewhere nothing). The windows' activations
    come and go in many sizes, and the heap they leave holds, free but resident, about 200 MB more at
    the peak (measured on a 12 MP encode); once a row of windows is done they are returned."""
    global _libc
    if _libc is None:
        try:
            import ctypes

            _libc = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc(0)


_libc = None


class _Work:
    def __init__(self, total: int, progress: Progress | None):
        self.done, self.total, self.progress = 0, total, progress

    def step(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


def encode_tiles(coder: LatentCoder, pixels: Callable[[int, int, int, int], torch.Tensor], height: int,
                 width: int, q: float, tiling: Tiling, rdo: bool = False, effort: Effort | None = None,
                 progress: Progress | None = None) -> Iterator[Latents]:
    """The latents of every tile of a padded ``height`` x ``width`` image, in raster order.

    ``pixels(y0, y1, x0, x1)`` gives that region of the padded image, (1, 3, h, w) float in [0, 1]."""
    import torch

    from vcodec.entropy import check_finite

    model = coder.model
    s = model.latent_stride
    rows = window_spans(height, tiling.window, model.tile_margin, model.tile_align)
    cols = window_spans(width, tiling.window, model.tile_margin, model.tile_align)
    tile_rows, tile_cols = tile_spans(height, tiling.tile), tile_spans(width, tiling.tile)
    work = _Work(len(rows) * len(cols) + len(tile_rows) * len(tile_cols), progress)
    gain, _ = coder.gains(q)
    refining = effort is not None and effort.iterations > 0
    band: list[torch.Tensor] = []  # y (float32, before the gain) of the rows [band_start, ...), full width
    band_start = 0
    pending = iter(tile_rows)
    tile_row = next(pending, None)
    for r in rows:
        (c0, c1), (w0, w1) = r.core, r.window
        parts = []
        for c in cols:
            with torch.no_grad():
                y = model.analysis(pixels(w0, w1, *c.window).to(coder.device, torch.float32))
            (x0, x1), (v0, _) = c.core, c.window
            parts.append(y[:, :, (c0 - w0) // s : (c1 - w0) // s, (x0 - v0) // s : (x1 - v0) // s])
            work.step()
        band.append(torch.cat(parts, dim=3))
        del parts, y
        release_memory()
        while tile_row is not None and tile_row[1] <= c1:
            y_rows = torch.cat(band, dim=2)
            t0, t1 = tile_row
            for x0, x1 in tile_cols:
                y = y_rows[:, :, (t0 - band_start) // s : (t1 - band_start) // s, x0 // s : x1 // s].double() * gain
                check_finite("the latent y", y.cpu().numpy())
                x = pixels(t0, t1, x0, x1) if refining else None
                yield coder.encode(x, q, rdo=rdo, effort=effort, y=y)
                work.step()
            band, band_start = [y_rows[:, :, (t1 - band_start) // s :].clone()], t1
            tile_row = next(pending, None)


def decode_rows(coder: LatentCoder, streams: list[tuple[bytes, bytes]], height: int, width: int, q: float,
                tile: int, window: int = Tiling.window,
                progress: Progress | None = None) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Rows of the decoded padded image, top to bottom: ``(y0, y1, x_hat)`` with x_hat (1, 3, y1 - y0,
    width) float32 in [0, 1]. ``streams``: the (z, y) of every tile in raster order."""
    import torch

    model = coder.model
    s = model.latent_stride
    rows = window_spans(height, window, model.tile_margin, model.tile_align)
    cols = window_spans(width, window, model.tile_margin, model.tile_align)
    tile_rows, tile_cols = tile_spans(height, tile), tile_spans(width, tile)
    work = _Work(len(rows) * len(cols) + len(streams), progress)
    _, inv_gain = coder.gains(q)
    decoded: list[tuple[int, int, torch.Tensor]] = []  # (t0, t1, y_hat * inv_gain in float32), full width
    next_row = 0
    for i, r in enumerate(rows):
        (c0, c1), (w0, w1) = r.core, r.window
        while next_row < len(tile_rows) and tile_rows[next_row][0] < w1:
            t0, t1 = tile_rows[next_row]
            parts = []
            for j, (x0, x1) in enumerate(tile_cols):
                z, y = streams[next_row * len(tile_cols) + j]
                parts.append((coder.decode(z, y, t1 - t0, x1 - x0, q) * inv_gain).float())
                work.step()
            decoded.append((t0, t1, torch.cat(parts, dim=3)))
            next_row += 1
        latents = torch.cat([v for t0, t1, v in decoded if t1 > w0 and t0 < w1], dim=2)
        top = next(t0 for t0, t1, _ in decoded if t1 > w0)
        latents = latents[:, :, (w0 - top) // s : (w1 - top) // s]
        parts = []
        for c in cols:
            (x0, x1), (v0, v1) = c.core, c.window
            with torch.no_grad():
                x_hat = model.synthesis(latents[:, :, :, v0 // s : v1 // s]).clamp_(0, 1)
            parts.append(x_hat[:, :, c0 - w0 : c1 - w0, x0 - v0 : x1 - v0].clone())  # the window's margins go
            work.step()
        following = rows[i + 1].window[0] if i + 1 < len(rows) else height
        decoded = [d for d in decoded if d[1] > following]
        band = torch.cat(parts, dim=3)
        del parts, x_hat, latents
        release_memory()
        yield c0, c1, band
