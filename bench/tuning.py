"""Does kregs tune better than the usual hand-written KerasTuner search, at an equal budget?

(a) `kregs.tuner.tune` with its defaults (Hyperband, early stopping, the
default space) and (b) plain KerasTuner `RandomSearch` over the same three
knobs written the usual way (a build function with `hp.Float`/`hp.Boolean`,
plain Keras layers, Adam at 1e-3, fixed epochs, no early stopping), on the
same stratified Fashion-MNIST subset. The budget is the number of training
epochs: (b) gets as many trials of `--epochs` epochs as fit into the epochs
(a) actually ran. For each of `--seeds` seeds it records the best validation
accuracy, the test accuracy of the best model and the wall time, and prints
mean +- std of each.

Usage: python bench/tuning.py [--quick] [--seeds N] [--limit N] [--epochs E] [--out FILE]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402


def usual_build(hp):
    """A KerasTuner build function as users write it: the same CNN, three knobs."""
    import keras
    from keras import layers

    lam = hp.Float("l2", 1e-6, 1e-2, sampling="log")
    rate = hp.Float("dropout", 0.0, 0.7)
    bn = hp.Boolean("batch_norm")
    inputs = keras.Input((28, 28, 1), dtype="uint8")
    x = layers.Rescaling(1 / 255)(inputs)
    for filters in (32, 64):
        for _ in range(2):
            x = layers.Conv2D(
                filters, 3, padding="same", kernel_regularizer=keras.regularizers.L2(lam)
            )(x)
            if bn:
                x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
            x = layers.Dropout(rate)(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu", kernel_regularizer=keras.regularizers.L2(lam))(x)
    x = layers.Dropout(rate)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def run_kregs(seed, limit, epochs, max_trials, work):
    from kregs.tuner import TuneConfig, tune

    start = time.perf_counter()
    config = TuneConfig.create(
        "fashion_mnist",
        output=os.path.join(work, f"kregs-{seed}"),
        limit=limit,
        epochs=epochs,
        max_trials=max_trials,
        seed=seed,
        top_k=1,
    )
    result = tune(config)
    done = [r for r in result.rows if r["status"] == "COMPLETED"]
    return {
        "best_val_accuracy": max(r["best_val_accuracy"] for r in done),
        "test_accuracy": result.test["accuracy"],
        "epochs": sum(r["epochs"] for r in result.rows if r["epochs"]),
        "trials": len(result.rows),
        "seconds": time.perf_counter() - start,
    }


def run_usual(seed, limit, epochs, budget_epochs, work):
    import keras
    import keras_tuner

    from kregs.data import load_dataset

    keras.utils.set_random_seed(seed)
    ds = load_dataset("fashion_mnist", limit=limit, seed=seed)
    trials = max(1, budget_epochs // epochs)
    start = time.perf_counter()
    tuner = keras_tuner.RandomSearch(
        usual_build,
        objective="val_accuracy",
        max_trials=trials,
        seed=seed,
        directory=os.path.join(work, f"usual-{seed}"),
    )
    tuner.search(*ds.train, validation_data=ds.validation, epochs=epochs, batch_size=64, verbose=0)
    best = tuner.get_best_models(1)[0]
    test_accuracy = best.evaluate(*ds.test, verbose=0)[1]
    return {
        "best_val_accuracy": tuner.oracle.get_best_trials(1)[0].score,
        "test_accuracy": float(test_accuracy),
        "epochs": trials * epochs,
        "trials": trials,
        "seconds": time.perf_counter() - start,
    }


def _mean_std(values):
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 1000 images, 2 epochs")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="training images")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial at most")
    parser.add_argument("--max-trials", type=int, default=None, help="kregs' trial cap")
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 3)
    limit = args.limit or (1000 if args.quick else 6000)
    epochs = args.epochs or (2 if args.quick else 6)
    max_trials = args.max_trials or (3 if args.quick else 12)

    runs = {"kregs": [], "usual": []}
    with tempfile.TemporaryDirectory() as work:
        for seed in range(seeds):
            k = run_kregs(seed, limit, epochs, max_trials, work)
            u = run_usual(seed, limit, epochs, k["epochs"], work)
            runs["kregs"].append(k)
            runs["usual"].append(u)
            print(
                f"seed {seed}: kregs test {k['test_accuracy']:.4f} in {k['epochs']} epochs "
                f"({k['seconds']:.0f}s); usual test {u['test_accuracy']:.4f} in {u['epochs']} "
                f"epochs ({u['seconds']:.0f}s)"
            )
    summary = {
        name: {
            key: _mean_std([r[key] for r in rs])
            for key in ("best_val_accuracy", "test_accuracy", "epochs", "seconds")
        }
        for name, rs in runs.items()
    }
    print(f"tuning: {seeds} seeds, {limit} training images, up to {epochs} epochs per trial")
    print("  search                     best val acc        test acc            epochs     seconds")
    for name, label in (("kregs", "kregs tune (defaults)"), ("usual", "KerasTuner RandomSearch")):
        s = summary[name]
        print(
            f"  {label:26s} {s['best_val_accuracy'][0]:.4f} +- {s['best_val_accuracy'][1]:.4f}"
            f"   {s['test_accuracy'][0]:.4f} +- {s['test_accuracy'][1]:.4f}"
            f"   {s['epochs'][0]:6.1f}   {s['seconds'][0]:7.1f}"
        )
    diff = summary["kregs"]["test_accuracy"][0] - summary["usual"]["test_accuracy"][0]
    print(f"  test accuracy kregs - usual: {diff:+.4f} at the same number of training epochs")
    result = {
        "benchmark": "tuning",
        "command": command_line(),
        "machine": machine(),
        "seeds": seeds,
        "limit": limit,
        "epochs_per_trial": epochs,
        "runs": runs,
        "summary": summary,
        "test_accuracy_difference": diff,
    }
    print(f"  written to {write_result('tuning', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
