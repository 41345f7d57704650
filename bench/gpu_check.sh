#!/usr/bin/env bash
# GPU check for `kregs tune`: a short search in each precision (float16 + XLA, the
# GPU's auto choice; bfloat16; float32 without XLA), printing seconds per epoch of
# each (steady state: the first epoch, which traces and compiles, is left out) and,
# for the auto run, the refit on all training images with its test accuracy.
# Under 5 minutes on one GPU.
#
# Usage: bench/gpu_check.sh [DATA_DIR]
#   DATA_DIR: a folder with the Fashion-MNIST IDX files, for machines that
#   cannot download (default: Debian's folder, the Keras cache, then TFDS).
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3
data=()
[ $# -ge 1 ] && data=(--data-dir "$1")
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import tensorflow as tf; g = tf.config.list_physical_devices('GPU'); \
print('TensorFlow', tf.__version__, 'GPUs:', len(g)); assert g, 'TensorFlow sees no GPU'"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for mode in "--precision auto --jit-compile --refit" "--precision bfloat16 --no-jit-compile --no-refit" \
  "--precision float32 --no-jit-compile --no-refit"; do
  # shellcheck disable=SC2086
  kregs tune --dataset fashion_mnist "${data[@]}" --algorithm random --max-trials 2 \
    --epochs 4 --patience 4 --batch-size 256 --l2 1e-4 --dropout 0.2 \
    --batch-norm before_activation --trial-images 20000 --output "$work/${mode// /_}" $mode \
    > "$work/log" 2>&1 \
    || { cat "$work/log"; exit 1; }
  python3 - "$work/${mode// /_}/trials.csv" "$mode" <<'PY'
import csv, json, os, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["status"] == "COMPLETED"]
per_epoch = statistics.median(float(r["seconds_per_epoch"]) for r in rows)
acc = max(float(r["best_val_accuracy"]) for r in rows)
run = json.load(open(os.path.join(os.path.dirname(sys.argv[1]), "run.json")))
print(f"{sys.argv[2]:50s} precision {run['precision']:9s} {per_epoch:7.2f} s/epoch "
      f"(median of {len(rows)} trials), best val_accuracy {acc:.4f}")
refit = os.path.join(os.path.dirname(sys.argv[1]), "refit", "model.json")
if os.path.exists(refit):
    r = json.load(open(refit))
    print(f"{'':50s} refit: {r['images']} images, {r['epochs']} epochs, {r['seconds']:.0f} s, "
          f"test accuracy {r['test']['accuracy']:.4f}")
PY
done
