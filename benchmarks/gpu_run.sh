#!/usr/bin/env bash
# One-shot GPU run (issue 11): throughput benchmarks, two trainings, evaluations, fp16 checkpoints.
#
#   benchmarks/gpu_run.sh OUTDIR
#
# Needs python3 with torch + torchvision (PySide6 is not needed) and camvid-device.tar
# (camvid/{train,trainannot,val,valannot}, JPEG images) at $CAMVID_TAR, default
# data/camvid-device.tar (git-ignored), else ../shared/data/camvid-device.tar.
# Fits in 9 minutes on one H200 ($GPU_RUN_SECONDS, default 520, paces the trainings).
# Writes to OUTDIR (at most 5 files): gpu_run.log, pytest_gpu.txt, summary.json
# (benchmarks + metrics), fast-fp16.safetensors, accurate-fp16.safetensors.
# Every step runs even if an earlier one failed; the log says which did.
#
# SEGSTUDIO_GPU_SMOKE=1 shrinks everything (tiny widths, crops and time, a few frames, the CPU)
# to check the script end to end where no GPU is at hand; GPU_RUN_TIME_SCALE (default 1, 8 in the
# smoke test) stretches every step's time limit and the deadline on a slow or shared machine.
set -uo pipefail

OUT=${1:?usage: benchmarks/gpu_run.sh OUTDIR}
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PY:-python3}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/segstudio-gpu.XXXXXX")
RESULTS=$WORK/results
mkdir -p "$RESULTS"
LOG=$OUT/gpu_run.log
: > "$LOG"
SMOKE=${SEGSTUDIO_GPU_SMOKE:-0}
SCALE=${GPU_RUN_TIME_SCALE:-$([ "$SMOKE" = 1 ] && echo 8 || echo 1)}
DEADLINE=$(( ${GPU_RUN_SECONDS:-520} * SCALE ))
FAILED=()

log() { echo "[$(date +%H:%M:%S) +${SECONDS}s] $*" | tee -a "$LOG"; }
step() {  # step NAME TIMEOUT_S COMMAND...: runs, logs, never stops the script
    local name=$1 limit=$(( $2 * SCALE )); shift 2
    log "== $name (limit ${limit}s): $*"
    timeout --kill-after=10 "$limit" "$@" >> "$LOG" 2>&1
    local rc=$?
    [ $rc -eq 0 ] || { FAILED+=("$name(rc=$rc)"); log "!! $name failed with exit code $rc"; }
    return 0
}
left() { echo $((DEADLINE - SECONDS)); }

if [ "$SMOKE" = 1 ]; then
    DEVICE=cpu; AMP=(); LIMIT=6; THREADS=(--threads 2)
    FAST=(--width 4 --crop 64x96 --batch-size 4); ACCURATE=(--width 6 --crop 64x96 --batch-size 4)
    FAST_MIN=0.15; ACC_MIN_MAX=0.1; ACC_NEEDS=30
    BENCH=(--widths 4 --images 8 --epochs 2 --crop 64x96 --batch-size 4 --threads 2)
    BENCH_WIDE=(); PREDICT=(--limit 4 --width 4 --threads 2); EVAL_BS=2
else
    DEVICE=cuda; AMP=(--amp); LIMIT=; THREADS=()
    # fast: the CPU default's size (width 16); accurate: width 32 (7.8 M parameters, 15.5 MB in fp16)
    FAST=(--width 16 --crop 352x480 --batch-size 16); ACCURATE=(--width 32 --crop 352x480 --batch-size 16)
    FAST_MIN=2.0; ACC_MIN_MAX=2.5; ACC_NEEDS=150
    BENCH=(--widths 16 --batch-size 32 --epochs 3 --workers 4 --device cuda --amp)
    BENCH_WIDE=(--widths 64 --batch-size 16 --epochs 3 --workers 4 --device cuda --amp)
    PREDICT=(--width 16 --device cuda); EVAL_BS=8
fi
RECIPE=(--model unet-bn --aug scale,flip,color --class-weights auto --lr 2e-3 --epochs 10000 --val-every 10
        --device "$DEVICE" "${AMP[@]}" "${THREADS[@]}")

log "segstudio GPU run -> $OUT (work folder $WORK, deadline ${DEADLINE}s)"
{ nvidia-smi 2>&1 | head -15; "$PY" -c "import torch, torchvision; print('torch', torch.__version__, \
'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"; git log --oneline -1; } >> "$LOG" 2>&1

TAR=${CAMVID_TAR:-data/camvid-device.tar}
[ -f "$TAR" ] || TAR=../shared/data/camvid-device.tar
step unpack 60 tar -xf "$TAR" -C "$WORK"
DATA=$WORK/camvid
step split-routes 30 "$PY" -m benchmarks.gpu_helpers split-routes "$DATA" "$WORK/split" $LIMIT
SPLIT=$WORK/split

if "$PY" -c "import pytest" 2>/dev/null; then
    log "== pytest -m gpu (tests/ml tests/core tests/cli; app tests need PySide6)"
    timeout $(( 90 * SCALE )) "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/ml tests/core tests/cli \
        > "$OUT/pytest_gpu.txt" 2>&1
    rc=$?; [ $rc -eq 0 ] || [ $rc -eq 5 ] || FAILED+=("pytest-gpu(rc=$rc)")  # 5: no gpu tests collected
    tail -3 "$OUT/pytest_gpu.txt" | tee -a "$LOG"
else
    log "pytest is not installed: gpu tests skipped"
fi

step bench-train 150 "$PY" -m benchmarks.bench_train_throughput --data "$DATA" "${BENCH[@]}" \
    --json "$RESULTS/bench_train_fast.json"
if [ ${#BENCH_WIDE[@]} -gt 0 ]; then
    step bench-train-wide 120 "$PY" -m benchmarks.bench_train_throughput --data "$DATA" "${BENCH_WIDE[@]}" \
        --json "$RESULTS/bench_train_wide.json"
fi
step bench-predict 60 "$PY" -m benchmarks.bench_predict_throughput --images "$SPLIT/val/images" "${PREDICT[@]}" \
    --json "$RESULTS/bench_predict.json"

evaluate() {  # evaluate NAME CHECKPOINT
    for part in heldout val; do
        for tta in none flip; do
            step "eval-$1-$part-$tta" 60 bash -c "'$PY' -m segstudio eval --model '$2' --images '$SPLIT/$part/images' \
                --labels '$SPLIT/$part/labels' --device $DEVICE --batch-size $EVAL_BS --tta $tta --json \
                > '$RESULTS/eval_$1_${part}_$tta.json'"
        done
    done
}
train() {  # train NAME MINUTES ARGS...: trains on every route but 0006R0, validates on 0006R0
    local name=$1 minutes=$2; shift 2
    step "train-$name" $(( ${minutes%.*} * 60 + 150 )) "$PY" -m segstudio train \
        --train-images "$SPLIT/train/images" --train-labels "$SPLIT/train/labels" \
        --val-images "$SPLIT/heldout/images" --val-labels "$SPLIT/heldout/labels" \
        --out "$WORK/$name.safetensors" --minutes "$minutes" "${RECIPE[@]}" "$@"
    if [ -f "$WORK/$name.safetensors" ]; then
        evaluate "$name" "$WORK/$name.safetensors"
        step "pack-$name" 60 "$PY" -m benchmarks.gpu_helpers half "$WORK/$name.safetensors" "$OUT/$name-fp16.safetensors"
    fi
}

train fast "$FAST_MIN" "${FAST[@]}"
remaining=$(left)
if [ "$remaining" -gt $(( ACC_NEEDS * SCALE )) ]; then
    # What is left, less ~75 s for decoding, the final validation, four evaluations and packing.
    minutes=$("$PY" -c "print(round(min($ACC_MIN_MAX, max(0.05, ($remaining - 75 * $SCALE) / 60)), 2))")
    train accurate "$minutes" "${ACCURATE[@]}"
else
    log "skipping the accurate model: ${remaining}s left"
fi

"$PY" -m benchmarks.gpu_helpers summary "$RESULTS" "$OUT/summary.json" 2>&1 | tee -a "$LOG"
log "done in ${SECONDS}s; failed steps: ${FAILED[*]:-none}"
ls -la "$OUT" | tee -a "$LOG"
rm -rf "$WORK"
[ ${#FAILED[@]} -eq 0 ]
