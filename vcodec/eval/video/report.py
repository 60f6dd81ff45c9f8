"""Tables and plots of video results: BD-rates against anchors, the RD plot, and bits and PSNR per frame."""

from __future__ import annotations

import io
import math
from pathlib import Path

from vcodec.eval import bjontegaard
from vcodec.eval.files import write_bytes_atomic
from vcodec.eval.report import bd_or_nan, fmt
from vcodec.eval.video.runner import VideoResult

#: The distortion measures BD-rates are given on: result key -> label.
METRICS = {"psnr-rgb": "PSNR-RGB", "psnr-yuv": "YUV-PSNR"}


def bd_rate(anchor: VideoResult, test: VideoResult, metric: str = "psnr-rgb", method: str = "pchip") -> float:
    """BD-rate (%) of ``test`` against ``anchor`` on clip-mean bpp and ``metric``; NaN where they do not overlap."""
    a, t = anchor.curve(metric), test.curve(metric)
    return bd_or_nan(bjontegaard.bd_rate, a.bpp, a.psnr, t.bpp, t.psnr, method=method)


def _range(values, spec: str) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return f"{min(values):{spec}}–{max(values):{spec}}" if values else "n/a"


def bd_markdown(results: list[VideoResult], anchors: list[str], metric: str = "psnr-rgb",
                method: str = "pchip") -> str:  # fmt: skip
    """One row per codec: its bpp and ``metric`` ranges, its BD-rate against each anchor, and its speed."""
    by_name = {r.codec: r for r in results}
    label = METRICS[metric]
    lines = [
        f"| codec | bpp | {label} (dB) | " + " | ".join(f"BD-rate vs {a} (%)" for a in anchors)
        + " | encode (fps) | decode (fps) |",
        "|---|---|---|" + "---:|" * len(anchors) + "---:|---:|",
    ]  # fmt: skip
    for r in results:
        bds = [fmt(bd_rate(by_name[a], r, metric, method), ".1f", True) for a in anchors]
        lines.append(
            f"| **{r.codec}** | {_range([x['bpp'] for x in r.records], '.3f')} "
            f"| {_range([x[metric] for x in r.records], '.2f')} | " + " | ".join(bds)
            + f" | {fmt(r.fps('encoding'), '.1f')} | {fmt(r.fps('decoding'), '.1f')} |"
        )  # fmt: skip
    return "\n".join(lines) + "\n"


def points_markdown(result: VideoResult) -> str:
    """Every point of one codec's sweep: quality, bpp, the PSNRs and the I/P split of the bits."""
    lines = ["| quality | bpp | PSNR-RGB (dB) | YUV-PSNR (dB) | PSNR-Y / U / V (dB) | I-frame bits (%) |",
             "|---:|---:|---:|---:|---|---:|"]  # fmt: skip
    for r in result.records:
        frames = r["per_frame"]
        intra = sum(b for b, t in zip(frames["bytes"], frames["type"]) if t == "I")
        lines.append(f"| {r['quality']:g} | {r['bpp']:.4f} | {r['psnr-rgb']:.2f} | {r['psnr-yuv']:.2f} "
                     f"| {r['psnr-y']:.2f} / {r['psnr-u']:.2f} / {r['psnr-v']:.2f} | {100 * intra / r['bytes']:.0f} |")
    return "\n".join(lines) + "\n"


def nearest_quality(result: VideoResult, psnr: float, metric: str = "psnr-rgb") -> float:
    """The quality of the sweep whose clip mean ``metric`` is nearest ``psnr``."""
    return min(result.records, key=lambda r: abs(r[metric] - psnr))["quality"]


def _figure(rows: int, columns: int, size: tuple[float, float]):
    # Figure + Agg canvas, not pyplot: no global backend switch, no GUI, safe in any process.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, columns, squeeze=False)


def _save(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    write_bytes_atomic(path, buffer.getvalue())


def _colours(results: list[VideoResult]) -> dict[str, tuple]:
    import matplotlib

    palette = matplotlib.colormaps["tab10"].colors
    return {r.codec: palette[i % len(palette)] for i, r in enumerate(results)}


def plot_rd(results: list[VideoResult], path: Path, title: str) -> None:
    """PSNR-RGB and YUV-PSNR (clip means) against bpp on a log axis, one curve per codec."""
    fig, axes = _figure(1, len(METRICS), (13, 5.5))
    colours = _colours(results)
    for ax, (metric, label) in zip(axes[0], METRICS.items()):
        for r in results:
            points = sorted((x["bpp"], x[metric]) for x in r.records if math.isfinite(x[metric]))
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=r.codec, color=colours[r.codec])
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (clip mean, whole bitstream)")
        ax.set_ylabel(f"{label} (dB)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    _save(fig, path)


def plot_frames(results: list[VideoResult], qualities: dict[str, float], path: Path, title: str) -> None:
    """Bits and PSNR-RGB of every frame, one line per codec at the quality given for it."""
    fig, axes = _figure(2, 1, (11, 7))
    colours = _colours(results)
    bits_ax, psnr_ax = axes[0][0], axes[1][0]
    for r in results:
        if r.codec not in qualities:
            continue
        record = r.record(qualities[r.codec])
        frames = record["per_frame"]
        index = range(1, len(frames["bytes"]) + 1)
        label = f"{r.codec} q={record['quality']:g} ({record['bpp']:.3f} bpp, {record['psnr-rgb']:.2f} dB)"
        style = {"color": colours[r.codec], "linewidth": 1}
        bits_ax.plot(index, [8 * b / 1000 for b in frames["bytes"]], label=label, **style)
        psnr_ax.plot(index, frames["psnr-rgb"], label=label, **style)
    bits_ax.set_yscale("log")
    bits_ax.set_ylabel("kbit per frame")
    psnr_ax.set_ylabel("PSNR-RGB (dB)")
    psnr_ax.set_xlabel("frame")
    for ax in (bits_ax, psnr_ax):
        ax.grid(True, which="both", alpha=0.3)
    bits_ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(title)
    _save(fig, path)
