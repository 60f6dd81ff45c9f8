"""The video commands' work: encode a clip to ``.vcv``, decode one, describe one. Frames stream: one is
read, coded and written at a time, so memory does not grow with the clip."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from vcodec.errors import VcodecError

VIDEO_SUFFIX = ".vcv"


def is_video_bitstream(head: bytes) -> bool:
    """Whether a bitstream's first unit is a video sequence header (from its first 6 bytes)."""
    from vcodec.coding import container

    return len(head) >= 6 and head[:4] == container.MAGIC and head[5] == container.SEQUENCE


def encode(source: str, output: str, quality: float, intra_period: int, frames: int | None, device: str,
           quiet: bool, progress: bool, atomic_output) -> str:
    """Code the clip ``source`` (a file PyAV reads, or a frame pattern) into ``output``."""
    from vcodec.coding import container
    from vcodec.video import bitstream
    from vcodec.video.codec import get_video_codec
    from vcodec.video.io import open_video

    codec = get_video_codec(device=device)
    t = time.perf_counter()
    with open_video(source, max_frames=frames) as clip, atomic_output(output) as f:
        count = clip.frame_count
        if count is not None and frames is not None:
            count = min(count, frames)
        bar = _bar(count, "encode", quiet or not progress)
        report = codec.encode_frames(iter(clip), quality, intra_period, clip.fps, frames, count, write=f.write,
                                     progress=lambda _: bar.update(1))
        bar.close()
        header = report.header
        if header.frame_count != len(report.frames) and f.seekable():
            # A streamed count: now known, written into the header (same size, new checksum).
            header.frame_count = len(report.frames)
            f.seek(len(container.file_header()))
            f.write(container.pack_unit(bitstream.header_unit(header)))
            f.seek(0, 2)
    seconds = time.perf_counter() - t
    n = len(report.frames)
    pixels = header.width * header.height * n
    return (f"{source} -> {output}: {n} frames {header.width}x{header.height}, {report.total_bytes} bytes, "
            f"{report.total_bytes * 8 / pixels:.4f} bpp, {n / seconds:.2f} frames/s")


def decode(source: str, output: str, start: int, frames: int | None, device: str, quiet: bool, progress: bool,
           read_stream) -> str:
    """Decode the clip in ``source`` into ``output`` (.y4m, .mkv or a frame pattern)."""
    from vcodec.coding import container
    from vcodec.video import bitstream
    from vcodec.video.codec import get_video_codec
    from vcodec.video.io import VideoWriter

    from vcodec.cli.files import is_pattern

    if is_pattern(output):  # out/%04d.png: the folder is made, as for the outputs of a batch
        try:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise VcodecError(f"cannot write {output}: {e.strerror}") from None
    t = time.perf_counter()
    with read_stream(source) as stream:
        units = container.iter_units(stream)
        header, rest = bitstream.read_header(units)
        codec = get_video_codec(header.i_model, header.p_model, device)
        total = header.frame_count if header.frame_count != bitstream.UNKNOWN_COUNT else None
        if total is not None:
            total = max(0, total - start)
            total = min(total, frames) if frames is not None else total
        bar = _bar(total, "decode", quiet or not progress)
        n = 0
        with VideoWriter(output, header.width, header.height, header.fps,
                         source=None if source == "-" else source) as out:
            for frame in codec.decode_units(_prepend(header, rest), start):
                if frames is not None and n >= frames:
                    break
                out.write(frame)
                n += 1
                bar.update(1)
        bar.close()
    seconds = time.perf_counter() - t
    return f"{source} -> {output}: {n} frames {header.width}x{header.height}, {n / max(seconds, 1e-9):.2f} frames/s"


def _prepend(header, rest):
    """The units again with the sequence header first (decode_units reads it itself)."""
    from vcodec.video import bitstream

    yield bitstream.header_unit(header)
    yield from rest


def info(data: bytes) -> list[str]:
    """The lines of ``vcodec info`` for a video bitstream: the header, then one line per frame."""
    from vcodec.coding import container
    from vcodec.video import bitstream

    units = container.parse(data)
    header, rest = bitstream.read_header(iter(units))
    count = "unknown" if header.frame_count == bitstream.UNKNOWN_COUNT else str(header.frame_count)
    lines = [
        f"format:   vcodec v{container.VERSION} video",
        f"clip:     {header.width}x{header.height} RGB, {float(header.fps):g} fps, {count} frames, "
        f"intra period {header.intra_period or 'none (first frame only)'}",
        f"I model:  {header.i_model} (weights {header.i_digest.hex()})",
        f"P model:  {header.p_model} (weights {header.p_digest.hex()})",
    ]
    frames = list(bitstream.frames(header, rest))
    pixels = header.width * header.height
    lines.append(f"size:     {len(data)} bytes, {len(data) * 8 / (pixels * max(1, len(frames))):.4f} bpp")
    lines.append("frame  type  quality   bytes  motion     bpp")
    for frame in frames:
        size = frame.size
        lines.append(f"{frame.index:5d}  {'I' if frame.intra else 'P':>4}  {frame.quality.user:7g}  {size:6d}  "
                     f"{len(frame.motion):6d}  {size * 8 / pixels:.4f}")
    return lines


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total, what: str, off: bool):
    if off or not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=what, file=sys.stderr, leave=False)
