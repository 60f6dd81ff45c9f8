"""The ``vcodec`` command: argument parsing and user messages only; the work is in the public API.

``--help``, ``--version`` and ``info`` import no torch (about 0.1 s); the coding commands import it once
they know there is work, and load each model once for all their files.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import warnings
from importlib import resources
from pathlib import Path

from vcodec.cli.files import (BITSTREAM_SUFFIX, IMAGE_SUFFIXES, STDIO, VIDEO_BITSTREAM_SUFFIX, VIDEO_SUFFIXES, Job,
                              atomic_output, check_output, is_video_input, open_input, plan, read_input)
from vcodec.errors import VcodecError

DEFAULT_QUALITY, DEFAULT_MODEL = 4.0, "vcodec-base"  # kept in step with vcodec.image.api and vcodec.zoo
DEFAULT_EFFORT = 4  # vcodec.coding.effort.DEFAULT_EFFORT
# Decoding to a lossy format re-encodes the pixels; 95 keeps that loss well below vcodec's own.
DEFAULT_OUTPUT_QUALITY = 95
# Subcommands whose parsers are imported only when they are the command (their imports cost 0.4 s).
LAZY_COMMANDS = {
    "eval": ("vcodec.eval.cli", "rate-distortion evaluation against classical codecs"),
    "eval-video": ("vcodec.eval.video.cli", "rate-distortion of video codecs on a clip, per frame and per clip"),
    "train": ("vcodec.train.cli", "train a model, export its weights, report a run"),
}
# Work shorter than this shows no progress bar.
PROGRESS_DELAY_S = 2.0
# Without --threads, images up to this many pixels are coded on one thread: below it, waking a second
# (passive) thread costs more than it gives. Encode seconds on 2 idle cores, two threads against one:
# 0.26 against 0.19 at 256x256, 0.51 against 0.71 at 512x512.
SMALL_IMAGE_PIXELS = 1 << 17


def sample_image() -> Path:
    return Path(str(resources.files("vcodec") / "data" / "sample.png"))


# Shipped models that code video frames given a reference, never a still (vcodec.zoo registers them).
VIDEO_MODELS = ("vcodec-p",)


def shipped_models() -> list[str]:
    """The image models whose weights ship (the ones that can code a still), without importing torch."""
    return sorted(p.name[:-3] for p in resources.files("vcodec").joinpath("weights").iterdir()
                  if p.name.endswith(".pt") and p.name[:-3] not in VIDEO_MODELS)


# -- coding ----------------------------------------------------------------------------------------


def _prepare_torch(args) -> None:
    """Process-wide settings for the coding commands, before torch is imported."""
    # Threads that wait passively: with OpenMP's default busy-wait, two threads on a machine whose cores
    # are taken by other work run 4x slower than one (measured on 2 shared cores), and the wait costs
    # an idle machine nothing.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    global _all_threads
    _all_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)


_all_threads = 0  # torch's own thread count, once a coding command has imported it


def _threads_for(args, pixels: int | None) -> None:
    """The thread count for coding one image of ``pixels``: --threads, else one for a small image and
    torch's default otherwise."""
    if args.threads or not _all_threads:
        return
    import torch

    torch.set_num_threads(1 if pixels is not None and pixels <= SMALL_IMAGE_PIXELS else _all_threads)


def _image_pixels(source) -> int | None:
    """The pixel count of an image file from its header alone, or None where Pillow can't tell (the
    coding then reports why)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            return im.size[0] * im.size[1]
    except Exception:
        return None


class Codecs:
    """Each model loaded once for all the files of a command."""

    def __init__(self, args):
        self.args, self._loaded = args, {}

    def get(self, name: str | None):
        from vcodec.image.api import Codec

        model, weights = self.args.model, None
        if model is not None and (model.endswith(".pt") or os.sep in model or Path(model).is_file()):
            model, weights = None, model
        model = model or name or DEFAULT_MODEL
        key = (model, weights)
        if key not in self._loaded:
            kwargs = {"max_pixels": self.args.max_pixels} if self.args.max_pixels else {}
            tiling = getattr(self.args, "tile", None)
            if tiling:
                from vcodec.coding.tiles import Tiling

                kwargs["tiling"] = Tiling(tile=tiling)
            self._loaded[key] = Codec(model, self.args.device, weights=weights, **kwargs)
        return self._loaded[key]


class Progress:
    """A progress bar on stderr for work over PROGRESS_DELAY_S, off with --quiet or when stderr is not a
    terminal."""

    def __init__(self, args, label: str):
        self.enabled = not args.quiet and sys.stderr.isatty()
        self.label, self.bar = label, None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.label, unit="step", delay=PROGRESS_DELAY_S, leave=False,
                            file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _summary(args, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def _encode_one(args, codecs: Codecs, job: Job) -> None:
    from vcodec.image import bitstream

    if is_video_input(job.source):
        from vcodec.cli import video

        _summary(args, video.encode(job.source, job.output, args.quality, args.intra_period, args.frames, args.device,
                                    args.quiet, True, atomic_output))
        return

    source = read_input(STDIO) if job.source == STDIO else job.source
    codec = codecs.get(None)
    _threads_for(args, _image_pixels(source))
    progress = Progress(args, Path(job.source).name)
    t = time.perf_counter()
    reached = None
    try:
        if args.target_bpp or args.target_size or args.target_psnr:
            reached = codec.compress_to(source, args.target_bpp, args.target_size, args.target_psnr,
                                        effort=args.effort, strip=args.strip, progress=progress)
            data = reached.data
        else:
            data = codec.compress(source, args.quality, effort=args.effort, strip=args.strip, progress=progress)
    finally:
        progress.close()
    seconds = time.perf_counter() - t
    with atomic_output(job.output) as f:
        f.write(data)
    if job.output != STDIO:
        h = bitstream.parse(data).header
        reached_text = "" if reached is None else f"quality {reached.quality:g} ({reached.probes} encodes), "
        _summary(args, f"{job.source} -> {job.output}: {reached_text}{len(data)} bytes, "
                       f"{len(data) * 8 / (h.width * h.height):.4f} bpp, {seconds:.2f} s")


_FORMAT_NAMES = {"JPG": "JPEG", "TIF": "TIFF"}
_FORMAT_SUFFIXES = {"JPEG": ".jpg", "TIFF": ".tif"}
_LOSSY = ("JPEG", "WEBP", "AVIF")


def _format_name(fmt: str) -> str:
    from PIL import Image

    Image.init()
    name = _FORMAT_NAMES.get(fmt.upper(), fmt.upper())
    if name not in Image.SAVE:
        raise VcodecError(f"unknown output format {fmt!r}; use png, jpeg, webp, tiff, bmp...")
    return name


def _format_for(path: str, fmt: str | None) -> str:
    from PIL import Image

    if fmt:
        return _format_name(fmt)
    if path == STDIO:
        return "PNG"
    Image.init()
    ext = Path(path).suffix.lower()
    if ext not in Image.EXTENSION:
        raise VcodecError(f"cannot tell the image format of {path}; use an extension such as .png or --format")
    return Image.EXTENSION[ext]


def _decode_one(args, codecs: Codecs, job: Job) -> None:
    from vcodec.cli import video
    from vcodec.image import bitstream
    from vcodec.image.io import output_channels, to_palette, unpack_alpha

    if _is_video_stream(job.source):
        _summary(args, video.decode(job.source, job.output, 0, args.frames, args.device, args.quiet, True,
                                    open_input))
        return
    fmt = _format_for(job.output, args.format)
    data = read_input(job.source)
    header = bitstream.parse(data).header
    codec = codecs.get(header.model)
    _threads_for(args, header.width * header.height)
    progress = Progress(args, Path(job.source).name)
    t = time.perf_counter()
    try:
        img, bands = codec.decode_rows(data, progress)
        h = img.header
        alpha = unpack_alpha(img.alpha, h.height, h.width) if h.mode in ("RGBA", "LA") else None
        metadata = {} if args.strip else img.metadata
        with atomic_output(job.output) as f:
            if fmt == "PNG":  # streamed: memory stays a band of rows
                from vcodec.image.png import PngWriter

                png = PngWriter(f, h.width, h.height, h.mode, img.palette, metadata)
                for y0, rgb in bands:
                    rows = output_channels(rgb, h.mode, None if alpha is None else alpha[y0 : y0 + len(rgb)])
                    png.write(to_palette(rgb, img.palette) if h.mode == "P" else rows)
                png.close()
            else:
                _save_with_pillow(f, fmt, h, bands, alpha, img.palette, metadata, args.output_quality)
    finally:
        progress.close()
    if job.output != STDIO:
        _summary(args, f"{job.source} -> {job.output}: {h.width}x{h.height} {h.mode}, {time.perf_counter() - t:.2f} s")


def _is_video_stream(path: str) -> bool:
    if path == STDIO:
        return False  # standard input is read whole, as a still
    from vcodec.cli import video

    if path.lower().endswith(VIDEO_BITSTREAM_SUFFIX):
        return True
    try:
        with open(path, "rb") as f:
            return video.is_video_bitstream(f.read(6))
    except OSError:
        return False


def _save_with_pillow(f, fmt: str, h, bands, alpha, palette, metadata, quality) -> None:
    import numpy as np

    from vcodec.image.io import from_planes, pil_metadata

    rgb = np.empty((h.height, h.width, 3), dtype=np.uint8)
    for y0, band in bands:
        rgb[y0 : y0 + len(band)] = band
    im = from_planes(rgb, h.mode, "pil", alpha, palette)
    del rgb
    options = pil_metadata(metadata)
    if fmt in _LOSSY:
        options["quality"] = quality
    if fmt == "JPEG" and im.mode in ("RGBA", "LA", "P"):
        if im.mode != "P":
            warnings.warn("JPEG holds no alpha: the alpha plane is dropped (decode to PNG or WebP to keep it)")
        im = im.convert("L" if im.mode == "LA" else "RGB")
    try:
        im.save(f, format=fmt, **options)
    except (ValueError, OSError, KeyError) as e:
        raise VcodecError(f"cannot save a {h.mode} image as {fmt}: {e}") from None


def _run_jobs(args, suffix: str, input_suffixes: tuple[str, ...], work) -> int:
    """Run ``work`` on every file of the command line: a file that fails is reported and the rest go on;
    the exit code says whether any failed (2 for bad inputs, 1 for an internal error)."""
    jobs, errors = plan(args.inputs, args.output, suffix, input_suffixes, args.recursive)
    for message in errors:
        print(f"vcodec: error: {message}", file=sys.stderr)
    failed, internal, several = len(errors), 0, len(jobs) + len(errors) > 1
    good = []
    for job in jobs:  # every output is checked before the first file is coded
        try:
            check_output(job, args.force)
            good.append(job)
        except VcodecError as e:
            print(f"vcodec: error: {e}", file=sys.stderr)
            failed += 1
    if good:
        _prepare_torch(args)
        codecs = Codecs(args)
    for job in good:
        try:
            work(args, codecs, job)
        except VcodecError as e:
            if args.debug:
                raise
            prefix = f"{job.source}: " if several and job.source not in str(e) else ""
            print(f"vcodec: error: {prefix}{e}", file=sys.stderr)
            failed += 1
        except MemoryError:
            print(f"vcodec: error: {job.source}: out of memory", file=sys.stderr)
            internal += 1
        except Exception as e:  # a bug of ours: reported, and the other files still go
            if args.debug or not several:
                raise
            print(f"vcodec: internal error: {job.source}: {type(e).__name__}: {e} (run with --debug for details)",
                  file=sys.stderr)
            internal += 1
    if (failed or internal) and several:
        print(f"vcodec: {failed + internal} of {len(jobs) + len(errors)} files failed", file=sys.stderr)
    return 1 if internal else 2 if failed or not good else 0


def cmd_encode(args) -> int:
    def suffix(source: str) -> str:
        return VIDEO_BITSTREAM_SUFFIX if is_video_input(source) else BITSTREAM_SUFFIX

    return _run_jobs(args, suffix, IMAGE_SUFFIXES + VIDEO_SUFFIXES, _encode_one)


def cmd_decode(args) -> int:
    image_suffix = ".png"
    if args.format:
        name = _format_name(args.format)
        image_suffix = _FORMAT_SUFFIXES.get(name, "." + name.lower())

    def suffix(source: str) -> str:
        return ".y4m" if _is_video_stream(source) else image_suffix

    return _run_jobs(args, suffix, (BITSTREAM_SUFFIX, VIDEO_BITSTREAM_SUFFIX), _decode_one)


def cmd_info(args) -> int:
    from vcodec.cli import video
    from vcodec.coding import container
    from vcodec.image import bitstream

    failed = 0
    for n, source in enumerate(args.inputs):
        try:
            data = read_input(source)
            if video.is_video_bitstream(data[:6]):
                lines = video.info(data)
            else:
                img = bitstream.parse(data)
        except VcodecError as e:
            prefix = f"{source}: " if len(args.inputs) > 1 else ""
            print(f"vcodec: error: {prefix}{e}", file=sys.stderr)
            failed += 1
            continue
        if len(args.inputs) > 1:
            print(("\n" if n else "") + f"{source}:")
        if video.is_video_bitstream(data[:6]):
            print("\n".join(lines))
            continue
        header = img.header
        print(f"format:   vcodec v{container.VERSION}")
        print(f"model:    {header.model} (weights {header.digest.hex()})")
        print(f"image:    {header.width}x{header.height} {header.mode} (from {header.kind})"
              + (" reduced from 16 bits" if header.flags & bitstream.FLAG_REDUCED_16BIT else ""))
        if header.tile:
            print(f"tiles:    {header.tiles} of {header.tile}x{header.tile}")
        print(f"quality:  {header.quality}")
        print(f"size:     {len(data)} bytes, {len(data) * 8 / (header.width * header.height):.4f} bpp")
        streams = [f"z {len(img.z)} B", f"y {len(img.y)} B"]
        streams += [f"{name} {len(v)} B" for name, v in (("alpha", img.alpha), ("palette", img.palette)) if v]
        streams += [f"{name} {len(v)} B" for name, v in img.metadata.items()]
        print("streams:  " + ", ".join(streams))
    return 2 if failed else 0


def cmd_roundtrip(args) -> int:
    _prepare_torch(args)
    import numpy as np

    from vcodec.image.io import open_image

    source = args.input or str(sample_image())
    codec = Codecs(args).get(None)
    img = open_image(source)
    t = time.perf_counter()
    data = codec.compress(img, args.quality, effort=args.effort)
    enc_s = time.perf_counter() - t
    t = time.perf_counter()
    out = codec.decompress(data, output="pil")
    dec_s = time.perf_counter() - t
    a = np.asarray(img.convert("RGB"), dtype=np.float64)
    b = np.asarray(out.convert("RGB"), dtype=np.float64)
    mse = float(np.mean((a - b) ** 2))
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    w, h = img.size
    print(f"{Path(source).name}: {w}x{h}, quality {args.quality:g}: {len(data)} bytes, "
          f"{len(data) * 8 / (w * h):.4f} bpp, PSNR {psnr:.2f} dB, encode {enc_s:.2f} s, decode {dec_s:.2f} s")
    return 0


# -- parsing -----------------------------------------------------------------------------------------


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None


def _positive(value: str) -> float:
    number = _number(value)
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value!r}")
    return number


def _scaled(value: str, unit: str, what: str, example: str) -> int:
    """A count with an optional K, M or G (powers of 1000) and unit letter: 48M, 48MP, 50000, 1.5MB."""
    text = value.strip().upper().removesuffix(unit)
    scale = {"K": 10**3, "M": 10**6, "G": 10**9}.get(text[-1:], 1)
    try:
        n = int(float(text[:-1] if scale != 1 else text) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {what}: {value!r} (e.g. {example})") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value!r}")
    return n


def _bytes(value: str) -> int:
    return _scaled(value, "B", "size in bytes", "50000 or 48K")


def _count(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _pixels(value: str) -> int:
    return _scaled(value, "P", "pixel count", "48M or 50000000")


def _global_flags(p: argparse.ArgumentParser, sub: bool) -> None:
    # Accepted before or after the command: a subcommand's copy leaves the attribute alone unless given.
    default = argparse.SUPPRESS if sub else False
    p.add_argument("--debug", action="store_true", default=default, help="show tracebacks on errors")
    p.add_argument("--quiet", action="store_true", default=default, help="print no summary lines or progress")


def _coding_options(sp: argparse.ArgumentParser, model_help: str) -> None:
    models = ", ".join(shipped_models())
    sp.add_argument("--model", default=None, metavar="NAME|FILE",
                    help=f"{model_help}; a model that ships weights ({models}) or a weights file")
    sp.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    sp.add_argument("--threads", type=_count, default=None, metavar="N",
                    help="CPU threads for the transforms (default: every core)")
    sp.add_argument("--max-pixels", type=_pixels, default=None, metavar="N",
                    help="refuse images larger than N pixels, e.g. 48M (default 268M: 16384 x 16384)")
    sp.add_argument("--strip", action="store_true", help="drop the ICC profile, EXIF and XMP")
    sp.add_argument("-f", "--force", action="store_true", help="replace existing outputs that vcodec names itself")
    sp.add_argument("-r", "--recursive", action="store_true", help="code the files in folders given as inputs")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    from vcodec import __version__

    p = argparse.ArgumentParser(prog="vcodec", description="A learned image and video codec.")
    p.add_argument("--version", action="version", version=f"vcodec {__version__}")
    _global_flags(p, sub=False)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    e = sub.add_parser("encode", help="compress images into .vcc and clips into .vcv bitstreams",
                       description="Compress images and video clips. Without -o, photo.png becomes photo.vcc "
                                   "and clip.mp4 becomes clip.vcv beside it.")
    e.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files (PNG, JPEG, WebP, TIFF, BMP, PPM...), clips (mp4, mkv, mov, avi, y4m, webm) "
                        "or frame patterns (frames/%%04d.png), folders with -r, or - for stdin")
    e.add_argument("-o", "--output", help="output .vcc file, a folder (ending in /) for several inputs, or - for stdout")
    e.add_argument("-q", "--quality", type=_number, default=DEFAULT_QUALITY,
                   help=f"1 (smallest) to 8 (best); fractions interpolate (default {DEFAULT_QUALITY:g})")
    e.add_argument("--effort", type=int, default=DEFAULT_EFFORT, metavar="E",
                   help=f"encoder effort 1 (fastest) .. 9 (smallest files); the decoder is the same (default {DEFAULT_EFFORT})")
    targets = e.add_mutually_exclusive_group()
    targets.add_argument("--target-bpp", type=_positive, default=None, metavar="X",
                         help="search the quality that gives X bits per pixel (within 2 %%); replaces -q")
    targets.add_argument("--target-size", type=_bytes, default=None, metavar="BYTES",
                         help="search the quality that fits BYTES (e.g. 50000 or 48K), never above, within 2 %%")
    targets.add_argument("--target-psnr", type=_positive, default=None, metavar="DB",
                         help="search the quality that gives DB dB of PSNR-RGB (within 0.05 dB)")
    e.add_argument("--tile", type=_count, default=None, metavar="PX",
                   help="side of the independently coded tiles, a multiple of 128 (default 1024)")
    e.add_argument("--intra-period", type=int, default=32, metavar="N",
                   help="video: an I-frame every N frames, -1 for the first frame only (default 32)")
    e.add_argument("--frames", type=_count, default=None, metavar="N", help="video: code at most N frames")
    _coding_options(e, f"model (default {DEFAULT_MODEL})")
    _global_flags(e, sub=True)
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser("decode", help="decompress .vcc bitstreams into images and .vcv into clips",
                       description="Decompress bitstreams. Without -o, photo.vcc becomes photo.png and clip.vcv "
                                   "becomes clip.y4m beside it.")
    d.add_argument("inputs", nargs="+", metavar="INPUT", help=".vcc or .vcv files, folders with -r, or - for stdin")
    d.add_argument("-o", "--output",
                   help="output image (format from the extension), clip (.y4m, lossless .mkv, or a frame pattern "
                        "such as out/%%04d.png), a folder (ending in /), or - for stdout")
    d.add_argument("--frames", type=_count, default=None, metavar="N", help="video: decode at most N frames")
    d.add_argument("--format", default=None, metavar="FMT",
                   help="output format: png (default), jpeg, webp, tiff, bmp...; names the outputs without -o")
    d.add_argument("-q", "--quality", dest="output_quality", type=int, default=DEFAULT_OUTPUT_QUALITY, metavar="Q",
                   help=f"quality of a lossy output format, 1..100 (default {DEFAULT_OUTPUT_QUALITY})")
    _coding_options(d, "model (default: the one named in the file)")
    _global_flags(d, sub=True)
    d.set_defaults(func=cmd_decode)

    i = sub.add_parser("info", help="show the header of .vcc bitstreams, and each frame of .vcv ones")
    i.add_argument("inputs", nargs="+", metavar="INPUT", help=".vcc or .vcv files, or - for stdin")
    _global_flags(i, sub=True)
    i.set_defaults(func=cmd_info)

    r = sub.add_parser("roundtrip", help="encode and decode an image (the bundled sample by default); print size and PSNR")
    r.add_argument("input", nargs="?", help="image file (default: the bundled sample)")
    r.add_argument("-q", "--quality", type=_number, default=DEFAULT_QUALITY, help="1 to 8")
    r.add_argument("--effort", type=int, default=DEFAULT_EFFORT, metavar="E", help="encoder effort 1 .. 9 (default 4)")
    r.add_argument("--model", default=None, metavar="NAME|FILE", help=f"model (default {DEFAULT_MODEL}) or weights file")
    r.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    r.add_argument("--threads", type=_count, default=None, metavar="N", help="CPU threads (default: every core)")
    r.set_defaults(max_pixels=None)
    _global_flags(r, sub=True)
    r.set_defaults(func=cmd_roundtrip)

    command = _command(argv or [])
    for name, (module, help_text) in LAZY_COMMANDS.items():
        if name == command:
            __import__(module, fromlist=["add_parser"]).add_parser(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)
    return p


def _command(argv: list[str]) -> str | None:
    """The subcommand of a command line: its first word that is not an option."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    if not debug:
        warnings.showwarning = _one_line_warning
    try:
        args = build_parser(argv).parse_args(argv)
        return args.func(args)
    except VcodecError as e:
        if debug:
            raise
        print(f"vcodec: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vcodec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except MemoryError:
        print("vcodec: error: out of memory", file=sys.stderr)
        return 1
    except Exception as e:  # a bug of ours: still one line, the traceback on request
        if debug:
            raise
        print(f"vcodec: internal error: {type(e).__name__}: {e} (run with --debug for details)", file=sys.stderr)
        return 1


def run() -> None:
    """The console script: ``main``, then an exit that skips the interpreter's teardown once torch is
    loaded (about 0.5 s of the 2 s of a small encode goes to unloading torch). Every output is written,
    closed and renamed by then, and the standard streams are flushed here."""
    code = main()
    if not _all_threads:  # torch never loaded: the usual exit
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, OSError):
        code = code or 1
    os._exit(code)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"vcodec: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    run()
