"""Run video codecs over a clip, one cached measurement per codec, settings and quality.

    clip (read once, held in memory) x codecs x qualities
        -> not in the cache: encode (timed) -> decode the bitstream alone (timed) -> per-frame metrics
        -> cache.jsonl (one line per finished measurement, every per-frame value in it)
        -> per codec: the RD curve (clip means) and the per-frame records

The cache key is (sha256 of the decoded source frames, codec name, codec description, quality); the
description holds library versions, every setting, the intra period, the frame rate where the codec uses
it, and for vcodec the weights digest,
so a changed setting is measured again and a rerun measures nothing. The clip is held in memory for the
evaluation (100 frames of 416x240 are 30 MB); coding itself is streamed by the codecs.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from vcodec.errors import VcodecError
from vcodec.eval.curves import Curve
from vcodec.eval.errors import CodecFailedError, EvalError
from vcodec.eval.runner import CodecSpec, ResultCache, cache_key
from vcodec.eval.video import metrics
from vcodec.eval.video.codecs import DEFAULT_INTRA_PERIOD, VideoCodec, create_video_codec, video_codec_class

PER_FRAME = ("psnr-rgb", "psnr-yuv", "psnr-y", "psnr-u", "psnr-v")


@dataclass
class Clip:
    name: str
    frames: list[np.ndarray]
    fps: Fraction
    sha256: str

    @property
    def width(self) -> int:
        return self.frames[0].shape[1]

    @property
    def height(self) -> int:
        return self.frames[0].shape[0]

    def __len__(self) -> int:
        return len(self.frames)


def load_clip(source, max_frames: int | None = None, name: str | None = None, fps=None) -> Clip:
    """Read a clip (anything ``vcodec.video.open_video`` takes) into memory, with the hash of its frames.

    ``fps`` is the rate of an image sequence (files carry theirs)."""
    from vcodec.video.io import open_video

    video = open_video(source, max_frames, fps)
    digest, frames = hashlib.sha256(), []
    for frame in video:
        frames.append(frame)
        digest.update(frame.tobytes())
    if not frames:
        raise EvalError(f"{source}: no frame to evaluate")
    digest.update(f"{video.width}x{video.height}x{len(frames)}".encode())
    return Clip(name or clip_name(source), frames, video.fps, digest.hexdigest())


def clip_name(source) -> str:
    """A short name for a clip: the file's stem, the folder's name, or a pattern's folder."""
    from vcodec.video.io import is_pattern

    path = Path(source)
    if is_pattern(path):
        return path.resolve().parent.name
    return path.name if path.is_dir() else path.stem


@dataclass(frozen=True)
class VideoCodecSpec(CodecSpec):
    """A video codec and its quality sweep, e.g. parsed from ``x264-420:22,27,32``."""

    @staticmethod
    def lookup(name: str):
        return video_codec_class(name)


def measure(codec: VideoCodec, clip: Clip, quality: float) -> dict:
    """Encode, decode and measure the clip at one quality: the clip means and every per-frame value."""
    where = f"{codec.name} at quality {quality:g} on {clip.name}"
    try:
        start = time.perf_counter()
        encoded = codec.encode(iter(clip.frames), quality)
        encoding_time = time.perf_counter() - start
        start = time.perf_counter()
        decoded = list(codec.decode(encoded.bitstream, clip.width, clip.height))
        decoding_time = time.perf_counter() - start
    except VcodecError as e:
        raise CodecFailedError(f"{where}: {e}") from None
    except Exception as e:
        raise CodecFailedError(f"{where} failed: {type(e).__name__}: {e}") from None
    if len(decoded) != len(clip) or len(encoded.frame_bytes) != len(clip):
        raise CodecFailedError(f"{where}: {len(clip)} frames coded as {len(encoded.frame_bytes)} and decoded as "
                               f"{len(decoded)}")  # fmt: skip
    per_frame = {k: [] for k in PER_FRAME}
    for original, frame in zip(clip.frames, decoded):
        if frame.shape != original.shape or frame.dtype != np.uint8:
            raise CodecFailedError(f"{where}: decoded {frame.shape} {frame.dtype}, expected {original.shape} uint8")
        for k, v in metrics.frame_metrics(original, frame).items():
            per_frame[k].append(v)
    w, h, n = clip.width, clip.height, len(clip)
    return {
        "clip": clip.name,
        "sha256": clip.sha256,
        "codec": codec.name,
        "quality": quality,
        "width": w,
        "height": h,
        "frames": n,
        "bytes": len(encoded.bitstream),
        "bpp": metrics.bits_per_pixel(len(encoded.bitstream), w, h, n),
        **{k: _mean(v) for k, v in per_frame.items()},
        "encoding_time": encoding_time,
        "decoding_time": decoding_time,
        "per_frame": {
            "bytes": encoded.frame_bytes,
            "type": encoded.frame_types,
            "bpp": [metrics.bits_per_pixel(b, w, h) for b in encoded.frame_bytes],
            **per_frame,
        },
    }


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


@dataclass
class VideoResult:
    """One codec on one clip: a record per quality (in sweep order)."""

    clip: str
    codec: str
    description: str
    qualities: tuple[float, ...]
    records: list[dict] = field(default_factory=list)

    def curve(self, metric: str = "psnr-rgb") -> Curve:
        """The RD curve of clip means, PSNR-RGB or another per-frame metric (``psnr-yuv``) as its PSNR."""
        return Curve(name=self.codec, bpp=[r["bpp"] for r in self.records], psnr=[r[metric] for r in self.records],
                     encoding_time=[r["encoding_time"] for r in self.records],
                     decoding_time=[r["decoding_time"] for r in self.records], description=self.description)

    def fps(self, which: str) -> float:
        """Frames per second of ``encoding`` or ``decoding``, over the whole sweep."""
        seconds = sum(r[f"{which}_time"] for r in self.records)
        return sum(r["frames"] for r in self.records) / seconds if seconds > 0 else float("nan")

    def record(self, quality: float) -> dict:
        return next(r for r in self.records if r["quality"] == quality)

    def to_json(self) -> dict:
        """CompressAI's result layout (clip means per quality) with the per-frame values beside it."""
        columns = ("bpp", *PER_FRAME, "encoding_time", "decoding_time")
        first = self.records[0]
        return {
            "name": self.codec,
            "description": self.description,
            "clip": self.clip,
            "width": first["width"],
            "height": first["height"],
            "num_frames": first["frames"],
            "averaging": metrics.DEFINITIONS,
            "results": {"quality": list(self.qualities), **{k: [r[k] for r in self.records] for k in columns}},
            "per_frame": [{"quality": r["quality"], **r["per_frame"]} for r in self.records],
        }


def evaluate(clip: Clip, specs: list[VideoCodecSpec], cache_path: Path | None,
             intra_period: int = DEFAULT_INTRA_PERIOD, progress: bool = True) -> list[VideoResult]:  # fmt: skip
    """Measure every codec at every quality on the clip; reuse and extend the cache at ``cache_path``."""
    if not specs:
        raise EvalError("no video codec to evaluate; name one or more with --codec")
    cache = ResultCache(cache_path) if cache_path is not None else None
    results = []
    for spec in specs:
        codec = create_video_codec(spec.name, {"intra_period": intra_period, "fps": clip.fps, **dict(spec.options)})
        result = VideoResult(clip.name, spec.name, codec.description, spec.qualities)
        warm = False
        for q in spec.qualities:
            key = cache_key(clip.sha256, spec.name, codec.description, q)
            record = cache.get(key) if cache is not None else None
            if record is None:
                if not warm:
                    codec.warm_up(clip.width, clip.height)
                    warm = True
                record = {"key": key, **measure(codec, clip, q)}
                if cache is not None:
                    cache.add(record)
                if progress:
                    print(f"{clip.name}: {spec.name} q={q:g}: {record['bpp']:.4f} bpp, {record['psnr-rgb']:.2f} dB "
                          f"RGB, {record['psnr-yuv']:.2f} dB YUV, encode {len(clip) / record['encoding_time']:.1f} "
                          f"fps, decode {len(clip) / record['decoding_time']:.1f} fps", file=sys.stderr, flush=True)
            result.records.append(dict(record, clip=clip.name, quality=q))
        results.append(result)
    return results
