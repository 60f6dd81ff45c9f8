#!/usr/bin/env bash
# One chunk of training on a lent GPU machine, in one prepared command (docs/training.md, "GPU burst").
#
#   here, once:   bash benchmarks/gpu_burst.sh prepare [TASK]
#                 -> .burst/ (ignored by git): cp312 wheels of what the GPU machine lacks (compressai,
#                    constriction, pytorch-msssim) and a copy of the data TASK trains on: the photos
#                    (20 MB) for image, and the video clips (14 MB) too for video; checkout plus .burst
#                    must stay under the 64 MiB a device run carries, which prepare checks
#   there:        device run, carry [".burst"], command:
#                 bash benchmarks/gpu_burst.sh run [MINUTES] [TASK]
#                 -> installs the wheels, trains MINUTES (default 8, at most 8.5: the call has 10 minutes)
#                    from the shipped weights in bf16 (torch.compile only with BURST_COMPILE=1), exports,
#                    checks CPU/GPU decoding (pytest -k cpu_and_gpu), compares the exported weights with
#                    the shipped ones on the held-out split until BURST_SECONDS (590) of the call have
#                    passed (real bitstreams: benchmarks/heldout_rd.py, or heldout_video.py for video),
#                    and leaves the weights
#                    (fp16, ~12 MB), the sidecar and the logs in $OUT (files of at most 16 MB)
#   here, after:  cp /work/.device/.../vcodec-base.pt vcodec/weights/ (and the .json), then measure Kodak
#
# TASK is image (vcodec-base, the default) or video (the P-frame model vcodec-p, from vcodec-p's weights
# if they ship, else from the image model). The same command runs here on the CPU (the wheels are
# skipped where the packages import already): bash benchmarks/gpu_burst.sh run 1
set -euo pipefail
cd "$(dirname "$0")/.."
BURST=.burst
PY=${PYTHON:-python3}

prepare() {
    local task=${1:-image}
    grep -qx '/.burst/' .git/info/exclude 2>/dev/null || echo '/.burst/' >> .git/info/exclude
    mkdir -p "$BURST/wheels" "$BURST/data"
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$BURST/wheels" compressai==1.2.8 constriction pytorch-msssim
    rm -rf "$BURST/data/train" "$BURST/data/video"
    cp -r ../shared/datasets/train "$BURST/data/train"
    [ "$task" = video ] && cp -r ../shared/datasets/video/vimeo_septuplet_sample "$BURST/data/video"
    local kb
    kb=$( (git ls-files -z --cached --others --exclude-standard | du -ck --files0-from=- | tail -n 1 | cut -f1;
           du -sk "$BURST" | cut -f1) | paste -sd+ | bc)
    echo "checkout + $BURST: $((kb / 1024)) MiB of the 64 MiB a device run carries"
    [ "$kb" -lt $((63 * 1024)) ] || { echo "too large to carry" >&2; exit 1; }
}

run() {
    local minutes=${1:-8} task=${2:-image}
    local out=${OUT:-/tmp/burst-out} site=/tmp/burst-site run=/tmp/burst-run
    mkdir -p "$out"
    if ! "$PY" -c "import compressai, constriction, pytorch_msssim" 2>/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
            "$BURST"/wheels/*.whl
        export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
    else
        export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    fi
    local data=$BURST/data
    [ -d "$data/train" ] || data=../shared/datasets  # the CPU rehearsal, without a prepared folder
    local photos=$data/train clips=$data/video
    [ -d "$clips" ] || clips=$data/video/vimeo_septuplet_sample
    "$PY" - <<'EOF' | tee "$out/device.txt"
import platform, torch
print("torch", torch.__version__, "python", platform.python_version(),
      "cuda", torch.cuda.get_device_name() if torch.cuda.is_available() else "none")
EOF
    local model=vcodec-base init=vcodec/weights/vcodec-base.pt extra=()
    if [ "$task" = video ]; then
        model=vcodec-p
        [ -f vcodec/weights/vcodec-p.pt ] && init=vcodec/weights/vcodec-p.pt
        extra=(--task video --data "$clips" --photos "$photos" --batch-size 16)
    else
        extra=(--data "$photos" --batch-size 32 --level-weight 0.5)
    fi
    # Data loader processes: half the cores, at most 8 (the GPU machine has 16; here 2 give 1).
    local cores workers
    cores=$(nproc)
    workers=$(( cores / 2 > 8 ? 8 : (cores / 2 > 0 ? cores / 2 : 1) ))
    train() {  # MINUTES [EXTRA ARGS...]
        local m=$1; shift
        rm -rf "$run"
        # lr 1e-4 to 80 % of the chunk, then 0.3x: each chunk ends on the low rate, as the shipped runs do.
        PYTHONUNBUFFERED=1 "$PY" -m vcodec.train run --model "$model" --init-weights "$init" --out "$run" \
            --time-budget "$m" --schedule 0:1,0.8:0.3 --patch-size 256 --lr 1e-4 --workers "$workers" \
            --val-every 1000000 --log-every 20 --no-progress "${extra[@]}" "$@" 2>&1 \
            | grep --line-buffered -v -E 'warning: |^ *[0-9]* *\| ' | tail -n 60 | tee -a "$out/train.txt"
    }
    # torch.compile failed on the H200 image of 2026-12-04 after 2.2 minutes (inductor's C++ build of a
    # CPU kernel): it is tried only with BURST_COMPILE=1, and if it fails, the rest of the chunk trains
    # without it. Eager bf16 trained 300 samples/s there.
    local start=$SECONDS
    if [ "${BURST_COMPILE:-0}" != 1 ]; then
        train "$minutes" --no-compile
    elif ! train "$minutes"; then
        local left
        left=$(awk -v m="$minutes" -v s=$((SECONDS - start)) 'BEGIN { l = m - s / 60 - 0.2; print (l > 0.5 ? l : 0.5) }')
        echo "training failed; again without torch.compile for $left minutes" | tee -a "$out/train.txt"
        train "$left" --no-compile
    fi
    "$PY" -m vcodec.train export "$run/last.pt" -o "$out/$model.pt" --ema 2>&1 | tee "$out/export.txt"
    cp "$run/log.jsonl" "$out/log.jsonl"
    # Streams coded on the CPU decode to the same latents and frames on the GPU, and the reverse (the
    # tests skip themselves without CUDA).
    timeout 120 "$PY" -m pytest -q -p no:cacheprovider -k "cpu_and_gpu" tests/test_codec.py \
        tests/test_video_codec.py 2>&1 | tail -n 15 | tee "$out/cuda_tests.txt" || true
    # The exported weights against the shipped ones on the held-out split, real bitstreams. A device
    # command has 10 minutes: the comparison gets what is left of them (the weights are out already).
    local limit=${BURST_SECONDS:-590}
    local rest=$(( limit - SECONDS > 30 ? limit - SECONDS : 30 ))
    if [ "$task" = image ]; then
        timeout "$rest" "$PY" benchmarks/heldout_rd.py --data "$photos" --quality 1 3 5 7 --limit 8 \
            --setting shipped:effort=4 --setting new:effort=4 --weights-of new="$out/$model.pt" 2>&1 \
            | tee "$out/heldout.txt" || true
    else
        timeout "$rest" "$PY" benchmarks/heldout_video.py --data "$clips" --setting shipped: --setting new: \
            --p-weights-of new="$out/$model.pt" 2>&1 | tee "$out/heldout.txt" || true
    fi
    ls -l "$out"
}

case "${1:-}" in
    prepare) shift; prepare "$@" ;;
    run) shift; run "$@" ;;
    *) echo "usage: $0 prepare [image|video] | run [MINUTES] [image|video]" >&2; exit 2 ;;
esac
