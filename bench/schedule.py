"""Constant learning rate or warm-up + cosine decay: which trains kregs' CNN better?

For each configuration (the unregularized CNN and L2 + dropout + BN), builds
one model per schedule from the same initial weights and trains them on the
same batches in alternated epochs in this one process (Adam, peak 1e-3, the
trial's precision): `constant` keeps 1e-3; `cosine` is
`kregs.run.schedule.warmup_cosine` over the epoch budget, as every kregs trial
trains. Prints, per model, the best validation accuracy (the epoch early
stopping would restore: the lowest validation loss) and the test accuracy of
those weights.

Usage: python bench/schedule.py [--quick] [--limit N] [--epochs E] [--out FILE]
"""

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, fashion_subset, machine, write_result  # noqa: E402

SCHEDULES = ("constant", "cosine")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3000 images, 3 epochs")
    parser.add_argument("--limit", type=int, default=None, help="training images")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--configs", default="none,l2+dropout+bn")
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    limit = args.limit or (3000 if args.quick else 10000)
    epochs = args.epochs or (3 if args.quick else 10)

    import keras

    from kregs import RegConfig, build_model
    from kregs.data import pipeline
    from kregs.run.device import POLICIES, DeviceOptions, configure
    from kregs.run.schedule import warmup_cosine
    from kregs.run.train import compile_model

    device = configure(DeviceOptions())
    x, y, val, test = fashion_subset(limit)
    steps = math.ceil(len(y) / args.batch_size)
    runs = {}
    for name in args.configs.split(","):
        reg = RegConfig.from_name(name, l2=1e-4, dropout=0.25, batch_norm="before_activation")
        for schedule in SCHEDULES:
            keras.utils.set_random_seed(0)
            model = build_model((28, 28, 1), 10, reg, dtype_policy=POLICIES[device.precision])
            rate = 1e-3 if schedule == "constant" else warmup_cosine(1e-3, epochs, steps)
            compile_model(model, rate, device.loss_scale)
            runs[(name, schedule)] = {"model": model, "history": [], "best": None}
    print(
        f"schedule: kregs' CNN, {limit} images, {epochs} epochs, batch {args.batch_size}, "
        f"{device.precision}, alternated epochs"
    )
    for epoch in range(epochs):
        for run in runs.values():
            batches = pipeline(x, y, args.batch_size, training=True, seed=epoch)
            h = run["model"].fit(batches, validation_data=val, epochs=1, verbose=0).history
            row = {k: float(v[0]) for k, v in h.items()}
            run["history"].append(row)
            if run["best"] is None or row["val_loss"] < run["best"]["val_loss"]:
                run["best"] = {**row, "epoch": epoch + 1}
                run["weights"] = run["model"].get_weights()
    summary = {}
    for (name, schedule), run in runs.items():
        run["model"].set_weights(run["weights"])
        _, accuracy = run["model"].evaluate(test, verbose=0)
        best = run["best"]
        summary[f"{name}/{schedule}"] = {
            "best_epoch": best["epoch"],
            "val_accuracy": best["val_accuracy"],
            "gap": best["accuracy"] - best["val_accuracy"],
            "test_accuracy": float(accuracy),
            # What a run without validation (the refit) keeps: the last epoch's weights.
            "last_epoch_val_accuracy": run["history"][-1]["val_accuracy"],
        }
        s = summary[f"{name}/{schedule}"]
        print(
            f"  {name:14s} {schedule:9s} best epoch {s['best_epoch']:2d}  val_acc "
            f"{s['val_accuracy']:.4f}  gap {s['gap']:+.4f}  test accuracy {s['test_accuracy']:.4f}"
            f"  last epoch val_acc {s['last_epoch_val_accuracy']:.4f}"
        )
    result = {
        "benchmark": "schedule",
        "command": command_line(),
        "machine": machine(),
        "images": limit,
        "epochs": epochs,
        "batch_size": args.batch_size,
        "precision": device.precision,
        "summary": summary,
        "histories": {f"{n}/{s}": r["history"] for (n, s), r in runs.items()},
    }
    print(f"  written to {write_result('schedule', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
