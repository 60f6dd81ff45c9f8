"""``vcodec eval-video``: per-frame and per-clip rate-distortion of video codecs on a clip.

    vcodec eval-video clip.y4m --codec x264-420 --codec x265-420:20,28,36 --codec vcodec-intra:1,3,5 \\
        --intra-period 32 --frames 100 --out results/

writes, for a clip NAME:

    results/cache.jsonl          every measurement (codec x settings x quality); reruns reuse it
    results/NAME/CODEC.json      clip means per quality (CompressAI's layout) and every per-frame value
    results/NAME/bd_rate.md      BD-rate against the anchor on PSNR-RGB and YUV-PSNR, fps
    results/NAME/rd.png          RD curves;  results/NAME/frames.png  bits and PSNR of every frame
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vcodec.eval import bjontegaard
from vcodec.eval.errors import EvalError
from vcodec.eval.files import write_json_atomic, write_text_atomic


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``eval-video`` on an argparse subparsers object; its ``func(args)`` returns the exit code."""
    from vcodec.eval.video.codecs import DEFAULT_INTRA_PERIOD, video_codec_names

    parser = subparsers.add_parser(
        "eval-video",
        help="rate-distortion of video codecs on a clip, per frame and per clip",
        description="Code a clip with video codecs over quality sweeps; measure bpp (whole bitstream), PSNR-RGB "
        "and YUV-PSNR per frame; write JSON, a BD-rate table and RD and per-frame plots. Results are cached "
        "per codec, settings and quality: rerunning only computes what is missing.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="codecs: " + ", ".join(video_codec_names()),
    )
    parser.add_argument("clip", help="video file, frame pattern (frames/%%04d.png) or folder of frames")
    parser.add_argument("--codec", action="append", default=[], metavar="NAME[:Q,Q,...]",
                        help="video codec with an optional quality list (repeatable), e.g. x264-420:20,28,36")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder (holds the cache too)")
    parser.add_argument("--frames", type=int, default=None, metavar="N", help="code the first N frames")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate of an image sequence (default 25; files carry theirs); x264's and x265's "
                             "CRF depend on it")
    parser.add_argument("--intra-period", type=int, default=DEFAULT_INTRA_PERIOD, metavar="N",
                        help=f"an I-frame every N frames (default {DEFAULT_INTRA_PERIOD})")
    parser.add_argument("--anchor", help="BD-rate anchor, a codec of this run (default: the first --codec)")
    parser.add_argument("--bd-method", choices=bjontegaard.METHODS, default="pchip", help="default: pchip")
    parser.add_argument("--model", default=None, help="vcodec model name (default: the shipped model)")
    parser.add_argument("--device", default="cpu", help="vcodec device (default cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no line per measurement on stderr")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from vcodec.eval.video import report
    from vcodec.eval.video.runner import VideoCodecSpec, evaluate, load_clip

    if not args.codec:
        raise EvalError("give at least one --codec, e.g. --codec x264-420 --codec vcodec-intra")
    specs = []
    for text in args.codec:
        options = {}
        if text.partition(":")[0].strip().startswith("vcodec"):
            options = {"device": args.device} | ({"model": args.model} if args.model else {})
        spec = VideoCodecSpec.parse(text, options)
        if any(s.name == spec.name for s in specs):
            raise EvalError(f"codec {spec.name!r} given twice; give it one quality list")
        specs.append(spec)
    anchor = args.anchor or specs[0].name
    if anchor not in {s.name for s in specs}:
        raise EvalError(f"--anchor {anchor!r} is not a codec of this run ({', '.join(s.name for s in specs)})")
    if args.frames is not None and args.frames < 1:
        raise EvalError(f"--frames must be 1 or more, got {args.frames}")

    clip = load_clip(args.clip, args.frames, fps=args.fps)
    results = evaluate(clip, specs, args.out / "cache.jsonl", args.intra_period, not args.no_progress)

    folder = args.out / clip.name
    for result in results:
        write_json_atomic(folder / f"{result.codec}.json", result.to_json())
    title = f"{clip.name} ({clip.width}x{clip.height}, {len(clip)} frames, intra period {args.intra_period})"
    table = f"# {title}: BD-rate vs {anchor}\n\n"
    for metric, label in report.METRICS.items():
        table += f"{label}:\n\n" + report.bd_markdown(results, [anchor], metric, args.bd_method) + "\n"
    table += "## Settings\n\n" + "".join(f"- **{r.codec}**: {r.description}\n" for r in results)
    write_text_atomic(folder / "bd_rate.md", table)
    report.plot_rd(results, folder / "rd.png", title)
    target = sorted(r["psnr-rgb"] for r in results[0].records)[len(results[0].records) // 2]
    report.plot_frames(results, {r.codec: report.nearest_quality(r, target) for r in results},
                       folder / "frames.png", f"{title}: each codec near {target:.1f} dB PSNR-RGB")
    sys.stdout.write(table + f"\nwrote {folder}/\n")
    return 0
