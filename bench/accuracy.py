"""Does `kregs tune --preset quick` beat a hand-written Keras CNN given the same time?

One run, side by side, on Fashion-MNIST:

1. `kregs tune --dataset fashion_mnist --preset quick` (a child process, as a
   user runs it): its wall time (search, then refit), the search's best model's
   test accuracy and the refit model's (the one exported).
2. A plain Keras CNN written by hand: the same layers (conv 32, conv 32, pool,
   conv 64, conv 64, pool, dense 128, softmax) with Keras' own L2 1e-4,
   BatchNormalization and Dropout 0.25, Adam 1e-3, early stopping on val_loss
   with patience 5 (best weights restored), float32, batch 64, the same
   training/validation split, trained until early stopping or until it has
   used the kregs run's whole wall time; then its test accuracy.

Targets on 2 CPU cores: quick >= 92.5% test accuracy with <= 10 min of search.

Usage: python bench/accuracy.py [--preset quick] [--hand-seconds S] [--out FILE]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402


def run_kregs(preset, output, extra):
    """Runs `kregs tune`; returns its wall and CPU seconds and its records."""
    cmd = [sys.executable, "-m", "kregs", "tune", "--dataset", "fashion_mnist"]
    cmd += ["--preset", preset, "--quiet", "--output", output, *extra]
    start, cpu = time.perf_counter(), os.times()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    ended = os.times()
    cpu_s = ended.children_user - cpu.children_user + ended.children_system - cpu.children_system
    if proc.returncode != 0:
        raise SystemExit(f"kregs tune failed ({proc.returncode}): {proc.stderr[-2000:]}")
    print(proc.stdout)
    with open(os.path.join(output, "test_result.json")) as f:
        search_test = json.load(f)
    refit_file = os.path.join(output, "refit", "model.json")
    refit = None
    if os.path.exists(refit_file):
        with open(refit_file) as f:
            refit = json.load(f)
    return {
        "command": " ".join(cmd[2:]),
        "wall_s": wall,
        "cpu_s": cpu_s,
        "search_s": wall - (refit["seconds"] if refit else 0.0),
        "refit_s": refit["seconds"] if refit else 0.0,
        "search_best_test_accuracy": search_test["accuracy"],
        "refit": refit,
        "test_accuracy": (refit or {"test": search_test})["test"]["accuracy"],
    }


def hand_written_cnn(seconds, seed=0, limit=None):
    """The plain Keras CNN, trained for at most `seconds` (on `limit` images); its figures."""
    import keras

    from kregs.data import load_dataset

    ds = load_dataset("fashion_mnist", validation_split=0.1, seed=seed)
    x, y = ds.train[0][:limit], ds.train[1][:limit]
    keras.utils.set_random_seed(seed)
    l2 = keras.regularizers.L2(1e-4)

    def conv(filters):
        return [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=l2),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dropout(0.25),
        ]

    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            *conv(32),
            *conv(32),
            keras.layers.MaxPooling2D(),
            *conv(64),
            *conv(64),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(128, use_bias=False, kernel_regularizer=l2),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    class Deadline(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            per_epoch = (time.perf_counter() - self.start) / (epoch + 1)
            if time.perf_counter() - self.start + per_epoch > seconds:
                self.model.stop_training = True  # the next epoch would not fit

    stop = keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)
    start, cpu = time.perf_counter(), time.process_time()
    history = model.fit(
        x,
        y,
        validation_data=ds.validation,
        batch_size=64,
        epochs=1000,
        callbacks=[stop, Deadline()],
        verbose=0,
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    _, accuracy = model.evaluate(*ds.test, verbose=0)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "epochs": len(history.history["loss"]),
        "test_accuracy": float(accuracy),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument(
        "--hand-seconds", type=float, default=None, help="default: the kregs run's wall time"
    )
    parser.add_argument("--kregs-args", default="", help="more `kregs tune` options")
    parser.add_argument("--hand-limit", type=int, default=None, help="hand-written: images")
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ours = run_kregs(args.preset, os.path.join(tmp, "run"), args.kregs_args.split())
    budget = args.hand_seconds or ours["wall_s"]
    hand = hand_written_cnn(budget, limit=args.hand_limit)
    print(f"accuracy: Fashion-MNIST, kregs tune --preset {args.preset} vs a hand-written CNN")
    print(
        f"  kregs tune      test accuracy {ours['test_accuracy']:.4f} (search's best model "
        f"{ours['search_best_test_accuracy']:.4f})  wall {ours['wall_s']:.0f} s (search "
        f"{ours['search_s']:.0f} s, refit {ours['refit_s']:.0f} s)  CPU {ours['cpu_s']:.0f} s"
    )
    print(
        f"  hand-written    test accuracy {hand['test_accuracy']:.4f}  wall {hand['wall_s']:.0f} s "
        f"({hand['epochs']} epochs, budget {budget:.0f} s)  CPU {hand['cpu_s']:.0f} s"
    )
    result = {
        "benchmark": "accuracy",
        "command": command_line(),
        "machine": machine(),
        "preset": args.preset,
        "kregs": ours,
        "hand_written": hand,
        "targets": {"quick_test_accuracy": 0.925, "quick_search_s": 600},
    }
    print(f"  written to {write_result('accuracy', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
