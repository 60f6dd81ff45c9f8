"""Regenerate docs/results/video.md and its plots: vcodec against x264 and x265 on the BasketballPass clip.

    nice -n 19 python benchmarks/video.py                   # anchors + vcodec all-intra, 100 frames
    python benchmarks/video.py --no-vcodec --frames 32       # the anchors alone, quickly

Reads the test clip ``datasets/video/basketballpass_416x240`` (f001.png .. f100.png) from the shared folder
(default: ../shared beside the repository). Every (codec, settings, quality) measurement is cached
(``--cache``): a rerun only codes what is missing, and a new codec (the P-frame codec) is added by putting
its name in CODECS. Writes ``OUT/video.md``, ``OUT/video_rd.png``, ``OUT/video_frames.png`` and one JSON per
codec (clip means in CompressAI's layout, every per-frame value beside them) in ``OUT/video/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from vcodec.errors import VcodecError  # noqa: E402
from vcodec.eval.files import write_json_atomic, write_text_atomic  # noqa: E402
from vcodec.eval.report import fmt  # noqa: E402
from vcodec.eval.video import metrics, report  # noqa: E402
from vcodec.eval.video.codecs import video_codec_class  # noqa: E402
from vcodec.eval.video.runner import VideoCodecSpec, evaluate, load_clip  # noqa: E402

CLIP = "datasets/video/basketballpass_416x240"
FRAMES = 100
FPS = 50  # BasketballPass_416x240_50; PNG frames carry no rate, and x264's / x265's CRF depend on it
INTRA_PERIOD = 32
# Measured here, in this order; qualities are each codec's default sweep (vcodec.eval.video.codecs).
CODECS = ("x264-420", "x265-420", "x264-444", "x265-444", "vcodec-intra", "vcodec")
ANCHORS = ("x264-420", "x265-420", "x264-444", "x265-444")
# The per-frame plot shows each codec at the sweep point nearest this clip-mean PSNR-RGB (inside every range).
FRAME_PLOT_PSNR = 32.0
# Published: VTM-17.0 low-delay B on the whole BasketballPass sequence, from DCVC's anchors.
VTM = ("anchors/video/DCVC/vtm_17.0_yuv420_LB_allf_ip0.json", "HEVC_D", "BasketballPass_416x240_50.yuv")


def default_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "vcodec" / "eval" / "video.jsonl"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="shared data folder (default ../shared)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "results", help="report folder (default docs/results)")
    p.add_argument("--cache", type=Path, default=default_cache(), help="measurement cache (JSONL)")
    p.add_argument("--frames", type=int, default=FRAMES, help=f"frames of the clip to code (default {FRAMES})")
    p.add_argument("--codec", action="append", default=[], metavar="NAME[:Q,...]",
                   help="codecs to run (default: " + ", ".join(CODECS) + ")")  # fmt: skip
    p.add_argument("--no-vcodec", action="store_true", help="leave vcodec-intra out of the default list")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--reuse", action="store_true",
                   help="take measurements from OUT/video/*.json (an earlier run's results) wherever the codec's "
                        "description, and so its version and settings, is still the same")
    return p.parse_args(argv)


def reuse_results(folder: Path, clip, specs, cache_path: Path) -> list[str]:
    """Put the measurements of earlier result files into the cache where the codec's description still
    matches (same library versions and settings, same weights): a rerun then codes only what changed."""
    from vcodec.eval.runner import ResultCache, cache_key
    from vcodec.eval.video.codecs import create_video_codec

    cache, reused = ResultCache(cache_path), []
    for spec in specs:
        path = folder / f"{spec.name}.json"
        if not path.is_file():
            continue
        saved = json.loads(path.read_text())
        codec = create_video_codec(spec.name, {"intra_period": INTRA_PERIOD, "fps": clip.fps})
        if saved["description"] != codec.description or saved["num_frames"] != len(clip):
            continue
        res = saved["results"]
        for i, q in enumerate(res["quality"]):
            key = cache_key(clip.sha256, spec.name, codec.description, q)
            if cache.get(key) is not None:
                continue
            frames = saved["per_frame"][i]
            record = {"key": key, "clip": clip.name, "sha256": clip.sha256, "codec": spec.name, "quality": q,
                      "width": saved["width"], "height": saved["height"], "frames": saved["num_frames"],
                      "bytes": sum(frames["bytes"]), **{k: v[i] for k, v in res.items() if k != "quality"},
                      "per_frame": {k: v for k, v in frames.items() if k != "quality"}}
            cache.add(record)
        reused.append(spec.name)
    return reused


def _vtm_points(shared: Path) -> list[dict] | None:
    path = shared / VTM[0]
    if not path.is_file():
        return None
    runs = json.loads(path.read_text())[VTM[1]][VTM[2]]
    return [{"qp": int(qp), "bpp": r["ave_all_frame_bpp"], "psnr": r["ave_all_frame_psnr"], "frames": r["i_frame_num"]
             + r["p_frame_num"]} for qp, r in sorted(runs.items())]  # fmt: skip


def build_markdown(results, clip, args, vtm, frame_qualities) -> str:
    by_name = {r.codec: r for r in results}
    anchors = [a for a in ANCHORS if a in by_name]
    vcodec = by_name.get("vcodec-intra")
    video = by_name.get("vcodec")
    first = results[0].records[0]
    lines = [
        "# Video: vcodec against x264 and x265 on BasketballPass",
        "",
        "Generated by `python benchmarks/video.py"
        + (f" --frames {args.frames}" if args.frames != FRAMES else "")
        + "".join(f" --codec {c}" for c in args.codec) + "`; do not edit by hand. "
        f"Clip: `{CLIP}`, the first {first['frames']} frames of the HEVC class D sequence BasketballPass "
        f"({first['width']}x{first['height']}, 50 fps), as 8-bit RGB PNG converted from its YUV 4:2:0 by "
        "FFmpeg (see the dataset README); the test clip: nothing is trained or tuned on it. Intra period "
        f"{INTRA_PERIOD} for the anchors and vcodec (I-frames 1, 33, 65, 97), every frame intra for vcodec-intra.",
        "",
        f"Rate: the whole bitstream (headers, parameter sets), bpp = 8 bytes / (W H frames). Quality: "
        f"{metrics.DEFINITIONS}. BD-rate: Bjøntegaard delta rate, PCHIP of ln(bpp) against PSNR over the range "
        "two curves share (`vcodec.eval.bjontegaard`); negative = fewer bits than the anchor for the same PSNR.",
        "",
    ]  # fmt: skip
    if vcodec is not None:
        summary = ", ".join(f"{fmt(report.bd_rate(by_name[a], vcodec, m), '.1f', True)} % vs {a} ({label})"
                            for a in anchors[:2] for m, label in report.METRICS.items())  # fmt: skip
        lines += [f"**vcodec all-intra** (every frame a still): {summary}. (Issue 16 measured +464 % against "
                  "x264 and +534 % against x265 the same way on a 176x144, 96-frame clip, keyint 32, 4:2:0.)", ""]
    if video is not None:
        against = anchors[:2] + (["vcodec-intra"] if vcodec is not None else [])
        summary = ", ".join(f"{fmt(report.bd_rate(by_name[a], video, m), '.1f', True)} % vs {a} ({label})"
                            for a in against for m, label in report.METRICS.items())  # fmt: skip
        lines += [f"**vcodec** (low-delay P: I-frames from the image model, P-frames from vcodec-p given the "
                  f"motion-compensated previous decoded frame): {summary}.", ""]
    for metric, label in report.METRICS.items():
        lines += [f"## BD-rate on {label}", "", report.bd_markdown(results, anchors, metric)]
    lines += [
        f"Speed: frames per second at {first['width']}x{first['height']}, mean over the quality sweep, "
        f"on this {os.cpu_count()}-core CPU shared with a training run and other work (load average "
        f"{args.load:.1f} when the run started, so these are lower bounds). x264 and x265 run one thread; "
        "vcodec runs torch with "
        f"{_torch_threads()} threads. Times include the RGB <-> YCbCr conversion (numpy) of the anchors and "
        "the container parsing of every codec; the anchor decode is FFmpeg's, one thread.",
        "",
        "![RD curves](video_rd.png)",
        "",
        "![Bits and PSNR per frame](video_frames.png)",
        "",
        "Per frame: each codec at the point of its sweep nearest "
        f"{FRAME_PLOT_PSNR:g} dB PSNR-RGB (" + ", ".join(f"{c} q={q:g}" for c, q in frame_qualities.items()) + ").",
        "",
        "## Points",
        "",
    ]  # fmt: skip
    for r in results:
        lines += [f"**{r.codec}** ({video_codec_class(r.codec).knob})", "", report.points_markdown(r)]
    lines += ["## Settings", ""]
    lines += [f"- **{r.codec}**: {r.description}" for r in results]
    lines += [
        "",
        "Common to the anchors: the frames go to the encoder as 8-bit Y'CbCr BT.709 full range computed here "
        "(rounded; 4:2:0 chroma by 2x2 box mean), tagged as such in the VUI; the decoder's planes come back "
        "through the inverse (bilinear chroma for 4:2:0, rounded). One conversion for every codec and both "
        "chroma formats; PSNR-RGB therefore includes the 4:2:0 codecs' chroma loss. Anchor settings move video "
        "BD-rates by tens of percent: preset, tune, GOP, rate control and thread count are all stated above.",
        "",
    ]  # fmt: skip
    if vtm:
        lines += [
            "## Published, for context only",
            "",
            f"VTM-17.0 low-delay B (intra period -1) on BasketballPass, from DCVC's anchors (`{VTM[0]}`): "
            f"{vtm[0]['frames']} frames, PSNR = (6Y+U+V)/8 on the original YUV 4:2:0, not on RGB. Another frame "
            "count, GOP and colour domain: not comparable with the table above, so no BD-rate is given.",
            "",
            "| QP | bpp | YUV-PSNR (dB) |",
            "|---:|---:|---:|",
        ]  # fmt: skip
        lines += [f"| {p['qp']} | {p['bpp']:.4f} | {p['psnr']:.2f} |" for p in vtm]
        lines += [""]
    return "\n".join(lines)


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def main(argv=None) -> int:
    args = parse_args(argv)
    args.load = os.getloadavg()[0]
    folder = args.shared / CLIP
    if not folder.is_dir():
        raise VcodecError(f"the test clip {folder} is missing; point --shared at the shared folder")
    names = args.codec or [c for c in CODECS if not (args.no_vcodec and c.startswith("vcodec"))]
    specs = [VideoCodecSpec.parse(text) for text in names]
    clip = load_clip(folder / "f%03d.png", args.frames, name="BasketballPass", fps=FPS)

    if args.reuse:
        reused = reuse_results(args.out / "video", clip, specs, args.cache)
        print(f"reused the earlier measurements of {', '.join(reused) or 'no codec'}", file=sys.stderr)
    results = evaluate(clip, specs, args.cache, INTRA_PERIOD, not args.no_progress)

    for result in results:
        write_json_atomic(args.out / "video" / f"{result.codec}.json", result.to_json())
    title = f"BasketballPass {clip.width}x{clip.height}, {len(clip)} frames, intra period {INTRA_PERIOD}"
    report.plot_rd(results, args.out / "video_rd.png", title)
    frame_qualities = {r.codec: report.nearest_quality(r, FRAME_PLOT_PSNR) for r in results}
    report.plot_frames(results, frame_qualities, args.out / "video_frames.png",
                       f"{title}: each codec near {FRAME_PLOT_PSNR:g} dB PSNR-RGB")
    vtm = _vtm_points(args.shared)
    write_text_atomic(args.out / "video.md", build_markdown(results, clip, args, vtm, frame_qualities))
    print(f"wrote {args.out / 'video.md'}, video_rd.png, video_frames.png and video/*.json")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except VcodecError as e:
        print(f"video benchmark: {e}", file=sys.stderr)
        sys.exit(1)
