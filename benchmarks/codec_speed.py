"""Encode and decode seconds per image, and the entropy-coding overhead, on Kodak (a benchmark, not a test).

    python benchmarks/codec_speed.py [--kodak ../shared/datasets/kodak] [--quality 1 4 8] [--device cpu]

Prints one row per quality: mean encode and decode seconds per image (after one warm-up image), bpp,
and the coded size of z and y against their ideal information content under the model.
Target on 2 CPU cores: at most 2 s each per 768x512 image.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from vcodec.image import Codec
from vcodec.image.io import open_image, to_planes

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "datasets" / "kodak")
    p.add_argument("--quality", type=float, nargs="+", default=[1.0, 4.0, 8.0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=int, default=24, help="images to time (default all 24)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    files = sorted(args.kodak.glob("*.png"))[: args.limit]
    if not files:
        raise SystemExit(f"no PNG images in {args.kodak}")
    codec = Codec(device=args.device)
    codec.compress(open_image(files[0]), 4.0)  # warm-up: first-call allocations and kernel selection
    print(f"device {args.device}, {torch.get_num_threads()} threads, {len(files)} images")
    print("| quality | bpp | encode s | decode s | z bits / ideal | y bits / ideal | overhead |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for q in args.quality:
        enc_s, dec_s, bpp, coded, ideal = [], [], [], {"z": 0, "y": 0}, {"z": 0.0, "y": 0.0}
        for f in files:
            img = open_image(f)
            t = time.perf_counter()
            data = codec.compress(img, q)
            enc_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            codec.decompress(data)
            dec_s.append(time.perf_counter() - t)
            bpp.append(len(data) * 8 / (img.size[0] * img.size[1]))
            lat = codec.coder.encode(codec._pad(to_planes(img).rgb), q - 1, measure=True)
            coded["z"] += len(lat.z_bytes) * 8
            coded["y"] += len(lat.y_bytes) * 8
            for k in ideal:
                ideal[k] += lat.ideal_bits[k]
        over = (coded["z"] + coded["y"]) / (ideal["z"] + ideal["y"]) - 1
        print(f"| {q:g} | {np.mean(bpp):.4f} | {np.mean(enc_s):.3f} | {np.mean(dec_s):.3f} | "
              f"{coded['z'] / ideal['z']:.4f} | {coded['y'] / ideal['y']:.4f} | {100 * over:+.3f} % |")


if __name__ == "__main__":
    main()
