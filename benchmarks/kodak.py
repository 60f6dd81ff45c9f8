"""Regenerate docs/results/kodak.md and kodak_rd.png: vcodec and the classical codecs on Kodak.

    python benchmarks/kodak.py --workers 2                  # every codec that can run here
    python benchmarks/kodak.py --codec jpeg --codec hevc-444:46,38,30 --no-vcodec
    python benchmarks/kodak.py --workers 2 --reuse         # only what changed (new weights): the rest from OUT/kodak
    python benchmarks/kodak.py --workers 2 --reuse --add vcodec-e9:1,3,5,7   # and the top effort (about 2.7 h)

Reads the 24 Kodak images and the published curves from the shared folder (default: ../shared
beside the repository): VTM (the BD-rate anchor), BPG and learned codecs as references. Per-image
measurements are cached (``--cache``), so an interrupted or repeated run only computes what is
missing; the averaged CompressAI-style JSON of each codec lands in ``OUT/kodak/``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from vcodec.errors import VcodecError  # noqa: E402
from vcodec.eval import report  # noqa: E402
from vcodec.eval.bjontegaard import bd_rate, psnr_at_rate  # noqa: E402
from vcodec.eval.codecs import codec_class, codec_names, create_codec  # noqa: E402
from vcodec.eval.curves import Curve, load_curve  # noqa: E402
from vcodec.eval.files import write_json_atomic, write_text_atomic  # noqa: E402
from vcodec.eval.metrics import AVERAGING  # noqa: E402
from vcodec.eval.runner import CodecSpec, evaluate  # noqa: E402

# Published curves drawn and tabulated as references: (file under anchors/kodak, label).
REFERENCES = [
    ("vtm.json", "VTM (CompressAI)"),
    ("bpg_444_x265_ycbcr.json", "BPG 4:4:4 (CompressAI)"),
    ("compressai-bmshj2018-hyperprior_mse_cpu.json", "bmshj2018-hyperprior (CompressAI)"),
    ("compressai-mbt2018_mse_cpu.json", "mbt2018 (CompressAI)"),
    ("compressai-cheng2020-anchor_mse_cpu.json", "cheng2020-anchor (CompressAI)"),
    ("paper-elic2022_mse.json", "ELIC (paper)"),
]
ANCHOR = "VTM (CompressAI)"
# The same codec measured independently on this project's machine (anchors/kodak/measured/):
# our numbers should land close to these.
CROSS_CHECK = {
    "jpeg": "jpeg-420.json", "jpeg-444": "jpeg-444.json", "webp": "webp.json", "jpeg2000": "jpeg2000.json",
    "avif-444": "avif-444.json", "h264-444": "h264-444.json", "hevc-444": "hevc-444.json",
    "vp9-444": "vp9-444.json", "bpg": "bpg-444.json", "jpegxl": "jpegxl.json", "vtm": "vtm-444.json",
}  # fmt: skip
RATES = (0.25, 0.5, 0.75)
PLOT_MAX_BPP = 2.0


def default_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "vcodec" / "eval" / "kodak.jsonl"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="shared data folder (default ../shared)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "results", help="report folder (default docs/results)")
    p.add_argument("--cache", type=Path, default=default_cache(), help="per-image result cache (JSONL)")
    p.add_argument("--codec", action="append", default=[], metavar="NAME[:Q,...]",
                   help="codecs to run (default: every available classical codec, and vcodec)")  # fmt: skip
    p.add_argument("--add", action="append", default=[], metavar="NAME[:Q,...]",
                   help="run this codec as well as the default list (e.g. a slow one: vcodec-e9:1,3,5,7)")
    p.add_argument("--no-vcodec", action="store_true", help="leave vcodec out of the default codec list")
    p.add_argument("--reuse", action="store_true",
                   help="take a codec's curve from OUT/kodak/NAME.json (an earlier run) where its description, and "
                        "so its library versions, settings and weights, and its quality sweep are still the same")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


# Not in the default list: the time they take, per Kodak image and quality, on 2 cores.
SLOW_CODECS = {"vcodec-e9": "the top encoder effort, about 100 s per image and quality"}


def choose_codecs(args) -> tuple[list[CodecSpec], list[str]]:
    """The codecs to run, and a note for each one left out and why."""
    added = [CodecSpec.parse(text) for text in args.add]
    if args.codec:
        return [CodecSpec.parse(text) for text in args.codec] + added, []
    specs, notes = [], []
    for name in codec_names():
        if any(spec.name == name for spec in added):
            continue
        if name.startswith("vcodec") and args.no_vcodec:
            notes.append(f"{name}: left out (--no-vcodec)")
            continue
        if name in SLOW_CODECS:
            notes.append(f"{name}: left out of the default list ({SLOW_CODECS[name]}; --add {name}:1,3,5,7 adds it)")
            continue
        reason = codec_class(name).unavailable_reason()
        if reason is None:
            try:
                create_codec(name)
            except VcodecError as e:  # e.g. the vcodec model without weights yet
                reason = str(e)
        if reason:
            notes.append(f"{name}: not run ({reason})")
        else:
            specs.append(CodecSpec.parse(name))
    return specs + added, notes


def reuse_curves(folder: Path, specs: list[CodecSpec], num_images: int) -> tuple[list[CodecSpec], list[Curve], dict[str, tuple]]:
    """(the specs still to run, the curves of the others from their earlier result files, their quality
    sweeps): a file is reused only where the codec describes itself as it did then, over as many images
    and the same qualities."""
    to_run, curves, qualities = [], [], {}
    for spec in specs:
        path = folder / f"{spec.name}.json"
        try:
            saved = json.loads(path.read_text())
            same = (saved["description"] == create_codec(spec.name, dict(spec.options)).description
                    and saved["num_images"] == num_images
                    and tuple(saved["results"]["quality"]) == spec.qualities)
        except (OSError, ValueError, KeyError, TypeError):
            same = False
        if not same:
            to_run.append(spec)
            continue
        curve = load_curve(path, spec.name)
        curve.reference = False
        curves.append(curve)
        qualities[spec.name] = spec.qualities
    return to_run, curves, qualities


def _fmt_time(curve: Curve, which: str) -> str:
    value = curve.median_time(which)
    return report.fmt(value, ".3f" if value < 10 else ".0f")


def build_markdown(measured: list[Curve], qualities: dict[str, tuple], references: list[Curve], jpeg: Curve,
                   cross: dict[str, float], notes: list[str], args, num_images: int) -> str:  # fmt: skip
    anchor = next(c for c in references if c.name == ANCHOR)
    vs_vtm = {c.name: report.bd_or_nan(bd_rate, anchor.bpp, anchor.psnr, c.bpp, c.psnr) for c in measured + references}
    vs_jpeg = {c.name: report.bd_or_nan(bd_rate, jpeg.bpp, jpeg.psnr, c.bpp, c.psnr) for c in measured + references}
    measured = sorted(measured, key=lambda c: vs_vtm[c.name] if math.isfinite(vs_vtm[c.name]) else math.inf)
    rate_cols = " | ".join(f"PSNR @{r} bpp" for r in RATES)
    lines = [
        "# Kodak: rate–distortion of vcodec and classical codecs",
        "",
        "Generated by `python benchmarks/kodak.py"
        + (f" --workers {args.workers}" if args.workers != 1 else "")
        + (" --reuse" if args.reuse else "")
        + "".join(f" --add {text}" for text in args.add)
        + "`; do not edit by hand. "
        + ("Rows whose codec describes itself as in the last run are that run's (`--reuse`). " if args.reuse else "")
        + f"{num_images} Kodak images (768×512), PSNR on 8-bit RGB, MS-SSIM in the JSON files and the plot.",
        "",
        f"BD-rate: {report.method_text('pchip')}; negative = fewer bits for the same PSNR. "
        f"*vs VTM* uses CompressAI's published VTM curve (`anchors/kodak/vtm.json`); *vs JPEG* uses "
        f"{jpeg.name + ' as measured here' if not jpeg.reference else jpeg.name}. "
        "PSNR at a rate is interpolated the same way (n/a outside a curve's range). "
        f"Dataset averages: {AVERAGING}.",
        "",
        f"| codec | BD-rate vs VTM (%) | BD-rate vs JPEG (%) | {rate_cols} | bpp range | encode (s/img) "
        "| decode (s/img) | cross-check (%) |",
        "|---|---:|---:|" + "---:|" * len(RATES) + "---|---:|---:|---:|",
    ]  # fmt: skip
    for c in measured + references:
        bpps = [b for b in c.bpp if math.isfinite(b)]
        at = " | ".join(report.fmt(psnr_at_rate(c.bpp, c.psnr, r), ".2f") for r in RATES)
        name = f"*{c.name}* (published)" if c.reference else f"**{c.name}**"
        lines.append(
            f"| {name} | {report.fmt(vs_vtm[c.name], '.1f', True)} | {report.fmt(vs_jpeg[c.name], '.1f', True)} "
            f"| {at} | {min(bpps):.3f}–{max(bpps):.3f} | {_fmt_time(c, 'encoding_time')} "
            f"| {_fmt_time(c, 'decoding_time')} | {report.fmt(cross.get(c.name, math.nan), '.1f', True)} |"
        )
    lines += [
        "",
        f"Times: median per image (over the images, then the quality sweep), {args.workers} worker process(es) on a "
        f"{os.cpu_count()}-core CPU, one thread per encoder; published curves carry the times in their files "
        "(other machines, GPUs for the learned ones), not comparable. *Cross-check*: BD-rate vs VTM of the "
        "same codec measured independently on this project's machine (`anchors/kodak/measured/`), with its own "
        "quality sweep. BD-rates depend on the range two curves share: each codec here sweeps about 0.05–2 bpp "
        "where its knob reaches (JPEG stops at 0.22 bpp, VP9 at 0.26), so where a cross-check sweep went "
        "further (JPEG and WebP to ~3 bpp) the figures differ by a few points for identical encodes.",
        "",
        "![RD curves on Kodak](kodak_rd.png)",
        "",
        "## Settings",
        "",
    ]
    for c in measured:
        knob = " ".join(w for w in codec_class(c.name).knob.split() if not w[0].isdigit())  # drop "1-100"
        lines.append(f"- **{c.name}** ({knob} {', '.join(f'{q:g}' for q in qualities[c.name])}): {c.description}")
    lines += [f"- *{c.name}*: `{c.description}`" for c in references]
    if notes:
        lines += ["", "## Not run", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    kodak = args.shared / "datasets" / "kodak"
    anchors = args.shared / "anchors" / "kodak"
    references = [load_curve(anchors / f, name) for f, name in REFERENCES if (anchors / f).exists()]
    if not any(c.name == ANCHOR for c in references):
        raise VcodecError(f"the VTM anchor {anchors / 'vtm.json'} is missing; point --shared at the shared folder")
    specs, notes = choose_codecs(args)
    for note in notes:
        print(note, file=sys.stderr)

    measured, qualities, num_kodak = [], {}, len(list(kodak.glob("*.png")))
    if args.reuse:
        specs, measured, qualities = reuse_curves(args.out / "kodak", specs, num_kodak)
        print(f"reused the earlier curves of {', '.join(c.name for c in measured) or 'no codec'}", file=sys.stderr)
    results = evaluate([kodak], specs, args.cache, args.workers, not args.no_progress) if specs or not measured else []

    qualities.update({r.codec: r.qualities for r in results})
    for result in results:
        write_json_atomic(args.out / "kodak" / f"{result.codec}.json", result.to_json())
        measured.append(result.average())
    num_images = len({r["image"] for r in results[0].records}) if results else num_kodak
    jpeg = next((c for c in measured if c.name == "jpeg"), None)
    if jpeg is None:
        jpeg = load_curve(anchors / "jpeg.json", "JPEG (CompressAI)")
    anchor = next(c for c in references if c.name == ANCHOR)
    cross = {}
    for c in measured:
        path = anchors / "measured" / CROSS_CHECK.get(c.name, "-")
        if path.is_file():
            other = load_curve(path)
            cross[c.name] = report.bd_or_nan(bd_rate, anchor.bpp, anchor.psnr, other.bpp, other.psnr)

    markdown = build_markdown(measured, qualities, references, jpeg, cross, notes, args, num_images)
    write_text_atomic(args.out / "kodak.md", markdown)
    report.plot_rd(measured + references, args.out / "kodak_rd.png", f"Kodak ({num_images} images)", PLOT_MAX_BPP)
    print(f"wrote {args.out / 'kodak.md'} and {args.out / 'kodak_rd.png'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except VcodecError as e:
        print(f"kodak benchmark: {e}", file=sys.stderr)
        sys.exit(1)
