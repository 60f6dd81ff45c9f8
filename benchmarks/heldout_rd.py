"""Rate-distortion of encoder settings on the held-out split of the training folder (never Kodak): the
place to tune the encoder (RDO weight, effort levels) without touching a test set.

    python benchmarks/heldout_rd.py --setting plain:rdo=0 --setting rdo2:rdo_weight=2 --setting rdo1:rdo_weight=1

Each ``--setting NAME:key=value,...`` is a Codec configuration (``rdo`` 0/1, ``rdo_weight``,
``orthonormal=1`` for the RDO distortion estimate of vcodec 0.1, which took the synthesis basis as
orthonormal, an effort level's refinement fields ``iterations``, ``lr``, ``lr_end``, ``refine_z``,
``distortion_every``, ``curvature``, ``background`` to try one not in the table, and any keyword ``Codec.compress``
takes, e.g. ``effort``). The first setting is the reference: every other gets its BD-rate against it
(PCHIP, PSNR-RGB), with encode seconds per image. Real bitstreams, whole files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from vcodec.coding.effort import Effort  # noqa: E402
from vcodec.coding.latent import RDO_WEIGHT  # noqa: E402
from vcodec.datasets import list_images, load_rgb, split  # noqa: E402
from vcodec.eval.bjontegaard import bd_rate  # noqa: E402
from vcodec.eval.metrics import psnr_rgb  # noqa: E402
from vcodec.image import Codec  # noqa: E402


REFINEMENT_KEYS = {"iterations": int, "lr": float, "lr_end": float, "refine_z": bool, "distortion_every": int,
                   "curvature": float,
                   "background": bool, "lmbda_scale": float}


def parse_setting(text: str) -> tuple[str, dict, dict]:
    """NAME:key=value,... -> (name, codec attributes, compress keywords)."""
    name, _, rest = text.partition(":")
    attrs, kwargs, refinement = {}, {}, {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        number = float(value)
        if key == "rdo":
            attrs["rdo"] = bool(number)
        elif key in ("rdo_weight", "orthonormal"):
            attrs[key] = number
        elif key in REFINEMENT_KEYS:
            refinement[key] = REFINEMENT_KEYS[key](number)
        else:
            kwargs[key] = int(number) if number.is_integer() else number
    if refinement:  # an effort level of one's own, e.g. iterations=60,lr=0.02,lr_end=0.1,refine_z=1
        kwargs["effort"] = Effort(level=0, **refinement)
    return name, attrs, kwargs


def measure(codec: Codec, images: list[np.ndarray], qualities: list[float], attrs: dict, kwargs: dict) -> dict:
    codec.rdo = attrs.get("rdo", False)  # Codec's default: plain rounding
    codec.coder.rdo_weight = attrs.get("rdo_weight", RDO_WEIGHT)
    weights = codec.model.latent_error_weights().double().reshape(1, -1, 1, 1)
    if attrs.get("orthonormal"):
        weights = torch.full_like(weights, codec.model.g_s.step**2)
    codec.coder.error_weights = weights
    bpp, psnr, seconds = [], [], []
    for q in qualities:
        rates, scores = [], []
        for rgb in images:
            t = time.perf_counter()
            data = codec.compress(rgb, q, **kwargs)
            seconds.append(time.perf_counter() - t)
            rates.append(len(data) * 8 / (rgb.shape[0] * rgb.shape[1]))
            scores.append(psnr_rgb(rgb, codec.decompress(data)))
        bpp.append(float(np.mean(rates)))
        psnr.append(float(np.mean(scores)))
    return {"bpp": bpp, "psnr": psnr, "encode_s": float(np.median(seconds))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "train")
    p.add_argument("--val-fraction", type=float, default=0.05, help="the training runs' held-out share")
    p.add_argument("--setting", action="append", required=True, metavar="NAME:key=value,...")
    p.add_argument("--quality", type=float, nargs="+", default=[1, 2, 3, 4, 5, 6, 7, 8])
    p.add_argument("--limit", type=int, help="use the first N held-out images")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, help="also write the curves here")
    p.add_argument("--weights-of", action="append", default=[], metavar="NAME=FILE",
                   help="code setting NAME with the weights FILE instead of the shipped ones (repeatable)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    _, held_out = split(list_images(args.data), args.val_fraction)
    images = [load_rgb(f) for f in held_out[: args.limit]]
    codec = Codec()
    weights = dict(item.split("=", 1) for item in args.weights_of)
    settings = [parse_setting(s) for s in args.setting]
    curves = {}
    for name, attrs, kwargs in settings:
        curves[name] = measure(Codec(weights=weights[name]) if name in weights else codec, images, args.quality,
                               attrs, kwargs)
        print(f"{name}: " + ", ".join(f"{b:.4f}/{s:.2f}" for b, s in zip(curves[name]["bpp"], curves[name]["psnr"])),
              file=sys.stderr)
    ref = settings[0][0]
    print(f"{len(images)} held-out images of {args.data}, qualities {args.quality}; BD-rate vs {ref!r} (PCHIP)\n")
    print("| setting | BD-rate (%) | encode s/img (median) |")
    print("|---|---:|---:|")
    for name, _, _ in settings:
        c, r = curves[name], curves[ref]
        bd = 0.0 if name == ref else bd_rate(r["bpp"], r["psnr"], c["bpp"], c["psnr"])
        print(f"| {name} | {bd:+.2f} | {c['encode_s']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(curves, indent=2) + "\n")


if __name__ == "__main__":
    main()
