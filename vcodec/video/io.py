"""Clips in and out as 8-bit RGB frames, one at a time, through PyAV (FFmpeg's libraries) and Pillow.

    source  -> open_video(source, max_frames) -> VideoSource: width, height, fps, frame_count
            -> for frame in source: (H, W, 3) uint8 RGB            (one decoded frame in memory at a time)
    frames  -> VideoWriter(path, width, height, fps).write(frame)   (.y4m, .mkv FFV1, or a pattern)

Sources:
- any file PyAV opens (mp4, mkv, mov, avi, y4m, webm, ...): its first video stream; audio and other
  streams are ignored, audio with a warning;
- a numbered image sequence given as a printf pattern (``frames/%04d.png``): the first index is the
  smallest number that names a file (FFmpeg's image2 tries only 0..4), then it runs on while the next
  number names a file;
- a folder of images, in natural order (``f2.png`` before ``f10.png``).

Frames keep their size: odd sizes are the codec's business (the image codec pads to its stride).

Colour. A YCbCr stream is turned into RGB with the matrix and range it is tagged with; untagged, it
is read as FFmpeg reads it: BT.601 matrix, limited range (full for the ``yuvj`` formats and y4m's
``XCOLORRANGE=FULL``). 8-bit planar 4:2:0, 4:2:2, 4:4:0 and 4:4:4 are converted here in float64 and
rounded once (``vcodec.video.color``); other YCbCr layouts (NV12, 10 bit, 4:1:1...) go to 16-bit 4:4:4
through swscale first. RGB and palette streams are read as they are.

Outputs:
- ``.y4m``: 4:4:4 (``C444``), BT.601 full range, tagged ``XCOLORRANGE=FULL``. y4m cannot name a matrix,
  and every FFmpeg-based reader (this one included) takes an untagged one for BT.601; full range and no
  chroma subsampling keep the RGB -> Y'CbCr -> RGB round trip within rounding (about 50 dB), not exact;
- ``.mkv``: FFV1 in Matroska, packed RGB (``bgr0``): lossless, decodes to the very same RGB frames;
- a pattern ``out/%04d.png`` (any Pillow format by the suffix), numbered from 1 as FFmpeg does.
Single files are written under a temporary name and renamed when the writer closes without an error,
so a reader never sees half a clip; each frame of a pattern is written the same way. Nothing is ever
written over a file of the source.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from vcodec.errors import UnsupportedInputError, VcodecError
from vcodec.video import color

#: Extensions of the files routed to the video front end (PyAV reads many more; these are what users pass).
VIDEO_SUFFIXES = frozenset({
    ".y4m", ".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts",
    ".flv", ".ogv", ".wmv", ".3gp", ".ivf", ".264", ".h264", ".265", ".h265", ".hevc", ".nut",
})  # fmt: skip
#: Extensions of the frames of an image sequence.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp"})
#: What an image sequence plays at when nothing says otherwise (FFmpeg's image2 default).
DEFAULT_FPS = Fraction(25)

# A printf integer conversion as FFmpeg's image2 takes it: %d or %0Nd.
_PATTERN = re.compile(r"%(0\d+)?d")
# Pillow modes that convert to 8-bit RGB without losing precision (alpha is dropped).
_RGB_MODES = {"RGB", "RGBA", "RGBX", "L", "LA", "P", "PA", "CMYK", "YCbCr", "1"}
# H.273 MatrixCoefficients (FFmpeg's AVColorSpace) -> vcodec.video.color matrix. 2 is "unspecified".
_MATRIX_OF_COLORSPACE = {1: "bt709", 4: "bt601", 5: "bt601", 6: "bt601", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
_UNTAGGED_MATRIX = "bt601"
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG
# 8-bit planar YCbCr whose chroma is subsampled by 1 or 2 on each axis: converted here, exactly.
_PLANAR_YUV8 = {
    f"yuv{j}{layout}p" for j in ("", "j") for layout in ("420", "422", "440", "444")
} | {"yuva420p", "yuva422p", "yuva444p"}  # fmt: skip
_GRAY8 = {"gray", "gray8"}


def is_pattern(path: str | os.PathLike) -> bool:
    """Whether the file name holds a printf frame number (``%d``, ``%04d``)."""
    return bool(_PATTERN.search(Path(path).name))


def is_video_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a video for the CLI to route to the video front end, not a still image.

    True for a video file extension (``.mp4``, ``.y4m``, ``.mkv``...), a frame pattern (``out/%04d.png``)
    and an existing folder (a folder of frames, as an input). Decided from the name alone otherwise.
    """
    p = Path(path)
    return p.suffix.lower() in VIDEO_SUFFIXES or is_pattern(p) or p.is_dir()


# --------------------------------------------------------------------------------------------- reading


class VideoSource:
    """A clip opened for reading: its size, rate and (when known) length, and its frames by iteration.

    Each iteration decodes the source afresh, one frame at a time: memory does not grow with the length
    of the clip, and a source can be read more than once. No file is held open between iterations.
    """

    def __init__(self, name: str, width: int, height: int, fps: Fraction, frame_count: int | None,
                 max_frames: int | None):  # fmt: skip
        self.name = name
        self.width, self.height, self.fps = width, height, fps
        self.max_frames = max_frames
        if frame_count is not None and max_frames is not None:
            frame_count = min(frame_count, max_frames)
        self.frame_count = frame_count

    def files(self) -> list[Path]:
        """The files the clip is read from (a writer must not overwrite them)."""
        return []

    def _frames(self) -> Iterator[np.ndarray]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[np.ndarray]:
        limit = self.max_frames
        if limit == 0:
            return
        for i, frame in enumerate(self._frames()):
            if frame.shape[:2] != (self.height, self.width):
                raise UnsupportedInputError(f"{self.name}: frame {i + 1} is {frame.shape[1]}x{frame.shape[0]}, "
                                            f"the clip is {self.width}x{self.height}; vcodec codes one size a clip")
            yield frame
            if limit is not None and i + 1 >= limit:
                return

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __repr__(self) -> str:
        count = "?" if self.frame_count is None else self.frame_count
        return f"<{type(self).__name__} {self.name}: {self.width}x{self.height}, {self.fps} fps, {count} frames>"


def open_video(source: str | os.PathLike, max_frames: int | None = None,
               fps: Fraction | int | float | None = None) -> VideoSource:  # fmt: skip
    """Open a clip: a video file, a frame pattern (``frames/%04d.png``) or a folder of images.

    ``max_frames`` stops reading after that many frames; ``fps`` sets the rate of an image sequence
    (default 25) and is ignored for files, which carry theirs. Problems with the source are
    :class:`~vcodec.errors.UnsupportedInputError`, found here rather than halfway through the clip
    where that is possible (a file that does not decode, a sequence of mixed sizes).
    """
    if max_frames is not None and max_frames < 0:
        raise UnsupportedInputError(f"the frame count must be 0 or more, got {max_frames}")
    path = Path(source)
    if is_pattern(path):
        return _ImageSequence.from_pattern(path, max_frames, _fraction(fps))
    if path.is_dir():
        return _ImageSequence.from_folder(path, max_frames, _fraction(fps))
    return _PyAVSource.open(path, max_frames)


def _fraction(fps) -> Fraction:
    if fps is None:
        return DEFAULT_FPS
    value = Fraction(fps).limit_denominator(1_000_000)
    if value <= 0:
        raise UnsupportedInputError(f"the frame rate must be positive, got {fps}")
    return value


class _ImageSequence(VideoSource):
    def __init__(self, name: str, paths: list[Path], max_frames: int | None, fps: Fraction):
        if max_frames is not None:
            paths = paths[: max(max_frames, 1)]  # the first frame gives the size even when none is read
        size = None
        for path in paths:  # headers only: cheap, and a wrong frame is found before any work
            frame_size = _image_size(path)
            if size is None:
                size = frame_size
            elif frame_size != size:
                raise UnsupportedInputError(f"{name}: {path.name} is {frame_size[0]}x{frame_size[1]}, the first frame "
                                            f"is {size[0]}x{size[1]}; every frame of a clip must have one size")
        super().__init__(name, size[0], size[1], fps, len(paths), max_frames)
        self.paths = paths

    @classmethod
    def from_pattern(cls, pattern: Path, max_frames, fps) -> "_ImageSequence":
        name = pattern.name
        if len(_PATTERN.findall(name)) != 1 or "%" in _PATTERN.sub("", name):
            raise UnsupportedInputError(f"{pattern}: a frame pattern holds one %d or %0Nd and no other %")
        if is_pattern(pattern.parent):
            raise UnsupportedInputError(f"{pattern}: the frame number must be in the file name, not the folder")
        folder = pattern.parent
        if not folder.is_dir():
            raise UnsupportedInputError(f"no such folder: {folder} (from the pattern {pattern})")
        spec = _PATTERN.search(name)
        regex = re.compile(re.escape(name[: spec.start()]) + r"(\d+)" + re.escape(name[spec.end() :]) + "$")
        numbers = sorted({int(m.group(1)) for p in folder.iterdir() if (m := regex.match(p.name))})
        # A name must be exactly what the pattern makes of its number (%04d: 0007, not 007).
        numbers = [n for n in numbers if (folder / (name % n)).is_file()]
        if not numbers:
            raise UnsupportedInputError(f"no file matches the frame pattern {pattern}")
        paths, n = [], numbers[0]
        while (folder / (name % n)).is_file() and (max_frames is None or len(paths) < max(max_frames, 1)):
            paths.append(folder / (name % n))
            n += 1
        return cls(str(pattern), paths, max_frames, fps)

    @classmethod
    def from_folder(cls, folder: Path, max_frames, fps) -> "_ImageSequence":
        paths = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                       key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])
        if not paths:
            raise UnsupportedInputError(f"folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return cls(str(folder), paths, max_frames, fps)

    def files(self) -> list[Path]:
        return list(self.paths)

    def _frames(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            yield _read_image(path)


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except UnidentifiedImageError:
        raise UnsupportedInputError(f"{path} is not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise UnsupportedInputError(f"cannot read image {path}: {e}") from None


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode not in _RGB_MODES:
                raise UnsupportedInputError(f"{path}: image mode {im.mode} is not 8-bit; vcodec codes 8-bit RGB video")
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise UnsupportedInputError(f"frame {path} disappeared while the clip was read") from None
    except UnidentifiedImageError:
        raise UnsupportedInputError(f"{path} is not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise UnsupportedInputError(f"cannot read image {path}: {e}") from None


class _PyAVSource(VideoSource):
    def __init__(self, path: Path, width, height, fps, frame_count, max_frames):
        super().__init__(str(path), width, height, fps, frame_count, max_frames)
        self.path = path

    @classmethod
    def open(cls, path: Path, max_frames: int | None) -> "_PyAVSource":
        if not path.exists():
            raise UnsupportedInputError(f"no such file: {path}")
        if not path.is_file():  # a FIFO or a device would block or never end
            raise UnsupportedInputError(f"{path} is not a regular file")
        with _open_container(path) as container:
            if not container.streams.video:
                raise UnsupportedInputError(f"{path} has no video stream")
            if container.streams.audio:
                warnings.warn(f"{path}: audio ignored (vcodec codes the video stream only)", stacklevel=3)
            stream = container.streams.video[0]
            fps = stream.average_rate or stream.guessed_rate or stream.base_rate or DEFAULT_FPS
            # Decode one frame now: a file that opens but does not decode is refused here.
            first = next(_decode(container, stream, path), None)
            if first is None:
                raise UnsupportedInputError(f"{path} holds no video frames")
            frame_count = stream.frames or _y4m_frame_count(path, container, stream, first) or None
        return cls(path, first.shape[1], first.shape[0], Fraction(fps), frame_count, max_frames)

    def files(self) -> list[Path]:
        return [self.path]

    def _frames(self) -> Iterator[np.ndarray]:
        with _open_container(self.path) as container:
            yield from _decode(container, container.streams.video[0], self.path)


def _open_container(path: Path):
    import av

    try:
        return av.open(str(path), "r", metadata_errors="ignore")
    except av.error.FFmpegError as e:
        raise UnsupportedInputError(f"{path} is not a video PyAV can read ({e.strerror or type(e).__name__})") from None


def _decode(container, stream, path: Path) -> Iterator[np.ndarray]:
    import av

    frames = container.decode(stream)
    number = 0
    while True:
        try:
            frame = next(frames)
        except StopIteration:
            return
        except av.error.FFmpegError as e:
            raise UnsupportedInputError(f"{path}: cannot decode frame {number + 1}: "
                                        f"{e.strerror or type(e).__name__}") from None
        number += 1
        yield frame_to_rgb(frame)


def _y4m_frame_count(path: Path, container, stream, first: np.ndarray) -> int | None:
    """Frames in a y4m file from its size: every frame is 'FRAME' + the planes (frame parameters aside)."""
    if container.format.name != "yuv4mpegpipe" or stream.format is None:
        return None
    with open(path, "rb") as f:
        header = len(f.readline())
    planes = sum(p.width * p.height * (2 if stream.format.components[0].bits > 8 else 1)
                 for p in _plane_sizes(stream.format.name, first.shape[1], first.shape[0]))  # fmt: skip
    body, frame = path.stat().st_size - header, len(b"FRAME\n") + planes
    return body // frame if planes and body % frame == 0 else None


def _plane_sizes(pix_fmt: str, width: int, height: int):
    import av

    return av.VideoFrame(width, height, pix_fmt).planes


def frame_to_rgb(frame) -> np.ndarray:
    """A decoded PyAV frame as H x W x 3 uint8 RGB (see the module notes on colour)."""
    fmt = frame.format
    if fmt.is_rgb or fmt.has_palette or fmt.name.startswith(("bayer", "xyz")):
        return frame.to_ndarray(format="rgb24")
    matrix = _MATRIX_OF_COLORSPACE.get(frame.colorspace, _UNTAGGED_MATRIX)
    full_range = fmt.name.startswith("yuvj") or frame.color_range == _FULL_RANGE
    if fmt.name in _GRAY8:
        y = _plane(frame.planes[0], np.uint8)
        rgb = color.ycbcr_to_rgb(np.stack([y, np.full_like(y, 128), np.full_like(y, 128)]), matrix, full_range)
        return rgb
    if fmt.name in _PLANAR_YUV8:
        y, cb, cr = (_plane(p, np.uint8) for p in frame.planes[:3])
        scale = 1.0
    else:  # NV12, 10/12/16 bit, 4:1:1...: let swscale lay it out as 16-bit 4:4:4, then convert here
        wide = frame.reformat(format="yuv444p16le")
        y, cb, cr = (_plane(p, np.dtype("<u2")) for p in wide.planes[:3])
        scale = 255 / 65535
    h, w = y.shape
    planes = np.stack([y * scale, color.upsample_chroma(cb, h, w) * scale, color.upsample_chroma(cr, h, w) * scale])
    return color.ycbcr_to_rgb(planes, matrix, full_range)


def _plane(plane, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    view = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
    return view[: plane.height, : plane.width * dtype.itemsize].view(dtype).copy()


# --------------------------------------------------------------------------------------------- writing


class VideoWriter:
    """Write RGB frames to a ``.y4m``, a lossless ``.mkv`` (FFV1) or a frame pattern (``out/%04d.png``).

    >>> with VideoWriter("out.mkv", width, height, fps, source=clip) as out:
    ...     for frame in frames:
    ...         out.write(frame)

    The file appears, whole, when the ``with`` block ends without an error (or at :meth:`close`); after
    an error nothing is left but the frames of a pattern already written. ``source`` (a path or an open
    :class:`VideoSource`) is never written over.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: Fraction | int | float = DEFAULT_FPS,
                 source: str | os.PathLike | VideoSource | None = None, start_number: int = 1):  # fmt: skip
        self.path = Path(path)
        if width <= 0 or height <= 0:
            raise UnsupportedInputError(f"a clip needs a positive size, got {width}x{height}")
        self.width, self.height = int(width), int(height)
        self.fps = _fraction(fps)
        self.frames_written = 0
        self._protected = _source_files(source)
        self._closed = False
        suffix = self.path.suffix.lower()
        if is_pattern(self.path):
            self._backend = _PatternBackend(self.path, start_number, self._check_target)
        elif suffix in (".y4m", ".mkv"):
            backend = _Y4mBackend if suffix == ".y4m" else _FFV1Backend
            tmp = self._open_temp()
            try:
                self._backend = backend(tmp, self.width, self.height, self.fps)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        else:
            raise VcodecError(f"cannot write video to {path}: use a .y4m, a .mkv (lossless FFV1) or a frame pattern "
                              "such as out/%04d.png")

    def _check_target(self, target: Path) -> None:
        if target.exists() and target.resolve() in self._protected:
            raise VcodecError(f"refusing to overwrite the input file {target}")
        if target.is_dir():
            raise VcodecError(f"{target} is a directory")
        if not target.parent.is_dir():
            raise VcodecError(f"cannot write {target}: folder {target.parent} does not exist")

    def _open_temp(self) -> Path:
        self._check_target(self.path)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        except OSError as e:
            raise VcodecError(f"cannot write {self.path}: {e.strerror}") from None
        os.close(fd)
        self._tmp = Path(tmp)
        return self._tmp

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame of the writer's size."""
        if self._closed:
            raise VcodecError(f"{self.path}: the writer is closed")
        frame = np.asarray(frame)
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise UnsupportedInputError(f"{self.path}: expected a {self.height} x {self.width} x 3 uint8 RGB frame, "
                                        f"got {frame.shape} {frame.dtype}")
        try:
            self._backend.write(np.ascontiguousarray(frame), self.frames_written)
        except OSError as e:
            self.abort()
            raise VcodecError(f"cannot write {self.path}: {e.strerror or e}") from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file and put it in place."""
        if self._closed:
            return
        self._closed = True
        try:
            self._backend.close()
            if hasattr(self, "_tmp"):
                _make_public(self._tmp)
                os.replace(self._tmp, self.path)
        except OSError as e:
            self._discard()
            raise VcodecError(f"cannot write {self.path}: {e.strerror or e}") from None
        except BaseException:
            self._discard()
            raise

    def abort(self) -> None:
        """Drop what was written (single files); a pattern keeps the frames already written."""
        if self._closed:
            return
        self._closed = True
        try:
            self._backend.close()
        except Exception:
            pass
        self._discard()

    def _discard(self) -> None:
        if hasattr(self, "_tmp"):
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _make_public(path) -> None:
    """The mode a plain ``open`` would have given: mkstemp makes its files private (0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _source_files(source) -> set[Path]:
    if source is None:
        return set()
    if isinstance(source, VideoSource):
        return {p.resolve() for p in source.files()}
    return {Path(source).resolve()}


class _Y4mBackend:
    def __init__(self, path: Path, width: int, height: int, fps: Fraction):
        self.file = open(path, "wb")
        self.file.write(f"YUV4MPEG2 W{width} H{height} F{fps.numerator}:{fps.denominator} Ip A1:1 C444 "
                        "XCOLORRANGE=FULL\n".encode())  # fmt: skip

    def write(self, frame: np.ndarray, index: int) -> None:
        self.file.write(b"FRAME\n")
        self.file.write(color.rgb_to_ycbcr(frame, "bt601", full_range=True).tobytes())

    def close(self) -> None:
        self.file.close()


class _FFV1Backend:
    def __init__(self, path: Path, width: int, height: int, fps: Fraction):
        import av

        self.container = av.open(str(path), "w", format="matroska")
        self.stream = self.container.add_stream("ffv1", rate=fps)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "bgr0"  # FFV1 codes packed RGB losslessly; it has no rgb24
        self.stream.codec_context.time_base = 1 / fps

    def write(self, frame: np.ndarray, index: int) -> None:
        import av

        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts = index
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)

    def close(self) -> None:
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
        finally:
            self.container.close()


class _PatternBackend:
    def __init__(self, pattern: Path, start_number: int, check_target):
        from PIL import Image

        name = pattern.name
        if len(_PATTERN.findall(name)) != 1 or "%" in _PATTERN.sub("", name):
            raise VcodecError(f"{pattern}: a frame pattern holds one %d or %0Nd and no other %")
        Image.init()
        suffix = pattern.suffix.lower()
        if suffix not in Image.EXTENSION:
            raise VcodecError(f"cannot tell the image format of {pattern}; use an extension such as .png")
        self.format = Image.EXTENSION[suffix]
        self.pattern, self.start, self.check_target = pattern, start_number, check_target
        check_target(self._target(0))

    def _target(self, index: int) -> Path:
        return self.pattern.parent / (self.pattern.name % (self.start + index))

    def write(self, frame: np.ndarray, index: int) -> None:
        from PIL import Image

        target = self._target(index)
        self.check_target(target)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                Image.fromarray(frame, "RGB").save(f, format=self.format)
            _make_public(tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def close(self) -> None:
        pass
