"""The command's files: which inputs a command line names, where each output goes, and atomic writes.

    vcodec encode photo.png                 -> photo.vcc beside it
    vcodec encode a.png b.jpg -o out/       -> out/a.vcc, out/b.vcc
    vcodec encode -r shots/ -o out/         -> out/<path under shots>/<name>.vcc
    vcodec decode photo.vcc                 -> photo.png beside it

An output vcodec names itself never replaces an existing file unless forced (as gzip and xz); an output
named with ``-o FILE`` does. No output ever goes over its input.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from vcodec.errors import VcodecError

STDIO = "-"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".pbm", ".pnm",
                  ".gif", ".avif", ".jp2", ".tga")
BITSTREAM_SUFFIX = ".vcc"
# Inputs coded as video (into .vcv): any of these, or a numbered image sequence such as frames/%04d.png.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".y4m", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")
VIDEO_BITSTREAM_SUFFIX = ".vcv"


def is_video_input(text: str) -> bool:
    """Whether an encode input is a clip: a video file by its extension, or a frame pattern (``%d``)."""
    return text != STDIO and (Path(text).suffix.lower() in VIDEO_SUFFIXES or is_pattern(text))


def is_pattern(text: str) -> bool:
    import re

    return re.search(r"%0?\d*d", Path(text).name) is not None


@dataclass(frozen=True)
class Job:
    """One input and where its output goes. ``named``: vcodec chose the output's name (no -o FILE)."""

    source: str
    output: str
    named: bool


def _walk(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                  and not p.name.startswith("."))


def _is_folder_target(output: str) -> bool:
    return output.endswith(("/", os.sep)) or Path(output).is_dir()


def plan(inputs: list[str], output: str | None, suffix, input_suffixes: tuple[str, ...],
         recursive: bool) -> tuple[list[Job], list[str]]:
    """The jobs of a command line, and the inputs that cannot be planned (one message each). ``suffix`` is
    the outputs' suffix, or a function of the input path that gives it."""
    suffix_for = suffix if callable(suffix) else lambda _: suffix
    if STDIO in inputs and len(inputs) > 1:
        raise VcodecError("- (standard input) cannot be mixed with other inputs")
    to_folder = output is not None and output != STDIO and _is_folder_target(output)
    several = len(inputs) > 1 or any(recursive and Path(p).is_dir() for p in inputs)
    if several and output is not None and not to_folder:
        raise VcodecError(f"-o {output} must be a folder (end it with /) when coding several files")
    jobs, errors, taken = [], [], {}
    for text in inputs:
        if text == STDIO:
            if to_folder:
                raise VcodecError("standard input has no name to give its output in a folder: use -o FILE or -o -")
            jobs.append(Job(STDIO, output or STDIO, False))
            continue
        path = Path(text)
        if path.is_dir():
            if not recursive:
                errors.append(f"{text} is a folder; use -r to code the files in it")
                continue
            sources = [(p, p.relative_to(path).parent) for p in _walk(path, input_suffixes)]
            if not sources:
                errors.append(f"{text}: no {'.vcc files' if BITSTREAM_SUFFIX in input_suffixes else 'images'} in it")
        elif is_pattern(text):  # frames/%04d.png: named after its folder, frames.vcv
            sources = [(path, Path(), _pattern_name(path))]
        else:
            sources = [(path, Path())]
        for source, relative, *name in sources:
            name = name[0] if name else source
            if output is None:
                target, named = name.with_suffix(suffix_for(str(source))), True
            elif to_folder:
                target, named = Path(output) / relative / (name.stem + suffix_for(str(source))), True
            else:
                target, named = Path(output), False
            key = os.path.abspath(target)
            if key in taken:
                errors.append(f"{source}: its output {target} is also the output of {taken[key]}")
                continue
            taken[key] = source
            jobs.append(Job(str(source), STDIO if output == STDIO else str(target), named))
    return jobs, errors


def _pattern_name(pattern: Path) -> Path:
    """The name a frame pattern's output takes: its folder's (shots/frames/%04d.png -> shots/frames), or
    the pattern's prefix (f_%03d.png -> f_)."""
    if pattern.parent != Path():
        return pattern.parent
    return Path(pattern.name.split("%")[0] or "frames")


def check_output(job: Job, force: bool = False) -> None:
    """Refuse, before any work, an output that is the input, a folder, an existing file vcodec named
    itself (unless ``force``), or in a folder that cannot be made."""
    if job.output == STDIO:
        return
    out = Path(job.output)
    if job.source != STDIO and out.exists() and out.resolve() == Path(job.source).resolve():
        raise VcodecError(f"refusing to overwrite the input file {job.source}")
    if out.is_dir():
        raise VcodecError(f"{job.output} is a directory")
    if job.named and out.exists() and not force:
        raise VcodecError(f"{job.output} exists; use -f to replace it or -o to name the output")
    if not job.named and not out.parent.is_dir() and not is_pattern(job.output):
        raise VcodecError(f"cannot write {job.output}: folder {out.parent} does not exist")


def _read_error(path: str, e: OSError) -> VcodecError:
    if isinstance(e, FileNotFoundError):
        return VcodecError(f"no such file: {path}")
    if isinstance(e, IsADirectoryError):
        return VcodecError(f"{path} is a directory")
    return VcodecError(f"cannot read {path}: {e.strerror}")


def read_input(path: str) -> bytes:
    if path == STDIO:
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise _read_error(path, e) from None


def open_input(path: str):
    """A binary stream of an input file, or standard input for ``-`` (for inputs read as a stream)."""
    if path == STDIO:
        return contextlib.nullcontext(sys.stdin.buffer)
    try:
        return open(Path(path), "rb")
    except OSError as e:
        raise _read_error(path, e) from None


@contextlib.contextmanager
def atomic_output(path: str) -> Iterator[BinaryIO]:
    """A binary file that appears at ``path`` complete or not at all (a temporary file beside it, renamed
    at the end), with the usual mode: 0666 masked by the umask. ``-`` is standard output."""
    if path == STDIO:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
        # os.open with 0o666 lets the kernel apply the umask, as for any new file (mkstemp makes 0600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as e:
        raise VcodecError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise VcodecError(f"cannot write {path}: {e.strerror}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
