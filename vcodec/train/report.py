"""The validation curve of a run as a markdown table, read from its JSONL log."""

from __future__ import annotations

import json
from pathlib import Path

from vcodec.errors import VcodecError


def read_log(path: str | Path) -> list[dict]:
    path = Path(path)
    if path.is_dir():
        path = path / "log.jsonl"
    if not path.is_file():
        raise VcodecError(f"no training log at {path}")
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a kill mid-write: skip it, keep the rest
            continue
    return records


def markdown(records: list[dict]) -> str:
    """One row per validation: step, hours of training, then bpp / PSNR of each validated level."""
    vals = [r for r in records if r.get("event") == "val"]
    if not vals:
        return "(no validation in this log yet)\n"
    levels = [row["q"] for row in vals[-1]["levels"]]
    head = "| step | hours | " + " | ".join(f"q{q} bpp / PSNR" for q in levels) + " |"
    lines = [head, "|" + "---|" * (2 + len(levels))]
    for v in vals:
        by_q = {row["q"]: row for row in v["levels"]}
        cells = [f"{by_q[q]['bpp']:.3f} / {by_q[q]['psnr']:.2f}" if q in by_q else "" for q in levels]
        lines.append(f"| {v['step']} | {v['elapsed'] / 3600:.2f} | " + " | ".join(cells) + " |")
    trains = [r for r in records if r.get("event") == "train"]
    if trains:
        last = trains[-1]
        lines.append("")
        lines.append(f"Last training log (step {last['step']}): loss {last['loss']:.4f}, bpp {last['bpp']:.4f}, "
                     f"PSNR {last['psnr']:.2f} dB, lr {last['lr']:.2e}, {last['samples_per_s']:.1f} samples/s, "
                     f"{last['skipped']} skipped steps.")
    return "\n".join(lines) + "\n"
