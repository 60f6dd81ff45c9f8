"""The ``vcodec`` command: argument parsing and user messages only; the work is in the public API."""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import warnings
from importlib import resources
from pathlib import Path

from vcodec.errors import VcodecError

STDIO = "-"


def sample_image() -> Path:
    return Path(str(resources.files("vcodec") / "data" / "sample.png"))


def read_input(path: str) -> bytes:
    if path == STDIO:
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise VcodecError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise VcodecError(f"{path} is a directory") from None
    except OSError as e:
        raise VcodecError(f"cannot read {path}: {e.strerror}") from None


def check_output(path: str, source: str | None) -> None:
    """Refuse, before any work, an output that is the input, a folder, or in a missing folder."""
    if path == STDIO:
        return
    out = Path(path)
    if source not in (None, STDIO) and out.exists() and out.resolve() == Path(source).resolve():
        raise VcodecError(f"refusing to overwrite the input file {source}")
    if out.is_dir():
        raise VcodecError(f"{path} is a directory")
    if not out.parent.is_dir():
        raise VcodecError(f"cannot write {path}: folder {out.parent} does not exist")


def write_output(path: str, data: bytes, source: str | None) -> None:
    """Write atomically (temp file + rename), never onto the input, and to stdout for '-'."""
    check_output(path, source)
    if path == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    out = Path(path)
    parent = out.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise VcodecError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise VcodecError(f"cannot write {path}: {e.strerror}") from None


def _encode_image(args, source: str):
    from vcodec.image.api import get_codec
    from vcodec.image.io import open_image

    img = open_image(io.BytesIO(read_input(source)) if source == STDIO else source)
    codec = get_codec(args.model, args.device)
    t = time.perf_counter()
    data = codec.compress(img, args.quality, effort=args.effort)
    return img, data, time.perf_counter() - t


def cmd_encode(args) -> int:
    check_output(args.output, args.input)
    img, data, seconds = _encode_image(args, args.input)
    write_output(args.output, data, args.input)
    if not args.quiet and args.output != STDIO:
        w, h = img.size
        print(f"{args.input} -> {args.output}: {len(data)} bytes, {len(data) * 8 / (w * h):.4f} bpp, "
              f"{seconds:.2f} s", file=sys.stderr)
    return 0


def _decode_bytes(args, data: bytes):
    from vcodec.image import bitstream
    from vcodec.image.api import get_codec

    header = bitstream.parse(data).header
    codec = get_codec(args.model or header.model, args.device)
    t = time.perf_counter()
    img = codec.decompress(data, output="pil")
    return img, time.perf_counter() - t


def cmd_decode(args) -> int:
    check_output(args.output, args.input)
    fmt = "PNG" if args.output == STDIO else _format_for(args.output)
    data = read_input(args.input)
    img, seconds = _decode_bytes(args, data)
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt)
    except (ValueError, OSError) as e:
        raise VcodecError(f"cannot save {img.mode} image as {args.output}: {e}") from None
    write_output(args.output, buf.getvalue(), args.input)
    if not args.quiet and args.output != STDIO:
        print(f"{args.input} -> {args.output}: {img.size[0]}x{img.size[1]} {img.mode}, {seconds:.2f} s",
              file=sys.stderr)
    return 0


def _format_for(path: str) -> str:
    from PIL import Image

    ext = Path(path).suffix.lower()
    Image.init()
    if ext not in Image.EXTENSION:
        raise VcodecError(f"cannot tell the image format of {path}; use an extension such as .png")
    return Image.EXTENSION[ext]


def cmd_info(args) -> int:
    from vcodec.coding import container
    from vcodec.image import bitstream

    data = read_input(args.input)
    img = bitstream.parse(data)
    header = img.header
    print(f"format:   vcodec v{container.VERSION}")
    print(f"model:    {header.model} (weights {header.digest.hex()})")
    print(f"image:    {header.width}x{header.height} {header.mode} (from {header.kind})"
          + (" reduced from 16 bits" if header.flags & bitstream.FLAG_REDUCED_16BIT else ""))
    print(f"quality:  {header.quality}")
    print(f"size:     {len(data)} bytes, {len(data) * 8 / (header.width * header.height):.4f} bpp")
    streams = [f"z {len(img.z)} B", f"y {len(img.y)} B"]
    streams += [f"{name} {len(v)} B" for name, v in (("alpha", img.alpha), ("palette", img.palette)) if v]
    streams += [f"{name} {len(v)} B" for name, v in img.metadata.items()]
    print("streams:  " + ", ".join(streams))
    return 0


def cmd_roundtrip(args) -> int:
    import numpy as np

    source = args.input or str(sample_image())
    img, data, enc_s = _encode_image(args, source)
    out, dec_s = _decode_bytes(args, data)
    a = np.asarray(img.convert("RGB"), dtype=np.float64)
    b = np.asarray(out.convert("RGB"), dtype=np.float64)
    mse = float(np.mean((a - b) ** 2))
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    w, h = img.size
    print(f"{Path(source).name}: {w}x{h}, quality {args.quality:g}: {len(data)} bytes, "
          f"{len(data) * 8 / (w * h):.4f} bpp, PSNR {psnr:.2f} dB, encode {enc_s:.2f} s, decode {dec_s:.2f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from vcodec import __version__

    DEFAULT_QUALITY, DEFAULT_MODEL = 4.0, "vcodec-base"  # kept in step with vcodec.image.api and vcodec.zoo

    p = argparse.ArgumentParser(prog="vcodec", description="A learned image codec.")
    p.add_argument("--version", action="version", version=f"vcodec {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp, model_default):
        sp.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
        sp.add_argument("--model", default=model_default, help=f"model name (default {model_default or 'from the file'})")
        sp.add_argument("--quiet", action="store_true", help="print no summary line")

    def quality(value: str) -> float:
        try:
            return float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None

    e = sub.add_parser("encode", help="compress an image file into a .vcc bitstream")
    e.add_argument("input", help="image file (PNG, JPEG, WebP, TIFF, BMP, PPM...) or - for stdin")
    e.add_argument("-o", "--output", required=True, help="output .vcc file or - for stdout")
    e.add_argument("-q", "--quality", type=quality, default=DEFAULT_QUALITY,
                   help=f"1 (smallest) to 8 (best); fractions interpolate (default {DEFAULT_QUALITY:g})")
    e.add_argument("--effort", type=int, default=4, metavar="E",
                   help="encoder effort 1 (fastest) .. 9 (smallest files); the decoder is the same (default 4)")
    common(e, DEFAULT_MODEL)
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser("decode", help="decompress a .vcc bitstream into an image file")
    d.add_argument("input", help=".vcc file or - for stdin")
    d.add_argument("-o", "--output", required=True, help="output image (format from the extension) or - for PNG on stdout")
    common(d, None)
    d.set_defaults(func=cmd_decode)

    i = sub.add_parser("info", help="show the header of a .vcc bitstream")
    i.add_argument("input", help=".vcc file or - for stdin")
    i.set_defaults(func=cmd_info)

    r = sub.add_parser("roundtrip", help="encode and decode an image (the bundled sample by default); print size and PSNR")
    r.add_argument("input", nargs="?", help="image file (default: the bundled sample)")
    r.add_argument("-q", "--quality", type=quality, default=DEFAULT_QUALITY, help="1 to 8")
    r.add_argument("--effort", type=int, default=4, metavar="E", help="encoder effort 1 .. 9 (default 4)")
    common(r, DEFAULT_MODEL)
    r.set_defaults(func=cmd_roundtrip)

    for module in ("vcodec.eval.cli", "vcodec.train.cli"):
        try:
            mod = __import__(module, fromlist=["add_parser"])
        except ImportError:
            continue
        mod.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    if not debug:
        warnings.showwarning = _one_line_warning
    try:
        args = build_parser().parse_args(argv)
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


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"vcodec: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
