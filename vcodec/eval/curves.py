"""RD curves and CompressAI's result-file layout.

One file per codec and dataset, the dataset average at each quality:

    {"name": ..., "description": ...,
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim": [...],
                 "encoding_time": [...], "decoding_time": [...]}}

Files written here add "quality", "dataset", "num_images" and "averaging" keys, which CompressAI's
readers ignore. Published files say "psnr" or "ms-ssim-rgb" in places; both are read.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from vcodec.eval.errors import EvalError
from vcodec.eval.metrics import median


@dataclass
class Curve:
    name: str
    bpp: list[float]
    psnr: list[float]
    ms_ssim: list[float] = field(default_factory=list)
    encoding_time: list[float] = field(default_factory=list)
    decoding_time: list[float] = field(default_factory=list)
    description: str = ""
    #: A published or earlier result read from a file, not measured in this run.
    reference: bool = False

    def median_time(self, which: str) -> float:
        """The median over the quality sweep of ``encoding_time`` or ``decoding_time``."""
        return median(getattr(self, which))


def _floats(values) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def load_curve(path: Path, name: str | None = None) -> Curve:
    """Read a CompressAI-layout result file."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        results = doc["results"]
        psnr = results["psnr-rgb"] if "psnr-rgb" in results else results["psnr"]
        bpp = results["bpp"]
    except FileNotFoundError:
        raise EvalError(f"result file {path} does not exist") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise EvalError(
            f"{path} is not a CompressAI-style result file (need results.bpp and results.psnr-rgb): {e}"
        ) from None
    if len(psnr) != len(bpp):
        raise EvalError(f"{path}: {len(bpp)} bpp values but {len(psnr)} PSNR values")
    return Curve(
        name=name or doc.get("name") or path.stem,
        bpp=_floats(bpp),
        psnr=_floats(psnr),
        ms_ssim=_floats(results.get("ms-ssim", results.get("ms-ssim-rgb", []))),
        encoding_time=_floats(results.get("encoding_time", [])),
        decoding_time=_floats(results.get("decoding_time", [])),
        description=doc.get("description", ""),
        reference=True,
    )
