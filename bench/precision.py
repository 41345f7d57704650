"""How fast does kregs' CNN train in float32, bfloat16 (and with XLA), and is it as accurate?

Builds one kregs CNN per mode (same seed: the same initial weights; the same
batches), then trains them in alternated rounds in this one process: each
round, every mode trains one more epoch, A B C D A B C D ..., so that a host
switching speeds slows every mode alike. With `--seeds`, every seed is a model
of its own (other initial weights and batches), trained in the same rounds.
Adam's learning rate warms up, then decays to 0 along a cosine over the
rounds (`--schedule constant`: 1e-3 throughout): after a constant rate's last
epoch the test accuracy moves by a point or more from epoch to epoch, which
would drown a difference of tenths between the modes.
Per mode it prints the median over rounds and seeds (the first round, with
tracing and compilation, left out) of samples/s (wall), samples per CPU-second
(the process' CPU time: all its threads) and cores busy (CPU time / wall
time); the achieved GFLOP/s (the model's training FLOPs per image, counted
from its graph's convolutions and matrix products, forward and twice that
backward, times samples/s) beside what one large float32 and bfloat16 matrix
product reach on this machine; and after the last round the mean test
accuracy over the seeds on the whole test set, with the difference to the
first mode and its 95% interval. Then what the regularization costs: the CPU
milliseconds of one conv block's operations alone (convolution, BN, ReLU,
dropout's random bytes and its mask, a multiply) in float32 and bfloat16, and the
CPU per image the regularized configuration adds to the plain one in each
mode. Targets here: bfloat16 >= 1.8 x float32 wall, accuracy within 0.3
points.

Each configuration (default: the plain CNN, and L2 + dropout + BN) is compared
with itself: speed-ups and accuracy differences are against its first mode.

Usage: python bench/precision.py [--quick] [--limit N] [--epochs E] [--batch-size B]
       [--modes float32,bfloat16,float32+xla,bfloat16+xla] [--reg none,l2+dropout+bn]
       [--seeds S] [--threads T] [--ops-batch B] [--schedule cosine|constant] [--out FILE]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, interval, machine, write_result  # noqa: E402

MODES = ("float32", "bfloat16", "float32+xla", "bfloat16+xla")


def build(mode, reg, device, seed, learning_rate=1e-3):
    import keras

    from kregs import build_model
    from kregs.run.device import POLICIES
    from kregs.run.train import compile_model

    precision = mode.split("+")[0]
    keras.utils.set_random_seed(seed)
    model = build_model((28, 28, 1), 10, reg, dtype_policy=POLICIES[precision])
    return compile_model(model, learning_rate, precision == "float16", jit_compile="xla" in mode)


def training_flops(model, input_shape):
    """Training FLOPs per image: the forward graph's convolutions and matrix products (2
    per multiply-add), times 3 (the backward pass computes two products per forward one)."""
    import tensorflow as tf

    spec = tf.TensorSpec((1, *input_shape), model.inputs[0].dtype)
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    forward = 0
    for op in graph.get_operations():
        if op.type in ("Conv2D", "_FusedConv2D"):
            kh, kw, cin, cout = op.inputs[1].shape
            _, h, w, _ = op.outputs[0].shape
            forward += 2 * h * w * kh * kw * cin * cout
        elif op.type in ("MatMul", "_FusedMatMul"):
            k, n = op.inputs[1].shape
            forward += 2 * k * n
    return 3 * forward


def matmul_gflops(dtype, n=2048, repeats=10):
    """GFLOP/s of an n x n matrix product in `dtype` on this machine (median of `repeats`)."""
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype="float32")
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    product = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.matmul(x, y)[0, :1], "float32")))
    product(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


# The operations of one conv block's training step, timed alone on its activations.
OPS = (
    "conv 3x3 (forward)",
    "fused BN (forward)",
    "ReLU (forward)",
    "dropout: random bytes (Philox)",
    "dropout: mask (compare, scale or 0)",
    "multiply (one pass)",
)


def op_costs(batch, dtype, repeats=20):
    """CPU milliseconds of each of `OPS` on a `batch` x 28 x 28 x 32 activation in `dtype`
    (median of `repeats` calls of a traced function; the random bytes are the same work
    in every dtype)."""
    import tensorflow as tf

    shape = (batch, 28, 28, 32)
    x = tf.cast(tf.random.normal(shape), dtype)
    kernel = tf.cast(tf.random.normal((3, 3, 32, 32)), dtype)
    seed = tf.constant([1, 2], "int64")
    words = (batch, 28, 28, 8)
    noise = tf.reshape(
        tf.bitcast(
            tf.random.stateless_uniform(words, seed, minval=None, maxval=None, dtype="uint32"),
            "uint8",
        ),
        shape,
    )
    ones = tf.ones((32,))
    calls = {
        "conv 3x3 (forward)": lambda: tf.nn.conv2d(x, kernel, 1, "SAME"),
        "fused BN (forward)": lambda: tf.compat.v1.nn.fused_batch_norm(x, ones, ones)[0],
        "ReLU (forward)": lambda: tf.nn.relu(x),
        "dropout: random bytes (Philox)": lambda: tf.random.stateless_uniform(
            words, seed, minval=None, maxval=None, dtype="uint32"
        ),
        "dropout: mask (compare, scale or 0)": lambda: tf.where(
            noise >= 64, tf.constant(4 / 3, dtype), tf.zeros((), dtype)
        ),
        "multiply (one pass)": lambda: x * x,
    }
    costs = {}
    for name in OPS:
        fn = tf.function(calls[name])
        fn()
        times = []
        for _ in range(repeats):
            cpu = time.process_time()
            fn()
            times.append(time.process_time() - cpu)
        costs[name] = 1e3 * statistics.median(times)
    return costs


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
    parser.add_argument("--seeds", type=int, default=1, help="models per mode (seeds 0..S-1)")
    parser.add_argument(
        "--ops-batch", type=int, default=128, help="images in the operations' timing"
    )
    parser.add_argument(
        "--schedule",
        choices=("cosine", "constant"),
        default="cosine",
        help="Adam's learning rate (peak 1e-3): warm-up then cosine decay to 0 over the "
        "rounds (default), or constant",
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
    seeds = list(range(args.seeds))
    runs = [(reg, mode) for reg in regs for mode in modes]
    rate = _learning_rate(args, limit, epochs)
    models = {
        (f"{reg.name}/{mode}", seed): build(mode, reg, device, seed=seed, learning_rate=rate)
        for reg, mode in runs
        for seed in seeds
    }
    rates = {key: [] for key in models}
    peaks = {dtype: matmul_gflops(dtype) for dtype in ("float32", "bfloat16")}
    print(
        f"precision: kregs' CNN ({', '.join(r.name for r in regs)}), {limit} images, batch "
        f"{args.batch_size}, {epochs} alternated rounds ({args.schedule} learning rate), "
        f"{len(seeds)} seeds, "
        f"{device.threads} threads; a 2048x2048 matrix product: "
        f"{peaks['float32']:.0f} GFLOP/s float32, {peaks['bfloat16']:.0f} GFLOP/s bfloat16"
    )
    for epoch in range(epochs):
        for (key, seed), model in models.items():
            batches = pipeline(x, y, args.batch_size, training=True, seed=1000 * seed + epoch)
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit(batches, epochs=1, verbose=0)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rates[(key, seed)].append(
                {"wall": len(y) / wall, "cpu": len(y) / cpu, "busy": cpu / wall}
            )
    summary = {}
    for reg, mode in runs:
        key = f"{reg.name}/{mode}"
        steady = [r for seed in seeds for r in (rates[(key, seed)][1:] or rates[(key, seed)])]
        accuracies = [
            float(
                models[(key, seed)].evaluate(pipeline(*ds.test, 256, training=False), verbose=0)[1]
            )
            for seed in seeds
        ]
        flops = training_flops(models[(key, 0)], x.shape[1:])
        summary[key] = {
            "samples_per_s": statistics.median(r["wall"] for r in steady),
            "samples_per_cpu_s": statistics.median(r["cpu"] for r in steady),
            "cores_busy": statistics.median(r["busy"] for r in steady),
            "test_accuracy": statistics.mean(accuracies),
            "test_accuracies": accuracies,
            "training_flops_per_image": flops,
        }
        summary[key]["gflops"] = flops * summary[key]["samples_per_s"] / 1e9
        summary[key]["gflop_per_cpu_s"] = flops * summary[key]["samples_per_cpu_s"] / 1e9
    for reg, mode in runs:
        s, base = summary[f"{reg.name}/{mode}"], summary[f"{reg.name}/{modes[0]}"]
        s["speedup"] = s["samples_per_s"] / base["samples_per_s"]
        s["cpu_speedup"] = s["samples_per_cpu_s"] / base["samples_per_cpu_s"]
        s["accuracy_points_vs_first"] = 100 * (s["test_accuracy"] - base["test_accuracy"])
        pairs = zip(s["test_accuracies"], base["test_accuracies"], strict=True)
        diffs = [100 * (a - b) for a, b in pairs]
        _, low, high = interval(diffs)
        s["accuracy_points_interval_vs_first"] = [low, high]
        span = f" [{low:+.2f}, {high:+.2f}]" if low is not None and mode != modes[0] else ""
        print(
            f"  {reg.name + '/' + mode:28s} {s['samples_per_s']:7.0f} samples/s  "
            f"{s['samples_per_cpu_s']:6.0f} per CPU-s  {s['cores_busy']:4.2f} cores busy  "
            f"x{s['speedup']:.2f} (per CPU-s x{s['cpu_speedup']:.2f})  {s['gflops']:5.1f} GFLOP/s "
            f"({s['gflop_per_cpu_s']:.1f} per CPU-s)  test accuracy "
            f"{s['test_accuracy']:.4f} ({s['accuracy_points_vs_first']:+.2f} pt{span})"
        )
    ops = {dtype: op_costs(args.ops_batch, dtype) for dtype in ("float32", "bfloat16")}
    print(f"  one conv block's operations on {args.ops_batch} x 28 x 28 x 32, CPU ms:")
    for name in OPS:
        f32, bf16 = ops["float32"][name], ops["bfloat16"][name]
        print(f"    {name:32s} float32 {f32:6.2f}  bfloat16 {bf16:6.2f}  x{f32 / bf16:.2f}")
    overhead = _overhead(summary, regs, modes)
    for mode, ms in overhead.items():
        print(f"  regularization's CPU per image in {mode}: {ms:.3f} ms")
    result = {
        "benchmark": "precision",
        "command": command_line(),
        "machine": machine(),
        "images": limit,
        "epochs": epochs,
        "batch_size": args.batch_size,
        "schedule": args.schedule,
        "threads": device.threads,
        "configs": [reg.name for reg in regs],
        "seeds": seeds,
        "matmul_gflops": peaks,
        "rounds": {f"{key}/seed{seed}": r for (key, seed), r in rates.items()},
        "summary": summary,
        "ops_batch": args.ops_batch,
        "ops_cpu_ms": ops,
        "regularization_cpu_ms_per_image": overhead,
        "target_speedup": 1.8,
        "target_accuracy_points": 0.3,
    }
    print(f"  written to {write_result('precision', result, args.out)}")
    return result


def _learning_rate(args, limit, epochs):
    """1e-3, or kregs' warm-up + cosine schedule to 0 over the rounds (`--schedule`)."""
    if args.schedule == "constant":
        return 1e-3
    from kregs.run.schedule import warmup_cosine

    return warmup_cosine(1e-3, epochs, -(-limit // args.batch_size))


def _overhead(summary, regs, modes):
    """CPU ms per image the regularized configuration costs beyond the plain one, per mode
    (empty unless both were measured)."""
    names = [reg.name for reg in regs]
    if "none" not in names or len(names) < 2:
        return {}
    reg = next(n for n in names if n != "none")
    return {
        mode: 1e3 / summary[f"{reg}/{mode}"]["samples_per_cpu_s"]
        - 1e3 / summary[f"none/{mode}"]["samples_per_cpu_s"]
        for mode in modes
    }


if __name__ == "__main__":
    main()
