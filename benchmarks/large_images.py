"""Start-up, speed and peak memory of the vcodec command by image size (a benchmark, not a test).

    python benchmarks/large_images.py [--sizes 1 12 48 256] [--train ../shared/datasets/train] [--work /tmp/vcodec-large]
    python benchmarks/large_images.py --sizes         # the start-up table only

Start-up: the median wall time of 5 runs each of ``vcodec --help``, ``--version``, ``info`` and the
encode of a 128 x 96 image, whole processes. Then, per size in MP (4:3 images; 256 is 16384 x 16384):
a synthetic photo, a mosaic of the training photos each upscaled 2x (so that detail comes at several
scales), written as PNG a band of rows at a time; then ``vcodec encode`` and ``vcodec decode`` of it,
each timed and its peak RSS read with ``/usr/bin/time``. Prints a markdown table of seconds, s/MP and
peak RSS.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vcodec.image.png import PngWriter  # noqa: E402

TIME = "/usr/bin/time"


def dimensions(mp: float) -> tuple[int, int]:
    if mp == 256:
        return 16384, 16384
    width = int(round(math.sqrt(mp * 1e6 * 4 / 3) / 16) * 16)
    return width, width * 3 // 4


def make_image(path: Path, width: int, height: int, photos: list[Path]) -> None:
    """A mosaic of 2x-upscaled photos, written band by band (a 256 MP image never sits in memory)."""
    rng = np.random.default_rng(0)
    tiles = []
    for p in photos[:64]:
        im = Image.open(p).convert("RGB")
        tiles.append(np.asarray(im.resize((im.width * 2, im.height * 2), Image.BICUBIC)))
    th = min(t.shape[0] for t in tiles)
    with open(path, "wb") as f:
        png = PngWriter(f, width, height, "RGB")
        for y in range(0, height, th):
            row, x = [], 0
            while x < width:
                t = tiles[rng.integers(len(tiles))][:th]
                row.append(t)
                x += t.shape[1]
            png.write(np.concatenate(row, axis=1)[: min(th, height - y), :width])
        png.close()


def timed(argv: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of a command. CPU time is what to compare on a shared
    machine: other processes stretch the wall time, much less the CPU time."""
    r = subprocess.run([TIME, "-f", "%e %U %S %M", *argv], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{' '.join(argv)} failed:\n{r.stderr}")
    wall, user, system, kb = r.stderr.strip().splitlines()[-1].split()
    return float(wall), float(user) + float(system), int(kb) / 1024


def startup(work: Path) -> None:
    small = work / "small.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(small)
    subprocess.run(["vcodec", "encode", str(small), "-o", str(work / "small.vcc"), "--quiet"], check=True)
    print("| command (whole process) | wall, median of 5 (s) | CPU (s) |\n|---|---:|---:|")
    for argv in (["vcodec", "--help"], ["vcodec", "--version"], ["vcodec", "info", str(work / "small.vcc")],
                 ["vcodec", "encode", str(small), "-o", str(work / "small.vcc"), "--quiet"]):
        runs = [timed(argv) for _ in range(5)]
        label = " ".join(a if not a.startswith("/") else Path(a).name for a in argv)
        print(f"| `{label}` | {statistics.median(r[0] for r in runs):.2f} | {statistics.median(r[1] for r in runs):.2f} |")
    print()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=float, nargs="*", default=[1, 12, 48])
    p.add_argument("--train", type=Path, default=REPO.parent / "shared" / "datasets" / "train")
    p.add_argument("--work", type=Path, default=Path("/tmp/vcodec-large"))
    p.add_argument("--quality", type=float, default=4.0)
    p.add_argument("--no-startup", action="store_true")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.no_startup:
        startup(args.work)
    if not args.sizes:
        return
    photos = sorted(args.train.glob("*.jpg")) + sorted(args.train.glob("*.png"))
    if not photos:
        raise SystemExit(f"no training photos in {args.train}")
    print(f"quality {args.quality:g}, default tiling and threads")
    print("| image | MP | encode s (CPU s) | s/MP (CPU) | peak RSS MB | decode s (CPU s) | s/MP (CPU) | peak RSS MB | bpp |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mp in args.sizes:
        w, h = dimensions(mp)
        src, vcc, out = (args.work / f"{w}x{h}{ext}" for ext in (".png", ".vcc", ".out.png"))
        if not src.exists():
            make_image(src, w, h, photos)
        enc = timed(["vcodec", "encode", str(src), "-o", str(vcc), "-q", f"{args.quality:g}", "--quiet", "-f"])
        dec = timed(["vcodec", "decode", str(vcc), "-o", str(out), "--quiet"])
        n = w * h / 1e6
        bpp = vcc.stat().st_size * 8 / (w * h)
        cells = [f"{s:.1f} ({c:.1f}) | {s / n:.2f} ({c / n:.2f}) | {mb:.0f}" for s, c, mb in (enc, dec)]
        print(f"| {w}x{h} | {n:.1f} | {cells[0]} | {cells[1]} | {bpp:.3f} |", flush=True)
        out.unlink()


if __name__ == "__main__":
    main()
