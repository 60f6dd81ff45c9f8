"""Rate-distortion of video encoder settings on the held-out Vimeo clips (the video task's validation split,
never the BasketballPass test clip): the place to tune the P-frame encoder.

    python benchmarks/heldout_video.py --setting ml0.5:motion_lambda=0.5 --setting ml1:motion_lambda=1

Each ``--setting NAME:key=value,...`` sets ``motion_lambda`` (the motion search's multiplier,
``vcodec.video.motion.MOTION_LAMBDA``) and/or ``offset`` (a quality offset added to every P-frame). The
first setting is the reference: every other gets its BD-rate against it (PCHIP, PSNR-RGB), over whole
clips (headers and I-frames included) and over the P-frames alone (their bytes against their PSNR), with
the share of the P-frame bytes spent on motion vectors. Real bitstreams, decoded and checked.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from vcodec.datasets.video import is_held_out_clip, list_clips  # noqa: E402
from vcodec.eval.bjontegaard import bd_rate  # noqa: E402
from vcodec.eval.metrics import psnr_rgb  # noqa: E402
from vcodec.video.codec import MOTION_LAMBDA, VideoCodec  # noqa: E402

KEYS = {"motion_lambda": float, "offset": float}


def parse_setting(text: str) -> tuple[str, dict]:
    """NAME:key=value,... -> (name, settings)."""
    name, _, rest = text.partition(":")
    values = {"motion_lambda": MOTION_LAMBDA, "offset": 0.0}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in KEYS:
            raise SystemExit(f"unknown key {key!r} in {text!r}; known: {', '.join(KEYS)}")
        values[key] = KEYS[key](value)
    return name, values


def held_out_clips(root: Path, limit: int | None) -> list[list[np.ndarray]]:
    """The clips the video task holds out (at its minimum share, 1/8)."""
    clips = [c for c in list_clips(root) if is_held_out_clip(c)]
    return [[np.asarray(Image.open(p).convert("RGB")) for p in c] for c in clips[:limit]]


def measure(codec: VideoCodec, clips, qualities, values: dict) -> dict:
    codec.motion_lambda = values["motion_lambda"]
    offsets = [values["offset"]] if values["offset"] else None
    curve = {"bpp": [], "psnr": [], "p_bpp": [], "p_psnr": [], "motion_share": [], "encode_fps": 0.0}
    frames_coded, seconds = 0, 0.0
    for q in qualities:
        bits, pixels, scores, p_bits, p_pixels, p_scores, motion_bytes, p_bytes = 0, 0, [], 0, 0, [], 0, 0
        for clip in clips:
            t = time.perf_counter()
            report = codec.encode_frames(clip, q, intra_period=32, frame_count=len(clip), quality_offsets=offsets,
                                         keep_reconstructions=True)
            seconds += time.perf_counter() - t
            frames_coded += len(clip)
            decoded = list(codec.decompress(b"".join(report.pieces)))
            if any(not np.array_equal(a, b) for a, b in zip(decoded, report.reconstructions)):
                raise SystemExit("the decoder's frames differ from the encoder's reconstructions")
            area = clip[0].shape[0] * clip[0].shape[1]
            bits += 8 * report.total_bytes
            pixels += area * len(clip)
            for stats, src, rec in zip(report.frames, clip, decoded):
                score = psnr_rgb(src, rec)
                scores.append(score)
                if not stats.intra:
                    p_bits += 8 * stats.bytes
                    p_pixels += area
                    p_scores.append(score)
                    motion_bytes += stats.motion_bytes
                    p_bytes += stats.bytes
        curve["bpp"].append(bits / pixels)
        curve["psnr"].append(float(np.mean(scores)))
        curve["p_bpp"].append(p_bits / p_pixels)
        curve["p_psnr"].append(float(np.mean(p_scores)))
        curve["motion_share"].append(motion_bytes / p_bytes)
    curve["encode_fps"] = frames_coded / seconds
    return curve


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "video" / "vimeo_septuplet_sample")
    p.add_argument("--setting", action="append", required=True, metavar="NAME:key=value,...")
    p.add_argument("--quality", type=float, nargs="+", default=[1, 2, 4, 6])
    p.add_argument("--limit", type=int, help="use the first N held-out clips")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--p-weights-of", action="append", default=[], metavar="NAME=FILE",
                   help="code setting NAME with the P-model weights FILE instead of the shipped ones (repeatable)")
    p.add_argument("--json", type=Path, help="also write the curves here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    clips = held_out_clips(args.data, args.limit)
    if not clips:
        raise SystemExit(f"no held-out clips in {args.data}")
    codec = VideoCodec()
    p_weights = dict(item.split("=", 1) for item in args.p_weights_of)
    settings = [parse_setting(s) for s in args.setting]
    curves = {}
    for name, values in settings:
        coder = VideoCodec(p_weights=p_weights[name]) if name in p_weights else codec
        curves[name] = c = measure(coder, clips, args.quality, values)
        print(f"{name}: " + ", ".join(f"{b:.4f}/{s:.2f}" for b, s in zip(c["p_bpp"], c["p_psnr"]))
              + " (P-frames)", file=sys.stderr)
    ref = settings[0][0]
    size = f"{clips[0][0].shape[1]}x{clips[0][0].shape[0]}"
    print(f"{len(clips)} held-out clips of {args.data} ({len(clips[0])} frames, {size}), qualities {args.quality}; "
          f"BD-rate vs {ref!r} (PCHIP, PSNR-RGB)\n")
    print("| setting | BD-rate, clips (%) | BD-rate, P-frames (%) | motion share of P bytes | encode fps |")
    print("|---|---:|---:|---|---:|")
    for name, _ in settings:
        c, r = curves[name], curves[ref]
        bd = 0.0 if name == ref else bd_rate(r["bpp"], r["psnr"], c["bpp"], c["psnr"])
        bd_p = 0.0 if name == ref else bd_rate(r["p_bpp"], r["p_psnr"], c["p_bpp"], c["p_psnr"])
        share = " / ".join(f"{s:.0%}" for s in c["motion_share"])
        print(f"| {name} | {bd:+.2f} | {bd_p:+.2f} | {share} | {c['encode_fps']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(curves, indent=2) + "\n")


if __name__ == "__main__":
    main()
