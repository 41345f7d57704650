#!/usr/bin/env bash
# Run HERE, before a GPU check on the device machine (see README "GPU check"): fills
# bench/device/carry/ (ignored by git) with what must travel there, where TensorFlow is
# absent and nothing can be downloaded:
#   wheels/  keras, keras-tuner, kt-legacy, namex, optree for the device's Python (3.12),
#            and kregs' own wheel (installed with --no-deps: the device has the rest);
#   keras/datasets/fashion-mnist/  the four Fashion-MNIST IDX files, where kregs looks
#            for them in the Keras cache (KERAS_HOME=bench/device/carry/keras there).
# It fails if the whole folder is not far under the 64 MiB a device call carries.
#
# Usage: bench/device/prepare.sh        (PYTHON: the pip to use; PYVER: default 3.12)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
PYVER=${PYVER:-3.12}
LIMIT_MIB=48
CARRY=bench/device/carry
FASHION=${FASHION:-/usr/share/datasets/fashion-mnist}

rm -rf "$CARRY"
mkdir -p "$CARRY/wheels" "$CARRY/keras/datasets/fashion-mnist"
# The versions tested here, for the device's interpreter.
versions=$("$PYTHON" - <<'PY'
from importlib.metadata import version
print(" ".join(f"{n}=={version(n)}" for n in ("keras", "keras-tuner", "kt-legacy", "namex", "optree")))
PY
)
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
  manylinux1_x86_64; do platforms+=(--platform "$p"); done
# shellcheck disable=SC2086
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
  --implementation cp "${platforms[@]}" -d "$CARRY/wheels" $versions
"$PYTHON" -m pip wheel -q --no-deps -w "$CARRY/wheels" .
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz \
  t10k-labels-idx1-ubyte.gz; do
  cp "$FASHION/$f" "$CARRY/keras/datasets/fashion-mnist/"
done
ls -1 "$CARRY/wheels"
total=$(du -sb "$CARRY" | cut -f1)
mib=$((total / 1024 / 1024))
echo "bench/device/carry: ${mib} MiB (at most ${LIMIT_MIB}; a device call carries 64)"
if [ "$mib" -gt "$LIMIT_MIB" ]; then
  echo "bench/device/carry is too large to travel with the working tree" >&2
  exit 1
fi
