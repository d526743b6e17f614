#!/usr/bin/env bash
# Prove pfbench's GPU path on a CUDA node that has torch preinstalled and no package index, in about 10 minutes:
# install (pip --no-deps -e . plus wheels from a folder), CUDA tests, a bf16 matmul ceiling, the gpu-smoke and gpu
# presets through `pfbench run`, and one folder with every output (logs, results, reports, profiles, summary.md).
#
#   tools/gpu_proof.sh [OUT_DIR] [WHEELS_DIR]        (defaults: gpu_proof_<utc time>, ./wheels)
#
# Order: install, env + matmul ceiling, CUDA tests, the gpu preset (MFU, --profile), then gpu-smoke.
# Environment knobs: DEADLINE_S (total seconds, default 570), SMOKE_SUITES (default tokens,throughput,memory),
# GPU_SUITES (default tokens,throughput), SKIP_INSTALL=1 (pfbench already importable).
# Preparing wheels on a machine WITH an index (same Python version as the node):
#   python tools/gpu_proof.py check        # run on the node (seconds): prints the missing distributions
#   pip download --only-binary=:all: --no-deps -d wheels <those distributions>
# Stages never stop the script: each one's status goes to OUT_DIR/stages.tsv, and later stages still run.
set -u
cd "$(dirname "$0")/.."
OUT=${1:-gpu_proof_$(date -u +%Y%m%dT%H%M%SZ)}
WHEELS=${2:-wheels}
DEADLINE_S=${DEADLINE_S:-570}
SMOKE_SUITES=${SMOKE_SUITES:-tokens,throughput,memory}
GPU_SUITES=${GPU_SUITES:-tokens,throughput}
PY=${PYTHON:-python}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
START=$(date +%s)
printf 'stage\tstatus\tseconds\n' > "$OUT/stages.tsv"

log() { echo "[$(date -u +%H:%M:%S) +$(( $(date +%s) - START ))s] $*" | tee -a "$OUT/proof.log"; }
left() { echo $(( DEADLINE_S - ($(date +%s) - START) )); }

# stage NAME CAP_S CMD...: run CMD with a timeout of min(CAP_S, time left - 20 s); log to OUT/NAME.log
stage() {
    local name=$1 cap=$2; shift 2
    local budget=$(( $(left) - 20 )); [ "$budget" -gt "$cap" ] && budget=$cap
    if [ "$budget" -lt 30 ]; then
        log "$name: skipped (out of time)"; printf '%s\tskipped-no-time\t0\n' "$name" >> "$OUT/stages.tsv"; return 0
    fi
    log "$name: start (limit ${budget}s): $*"
    local t0=$(date +%s)
    timeout --signal=INT --kill-after=15 "$budget" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    local status=$([ $rc -eq 0 ] && echo ok || ([ $rc -eq 124 ] && echo timeout || echo "failed($rc)"))
    printf '%s\t%s\t%s\n' "$name" "$status" $(( $(date +%s) - t0 )) >> "$OUT/stages.tsv"
    log "$name: $status ($(tail -n 1 "$OUT/$name.log" | cut -c1-200))"
}

# 1. install: pfbench itself without dependencies, then whatever the node lacks from the wheels folder
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
    missing=$($PY tools/gpu_proof.py check)
    echo "$missing" > "$OUT/missing_before_install.txt"
    if [ -n "$missing" ] && [ -d "$WHEELS" ]; then
        stage install_wheels 120 $PY -m pip install --no-index --find-links "$WHEELS" $missing
    elif [ -n "$missing" ]; then
        log "missing and no wheels folder $WHEELS: $missing (stages needing them will fail)"
    fi
    stage install_pfbench 120 $PY -m pip install --no-deps --no-build-isolation --no-index -e .
    $PY tools/gpu_proof.py check > "$OUT/missing_after_install.txt"
fi

# 2. the machine, and what a plain bf16 matmul reaches on it
{ nvidia-smi; nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv; } \
    > "$OUT/nvidia-smi.txt" 2>&1
stage env 60 pfbench env --device cuda --dtype bfloat16
stage matmul 60 $PY tools/gpu_proof.py matmul "$OUT/matmul.json"

# 3. CUDA tests (flex backward parity, compiled vs eager, no host sync, CUDA memory) and the CPU/meta ones they
#    build on; junit XML for the record
stage cuda_tests 180 $PY -m pytest tests/test_cuda.py tests/test_attention.py tests/test_gpu_presets.py \
    tests/test_packing.py -q -rfEs -p no:cacheprovider --junitxml "$OUT/cuda_tests.xml"

# 4. the presets through the real entry point (each suite a subprocess; a run folder per preset). The gpu run
#    (the MFU measurement) goes first so a short allocation spends its time there; gpu-smoke gets the rest.
stage gpu 360 pfbench run --preset gpu --device cuda --suites "$GPU_SUITES" --profile \
    --out "$OUT/runs/gpu" --timeout-s 330
stage gpu_smoke 200 pfbench run --preset gpu-smoke --device cuda --suites "$SMOKE_SUITES" \
    --out "$OUT/runs/gpu-smoke" --timeout-s 150

# 5. one summary: MFU per variant against the targets, the matmul ceiling, the profile tables
$PY tools/gpu_proof.py summary "$OUT" "$OUT/runs/gpu-smoke" "$OUT/runs/gpu" > "$OUT/summary.log" 2>&1
log "done in $(( $(date +%s) - START ))s: $OUT/summary.md, stages in $OUT/stages.tsv"
cat "$OUT/stages.tsv"
