"""The contract every evaluated video codec speaks, its registry, and the codecs measured so far.

    frames (H x W x 3 uint8 RGB, in display order)
        -> encode(frames, quality) -> EncodedVideo: bitstream bytes, bytes spent on each frame, I/P per frame
        -> decode(bitstream, width, height) -> decoded frames, in display order

``len(bitstream)`` is the rate: everything a decoder needs, as a raw file of the codec would hold it
(headers and parameter sets included); ``frame_bytes`` splits exactly that many bytes over the frames,
each stream header counted with the frame it comes before. Nothing but the bitstream passes from the
encoder to the decoder (the frame size is given, as the image contract does).

A codec is made for a run's intra period and the clip's frame rate (``intra_period``, ``fps``: x264's and
x265's CRF spend about 20 % more bits on BasketballPass at 25 fps than at its own 50). ``description`` names
the library versions and every setting that moves the result, those two included; the result cache keys on
it, so a new version or setting is measured again.

Codecs here:
- ``x264-420``, ``x264-444``, ``x265-420``, ``x265-444``: libx264 / libx265 through PyAV, the low-delay
  anchors of learned video coding (preset medium, tune zerolatency, no B-frames, an I-frame exactly every
  ``intra_period`` frames, a CRF sweep, one thread);
- ``vcodec-intra``: every frame coded as a still by :class:`vcodec.image.Codec`.
The learned P-frame codec plugs in the same way: subclass :class:`VideoCodec` and ``@register_video_codec``.

Colour, the same for every anchor: RGB -> Y'CbCr BT.709 full range, rounded (``vcodec.eval.codecs.ycbcr``),
4:2:0 chroma by 2x2 box mean, and back with bilinear chroma and the inverse matrix, rounded. 4:2:0 needs even
sizes: an odd width or height is padded by repeating the last column / row and cropped after decoding (the
padding is coded and counted).
"""

from __future__ import annotations

import abc
import io
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar, Iterable, Iterator

import numpy as np

from vcodec.coding.container import leb128, read_leb128
from vcodec.errors import BitstreamError, VcodecError
from vcodec.eval.codecs.base import Registry, SweptCodec
from vcodec.eval.codecs.pyav import H264_SEI, _annexb_nal_units, _h264_nal_type, _normal_scheduling
from vcodec.eval.codecs.ycbcr import downsample_420, rgb_to_ycbcr, upsample_420, ycbcr_to_rgb
from vcodec.eval.errors import CodecFailedError, CodecUnavailableError, EvalError

DEFAULT_INTRA_PERIOD = 32
DEFAULT_FPS = Fraction(25)


@dataclass
class EncodedVideo:
    bitstream: bytes
    #: Bytes of ``bitstream`` spent on each frame, in display order; they add up to ``len(bitstream)``.
    frame_bytes: list[int]
    #: "I" or "P" for each frame.
    frame_types: list[str]

    def __post_init__(self):
        if sum(self.frame_bytes) != len(self.bitstream) or len(self.frame_types) != len(self.frame_bytes):
            raise CodecFailedError(f"frame sizes add up to {sum(self.frame_bytes)} bytes for a bitstream of "
                                   f"{len(self.bitstream)} ({len(self.frame_types)} frame types)")


class VideoCodec(SweptCodec):
    def __init__(self, intra_period: int = DEFAULT_INTRA_PERIOD, fps: Fraction | int = DEFAULT_FPS):
        if intra_period < 1:
            raise EvalError(f"the intra period must be 1 or more, got {intra_period}")
        if fps <= 0:
            raise EvalError(f"the frame rate must be positive, got {fps}")
        self.intra_period = int(intra_period)
        self.fps = Fraction(fps)

    def warm_up(self, width: int, height: int) -> None:
        """Pay one-time costs (loading, first-call set-up for this frame size) before anything is timed."""

    @property
    @abc.abstractmethod
    def description(self) -> str: ...

    @abc.abstractmethod
    def encode(self, frames: Iterable[np.ndarray], quality: float) -> EncodedVideo: ...

    @abc.abstractmethod
    def decode(self, bitstream: bytes, width: int, height: int) -> Iterator[np.ndarray]: ...

_REGISTRY = Registry("video codec")
register_video_codec, video_codec_class, video_codec_names, create_video_codec = (
    _REGISTRY.register, _REGISTRY.get, _REGISTRY.names, _REGISTRY.create)


# ------------------------------------------------------------------------------------ x264 / x265


class _PyAVVideoCodec(VideoCodec):
    encoder: ClassVar[str]
    decoder: ClassVar[str]
    pix_fmt: ClassVar[str]
    knob = "CRF 0-51"
    quality_range = (0, 51)
    # About 0.015-1 bpp on BasketballPass at 416x240 (keyint 32): the learned codec's rates (0.02-0.5 bpp)
    # and vcodec all-intra's PSNR range (28-35 dB) inside it.
    default_qualities = (12, 16, 20, 24, 28, 32, 36, 40, 44)
    preset = "medium"
    tune = "zerolatency"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        import av

        for name, mode in ((cls.encoder, "w"), (cls.decoder, "r")):
            try:
                av.codec.Codec(name, mode)
            except Exception:
                return f"PyAV {av.__version__}'s FFmpeg has no {name} {'encoder' if mode == 'w' else 'decoder'}"
        return None

    @staticmethod
    def _library() -> str:
        import av

        return f"PyAV {av.__version__} (libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))})"

    def encoder_options(self, quality: float) -> dict[str, str]:
        raise NotImplementedError

    def strip(self, packet: bytes) -> bytes:
        """The part of a packet a decoder needs (x264's version SEI goes)."""
        return packet

    @property
    def chroma(self) -> str:
        return "4:2:0" if self.pix_fmt == "yuv420p" else "4:4:4"

    @property
    def description(self) -> str:
        return (
            f"{self.encoder} through {self._library()}, {self.chroma} ({self.pix_fmt}), {self.fps} fps (CRF depends "
            "on it); RGB->YCbCr BT.709 full range "
            "(rounded, both ways" + (", chroma 2x2 mean down / bilinear up" if self.chroma == "4:2:0" else "")
            + f"; tagged BT.709 full range); " + self._settings() + "; decoded by FFmpeg's "
            f"{self.decoder}, 1 thread; rate = the Annex-B elementary stream, parameter sets included"
        )  # fmt: skip

    def _settings(self) -> str:
        raise NotImplementedError

    def _frame(self, rgb: np.ndarray, width: int, height: int):
        import av

        h, w = rgb.shape[:2]
        if (h, w) != (height, width):
            rgb = np.pad(rgb, ((0, height - h), (0, width - w), (0, 0)), mode="edge")
        planes = rgb_to_ycbcr(rgb)
        if self.pix_fmt == "yuv444p":
            return av.VideoFrame.from_ndarray(planes, format="yuv444p")
        frame = av.VideoFrame(width, height, "yuv420p")
        for plane, data in zip(frame.planes, (planes[0], downsample_420(planes[1]), downsample_420(planes[2]))):
            view = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
            view[: data.shape[0], : data.shape[1]] = data
        return frame

    def _coded_size(self, width: int, height: int) -> tuple[int, int]:
        if self.pix_fmt == "yuv420p":
            return width + width % 2, height + height % 2
        return width, height

    def encode(self, frames: Iterable[np.ndarray], quality: float) -> EncodedVideo:
        import av

        ctx, packets, size = None, [], None
        for index, rgb in enumerate(frames):
            if ctx is None:
                size = rgb.shape[:2]
                width, height = self._coded_size(size[1], size[0])
                ctx = av.CodecContext.create(self.encoder, "w")
                ctx.width, ctx.height, ctx.pix_fmt = width, height, self.pix_fmt
                # The clip's own rate: x264's and x265's CRF spend ~20 % more bits at 25 fps than at 50.
                ctx.time_base, ctx.framerate = 1 / self.fps, self.fps
                ctx.thread_count = 1
                ctx.colorspace, ctx.color_range = 1, 2  # VUI: BT.709 matrix, full range (what the planes are)
                ctx.options = self.encoder_options(quality)
            elif rgb.shape[:2] != size:
                raise CodecFailedError(f"{self.name}: frame {index + 1} is {rgb.shape[1]}x{rgb.shape[0]}, not "
                                       f"{size[1]}x{size[0]}")
            frame = self._frame(rgb, width, height)
            frame.pts = index
            packets += ctx.encode(frame)
        if ctx is None:
            raise CodecFailedError(f"{self.name}: no frame to encode")
        packets += ctx.encode(None)
        _normal_scheduling()
        if len(packets) != index + 1:
            raise CodecFailedError(f"{self.name}: {index + 1} frames gave {len(packets)} packets")
        if sorted(p.pts for p in packets) != [p.pts for p in packets]:
            raise CodecFailedError(f"{self.name}: packets out of display order (B-frames?)")
        types = ["I" if p.is_keyframe else "P" for p in packets]
        if types != ["P" if i % self.intra_period else "I" for i in range(len(types))]:
            raise CodecFailedError(f"{self.name}: I-frames at {[i for i, t in enumerate(types) if t == 'I']}, not "
                                   f"every {self.intra_period} frames")
        coded = [self.strip(bytes(p)) for p in packets]
        return EncodedVideo(b"".join(coded), [len(c) for c in coded], types)

    def decode(self, bitstream: bytes, width: int, height: int) -> Iterator[np.ndarray]:
        import av

        ctx = av.CodecContext.create(self.decoder, "r")
        ctx.thread_count = 1
        try:
            packets = list(ctx.parse(bitstream)) + list(ctx.parse(None))
            for packet in packets + [None]:
                for frame in ctx.decode(packet):
                    yield self._rgb(frame, width, height)
        except av.error.FFmpegError as e:
            raise CodecFailedError(f"{self.name}: decoding failed: {e}") from None

    def _rgb(self, frame, width: int, height: int) -> np.ndarray:
        if frame.format.name.replace("yuvj", "yuv") != self.pix_fmt:  # yuvj: FFmpeg's name for full range
            raise CodecFailedError(f"{self.name}: the decoder gave {frame.format.name}, expected {self.pix_fmt}")
        y, cb, cr = (_read_plane(p) for p in frame.planes)
        if self.pix_fmt == "yuv420p":
            cb, cr = (upsample_420(c, *y.shape) for c in (cb, cr))
        return ycbcr_to_rgb(np.stack([y, cb, cr]))[:height, :width]


def _read_plane(plane) -> np.ndarray:
    view = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
    return view[: plane.height, : plane.width].copy()


class _X264(_PyAVVideoCodec):
    encoder, decoder = "libx264", "h264"

    def _params(self) -> str:
        # scenecut=0 is what leaves an I-frame only every keyint frames (encode() checks it); min-keyint only
        # matters with scene cuts, and x264 would clamp it to keyint/2 + 1 anyway, so it is not set.
        return f"keyint={self.intra_period}:scenecut=0:bframes=0:threads=1"

    def encoder_options(self, quality: float) -> dict[str, str]:
        return {"preset": self.preset, "tune": self.tune, "crf": str(int(quality)), "x264-params": self._params()}

    def _settings(self) -> str:
        return (f"preset={self.preset}, tune={self.tune}, crf=CRF, x264-params {self._params()} (IDR every "
                f"{self.intra_period} frames, P-frames between, 1 thread); x264's version SEI removed from the "
                "stream (not needed to decode; decoded without it)")

    def strip(self, packet: bytes) -> bytes:
        return b"".join(u for u in _annexb_nal_units(packet) if _h264_nal_type(u) != H264_SEI)


class _X265(_PyAVVideoCodec):
    encoder, decoder = "libx265", "hevc"

    def _params(self) -> str:
        # As x264: scenecut=0 fixes the I-frames; open-gop=0 makes them IDR (closed GOPs), as x264's are.
        return (f"keyint={self.intra_period}:scenecut=0:bframes=0:open-gop=0:info=0:frame-threads=1:pools=none"
                ":log-level=error")

    def encoder_options(self, quality: float) -> dict[str, str]:
        return {"preset": self.preset, "tune": self.tune, "crf": str(int(quality)), "x265-params": self._params()}

    def _settings(self) -> str:
        return (f"preset={self.preset}, tune={self.tune}, crf=CRF, x265-params {self._params()} (IDR every "
                f"{self.intra_period} frames, P-frames between, no version SEI, 1 thread)")


@register_video_codec
class X264_420(_X264):
    name, pix_fmt = "x264-420", "yuv420p"


@register_video_codec
class X264_444(_X264):
    name, pix_fmt = "x264-444", "yuv444p"


@register_video_codec
class X265_420(_X265):
    name, pix_fmt = "x265-420", "yuv420p"


@register_video_codec
class X265_444(_X265):
    name, pix_fmt = "x265-444", "yuv444p"


# ------------------------------------------------------------------------------------ vcodec all-intra


@register_video_codec
class VcodecIntra(VideoCodec):
    """Every frame a still: ``leb128(length) | vcodec image bitstream`` per frame, the header of each included.

    The baseline the P-frame codec must beat. The length prefix (2 bytes a frame at these rates) is the
    only framing; a real video bitstream would also drop the repeated file and image headers.
    """

    name = "vcodec-intra"
    knob = "quality 1-8"
    quality_range = (1, 8)
    integer_quality = False
    default_qualities = (1, 2, 3, 4, 6, 8)

    def __init__(self, intra_period: int = 1, fps: Fraction | int = DEFAULT_FPS, model: str | None = None,
                 device: str = "cpu"):  # fmt: skip
        super().__init__(1, fps)  # every frame is an I-frame: the intra period of the run does not apply
        try:
            import vcodec
            from vcodec.image import get_codec

            self._codec = get_codec(*([] if model is None else [model]), device=device)
        except VcodecError:
            raise
        except Exception as e:  # the model is work in progress: say why, do not crash the run
            raise CodecUnavailableError(f"codec 'vcodec-intra' is not usable: {type(e).__name__}: {e}") from e
        self._version = vcodec.__version__
        self._device = device

    @property
    def description(self) -> str:
        import torch

        c = self._codec
        return (
            f"vcodec {self._version}, model {c.name} (weights {c.digest.hex()}), every frame an I-frame coded "
            f"as a still (vcodec.image.Codec, effort {c.effort}, {'RDO' if c.rdo else 'plain rounding'}), device "
            f"{self._device}, {torch.get_num_threads()} torch threads; stream = per frame leb128 length + the "
            "whole image bitstream (header included); decoded to 8-bit RGB"
        )

    def warm_up(self, width: int, height: int) -> None:
        # torch's first convolutions of a process set up their kernels: ~17 s of CPU, not a per-frame cost.
        frame = np.full((height, width, 3), 128, np.uint8)
        self._codec.decompress(self._codec.compress(frame, quality=self.default_qualities[0]))

    def encode(self, frames: Iterable[np.ndarray], quality: float) -> EncodedVideo:
        chunks = []
        for rgb in frames:
            data = self._codec.compress(np.ascontiguousarray(rgb), quality=quality)
            chunks.append(leb128(len(data)) + data)
        return EncodedVideo(b"".join(chunks), [len(c) for c in chunks], ["I"] * len(chunks))

    def decode(self, bitstream: bytes, width: int, height: int) -> Iterator[np.ndarray]:
        stream = io.BytesIO(bitstream)
        while stream.tell() < len(bitstream):
            length, _ = read_leb128(stream.read, "frame length")
            data = stream.read(length)
            if len(data) < length:
                raise BitstreamError("truncated all-intra stream: a frame runs past the end")
            yield np.asarray(self._codec.decompress(data, output="numpy"))


# ------------------------------------------------------------------------------------ vcodec (I + P)


@register_video_codec
class Vcodec(VideoCodec):
    """The video codec: I-frames by the image model, P-frames by the P-frame model given the motion-
    compensated previous decoded frame (``vcodec.video.codec``). The stream is the ``.vcv`` file."""

    name = "vcodec"
    knob = "quality 1-8"
    quality_range = (1, 8)
    integer_quality = False
    default_qualities = (1, 2, 3, 4, 6, 8)

    def __init__(self, intra_period: int = DEFAULT_INTRA_PERIOD, fps: Fraction | int = DEFAULT_FPS,
                 device: str = "cpu"):
        super().__init__(intra_period, fps)
        try:
            import vcodec
            from vcodec.video.codec import get_video_codec

            self._codec = get_video_codec(device=device)
        except VcodecError:
            raise
        except Exception as e:  # the model is work in progress: say why, do not crash the run
            raise CodecUnavailableError(f"codec 'vcodec' is not usable: {type(e).__name__}: {e}") from e
        self._version = vcodec.__version__
        self._device = device

    @property
    def description(self) -> str:
        import torch

        from vcodec.video.codec import MOTION_LAMBDA

        c = self._codec
        return (
            f"vcodec {self._version} video, I model {c.i_model.model_name} (weights {c.i_model.digest.hex()}), "
            f"P model {c.p_model.model_name} (weights {c.p_model.digest.hex()}), low-delay P, I-frame every "
            f"{self.intra_period} frames, block motion (8x8 grid, quarter pel, lambda {MOTION_LAMBDA:g}/sqrt(lmbda)), "
            f"{self.fps} fps, device {self._device}, {torch.get_num_threads()} torch threads; stream = the .vcv "
            "file (headers included); decoded to 8-bit RGB"
        )

    def warm_up(self, width: int, height: int) -> None:
        frames = [np.full((height, width, 3), 128, np.uint8)] * 2
        list(self._codec.decompress(self._codec.compress(frames, quality=self.default_qualities[0], intra_period=2)))

    def encode(self, frames: Iterable[np.ndarray], quality: float) -> EncodedVideo:
        frames = [np.ascontiguousarray(f) for f in frames]
        report = self._codec.encode_frames(frames, quality, self.intra_period, self.fps, frame_count=len(frames))
        sizes = [f.bytes for f in report.frames]
        sizes[0] += report.header_bytes
        return EncodedVideo(b"".join(report.pieces), sizes, ["I" if f.intra else "P" for f in report.frames])

    def decode(self, bitstream: bytes, width: int, height: int) -> Iterator[np.ndarray]:
        yield from self._codec.decompress(bitstream)
