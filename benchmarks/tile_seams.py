"""The rate-distortion cost of tiles and transform windows, on Kodak (a measurement, not a tuning).

    python benchmarks/tile_seams.py [--kodak ../shared/datasets/kodak] [--quality 1 2.75 4.5 6.25 8] [--limit N]

Kodak images (768 x 512) are one tile and one transform window at the default tiling, so the seams are
measured with forced small ones, each against whole-image coding:

    tiles 512         entropy-coding tiles of 512 px, transforms on the whole image
    tiles 256         tiles of 256 px and transform windows of 512 px (cores of 256 px, 128 px of context)
    windows 512       transform windows only: one tile

Prints the BD-rate (PSNR-RGB, ``vcodec.eval.bjontegaard.bd_rate``) of each against whole-image coding, and,
to look for visible seams, the PSNR in the 8 px either side of every tile or window boundary next to the
PSNR elsewhere. Results are cached per image (``--cache``), so a rerun only codes what is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONFIGS = {  # name: (tile, window)
    "whole": (1024, 1024),
    "tiles 512": (512, 1024),
    "tiles 256": (256, 512),
    "windows 512": (1024, 512),
}
SEAM_BAND = 8  # px either side of a boundary counted as "at the seam"


def boundaries(length: int, tile: int, window: int, margin: int, align: int) -> list[int]:
    from vcodec.coding.tiles import tile_spans, window_spans

    cuts = {s for s, _ in tile_spans(length, tile)} | {s.core[0] for s in window_spans(length, window, margin, align)}
    return sorted(c for c in cuts if 0 < c < length)


def seam_mask(h: int, w: int, tile: int, window: int, margin: int, align: int) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    for c in boundaries(h + (-h) % 64, tile, window, margin, align):
        mask[max(0, c - SEAM_BAND) : c + SEAM_BAND] = True
    for c in boundaries(w + (-w) % 64, tile, window, margin, align):
        mask[:, max(0, c - SEAM_BAND) : c + SEAM_BAND] = True
    return mask


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kodak", type=Path, default=REPO.parent / "shared" / "datasets" / "kodak")
    p.add_argument("--quality", type=float, nargs="+", default=[1.0, 2.75, 4.5, 6.25, 8.0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, help="only the first N images (sorted by name)")
    p.add_argument("--cache", type=Path, default=Path("/tmp/vcodec-tile-seams.json"))
    args = p.parse_args()

    import torch

    from vcodec import zoo
    from vcodec.coding.tiles import Tiling
    from vcodec.eval.bjontegaard import bd_rate
    from vcodec.image.api import Codec
    from vcodec.image.io import open_image

    torch.set_num_threads(args.threads)
    files = sorted(args.kodak.glob("*.png"))[: args.limit]
    if not files:
        raise SystemExit(f"no PNG images in {args.kodak}")
    model = zoo.load(zoo.DEFAULT_MODEL)
    codecs = {name: Codec(model, tiling=Tiling(t, w)) for name, (t, w) in CONFIGS.items()}
    cache = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    start = time.perf_counter()
    for f in files:
        rgb = np.asarray(open_image(f).convert("RGB"))
        x = rgb.astype(np.float64)
        for q in args.quality:
            if all(f"{f.name}|{name}|{q:g}" in cache for name in CONFIGS):
                continue
            errors = {}
            for name, codec in codecs.items():
                data = codec.compress(rgb, q)
                errors[name] = (np.asarray(codec.decompress(data), dtype=np.float64) - x) ** 2
                cache[f"{f.name}|{name}|{q:g}"] = {"bpp": len(data) * 8 / (rgb.shape[0] * rgb.shape[1]),
                                                   "mse": float(errors[name].mean())}
            for name, (tile, window) in CONFIGS.items():
                mask = seam_mask(*rgb.shape[:2], tile, window, model.tile_margin, model.tile_align)
                if name != "whole" and mask.any():
                    # The whole-image coding's error in the same band: the content's share of the difference.
                    cache[f"{f.name}|{name}|{q:g}"].update(
                        seam=float(errors[name][mask].mean()), rest=float(errors[name][~mask].mean()),
                        seam_whole=float(errors["whole"][mask].mean()), rest_whole=float(errors["whole"][~mask].mean()))
        args.cache.write_text(json.dumps(cache))
        print(f"{f.name} done ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)

    def curve(name, field="mse"):
        bpp, psnr = [], []
        for q in args.quality:
            rows = [cache[f"{f.name}|{name}|{q:g}"] for f in files]
            bpp.append(float(np.mean([r["bpp"] for r in rows])))
            psnr.append(float(np.mean([10 * np.log10(255**2 / r[field]) for r in rows])))
        return bpp, psnr

    ref = curve("whole")
    print(f"Kodak, {len(files)} images, qualities {', '.join(f'{q:g}' for q in args.quality)}; BD-rate (PSNR-RGB) "
          f"against whole-image coding; PSNR within {SEAM_BAND} px of a boundary and elsewhere, mean over qualities, "
          "this coding / whole-image coding of the same pixels")
    print("| coding | BD-rate | PSNR at the seams (dB) | PSNR elsewhere (dB) |")
    print("|---|---:|---:|---:|")
    for name in CONFIGS:
        if name == "whole":
            continue
        band = {k: np.mean(curve(name, k)[1]) for k in ("seam", "seam_whole", "rest", "rest_whole")}
        print(f"| {name} | {bd_rate(*ref, *curve(name)):+.2f} % | {band['seam']:.2f} / {band['seam_whole']:.2f} "
              f"| {band['rest']:.2f} / {band['rest_whole']:.2f} |")

if __name__ == "__main__":
    main()
