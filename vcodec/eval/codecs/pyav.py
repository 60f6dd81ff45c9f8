"""Video codecs used as intra-only still-image codecs through PyAV (FFmpeg's libraries).

    rgb -> ycbcr.rgb_to_ycbcr (rounded) -> [4:2:0 if the encoder needs it] -> one frame
        -> encoder (constant QP, intra, 1 thread) -> packets -> elementary stream bytes
        -> FFmpeg decoder -> planes -> ycbcr.ycbcr_to_rgb (rounded) -> rgb_hat

The rate is the elementary stream as a raw file would hold it (Annex-B for H.264/HEVC, OBUs for
AV1, the frame for VP9), parameter sets included. x264 also writes a ~532-byte SEI NAL unit with its
version and option string into every stream; nothing needs it to decode, and at 768x512 it alone
is 0.011 bpp, so it is removed before counting and the stream without it is what gets decoded.
x265 is told not to write its equivalent (info=0).

Odd sizes are coded as they are (4:2:0 chroma planes are ceil(W/2) x ceil(H/2)).
"""

from __future__ import annotations

import os
import re
from fractions import Fraction

import numpy as np

from vcodec.eval.codecs.base import ImageCodec, register_codec
from vcodec.eval.codecs.ycbcr import downsample_420, rgb_to_ycbcr, upsample_420, ycbcr_to_rgb
from vcodec.eval.errors import CodecFailedError


def _annexb_nal_units(stream: bytes) -> list[bytes]:
    """Split an Annex-B byte stream into NAL units, each kept with its start code."""
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", stream)]
    # A 4-byte start code 00 00 00 01 belongs to the unit that follows it.
    starts = [s - 1 if s > 0 and stream[s - 1] == 0 else s for s in starts]
    return [stream[a:b] for a, b in zip(starts, starts[1:] + [len(stream)])]


def _h264_nal_type(unit: bytes) -> int:
    return unit[unit.index(b"\x00\x00\x01") + 3] & 0x1F


H264_SEI = 6


class _PyAVCodec(ImageCodec):
    encoder: str = ""
    decoder: str = ""
    pix_fmt: str = "yuv444p"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        import av

        for name, mode in ((cls.encoder, "w"), (cls.decoder, "r")):
            try:
                av.codec.Codec(name, mode)
            except Exception:
                kind = "encoder" if mode == "w" else "decoder"
                return f"PyAV {av.__version__}'s FFmpeg has no {name} {kind}"
        return None

    def options(self, quality: float) -> dict[str, str]:
        raise NotImplementedError

    def postprocess(self, stream: bytes) -> bytes:
        return stream

    def _library(self) -> str:
        import av

        return f"PyAV {av.__version__} (libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))})"

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        import av

        height, width = rgb.shape[:2]
        planes = rgb_to_ycbcr(rgb)
        ctx = av.CodecContext.create(self.encoder, "w")
        ctx.height, ctx.width = height, width
        ctx.pix_fmt = self.pix_fmt
        ctx.time_base = Fraction(1, 25)
        ctx.framerate = Fraction(25)
        ctx.gop_size = 1
        ctx.thread_count = 1
        ctx.options = self.options(quality)
        if self.pix_fmt == "yuv420p":
            y, cb, cr = planes[0], downsample_420(planes[1]), downsample_420(planes[2])
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, data in zip(frame.planes, (y, cb, cr)):
                _write_plane(plane, data)
        else:
            frame = av.VideoFrame.from_ndarray(planes, format=self.pix_fmt)
        packets = list(ctx.encode(frame)) + list(ctx.encode(None))
        _normal_scheduling()
        if not packets:
            raise CodecFailedError(f"{self.name}: the encoder returned no packet for a {width}x{height} image")
        return self.postprocess(b"".join(bytes(p) for p in packets))

    def decode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        import av

        ctx = av.CodecContext.create(self.decoder, "r")
        ctx.thread_count = 1
        frames = list(ctx.decode(av.Packet(data))) + list(ctx.decode(None))
        if len(frames) != 1:
            raise CodecFailedError(f"{self.name}: decoding gave {len(frames)} frames instead of 1")
        frame = frames[0]
        if frame.format.name != self.pix_fmt:
            raise CodecFailedError(f"{self.name}: decoder returned {frame.format.name}, expected {self.pix_fmt}")
        y, cb, cr = (_read_plane(p) for p in frame.planes)
        if self.pix_fmt == "yuv420p":
            cb, cr = (upsample_420(c, *y.shape) for c in (cb, cr))
        return ycbcr_to_rgb(np.stack([y, cb, cr]))


def _normal_scheduling() -> None:
    """Undo real-time scheduling an encoder library gave our thread.

    SVT-AV1, run as root, switches the calling thread to SCHED_FIFO priority 99; left so, an
    evaluation worker starves every other process on the machine (seen here: training steps 10x slower).
    """
    if hasattr(os, "sched_getscheduler") and os.sched_getscheduler(0) != os.SCHED_OTHER:
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            pass


def _write_plane(plane, data: np.ndarray) -> None:
    h, w = data.shape
    view = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
    view[:h, :w] = data


def _read_plane(plane) -> np.ndarray:
    view = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
    return view[: plane.height, : plane.width].copy()


@register_codec
class H264(_PyAVCodec):
    name = "h264-444"
    encoder, decoder = "libx264", "h264"
    knob = "QP 0-51"
    quality_range = (0, 51)
    default_qualities = (50, 46, 42, 38, 34, 30, 26, 22)

    @property
    def description(self) -> str:
        return (
            f"H.264 High 4:4:4 intra, libx264 through {self._library()}; RGB->YCbCr BT.709 full range 4:4:4 "
            "(rounded, both ways); preset=placebo, tune=psnr, constant qp=QP, keyint=1, 1 thread; Annex-B "
            "stream with x264's version SEI removed (not needed to decode; decoded without it)"
        )

    def options(self, quality: float) -> dict[str, str]:
        return {"preset": "placebo", "tune": "psnr", "qp": str(int(quality)), "x264-params": "keyint=1"}

    def postprocess(self, stream: bytes) -> bytes:
        return b"".join(u for u in _annexb_nal_units(stream) if _h264_nal_type(u) != H264_SEI)


@register_codec
class Hevc(_PyAVCodec):
    name = "hevc-444"
    encoder, decoder = "libx265", "hevc"
    knob = "QP 0-51"
    quality_range = (0, 51)
    default_qualities = (50, 46, 42, 38, 34, 30, 26, 22)

    @property
    def description(self) -> str:
        return (
            f"HEVC Main 4:4:4 intra, libx265 through {self._library()}; RGB->YCbCr BT.709 full range 4:4:4 "
            "(rounded, both ways); preset=placebo, tune=psnr, x265-params qp=QP:keyint=1:info=0 (no version "
            "SEI), 1 thread; Annex-B stream"
        )

    def options(self, quality: float) -> dict[str, str]:
        params = f"qp={int(quality)}:keyint=1:info=0:frame-threads=1:pools=none:log-level=error"
        return {"preset": "placebo", "tune": "psnr", "x265-params": params}


@register_codec
class Av1(_PyAVCodec):
    """AV1 intra through the only AV1 encoder in PyAV's bundled FFmpeg, SVT-AV1, which codes
    4:2:0 only. AV1 in 4:4:4 (aom) is measured by ``avif-444`` through Pillow."""

    name = "av1-420"
    encoder, decoder = "libsvtav1", "libdav1d"
    pix_fmt = "yuv420p"
    knob = "QP 1-63"
    quality_range = (1, 63)
    default_qualities = (58, 52, 46, 40, 32, 24, 16, 6)
    preset = 4  # 0 slowest/best .. 13

    @property
    def description(self) -> str:
        return (
            f"AV1 intra 4:2:0, SVT-AV1 through {self._library()}, decoded by dav1d; RGB->YCbCr BT.709 full "
            "range (rounded), chroma 2x2 mean down / bilinear up; "
            f"preset={self.preset}, tune=PSNR, constant qp=QP, keyint=1, 1 thread; raw OBU stream"
        )

    def options(self, quality: float) -> dict[str, str]:
        # SVT-AV1 prints its whole configuration to stderr per stream unless told to log errors only.
        os.environ.setdefault("SVT_LOG", "1")
        # keyint=1: without it SVT-AV1 codes the lone frame as the key frame of a random-access
        # GOP, with a large QP offset, and even qp=63 stays above 0.3 bpp on Kodak.
        return {"preset": str(self.preset), "qp": str(int(quality)), "svtav1-params": "lp=1:keyint=1"}


@register_codec
class Vp9(_PyAVCodec):
    name = "vp9-444"
    encoder, decoder = "libvpx-vp9", "vp9"
    knob = "CRF 0-63"
    quality_range = (0, 63)
    # crf 63 is libvpx's coarsest setting and still gives ~0.26 bpp on Kodak: the curve starts there.
    default_qualities = (63, 60, 55, 50, 44, 38, 32)

    @property
    def description(self) -> str:
        return (
            f"VP9 profile 1 intra 4:4:4, libvpx-vp9 through {self._library()}, decoded by FFmpeg vp9; "
            "RGB->YCbCr BT.709 full range 4:4:4 (rounded, both ways); deadline=good, cpu-used=1, crf=q, b=0, "
            "tune=psnr, aq-mode=0, 1 thread; raw VP9 frame"
        )

    def options(self, quality: float) -> dict[str, str]:
        return {
            "deadline": "good",
            "cpu-used": "1",
            "crf": str(int(quality)),
            "b": "0",
            "tune": "psnr",
            "aq-mode": "0",
        }
