"""Where dropout goes, what it drops, which penalty, which augmentation: measured side by side.

Trains kregs' CNN once per configuration (`--configs`, names below) on the same
Fashion-MNIST subset and batches, from the same seed, for `--epochs` epochs of
warm-up + cosine decay (Adam or AdamW, peak 1e-3, the machine's precision), as
a kregs trial trains; every configuration has BN before the activation. Prints,
per configuration, the best epoch (lowest validation loss, the one early
stopping restores), its validation accuracy and train-minus-validation gap, the
test accuracy of those weights and the seconds per epoch (augmentation costs
time on a CPU).

Configuration names: `bn` (BN only), `blocks`, `blocks-spatial`, `stages`,
`stages-spatial`, `head` (dropout 0.3 there), `l2` (lambda 1e-4), `wd` (decoupled
decay 0.05), `shift`, `flip+shift`, `flip+shift+erase` (augmentation).

Usage: python bench/regularizers.py [--quick] [--limit N] [--epochs E] [--configs a,b]
                                     [--out FILE]
"""

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, fashion_subset, machine, write_result  # noqa: E402

BN = {"batch_norm": "before_activation"}
CONFIGS = {
    "bn": {},
    "blocks": {"dropout": 0.3, "dropout_placement": "blocks"},
    "blocks-spatial": {"dropout": 0.3, "dropout_placement": "blocks", "dropout_kind": "spatial"},
    "stages": {"dropout": 0.3, "dropout_placement": "stages"},
    "stages-spatial": {"dropout": 0.3, "dropout_placement": "stages", "dropout_kind": "spatial"},
    "head": {"dropout": 0.3, "dropout_placement": "head"},
    "l2": {"l2": 1e-4},
    "wd": {"weight_decay": 0.05},
    "shift": {"augment": "shift"},
    "flip+shift": {"augment": "flip+shift"},
    "flip+shift+erase": {"augment": "flip+shift+erase"},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000 images, 2 epochs")
    parser.add_argument("--limit", type=int, default=None, help="training images")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    limit = args.limit or (2000 if args.quick else 10000)
    epochs = args.epochs or (2 if args.quick else 12)
    names = args.configs.split(",")
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configurations {unknown}; expected among {', '.join(CONFIGS)}")

    import keras
    import numpy as np

    from kregs import RegConfig, build_model
    from kregs.data import pipeline
    from kregs.run.device import POLICIES, DeviceOptions, configure
    from kregs.run.schedule import warmup_cosine
    from kregs.run.train import compile_model

    device = configure(DeviceOptions())
    x, y, val, test = fashion_subset(limit)
    steps = math.ceil(len(y) / args.batch_size)
    print(
        f"regularizers: kregs' CNN with BN, {limit} images, {epochs} epochs (warm-up + "
        f"cosine), batch {args.batch_size}, {device.precision}"
    )
    summary, histories = {}, {}
    for name in names:
        reg = RegConfig(**BN, **CONFIGS[name])
        keras.utils.set_random_seed(0)
        model = build_model((28, 28, 1), 10, reg, dtype_policy=POLICIES[device.precision])
        rate = warmup_cosine(1e-3, epochs, steps)
        compile_model(model, rate, device.loss_scale, weight_decay=reg.weight_decay)
        history, best, seconds = [], None, []
        for epoch in range(epochs):
            batches = pipeline(x, y, args.batch_size, training=True, seed=epoch)
            start = time.perf_counter()
            h = model.fit(batches, validation_data=val, epochs=1, verbose=0).history
            seconds.append(time.perf_counter() - start)
            row = {k: float(v[0]) for k, v in h.items()}
            history.append(row)
            if best is None or row["val_loss"] < best["val_loss"]:
                best, weights = {**row, "epoch": epoch + 1}, model.get_weights()
        model.set_weights(weights)
        _, accuracy = model.evaluate(test, verbose=0)
        summary[name] = {
            "config": reg.to_dict(),
            "best_epoch": best["epoch"],
            "val_accuracy": best["val_accuracy"],
            "gap": best["accuracy"] - best["val_accuracy"],
            "test_accuracy": float(accuracy),
            # the first epoch traces the graphs: the median of the others
            "seconds_per_epoch": float(np.median(seconds[1:] or seconds)),
        }
        histories[name] = history
        s = summary[name]
        print(
            f"  {name:17s} best epoch {s['best_epoch']:2d}  val_acc {s['val_accuracy']:.4f}  "
            f"gap {s['gap']:+.4f}  test accuracy {s['test_accuracy']:.4f}  "
            f"{s['seconds_per_epoch']:.1f} s/epoch",
            flush=True,
        )
    result = {
        "benchmark": "regularizers",
        "command": command_line(),
        "machine": machine(),
        "images": limit,
        "epochs": epochs,
        "batch_size": args.batch_size,
        "precision": device.precision,
        "summary": summary,
        "histories": histories,
    }
    print(f"  written to {write_result('regularizers', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
