"""Tables and plots of RD curves: BD-rate against an anchor (markdown and CSV) and the RD plot."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from vcodec.errors import VcodecError
from vcodec.eval import bjontegaard
from vcodec.eval.curves import Curve
from vcodec.eval.files import write_bytes_atomic
from vcodec.eval.metrics import AVERAGING


@dataclass
class BdRow:
    curve: Curve
    bd_rate: float
    bd_psnr: float


def bd_or_nan(fn, *args, **kwargs) -> float:
    """A BD number, or NaN when the curves cannot be compared (too few points, no overlap)."""
    try:
        return fn(*args, **kwargs)
    except VcodecError:
        return math.nan


def bd_rows(curves: list[Curve], anchor: Curve, method: str = "pchip") -> list[BdRow]:
    return [
        BdRow(
            c,
            bd_or_nan(bjontegaard.bd_rate, anchor.bpp, anchor.psnr, c.bpp, c.psnr, method=method),
            bd_or_nan(bjontegaard.bd_psnr, anchor.bpp, anchor.psnr, c.bpp, c.psnr, method=method),
        )
        for c in curves
    ]


def fmt(value: float, spec: str = ".1f", signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return format(value, ("+" if signed else "") + spec)


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _range(values: list[float], spec: str) -> str:
    values = _finite(values)
    return f"{min(values):{spec}}–{max(values):{spec}}" if values else "n/a"


def method_text(method: str) -> str:
    if method == "pchip":
        return (
            "Bjøntegaard delta, PCHIP (piecewise cubic Hermite) of ln(bpp) vs PSNR-RGB, integrated exactly "
            "over the common range"
        )
    return "Bjøntegaard delta, cubic polynomial fit of ln(bpp) vs PSNR-RGB (VCEG-M33), over the common range"


def bd_markdown(rows: list[BdRow], anchor: Curve, method: str, title: str) -> str:
    lines = [
        f"# {title}",
        "",
        f"Anchor: **{anchor.name}**. {method_text(method)}. Negative BD-rate = fewer bits than the anchor "
        "for the same PSNR. Times are medians per image (over the images, then over the quality sweep).",
        "",
        "| codec | BD-rate (%) | BD-PSNR (dB) | bpp range | PSNR range (dB) | encode (s) | decode (s) |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    for r in rows:
        c = r.curve
        name = f"{c.name} (reference)" if c.reference else c.name
        lines.append(
            f"| {name} | {fmt(r.bd_rate, '.1f', True)} | {fmt(r.bd_psnr, '.2f', True)} | {_range(c.bpp, '.3f')} "
            f"| {_range(c.psnr, '.2f')} | {fmt(c.median_time('encoding_time'), '.3f')} "
            f"| {fmt(c.median_time('decoding_time'), '.3f')} |"
        )
    lines += ["", f"Dataset averages: {AVERAGING}.", "", "Settings:", ""]
    lines += [f"- **{r.curve.name}**: {r.curve.description or 'no description'}" for r in rows]
    return "\n".join(lines) + "\n"


def bd_csv(rows: list[BdRow], anchor: Curve, method: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["codec", "reference", "anchor", "method", "bd_rate_percent", "bd_psnr_db", "bpp_min", "bpp_max",
                     "encoding_time_s", "decoding_time_s"])  # fmt: skip
    for r in rows:
        bpp = _finite(r.curve.bpp)
        writer.writerow([
            r.curve.name, int(r.curve.reference), anchor.name, method, f"{r.bd_rate:.4f}", f"{r.bd_psnr:.4f}",
            f"{min(bpp):.5f}" if bpp else "nan", f"{max(bpp):.5f}" if bpp else "nan",
            f"{r.curve.median_time('encoding_time'):.5f}", f"{r.curve.median_time('decoding_time'):.5f}",
        ])  # fmt: skip
    return out.getvalue()


def plot_rd(curves: list[Curve], path: Path, title: str, max_bpp: float | None = None) -> None:
    """PSNR-RGB and MS-SSIM (dB) against bpp, every curve; references dashed. Written atomically."""
    # Figure + Agg canvas, not pyplot: no global backend switch, no GUI, safe in any process.
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    measured = [b for c in curves if not c.reference for b in _finite(c.bpp)]
    if max_bpp is None:
        max_bpp = max(measured) * 1.05 if measured else 2.0
    with_ms_ssim = [c for c in curves if _finite(c.ms_ssim)]
    fig = Figure(figsize=(13, 6) if with_ms_ssim else (7, 6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if with_ms_ssim else 1, squeeze=False)[0]
    # Same colour for a curve in both panels; references (dashed) draw from their own palette.
    colours = {}
    for group, palette in ((False, "tab10"), (True, "Dark2")):
        colors = matplotlib.colormaps[palette].colors
        for i, c in enumerate(c for c in curves if c.reference == group):
            colours[id(c)] = colors[i % len(colors)]
    panels = [(axes[0], "PSNR-RGB (dB)", lambda c: c.psnr)]
    if with_ms_ssim:
        panels.append((axes[1], "MS-SSIM (dB) = -10 log10(1 - MS-SSIM)", _ms_ssim_db))
    for ax, label, values in panels:
        lows, highs = [], []
        for c in curves:
            points = sorted((b, v) for b, v in zip(c.bpp, values(c)) if _is_num(b) and _is_num(v))
            if not points:
                continue
            xs, ys = zip(*points)
            style = {"linestyle": "--", "linewidth": 1.2} if c.reference else {"marker": "o", "markersize": 3}
            ax.plot(xs, ys, label=f"{c.name} (ref.)" if c.reference else c.name, color=colours[id(c)], **style)
            visible = [y for x, y in points if x <= max_bpp]
            lows += visible[:1]
            highs += visible[-1:]
        ax.set_xlim(0, max_bpp)
        if lows and highs:
            ax.set_ylim(min(lows) - 0.5, max(highs) + 0.5)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    write_bytes_atomic(path, buffer.getvalue())


def _is_num(v) -> bool:
    return v is not None and math.isfinite(v)


def _ms_ssim_db(c: Curve) -> list[float]:
    return [-10 * math.log10(1 - v) if _is_num(v) and v < 1 else math.nan for v in c.ms_ssim] or [math.nan] * len(c.bpp)
