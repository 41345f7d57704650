#!/usr/bin/env bash
# Run THERE, on the GPU machine the device tool lends (JAX, PyTorch, CUDA; no TensorFlow),
# after bench/device/prepare.sh here; within 6 minutes on one H200 it prints:
#   1. samples/s of kregs' CNN in float32 and bfloat16 on the GPU (bench/precision.py);
#   2. the quick preset's search time and test accuracy (kregs tune --preset quick);
#   3. a smoke study's time (kregs study --preset smoke);
#   4. trials per minute with --workers 2 against 1 on the one GPU (bench/distributed.py).
# Figures also land in $OUT (JSON) where the device tool sets it.
#
# Usage (device tool): bench/device/run.sh          --quick: tiny sizes (tests it on a CPU)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
CARRY=bench/device/carry
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
OUT=${OUT:-$(mktemp -d)}
work=$(mktemp -d)
site=$work/site

"$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$site" "$CARRY"/wheels/*.whl
export PYTHONPATH=$site KERAS_BACKEND=jax KERAS_HOME=$PWD/$CARRY/keras PYTHONUNBUFFERED=1
# Two processes share the GPU under --workers: each takes memory as it needs it.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
kregs() { "$PYTHON" -m kregs "$@"; }
seconds() { local start=$1; echo $(( $(date +%s) - start )); }

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
"$PYTHON" -c "import jax, keras, kregs; print('jax', jax.__version__, jax.devices(), \
'keras', keras.__version__, keras.config.backend(), 'kregs', kregs.__version__)"

if [ $QUICK = 1 ]; then
  precision=(--limit 512 --epochs 2 --reg none)
  tune=(--preset smoke --arch mlp --max-trials 2 --epochs 1 --limit 600)
  study=(--arch mlp --limit 400 --epochs 1 --seeds 1)
  distributed=(--quick --limit 300 --trials 2 --epochs 1 --arch mlp --workers 1,2)
else
  precision=(--limit 20000 --epochs 3 --batch-size 256 --reg none,l2+dropout+bn)
  tune=(--preset quick)
  study=()
  distributed=(--limit 6000 --trials 6 --epochs 2 --rounds 1 --threads 4 --workers 1,2)
fi

echo "== 1. float32 against bfloat16 on the GPU"
"$PYTHON" bench/precision.py --modes float32,bfloat16 "${precision[@]}" --out "$OUT/precision.json"

echo "== 2. kregs tune --preset quick"
start=$(date +%s)
kregs tune --dataset fashion_mnist "${tune[@]}" --output "$work/quick" --quiet | tail -n 6
echo "quick preset: $(seconds "$start") s in all (search, refit, test)"

echo "== 3. kregs study --preset smoke"
start=$(date +%s)
kregs study --dataset fashion_mnist --preset smoke "${study[@]}" --output "$work/study" --quiet \
  | tail -n 2
echo "smoke study: $(seconds "$start") s"

echo "== 4. --workers 2 against 1 on one GPU"
"$PYTHON" bench/distributed.py "${distributed[@]}" --out "$OUT/distributed.json"
rm -rf "$work"
