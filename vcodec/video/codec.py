"""The video codec: low-delay P (I P P P ...), I-frames by the image model, P-frames by the P-frame model
conditioned on the motion-compensated previous decoded frame.

    encoder, per frame:   I: y, z of the image model                  -> x_hat (float64 synthesis, 8 bits)
                          P: vectors = search(x, x_hat_prev)          (encoder only: on the decoded frame)
                             p = compensate(x_hat_prev, vectors)      (integers: exact)
                             y, z of the P model given p             -> x_hat = synthesis(y_hat, p) (float64)
    decoder: the same, from the units; x_hat is the next frame's reference.

**Drift-free by construction.** The encoder predicts from its own copy of the decoder's output, never
from the source. Everything that feeds back into the probability model is the same on every machine:
the reference frames are 8-bit images rounded from a float64 synthesis, the motion vectors are coded
integers, the prediction is integer arithmetic on 8-bit samples, and the P model's context enters its
float64 hyper-synthesis (``vcodec.models.contract``). Frames are padded to the model stride (edge
replication) and coded padded; the reference is the padded decoded frame, the output is cropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from vcodec import zoo
from vcodec.coding import container
from vcodec.coding.latent import LatentCoder
from vcodec.coding.quality import Quality
from vcodec.errors import BitstreamError, ModelError, UnsupportedInputError, VcodecError
from vcodec.video import bitstream, motion, mvcoding
from vcodec.video.bitstream import UNKNOWN_COUNT, Frame, SequenceHeader
from vcodec.video.motion import MOTION_LAMBDA, search_lambda

DEFAULT_INTRA_PERIOD = 32
DEFAULT_FPS = Fraction(25)


def _frame_array(frame) -> np.ndarray:
    """(H, W, 3) uint8 of a numpy frame or a (3, H, W) tensor in [0, 1]."""
    if isinstance(frame, torch.Tensor):
        if frame.ndim != 3 or frame.shape[0] != 3:
            raise UnsupportedInputError(f"expected a frame tensor of shape (3, H, W), got {tuple(frame.shape)}")
        frame = (frame.detach().cpu().float().clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise UnsupportedInputError(f"expected frames of shape (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    return frame


def _to_tensor(rgb: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).to(device).permute(2, 0, 1)[None].float() / 255.0


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """8-bit frame of a float64 synthesis: floor(255 x + 1/2), the one rounding both sides do."""
    return torch.floor(x[0].permute(1, 2, 0) * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()


def load_p_model(name: str, image_model) -> torch.nn.Module:
    """The P model: its shipped weights, or, while it ships none, the image model coding residuals (its
    conditional paths at zero: ``vcodec.models.pframe.from_image_model``)."""
    if zoo.weights_path(name).is_file():
        return zoo.load(name)
    if name != "vcodec-p":
        raise ModelError(f"model {name!r} ships no weights")
    from vcodec.models.pframe import from_image_model

    model = from_image_model(zoo.load(image_model.model_name, coding=False)).eval()
    model.model_name = name
    model.digest = zoo.digest(model)
    return model


@dataclass
class FrameStats:
    index: int
    intra: bool
    quality: float
    bytes: int
    motion_bytes: int = 0


@dataclass
class EncodeReport:
    frames: list[FrameStats] = field(default_factory=list)
    header_bytes: int = 0
    header: SequenceHeader | None = None
    pieces: list[bytes] = field(default_factory=list)  # what was written, when no writer was given
    reconstructions: list[np.ndarray] = field(default_factory=list)  # the decoder's frames, when asked

    @property
    def total_bytes(self) -> int:
        return self.header_bytes + sum(f.bytes for f in self.frames)


class VideoCodec:
    """Loaded I and P models, ready to code clips (load once, code many).

    >>> vc = VideoCodec()
    >>> data = vc.compress(frames, quality=4, intra_period=32)
    >>> for frame in vc.decompress(data): ...
    """

    def __init__(self, image_model: str = zoo.DEFAULT_MODEL, p_model: str = "vcodec-p", device: str = "cpu",
                 p_weights: str | None = None):
        """``p_weights``: a P-model weights file instead of the shipped ones (for measurements)."""
        from vcodec.image.api import _device

        self.device = _device(device)
        self.i_model = zoo.load(image_model)
        self.p_model = zoo.load(p_model, weights=p_weights) if p_weights else load_p_model(p_model, self.i_model)
        self.i_coder = LatentCoder(self.i_model, self.device)
        self.p_coder = LatentCoder(self.p_model, self.device)
        self.stride = max(self.i_model.stride, self.p_model.stride)
        self.motion_lambda = MOTION_LAMBDA  # the encoder's choice: any value decodes the same way

    # -- encoding --------------------------------------------------------------------------------------

    def header(self, width: int, height: int, fps, frame_count: int, intra_period: int) -> SequenceHeader:
        return SequenceHeader(width, height, Fraction(fps), frame_count, max(0, intra_period),
                              self.i_model.model_name, self.i_model.digest, self.p_model.model_name,
                              self.p_model.digest)

    def _pad(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        s = self.stride
        return np.pad(rgb, ((0, (-h) % s), (0, (-w) % s), (0, 0)), mode="edge")

    def _quality(self, quality, index: int, header: SequenceHeader, offsets) -> Quality:
        q = float(quality)
        if offsets and not header.is_intra(index):
            period = header.intra_period or (1 << 62)
            q += offsets[(index % period - 1) % len(offsets)]
        levels = self.i_model.levels
        return Quality.from_user(min(max(q, 1.0), float(levels)), levels)

    def encode_frames(self, frames: Iterable, quality=4.0, intra_period: int = DEFAULT_INTRA_PERIOD,
                      fps=DEFAULT_FPS, max_frames: int | None = None, frame_count: int | None = None,
                      write: Callable[[bytes], None] | None = None, quality_offsets=None,
                      progress: Callable[[FrameStats], None] | None = None,
                      keep_reconstructions: bool = False) -> EncodeReport:
        """Code ``frames`` one at a time, handing each packed unit to ``write`` (the file header first):
        memory does not grow with the clip. ``intra_period`` N puts an I-frame every N frames (-1 or 0:
        only the first); ``quality_offsets`` are added to the quality of the P-frames, cycling over their
        positions in the period (hierarchical quality). Returns what was written, frame by frame."""
        levels = self.i_model.levels
        Quality.from_user(quality, levels)  # a bad quality is refused before any work
        offsets = [float(o) for o in quality_offsets] if quality_offsets else None
        report, header, reference = EncodeReport(), None, None
        write = write or report.pieces.append
        for index, frame in enumerate(frames):
            if max_frames is not None and index >= max_frames:
                break
            rgb = _frame_array(frame)
            if header is None:
                count = frame_count if frame_count is not None else UNKNOWN_COUNT
                if max_frames is not None and count != UNKNOWN_COUNT:
                    count = min(count, max_frames)
                header = self.header(rgb.shape[1], rgb.shape[0], fps, count, intra_period)
                head = container.file_header() + container.pack_unit(bitstream.header_unit(header))
                write(head)
                report.header_bytes = len(head)
            elif rgb.shape[:2] != (header.height, header.width):
                raise UnsupportedInputError(f"frame {index} is {rgb.shape[1]}x{rgb.shape[0]}, the clip is "
                                            f"{header.width}x{header.height}")
            q = self._quality(quality, index, header, offsets)
            padded = self._pad(rgb)
            coded, reference = self._encode_one(index, padded, reference, q, header.is_intra(index))
            unit = container.pack_unit(coded.unit())
            write(unit)
            stats = FrameStats(index, coded.intra, q.user, len(unit), len(coded.motion))
            report.frames.append(stats)
            if keep_reconstructions:
                report.reconstructions.append(reference[: header.height, : header.width].copy())
            if progress:
                progress(stats)
        if header is None:
            raise UnsupportedInputError("the clip has no frames")
        report.header = header
        return report

    def _encode_one(self, index: int, padded: np.ndarray, reference, q: Quality, intra: bool):
        x = _to_tensor(padded, self.device)
        if intra:
            lat = self.i_coder.encode(x, q.level)
            recon = _to_uint8(self.i_coder.synthesize(lat.y_hat, q.level, exact=True))
            return Frame(index, True, q, lat.z_bytes, lat.y_bytes), recon
        lmbda = float(self.p_model.lmbda(torch.tensor([q.level])))
        vectors = motion.search(padded, reference, search_lambda(lmbda, self.motion_lambda))
        pred = motion.compensate(reference, vectors)
        context = _to_tensor(pred, self.device)
        lat = self.p_coder.encode(x, q.level, context=context)
        recon = _to_uint8(self.p_coder.synthesize(lat.y_hat, q.level, context=context, exact=True))
        return Frame(index, False, q, lat.z_bytes, lat.y_bytes, mvcoding.encode(vectors)), recon

    def compress(self, frames: Iterable, quality=4.0, intra_period: int = DEFAULT_INTRA_PERIOD, fps=DEFAULT_FPS,
                 max_frames: int | None = None, quality_offsets=None) -> bytes:
        """The whole bitstream of ``frames`` (numpy (H, W, 3) uint8 or (3, H, W) tensors) in memory."""
        frames = list(frames) if not isinstance(frames, (list, tuple)) else frames
        count = min(len(frames), max_frames) if max_frames is not None else len(frames)
        report = self.encode_frames(frames, quality, intra_period, fps, max_frames, count,
                                    quality_offsets=quality_offsets)
        return b"".join(report.pieces)

    # -- decoding --------------------------------------------------------------------------------------

    def check_header(self, header: SequenceHeader) -> None:
        for role, name, digest, model in (("I", header.i_model, header.i_digest, self.i_model),
                                          ("P", header.p_model, header.p_digest, self.p_model)):
            if name != model.model_name:
                raise BitstreamError(f"the clip's {role} model is {name!r}, this codec holds {model.model_name!r}")
            if digest != model.digest:
                raise BitstreamError(f"the clip was made with other weights of {name!r} (digest {digest.hex()}, "
                                     f"these weights are {model.digest.hex()})")

    def decode_units(self, units: Iterable, start: int = 0) -> Iterator[np.ndarray]:
        """Decoded frames (H, W, 3) uint8, one at a time, from an iterator of units (the sequence header
        first). ``start`` > 0 begins at the last I-frame at or before it and yields from ``start`` on."""
        header, rest = bitstream.read_header(units)
        self.check_header(header)
        hp = header.height + (-header.height) % self.stride
        wp = header.width + (-header.width) % self.stride
        # Random access: decoding starts at the last I-frame at or before ``start``; the units before it
        # are still checked (order, checksums), not decoded.
        period = header.intra_period
        first = (start // period) * period if period else 0
        reference, yielded = None, False
        for frame in bitstream.frames(header, rest):
            if frame.index < first:
                continue
            q = Quality.from_code(frame.quality.code, self.i_model.levels)
            if frame.intra:
                y_hat = self.i_coder.decode(frame.z, frame.y, hp, wp, q.level)
                reference = _to_uint8(self.i_coder.synthesize(y_hat, q.level, exact=True))
            else:
                if reference is None:
                    raise BitstreamError(f"corrupt bitstream: P-frame {frame.index} has no decoded frame before it")
                vectors = mvcoding.decode(frame.motion, *motion.grid_shape(hp, wp))
                context = _to_tensor(motion.compensate(reference, vectors), self.device)
                y_hat = self.p_coder.decode(frame.z, frame.y, hp, wp, q.level, context=context)
                reference = _to_uint8(self.p_coder.synthesize(y_hat, q.level, context=context, exact=True))
            if frame.index >= start:
                yielded = True
                yield reference[: header.height, : header.width]
        if start and not yielded:
            raise VcodecError(f"the clip has no frame {start}")

    def decompress(self, data: bytes, start: int = 0) -> Iterator[np.ndarray]:
        return self.decode_units(container.parse(data), start)


def _frames_of(source, max_frames):
    if isinstance(source, (str,)) or hasattr(source, "__fspath__"):
        from vcodec.video.io import open_video

        clip = open_video(source, max_frames=max_frames)
        return clip, clip.fps, clip.frame_count
    return source, DEFAULT_FPS, None


def compress_video(frames_or_path, quality=4.0, intra_period: int = DEFAULT_INTRA_PERIOD, frames: int | None = None,
                   fps=None, device: str = "cpu") -> bytes:
    """The bitstream of a clip: a path PyAV reads (or a ``%04d`` image pattern), or an iterable of frames
    (numpy (H, W, 3) uint8 or (3, H, W) tensors in [0, 1])."""
    source, clip_fps, count = _frames_of(frames_or_path, frames)
    codec = get_video_codec(device=device)
    if count is None and isinstance(source, (list, tuple)):
        count = len(source)
    if count is not None and frames is not None:
        count = min(count, frames)
    report = codec.encode_frames(source, quality, intra_period, fps or clip_fps, frames, count)
    return b"".join(report.pieces)


def decompress_video(data: bytes, start: int = 0, device: str = "cpu") -> Iterator[np.ndarray]:
    """The frames of a bitstream, (H, W, 3) uint8, one at a time."""
    units = container.parse(data)
    header, _ = bitstream.read_header(iter(units))
    return get_video_codec(header.i_model, header.p_model, device).decode_units(units, start)


_CODECS: dict = {}


def get_video_codec(image_model: str = zoo.DEFAULT_MODEL, p_model: str = "vcodec-p", device: str = "cpu") -> VideoCodec:
    key = (image_model, p_model, str(device))
    if key not in _CODECS:
        _CODECS[key] = VideoCodec(image_model, p_model, device)
    return _CODECS[key]
