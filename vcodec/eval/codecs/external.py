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
        with tempfile.TemporaryDirectory() as tmp:
            Image.fromarray(rgb).save(os.path.join(tmp, "in.png"))
            _run(["cjxl", "in.png", "out.jxl", "-q", str(int(quality)), "-e", "7", "--quiet"], tmp)
            return Path(tmp, "out.jxl").read_bytes()

    def decode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "in.jxl").write_bytes(data)
            _run(["djxl", "in.jxl", "out.png", "--quiet"], tmp)
            with Image.open(os.path.join(tmp, "out.png")) as im:
                return np.asarray(im.convert("RGB"))


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
        with tempfile.TemporaryDirectory() as tmp:
            Image.fromarray(rgb).save(os.path.join(tmp, "in.png"))
            cmd = ["bpgenc", "-f", "444", "-c", "ycbcr", "-b", "8", "-m", "9", "-q", str(int(quality))]
            _run(cmd + ["-o", "out.bpg", "in.png"], tmp)
            return Path(tmp, "out.bpg").read_bytes()

    def decode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "in.bpg").write_bytes(data)
            _run(["bpgdec", "-o", "out.png", "in.bpg"], tmp)
            with Image.open(os.path.join(tmp, "out.png")) as im:
                return np.asarray(im.convert("RGB"))


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
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "in.yuv").write_bytes(rgb_to_ycbcr(rgb).tobytes())
            cmd = [
                "EncoderApp", "-c", str(self._config()), "-i", "in.yuv", "-b", "out.bin", "-o", os.devnull,
                "-wdt", str(width), "-hgt", str(height), "-fr", "1", "-f", "1", "-q", str(int(quality)),
                "--InputChromaFormat=444", "--InputBitDepth=8", "--ConformanceWindowMode=1",
            ]  # fmt: skip
            _run(cmd, tmp)
            return Path(tmp, "out.bin").read_bytes()

    def decode(self, data: bytes, size: tuple[int, int]) -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "in.bin").write_bytes(data)
            _run(["DecoderApp", "-b", "in.bin", "-o", "out.yuv", "-d", "8"], tmp)
            planes = np.fromfile(os.path.join(tmp, "out.yuv"), dtype=np.uint8)
            if planes.size != 3 * size[0] * size[1]:
                raise CodecFailedError(f"DecoderApp wrote {planes.size} bytes, expected 4:4:4 {size[1]}x{size[0]}")
            return ycbcr_to_rgb(planes.reshape(3, *size))
