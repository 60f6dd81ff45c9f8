"""Codecs run as external command-line programs, used when found on PATH.

Times include process start-up and file I/O, as they do in CompressAI's bench. Each encode and
decode runs in a private temporary folder.

- ``jpegxl``: libjxl's cjxl/djxl, lossy VarDCT, ``-q Q -e 7``; bare codestream.
- ``bpg``: libbpg's bpgenc/bpgdec, 4:4:4 YCbCr 8 bit, x265, ``-m 9``, ``-q QP``.
- ``vtm``: VVC reference software (EncoderApp/DecoderApp), intra, YCbCr 4:4:4 8-bit input
  (BT.709 full range, rounded as in ``ycbcr``), as CompressAI's bench runs it. The encoder config
  is ``$VTM_CFG`` or ``cfg/encoder_intra_vtm.cfg`` found next to/above the EncoderApp binary.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from vcodec.eval.codecs.base import ImageCodec, register_codec
from vcodec.eval.codecs.ycbcr import rgb_to_ycbcr, ycbcr_to_rgb
from vcodec.eval.errors import CodecFailedError


def _run(cmd: list[str], cwd: str) -> None:
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = proc.stdout.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise CodecFailedError(f"{Path(cmd[0]).name} exited with {proc.returncode}: {tail[0]}")


def _through_files(inputs: dict[str, bytes], cmd: list[str], output: str) -> bytes:
    """Write ``inputs`` into a fresh temporary folder, run ``cmd`` there, return the bytes of ``output``."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in inputs.items():
            Path(tmp, name).write_bytes(data)
        _run(cmd, tmp)
        return Path(tmp, output).read_bytes()


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _rgb(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB"))


class _ExternalCodec(ImageCodec):
    programs: tuple[str, ...] = ()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        missing = [p for p in cls.programs if shutil.which(p) is None]
        return f"{' and '.join(missing)} not found on PATH" if missing else None

    def _version(self, program: str, *args: str) -> str:
        proc = subprocess.run([program, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        lines = proc.stdout.decode(errors="replace").strip().splitlines()
        return lines[0].strip() if lines else "version unknown"


@register_codec
class JpegXl(_ExternalCodec):
    name = "jpegxl"
    programs = ("cjxl", "djxl")
    knob = "quality 0-100"
    quality_range = (0, 100)
    default_qualities = (5, 20, 40, 60, 75, 85, 92, 97)

    @property
    def description(self) -> str:
        return f"JPEG XL lossy, {self._version('cjxl', '--version')}, -q Q -e 7; .jxl file size; CLI times"

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        cmd = ["cjxl", "in.png", "out.jxl", "-q", str(int(quality)), "-e", "7", "--quiet"]
        return _through_files({"in.png": _png(rgb)}, cmd, "out.jxl")

    def decode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        return _rgb(_through_files({"in.jxl": data}, ["djxl", "in.jxl", "out.png", "--quiet"], "out.png"))


@register_codec
class Bpg(_ExternalCodec):
    name = "bpg"
    programs = ("bpgenc", "bpgdec")
    knob = "QP 0-51"
    quality_range = (0, 51)
    default_qualities = (50, 46, 42, 38, 34, 30, 26, 22)

    @property
    def description(self) -> str:
        return (
            f"BPG 4:4:4, {self._version('bpgenc')}, bpgenc -f 444 -c ycbcr -b 8 -m 9 -q QP; .bpg file size; "
            "CLI times"
        )

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        cmd = ["bpgenc", "-f", "444", "-c", "ycbcr", "-b", "8", "-m", "9", "-q", str(int(quality)), "-o", "out.bpg",
               "in.png"]
        return _through_files({"in.png": _png(rgb)}, cmd, "out.bpg")

    def decode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        return _rgb(_through_files({"in.bpg": data}, ["bpgdec", "-o", "out.png", "in.bpg"], "out.png"))


@register_codec
class Vtm(_ExternalCodec):
    name = "vtm"
    programs = ("EncoderApp", "DecoderApp")
    knob = "QP 0-63"
    quality_range = (0, 63)
    default_qualities = (47, 42, 37, 32, 27, 22, 17)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return super().unavailable_reason() or (None if cls._config() else "no VTM encoder config: set VTM_CFG")

    @staticmethod
    def _config() -> Path | None:
        if os.environ.get("VTM_CFG"):
            return Path(os.environ["VTM_CFG"])
        encoder = shutil.which("EncoderApp")
        for parent in Path(encoder).resolve().parents if encoder else []:
            cfg = parent / "cfg" / "encoder_intra_vtm.cfg"
            if cfg.is_file():
                return cfg
        return None

    @property
    def description(self) -> str:
        return (
            f"VTM intra ({shutil.which('EncoderApp')}), config {self._config()}, -q QP, YCbCr 4:4:4 8-bit input "
            "(BT.709 full range, rounded both ways), --ConformanceWindowMode=1, decoded with -d 8; "
            "VVC bitstream size; CLI times"
        )

    def encode(self, rgb: np.ndarray, quality: float) -> bytes:
        height, width = rgb.shape[:2]
        cmd = [
            "EncoderApp", "-c", str(self._config()), "-i", "in.yuv", "-b", "out.bin", "-o", os.devnull,
            "-wdt", str(width), "-hgt", str(height), "-fr", "1", "-f", "1", "-q", str(int(quality)),
            "--InputChromaFormat=444", "--InputBitDepth=8", "--ConformanceWindowMode=1",
        ]  # fmt: skip
        return _through_files({"in.yuv": rgb_to_ycbcr(rgb).tobytes()}, cmd, "out.bin")

    def decode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        yuv = _through_files({"in.bin": data}, ["DecoderApp", "-b", "in.bin", "-o", "out.yuv", "-d", "8"], "out.yuv")
        planes = np.frombuffer(yuv, dtype=np.uint8)
        if planes.size != 3 * size[0] * size[1]:
            raise CodecFailedError(f"DecoderApp wrote {planes.size} bytes, expected 4:4:4 {size[1]}x{size[0]}")
        return ycbcr_to_rgb(planes.reshape(3, *size))
