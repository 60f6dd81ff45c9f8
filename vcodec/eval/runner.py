"""Run codecs over image folders, one cached measurement per image, codec and quality.

    datasets (folders) x codecs x qualities
        -> tasks not in the cache -> workers: load rgb, encode, decode, measure
        -> cache.jsonl (one line per finished task, appended as it finishes)
        -> per dataset and codec: per-image records + the CompressAI-style average

The cache key is (sha256 of the image file, codec name, codec description, quality); the
description names library versions, settings and, for vcodec, the weights digest, so anything
that changes a result also changes its key. A second run over the same inputs encodes nothing.
A crash, Ctrl-C or a failing encoder loses only the tasks still running.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import time
import warnings
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vcodec.eval import metrics
from vcodec.eval.codecs import codec_class, create_codec
from vcodec.eval.curves import Curve
from vcodec.eval.errors import CodecFailedError, EvalError
from vcodec.errors import UnsupportedInputError, VcodecError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp"}
# Modes Image.convert("RGB") maps to 8-bit RGB without losing precision; alpha is dropped
# (the metrics are on RGB), 16-bit and float images are refused rather than silently quantised.
RGB_CONVERTIBLE_MODES = {"RGB", "RGBA", "RGBX", "L", "LA", "P", "PA", "CMYK", "YCbCr", "1"}


@dataclass(frozen=True)
class CodecSpec:
    """A codec to run and its quality sweep, e.g. parsed from ``jpeg:10,20,40``."""

    name: str
    qualities: tuple[float, ...]
    options: tuple[tuple[str, object], ...] = ()

    @staticmethod
    def lookup(name: str):
        return codec_class(name)

    @classmethod
    def parse(cls, text: str, options: dict | None = None) -> "CodecSpec":
        name, _, qualities = text.partition(":")
        codec = cls.lookup(name.strip())
        if qualities.strip():
            try:
                values = [float(q) for q in qualities.split(",") if q.strip()]
            except ValueError:
                raise EvalError(f"bad quality list in {text!r}: expected numbers separated by commas") from None
        else:
            values = list(codec.default_qualities)
        if not values:
            raise EvalError(f"empty quality list in {text!r}")
        checked = tuple(dict.fromkeys(codec.check_quality(q) for q in values))
        return cls(codec.name, checked, tuple(sorted((options or {}).items())))


@dataclass(frozen=True)
class SourceImage:
    dataset: str
    path: Path
    sha256: str
    width: int
    height: int


def find_images(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise EvalError(f"dataset folder {folder} does not exist or is not a folder")
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise EvalError(f"dataset folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return images


def load_rgb(path: Path) -> np.ndarray:
    """An image file as H x W x 3 uint8 RGB, or UnsupportedInputError saying why not."""
    try:
        with Image.open(path) as im:
            if im.mode not in RGB_CONVERTIBLE_MODES:
                raise UnsupportedInputError(f"{path}: image mode {im.mode} is not 8-bit; convert it to 8-bit RGB")
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise UnsupportedInputError(f"cannot read image {path}: {e}") from None


def scan_dataset(folder: Path) -> list[SourceImage]:
    """Every image of a folder, read once to be sure it decodes, with its content hash."""
    images = []
    for path in find_images(folder):
        rgb = load_rgb(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        images.append(SourceImage(Path(folder).resolve().name, path, digest, rgb.shape[1], rgb.shape[0]))
    return images


def cache_key(sha256: str, codec: str, description: str, quality: float) -> str:
    text = json.dumps([sha256, codec, description, quality])
    return hashlib.sha256(text.encode()).hexdigest()


class ResultCache:
    """Append-only JSONL of finished measurements; each line is one task's record.

    Lines are written whole and flushed as tasks finish; a torn last line (a crash mid-write)
    is ignored with a warning, so a cache never blocks a rerun.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.records: dict[str, dict] = {}
        if self.path.exists():
            for number, line in enumerate(self.path.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    self.records[record["key"]] = record
                except (json.JSONDecodeError, KeyError, TypeError):
                    warnings.warn(f"{self.path}:{number}: unreadable cache line skipped (it will be recomputed)")

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

    def add(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Non-finite floats as bare NaN/Infinity tokens: Python's json reads them back exactly.
        line = json.dumps(record) + "\n"
        with open(self.path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.records[record["key"]] = record


@dataclass(frozen=True)
class _Task:
    key: str
    image: SourceImage
    codec: str
    options: tuple[tuple[str, object], ...]
    quality: float


# One codec instance per process and (name, options): models and libraries load once per worker.
_codecs: dict = {}


def _codec(name: str, options: tuple) -> object:
    if (name, options) not in _codecs:
        _codecs[name, options] = create_codec(name, dict(options))
    return _codecs[name, options]


def _measure(task: _Task) -> dict:
    """Encode, decode and measure one image at one quality (runs in a worker)."""
    codec = _codec(task.codec, task.options)
    rgb = load_rgb(task.image.path)
    size = rgb.shape[:2]
    where = f"{task.codec} at quality {task.quality:g} on {task.image.path.name}"
    try:
        start = time.perf_counter()
        data = codec.encode(rgb, task.quality)
        encoding_time = time.perf_counter() - start
        start = time.perf_counter()
        rgb_hat = codec.decode(data, size)
        decoding_time = time.perf_counter() - start
    except VcodecError as e:
        raise CodecFailedError(f"{where}: {e}") from None
    except Exception as e:
        raise CodecFailedError(f"{where} failed: {type(e).__name__}: {e}") from None
    if rgb_hat.shape != rgb.shape or rgb_hat.dtype != np.uint8:
        raise CodecFailedError(f"{where}: decoded {rgb_hat.shape} {rgb_hat.dtype}, expected {rgb.shape} uint8")
    return {
        "key": task.key,
        "dataset": task.image.dataset,
        "image": task.image.path.name,
        "sha256": task.image.sha256,
        "width": task.image.width,
        "height": task.image.height,
        "codec": task.codec,
        "quality": task.quality,
        "bytes": len(data),
        "bpp": metrics.bits_per_pixel(len(data), task.image.width, task.image.height),
        "psnr-rgb": metrics.psnr_rgb(rgb, rgb_hat),
        "ms-ssim": metrics.ms_ssim_rgb(rgb, rgb_hat),
        "encoding_time": encoding_time,
        "decoding_time": decoding_time,
    }


def _init_worker() -> None:
    # Workers are the parallelism: one thread each keeps timings comparable and cores unshared.
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


@dataclass
class CodecResult:
    """One codec on one dataset: per-image records (quality-major) and the dataset averages."""

    dataset: str
    codec: str
    description: str
    qualities: tuple[float, ...]
    records: list[dict] = field(default_factory=list)

    def average(self) -> Curve:
        columns = {k: [] for k in ("bpp", "psnr-rgb", "ms-ssim", "encoding_time", "decoding_time")}
        for q in self.qualities:
            rows = [r for r in self.records if r["quality"] == q]
            for k, values in columns.items():
                # Times are medians over the images (one stalled image must not move them); the rate and
                # quality means follow CompressAI.
                average = metrics.median if k.endswith("_time") else metrics.mean
                values.append(average(r[k] for r in rows))
        return Curve(
            name=self.codec,
            bpp=columns["bpp"],
            psnr=columns["psnr-rgb"],
            ms_ssim=columns["ms-ssim"],
            encoding_time=columns["encoding_time"],
            decoding_time=columns["decoding_time"],
            description=self.description,
        )

    def to_json(self) -> dict:
        curve = self.average()
        return {
            "name": self.codec,
            "description": self.description,
            "dataset": self.dataset,
            "num_images": len({r["image"] for r in self.records}),
            "averaging": metrics.AVERAGING,
            "results": {
                "quality": list(self.qualities),
                "bpp": curve.bpp,
                "psnr-rgb": curve.psnr,
                "ms-ssim": curve.ms_ssim,
                "encoding_time": curve.encoding_time,
                "decoding_time": curve.decoding_time,
            },
        }

    def per_image_json(self) -> dict:
        keep = ("image", "quality", "width", "height", "bytes", "bpp", "psnr-rgb", "ms-ssim", "encoding_time",
                "decoding_time")  # fmt: skip
        return {
            "name": self.codec,
            "description": self.description,
            "dataset": self.dataset,
            "images": [{k: r[k] for k in keep} for r in self.records],
        }


def evaluate(
    datasets: list[Path],
    codecs: list[CodecSpec],
    cache_path: Path,
    workers: int = 1,
    progress: bool = True,
) -> list[CodecResult]:
    """Measure every codec at every quality on every image; return results per dataset and codec.

    Work already in ``cache_path`` is reused; new work is appended to it as it finishes.
    """
    if not codecs:
        raise EvalError("no codec to evaluate; name one or more with --codec")
    if workers < 1:
        raise EvalError(f"--workers must be at least 1, got {workers}")
    sources: dict[str, list[SourceImage]] = {}
    for folder in datasets:
        images = scan_dataset(folder)
        if images[0].dataset in sources:
            raise EvalError(f"two datasets are named {images[0].dataset!r}; give folders distinct names")
        sources[images[0].dataset] = images
    if not sources:
        raise EvalError("no dataset to evaluate; give one or more image folders")
    # Created here once to fail fast on an unusable codec and to learn its description.
    descriptions = {spec: _codec(spec.name, spec.options).description for spec in codecs}

    cache = ResultCache(cache_path)
    results, todo = [], []
    for dataset, images in sources.items():
        for spec in codecs:
            result = CodecResult(dataset, spec.name, descriptions[spec], spec.qualities)
            results.append(result)
            for q in spec.qualities:
                for image in images:
                    key = cache_key(image.sha256, spec.name, descriptions[spec], q)
                    if cache.get(key) is None:
                        todo.append(_Task(key, image, spec.name, spec.options, q))
    _run_tasks(_unique(todo), cache, workers, progress)

    for result in results:
        images = sources[result.dataset]
        spec = next(s for s in codecs if s.name == result.codec)
        for q in result.qualities:
            for image in images:
                record = dict(cache.get(cache_key(image.sha256, spec.name, result.description, q)))
                record.update(dataset=result.dataset, image=image.path.name, quality=q)
                result.records.append(record)
    return results


def _unique(tasks: list[_Task]) -> list[_Task]:
    """One task per cache key (the same image may sit in two datasets)."""
    return list({t.key: t for t in tasks}.values())


def _run_tasks(tasks: list[_Task], cache: ResultCache, workers: int, progress: bool) -> None:
    from tqdm import tqdm

    if not tasks:
        return
    bar = tqdm(total=len(tasks), desc="encode+decode", unit="img", disable=not progress, dynamic_ncols=True)
    try:
        if workers == 1:
            for task in tasks:
                bar.set_postfix_str(f"{task.codec} q={task.quality:g}", refresh=False)
                cache.add(_measure(task))
                bar.update()
            return
        # spawn, not fork: the parent has torch (and maybe a model) loaded, and a forked child
        # of a process that ran OpenMP code can hang.
        context = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
            futures = [pool.submit(_measure, task) for task in tasks]
            try:
                for future in cf.as_completed(futures):
                    cache.add(future.result())
                    bar.update()
            except BaseException:
                # Stop queued work, but keep what the running workers still finish.
                for f in futures:
                    f.cancel()
                for future in cf.as_completed([f for f in futures if not f.cancelled()]):
                    if future.exception() is None and cache.get(future.result()["key"]) is None:
                        cache.add(future.result())
                raise
    except BrokenProcessPool:
        raise CodecFailedError(
            "a worker process died (out of memory or a crash in a codec library); finished results are "
            "cached, rerun to continue, with fewer --workers if memory is short"
        ) from None
    finally:
        bar.close()
