"""Does training keep every core busy? TensorFlow's thread settings and batch sizes, compared.

TensorFlow fixes its thread pools once per process, so each setting trains in
a process of its own: kregs' CNN, 3 epochs of a Fashion-MNIST subset per run,
settings alternated over rounds. Per setting it prints the median of the
last two epochs of samples/s (wall), samples per CPU-second and cores busy
(CPU time / wall time; this machine's cores are the most there can be).

Usage: python bench/threads.py [--quick] [--limit N] [--rounds R] [--precision P]
       [--settings 0:0:64,2:2:64,...] [--out FILE]
       (a setting is intra:inter:batch; 0 leaves TensorFlow's default)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402

CHILD = """
import json, sys, time
intra, inter, batch, limit = (int(a) for a in sys.argv[1:5])
precision = sys.argv[5]
import tensorflow as tf
if intra: tf.config.threading.set_intra_op_parallelism_threads(intra)
if inter: tf.config.threading.set_inter_op_parallelism_threads(inter)
import keras
from kregs import RegConfig, build_model
from kregs.data import load_dataset, pipeline
from kregs.run.device import POLICIES
from kregs.run.train import compile_model
ds = load_dataset("fashion_mnist", validation_split=0.0, seed=0)
x, y = ds.train[0][:limit], ds.train[1][:limit]
keras.utils.set_random_seed(0)
reg = RegConfig(l2=1e-4, dropout=0.25, batch_norm="before_activation")
model = compile_model(build_model((28, 28, 1), 10, reg, dtype_policy=POLICIES[precision]))
out = []
for epoch in range(3):
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(pipeline(x, y, batch, training=True, seed=epoch), epochs=1, verbose=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    out.append({"wall": limit / wall, "cpu": limit / cpu, "busy": cpu / wall})
print(json.dumps(out[1:]))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1600 images, 1 round")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--precision", default="bfloat16")
    parser.add_argument("--settings", default="0:0:64,2:2:64,2:1:64,2:2:128,2:2:256")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    limit = args.limit or (1600 if args.quick else 6400)
    rounds = args.rounds or (1 if args.quick else 2)
    settings = [tuple(int(v) for v in s.split(":")) for s in args.settings.split(",")]
    runs = {s: [] for s in settings}
    for _ in range(rounds):
        for intra, inter, batch in settings:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    str(intra),
                    str(inter),
                    str(batch),
                    str(limit),
                    args.precision,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[(intra, inter, batch)] += json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"threads: kregs' CNN in {args.precision}, {limit} images, {rounds} round(s), "
        f"{os.cpu_count()} cores"
    )
    summary = {}
    for (intra, inter, batch), epochs in runs.items():
        name = f"intra={intra or 'tf'} inter={inter or 'tf'} batch={batch}"
        summary[name] = {
            k: statistics.median(e[k] for e in epochs) for k in ("wall", "cpu", "busy")
        }
        s = summary[name]
        print(
            f"  {name:34s} {s['wall']:6.0f} samples/s  {s['cpu']:6.0f} per CPU-s  "
            f"{s['busy']:4.2f} cores busy"
        )
    result = {
        "benchmark": "threads",
        "command": command_line(),
        "machine": machine(),
        "images": limit,
        "rounds": rounds,
        "precision": args.precision,
        "summary": summary,
    }
    print(f"  written to {write_result('threads', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
