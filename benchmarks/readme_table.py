"""Rewrite the results table of README.md from docs/results (run after benchmarks/kodak.py).

    python benchmarks/readme_table.py [--check]

The table gives vcodec's Kodak BD-rate (PSNR-RGB, PCHIP) against VTM (CompressAI's published curve, the
anchor of docs/results/kodak.md, read from ../shared/anchors/kodak/vtm.json), AVIF, HEVC and JPEG (as
measured in docs/results/kodak/), and each codec's encode and decode seconds per image: the median over
the quality sweep of the per-quality times in its result file. Where docs/results/kodak/vcodec-e9.json
exists (``benchmarks/kodak.py --add vcodec-e9:1,3,5,7``), a column gives the top encoder effort's BD-rates. Once docs/results/video/vcodec.json exists
(benchmarks/video.py), a second table gives the video codec's BD-rate on BasketballPass against x265,
x264 and vcodec all-intra, with frames per second. ``--check`` exits 1 if README.md is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vcodec.eval.bjontegaard import bd_rate  # noqa: E402
from vcodec.eval.curves import load_curve  # noqa: E402
from vcodec.eval.files import write_text_atomic  # noqa: E402

RESULTS = REPO / "docs" / "results" / "kodak"
VTM = REPO.parent / "shared" / "anchors" / "kodak" / "vtm.json"
# (label, curve file): the codecs users know, strongest first.
ANCHORS = [
    ("VTM (CompressAI's published curve)", VTM),
    ("AVIF 4:4:4 (libaom, speed 4)", RESULTS / "avif-444.json"),
    ("HEVC 4:4:4 (x265, placebo)", RESULTS / "hevc-444.json"),
    ("JPEG 4:2:0 (libjpeg-turbo)", RESULTS / "jpeg.json"),
]
VIDEO = REPO / "docs" / "results" / "video"
# (label, result file) for video: vcodec's P-frame codec against these, on BasketballPass.
VIDEO_ANCHORS = [
    ("x265 4:2:0 (medium, zerolatency, no B-frames)", "x265-420"),
    ("x264 4:2:0 (medium, zerolatency, no B-frames)", "x264-420"),
    ("vcodec all-intra (every frame a still)", "vcodec-intra"),
]
BEGIN = "<!-- results: made by benchmarks/readme_table.py from docs/results; do not edit by hand -->"
END = "<!-- /results -->"


def seconds(value: float) -> str:
    return "n/a" if value != value else f"{value:.3f}" if value < 10 else f"{value:.0f}"


def table() -> str:
    vcodec = load_curve(RESULTS / "vcodec.json")
    top = load_curve(RESULTS / "vcodec-e9.json") if (RESULTS / "vcodec-e9.json").is_file() else None
    extra = (" | with `--effort 9`", "---:|") if top else ("", "")
    lines = [f"| Kodak, 24 images | BD-rate of vcodec against it{extra[0]} | its encode (s/image) "
             "| its decode (s/image) |", f"|---|---:|{extra[1]}---:|---:|"]
    for label, path in ANCHORS:
        anchor = load_curve(path)
        rates = [bd_rate(anchor.bpp, anchor.psnr, c.bpp, c.psnr) for c in (vcodec, top) if c is not None]
        lines.append(f"| {label} | {' | '.join(f'{r:+.1f} %' for r in rates)} "
                     f"| {seconds(anchor.median_time('encoding_time'))} | {seconds(anchor.median_time('decoding_time'))} |")
    lines.append(f"| **vcodec** (vcodec-base) | {'| ' if top else ''}| "
                 f"{seconds(vcodec.median_time('encoding_time'))} | {seconds(vcodec.median_time('decoding_time'))} |")
    lines += ["", "Positive: vcodec needs that many more bits for the same PSNR. Times: one thread on a 2-core CPU, "
              "except VTM's (its published file, another machine). Details and more codecs: "
              "[docs/results/kodak.md](docs/results/kodak.md)."]
    if top:
        gain = bd_rate(vcodec.bpp, vcodec.psnr, top.bpp, top.psnr)
        sweep = json.loads((RESULTS / "vcodec-e9.json").read_text())["results"]["quality"]
        lines[-1] += (f" `--effort 9` searches the latents of each image (quality {', '.join(f'{q:g}' for q in sweep)}"
                      f"; {gain:+.1f} % against the default effort, about 100 s an image on two idle cores: "
                      "[docs/results/effort.md](docs/results/effort.md)).")
    if (VIDEO / "vcodec.json").is_file():
        lines += ["", *video_table()]
    return "\n".join(lines)


def _video_curve(name: str) -> tuple[list[float], list[float], float, float]:
    """bpp, PSNR-RGB, and encode and decode frames per second over the sweep, of a video result file."""
    data = json.loads((VIDEO / f"{name}.json").read_text())
    r, frames = data["results"], data["num_frames"] * len(data["results"]["bpp"])
    return r["bpp"], r["psnr-rgb"], frames / sum(r["encoding_time"]), frames / sum(r["decoding_time"])


def video_table() -> list[str]:
    bpp, psnr, enc, dec = _video_curve("vcodec")
    lines = ["| BasketballPass 416x240, 100 frames, intra period 32 | BD-rate of vcodec video against it "
             "| its encode (frames/s) | its decode (frames/s) |", "|---|---:|---:|---:|"]
    for label, name in VIDEO_ANCHORS:
        a_bpp, a_psnr, a_enc, a_dec = _video_curve(name)
        lines.append(f"| {label} | {bd_rate(a_bpp, a_psnr, bpp, psnr):+.1f} % | {a_enc:.1f} | {a_dec:.1f} |")
    lines += [f"| **vcodec** video (low-delay P) | | {enc:.2f} | {dec:.2f} |", "",
              "PSNR-RGB. Details and settings: [docs/results/video.md](docs/results/video.md)."]
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if README.md does not hold this table")
    args = p.parse_args()
    readme = REPO / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{table()}\n{END}{tail}"
    if args.check:
        sys.exit(0 if new == text else 1)
    if new != text:
        write_text_atomic(readme, new)


if __name__ == "__main__":
    main()
