"""Which Keras backend trains kregs' CNN fastest here: TensorFlow, JAX, PyTorch, alternated.

A process has one Keras backend, so each measurement is a child process
(`KERAS_BACKEND=<name>`) that loads a Fashion-MNIST subset, sets the device up
as `kregs tune` does (threads, the machine's precision, XLA as each backend
defaults), builds kregs' CNN with BN before the activation and trains it
for a few epochs from the same seed with kregs' input pipeline for that
backend. Rounds alternate the backends (tf, jax, torch, then jax, torch, tf,
...) so that a change in the shared host's speed falls on all of them. Prints,
per backend (medians over rounds): samples/s of the steady epochs (the first,
which compiles, left out), samples per CPU-second, the seconds to the first
trained epoch (start-up and compilation included), and the validation
accuracy after the last epoch. A backend that is not installed is reported
as such.

Usage: python bench/backends.py [--quick] [--backends tensorflow,jax,torch]
                                [--rounds R] [--limit N] [--epochs E] [--out FILE]
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402

BACKENDS = ("tensorflow", "jax", "torch")
MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def child(args):
    """One measurement, in a process whose Keras backend is `args.child`."""
    started = time.perf_counter()
    import keras
    import numpy as np

    from kregs import RegConfig, build_model
    from kregs.data import load_dataset, pipeline, stratified_sample
    from kregs.run.device import configure
    from kregs.run.train import compile_model

    device = configure()
    ds = load_dataset("fashion_mnist", validation_split=0.1, seed=0)
    keep = stratified_sample(ds.train[1], args.limit, np.random.default_rng(1))
    x, y = ds.train[0][keep], ds.train[1][keep]
    keras.utils.set_random_seed(0)
    reg = RegConfig(batch_norm="before_activation")
    model = build_model((28, 28, 1), 10, reg, dtype_policy=device.dtype_policy)
    compile_model(model, 1e-3, device.loss_scale, device.jit_compile)
    validation = pipeline(*ds.validation, 256, training=False)
    walls, cpus, first = [], [], None
    for epoch in range(args.epochs):
        batches = pipeline(x, y, args.batch_size, training=True, seed=epoch)
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(batches, epochs=1, verbose=0)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        if first is None:
            first = time.perf_counter() - started
    _, accuracy = model.evaluate(validation, verbose=0)
    steady = slice(1, None) if args.epochs > 1 else slice(None)
    result = {
        "backend": device.backend,
        "precision": device.precision,
        "jit_compile": device.jit_compile,
        "samples_per_s": len(y) / statistics.median(walls[steady]),
        "samples_per_cpu_s": len(y) / statistics.median(cpus[steady]),
        "first_epoch_s": first,
        "val_accuracy": float(accuracy),
    }
    print("RESULT " + json.dumps(result), flush=True)


def measure(backend, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", backend]
    cmd += ["--limit", str(args.limit), "--epochs", str(args.epochs)]
    cmd += ["--batch-size", str(args.batch_size)]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"{backend} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(line[len("RESULT ") :])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1000 images, 2 epochs, 1 round")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="training images")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    args.limit = args.limit or (1000 if args.quick else 6400)
    args.epochs = args.epochs or (2 if args.quick else 3)
    if args.child:
        return child(args)
    rounds = args.rounds or (1 if args.quick else 3)
    names = args.backends.split(",")
    unknown = sorted(set(names) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends {unknown}; expected among {', '.join(BACKENDS)}")
    installed = [b for b in names if importlib.util.find_spec(MODULES[b]) is not None]
    missing = [b for b in names if b not in installed]
    print(
        f"backends: kregs' CNN with BN, {args.limit} images, {args.epochs} epochs, batch "
        f"{args.batch_size}, {rounds} rounds alternated"
        + (f"; not installed: {', '.join(missing)}" if missing else "")
    )
    runs = []
    for r in range(rounds):
        order = installed[r % len(installed) :] + installed[: r % len(installed)]
        for backend in order:
            result = {"round": r, **measure(backend, args)}
            runs.append(result)
            print(
                f"  round {r} {backend:10s} {result['samples_per_s']:7.0f} samples/s  "
                f"{result['samples_per_cpu_s']:7.0f} samples/CPU-s  first epoch after "
                f"{result['first_epoch_s']:.1f} s  val_acc {result['val_accuracy']:.4f}  "
                f"({result['precision']}, XLA {'on' if result['jit_compile'] else 'off'})",
                flush=True,
            )
    summary = {}
    for backend in installed:
        mine = [x for x in runs if x["backend"] == backend]
        summary[backend] = {
            k: statistics.median(x[k] for x in mine)
            for k in ("samples_per_s", "samples_per_cpu_s", "first_epoch_s", "val_accuracy")
        }
        summary[backend]["precision"] = mine[0]["precision"]
        summary[backend]["jit_compile"] = mine[0]["jit_compile"]
    fastest = max(summary, key=lambda b: summary[b]["samples_per_s"])
    for backend, s in summary.items():
        print(
            f"  median {backend:10s} {s['samples_per_s']:7.0f} samples/s "
            f"(x{s['samples_per_s'] / summary[fastest]['samples_per_s']:.2f} of {fastest}), "
            f"{s['samples_per_cpu_s']:7.0f} samples/CPU-s, first epoch after "
            f"{s['first_epoch_s']:.1f} s"
        )
    result = {
        "benchmark": "backends",
        "command": command_line(),
        "machine": machine(),
        "images": args.limit,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "rounds": rounds,
        "not_installed": missing,
        "runs": runs,
        "summary": summary,
        "fastest": fastest,
    }
    print(f"  written to {write_result('backends', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
