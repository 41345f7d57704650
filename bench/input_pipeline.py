"""Is kregs.data.pipeline the bottleneck? Steps/s of the builder's CNN, pipeline vs arrays.

Also prints the time to load the whole Fashion-MNIST (from wherever it is found).

Trains `kregs.build_model`'s CNN for whole epochs on Fashion-MNIST, fed either
by `kregs.data.pipeline` or by the in-memory numpy arrays (Keras' own
adapter), alternating A B A B after one warm-up epoch each, and prints the
median steps/s of each and their ratio (target: pipeline / arrays >= 0.98).

Usage: python bench/input_pipeline.py [--quick] [--limit N] [--rounds R] [--out FILE]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small subset, 2 rounds")
    parser.add_argument("--limit", type=int, default=None, help="training images used")
    parser.add_argument("--rounds", type=int, default=None, help="A/B rounds after warm-up")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    limit = args.limit or (6000 if args.quick else 30000)
    rounds = args.rounds or (2 if args.quick else 3)

    import keras
    import numpy as np

    import kregs
    from kregs.data import load_dataset, pipeline

    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    full = load_dataset("fashion_mnist", validation_split=0.0)
    load_seconds = time.perf_counter() - start
    print(
        f"loaded fashion_mnist ({len(full.train[1])} + {len(full.test[1])} images) from "
        f"{full.info.source} in {load_seconds:.2f} s"
    )
    ds = load_dataset("fashion_mnist", limit=limit, validation_split=0.0)
    x, y = ds.train
    steps = int(np.ceil(len(x) / args.batch_size))

    def make():
        model = kregs.build_model(ds.info.input_shape, ds.info.num_classes, kregs.RegConfig())
        model.compile(
            optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        return model

    models = {"pipeline": make(), "arrays": make()}
    feeds = {
        "pipeline": lambda m: m.fit(
            pipeline(x, y, args.batch_size, training=True, seed=0), epochs=1, verbose=0
        ),
        "arrays": lambda m: m.fit(
            x, y, batch_size=args.batch_size, shuffle=True, epochs=1, verbose=0
        ),
    }
    for name in feeds:  # warm-up: tracing and compilation
        feeds[name](models[name])
    rates = {name: [] for name in feeds}
    for _ in range(rounds):
        for name in feeds:
            start = time.perf_counter()
            feeds[name](models[name])
            rates[name].append(steps / (time.perf_counter() - start))
    medians = {name: statistics.median(r) for name, r in rates.items()}
    ratio = medians["pipeline"] / medians["arrays"]
    print(
        f"input pipeline: {len(x)} images, batch {args.batch_size}, {steps} steps/epoch, "
        f"{rounds} rounds"
    )
    for name in feeds:
        print(
            f"  {name:9s} {medians[name]:7.1f} steps/s  (runs: "
            f"{', '.join(f'{r:.1f}' for r in rates[name])})"
        )
    print(f"  ratio pipeline/arrays = {ratio:.3f}  (target >= 0.98)")
    result = {
        "benchmark": "input_pipeline",
        "command": command_line(),
        "machine": machine(),
        "images": len(x),
        "batch_size": args.batch_size,
        "steps_per_epoch": steps,
        "rounds": rounds,
        "steps_per_s": medians,
        "runs": rates,
        "ratio": ratio,
        "target": 0.98,
        "load_seconds": load_seconds,
        "load_source": full.info.source,
    }
    print(f"  written to {write_result('input_pipeline', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
