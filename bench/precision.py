"""How fast does kregs' CNN train in float32, bfloat16 (and with XLA), and is it as accurate?

Builds one kregs CNN per mode (same seed: the same initial weights; the same
batches), then trains them in alternated rounds in this one process: each
round, every mode trains one more epoch, A B C D A B C D ..., so that a host
switching speeds slows every mode alike. Per mode it prints the median over
rounds (the first, with tracing and compilation, left out) of samples/s (wall),
samples per CPU-second (the process' CPU time: all its threads) and cores busy
(CPU time / wall time), and after the last round the test accuracy on the
whole test set. Targets here: bfloat16 >= 1.8 x float32 wall, accuracy within
0.3 points.

Each configuration (default: the plain CNN, and L2 + dropout + BN) is compared
with itself: speed-ups and accuracy differences are against its first mode.

Usage: python bench/precision.py [--quick] [--limit N] [--epochs E] [--batch-size B]
       [--modes float32,bfloat16,float32+xla,bfloat16+xla] [--reg none,l2+dropout+bn]
       [--threads T] [--out FILE]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402

MODES = ("float32", "bfloat16", "float32+xla", "bfloat16+xla")


def build(mode, reg, device, seed):
    import keras

    from kregs import build_model
    from kregs.run.device import POLICIES
    from kregs.run.train import compile_model

    precision = mode.split("+")[0]
    keras.utils.set_random_seed(seed)
    model = build_model((28, 28, 1), 10, reg, dtype_policy=POLICIES[precision])
    return compile_model(model, 1e-3, precision == "float16", jit_compile="xla" in mode)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3200 images, 3 epochs")
    parser.add_argument("--limit", type=int, default=None, help="training images")
    parser.add_argument("--epochs", type=int, default=None, help="rounds: epochs per mode")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--threads", type=int, default=None, help="default: kregs' choice")
    parser.add_argument(
        "--reg",
        default="none,l2+dropout+bn",
        help="configurations, comma-separated: none, l2+dropout+bn (lambda 1e-4, rate 0.25, "
        "BN before), ...",
    )
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    limit = args.limit or (3200 if args.quick else 12800)
    epochs = args.epochs or (3 if args.quick else 5)
    modes = args.modes.split(",")

    from kregs import RegConfig
    from kregs.data import load_dataset, pipeline
    from kregs.run.device import DeviceOptions, configure

    device = configure(DeviceOptions(precision="float32", threads=args.threads))
    ds = load_dataset("fashion_mnist", validation_split=0.0, seed=0)
    x, y = ds.train[0][:limit], ds.train[1][:limit]
    regs = [
        RegConfig.from_name(name, l2=1e-4, dropout=0.25, batch_norm="before_activation")
        for name in args.reg.split(",")
    ]
    runs = [(reg, mode) for reg in regs for mode in modes]
    models = {f"{reg.name}/{mode}": build(mode, reg, device, seed=0) for reg, mode in runs}
    rates = {key: [] for key in models}
    print(
        f"precision: kregs' CNN ({', '.join(r.name for r in regs)}), {limit} images, batch "
        f"{args.batch_size}, {epochs} alternated rounds, {device.threads} threads"
    )
    for epoch in range(epochs):
        for key, model in models.items():
            batches = pipeline(x, y, args.batch_size, training=True, seed=epoch)
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit(batches, epochs=1, verbose=0)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rates[key].append({"wall": len(y) / wall, "cpu": len(y) / cpu, "busy": cpu / wall})
    summary = {}
    for key, model in models.items():
        steady = rates[key][1:] or rates[key]
        _, accuracy = model.evaluate(pipeline(*ds.test, 256, training=False), verbose=0)
        summary[key] = {
            "samples_per_s": statistics.median(r["wall"] for r in steady),
            "samples_per_cpu_s": statistics.median(r["cpu"] for r in steady),
            "cores_busy": statistics.median(r["busy"] for r in steady),
            "test_accuracy": float(accuracy),
        }
    for reg, mode in runs:
        s, base = summary[f"{reg.name}/{mode}"], summary[f"{reg.name}/{modes[0]}"]
        s["speedup"] = s["samples_per_s"] / base["samples_per_s"]
        s["accuracy_points_vs_first"] = 100 * (s["test_accuracy"] - base["test_accuracy"])
        print(
            f"  {reg.name + '/' + mode:28s} {s['samples_per_s']:7.0f} samples/s  "
            f"{s['samples_per_cpu_s']:6.0f} per CPU-s  {s['cores_busy']:4.2f} cores busy  "
            f"x{s['speedup']:.2f}  test accuracy {s['test_accuracy']:.4f} "
            f"({s['accuracy_points_vs_first']:+.2f} pt)"
        )
    result = {
        "benchmark": "precision",
        "command": command_line(),
        "machine": machine(),
        "images": limit,
        "epochs": epochs,
        "batch_size": args.batch_size,
        "threads": device.threads,
        "configs": [reg.name for reg in regs],
        "rounds": rates,
        "summary": summary,
        "target_speedup": 1.8,
        "target_accuracy_points": 0.3,
    }
    print(f"  written to {write_result('precision', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
