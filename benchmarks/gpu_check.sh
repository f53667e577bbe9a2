#!/usr/bin/env bash
# The GPU check, in one call, under 8 minutes on one GPU (each step has its own time limit, 7 min 20 s
# in all, so a slow step is cut short and the rest still run):
#   1. speed.py on cuda at batch 32 and 256, dense and conv, against the typical hand-written loop:
#      eager fp32, compiled (torch.compile with CUDA graphs), bf16;
#   2. ensemble.py on cuda: six members trained together (one DenseEnsemble) against six
#      sequential fits, and the default detector's fit time against rows;
#   3. adbench.py on cuda: the default detector and IsolationForest on two ADBench sets.
#
# It needs only what a bare GPU machine has (Python with torch, scikit-learn, safetensors, tqdm,
# click, pillow, matplotlib): hourglass runs from this checkout (PYTHONPATH, nothing installed, no
# network, no pooch: nothing is downloaded), and the data it needs travel in the ignored folder
# benchmarks/gpu_data, filled beforehand on a machine that has the data:
#
#   HOURGLASS_DATA_DIR=../shared/data python benchmarks/gpu_data.py    # ~31 MB: Fashion-MNIST + 2 ADBench sets
#   bash benchmarks/gpu_check.sh                                       # on the GPU machine
#
# Results (JSON, one file per step, plus the log) go to $OUT when set, else benchmarks/results/gpu/.
set -u
cd "$(dirname "$0")"
RESULTS=${OUT:-$PWD/results/gpu}
mkdir -p "$RESULTS"
export PYTHONPATH="$(cd .. && pwd)${PYTHONPATH:+:$PYTHONPATH}"
export HOURGLASS_DATA_DIR="$PWD/gpu_data"
export PYTHONUNBUFFERED=1  # a step cut at its limit still leaves its lines in the log
export HOURGLASS_CACHE_DIR="$(mktemp -d)"
DEVICE=${GPU_CHECK_DEVICE:-cuda}   # GPU_CHECK_DEVICE=cpu GPU_CHECK_QUICK=1: a smoke run of the script itself
QUICK=${GPU_CHECK_QUICK:+--quick}
ROWS=${GPU_CHECK_QUICK:+1000}
PY=${PYTHON:-$(command -v python3 || command -v python)}  # a bare image may have python3 only
LOG="$RESULTS/gpu_check.log"
: > "$LOG"

step() {  # step <seconds> <command...>: run with a time limit, log it, never stop the script
  local limit=$1; shift
  echo "== [$(date +%T)] $* (limit ${limit}s)" | tee -a "$LOG"
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || echo "!! exit $rc (124 = cut at ${limit}s)" | tee -a "$LOG"
}

if [ ! -d gpu_data/fashion-mnist ]; then
  echo "benchmarks/gpu_data is missing: run benchmarks/gpu_data.py where the data are, and carry the folder" | tee -a "$LOG"
  exit 2
fi
step 20 "$PY" -c "import torch, sklearn; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'NO GPU')"
step 80 "$PY" speed.py --device "$DEVICE" --epochs 2 --seeds 0 $QUICK --out "$RESULTS/speed_cuda.json"
step 150 "$PY" speed.py --device "$DEVICE" --epochs 2 --seeds 0 $QUICK --compile --out "$RESULTS/speed_cuda_compile.json"
step 60 "$PY" speed.py --device "$DEVICE" --epochs 2 --seeds 0 $QUICK --precision bf16 --out "$RESULTS/speed_cuda_bf16.json"
step 70 "$PY" ensemble.py --device "$DEVICE" --sets 6_cardio 38_thyroid --seeds 0 --rows ${ROWS:-1000 10000} --out "$RESULTS/ensemble_cuda.json"
step 60 "$PY" adbench.py --datasets 6_cardio 38_thyroid --methods hourglass isolation_forest --settings unsupervised --seeds 0 1 2 --out "$RESULTS/adbench_cuda.json"
echo "== [$(date +%T)] done; results in $RESULTS" | tee -a "$LOG"
