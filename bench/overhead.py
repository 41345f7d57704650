"""Does kregs cost training speed? Its CNN vs the same network written in plain Keras.

Builds `kregs.build_model`'s CNN and the identical network from plain Keras
layers (same layers in the same order, same parameter count, asserted; L2 as
Keras' `L2(lam / 2)`), trains both on the same Fashion-MNIST subset through
the same input pipeline, one warm-up epoch each, then whole epochs alternated
A B A B, and prints samples/s of each and the median of the per-round ratios
kregs / plain (target >= 0.98).

Usage: python bench/overhead.py [--quick] [--limit N] [--rounds R] [--out FILE]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402


def plain_cnn(input_shape, num_classes, lam, rate):
    """The kregs CNN for RegConfig(lam, rate, "before_activation"), in plain Keras layers."""
    import keras
    from keras import layers

    reg = keras.regularizers.L2(lam / 2)
    inputs = keras.Input(input_shape, dtype="uint8")
    x = layers.Rescaling(1 / 255)(inputs)
    for filters in (32, 64):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=reg)(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
            x = layers.Dropout(rate)(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, use_bias=False, kernel_regularizer=reg)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(rate)(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_regularizer=reg)(x)
    return keras.Model(inputs, outputs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3000 images, 2 rounds")
    parser.add_argument("--limit", type=int, default=None, help="training images")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    limit = args.limit or (3000 if args.quick else 20000)
    rounds = args.rounds or (2 if args.quick else 5)

    import keras

    import kregs
    from kregs.data import load_dataset, pipeline

    keras.utils.set_random_seed(0)
    ds = load_dataset("fashion_mnist", limit=limit, validation_split=0.0)
    x, y = ds.train
    lam, rate = 1e-4, 0.2
    reg = kregs.RegConfig(l2=lam, dropout=rate, batch_norm="before_activation")
    models = {
        "kregs": kregs.build_model(ds.info.input_shape, 10, reg),
        "plain": plain_cnn(ds.info.input_shape, 10, lam, rate),
    }
    counts = {name: m.count_params() for name, m in models.items()}
    assert counts["kregs"] == counts["plain"], counts
    shapes = {name: [tuple(w.shape) for w in m.weights] for name, m in models.items()}
    assert shapes["kregs"] == shapes["plain"], shapes  # same layers, same order
    assert len(models["kregs"].losses) == len(models["plain"].losses) == 6
    for m in models.values():
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    data = pipeline(x, y, args.batch_size, training=True, seed=0)

    def epoch(model):
        start = time.perf_counter()
        model.fit(data, epochs=1, verbose=0)
        return len(x) / (time.perf_counter() - start)

    for m in models.values():
        epoch(m)  # warm-up: tracing
    rates = {name: [] for name in models}
    for _ in range(rounds):
        for name, m in models.items():
            rates[name].append(epoch(m))
    ratios = [k / p for k, p in zip(rates["kregs"], rates["plain"], strict=True)]
    ratio = statistics.median(ratios)
    print(
        f"overhead: {len(x)} images, batch {args.batch_size}, {rounds} rounds A B, "
        f"{counts['kregs']} parameters each"
    )
    for name in models:
        print(
            f"  {name:6s} {statistics.median(rates[name]):8.1f} samples/s  (runs: "
            f"{', '.join(f'{r:.0f}' for r in rates[name])})"
        )
    print(f"  median ratio kregs/plain = {ratio:.3f}  (target >= 0.98)")
    result = {
        "benchmark": "overhead",
        "command": command_line(),
        "machine": machine(),
        "images": len(x),
        "batch_size": args.batch_size,
        "rounds": rounds,
        "parameters": counts["kregs"],
        "weight_shapes": shapes["kregs"],
        "samples_per_s": rates,
        "ratios": ratios,
        "ratio": ratio,
        "target": 0.98,
    }
    print(f"  written to {write_result('overhead', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
