"""Each regularizer alone on top of BN, side by side: same data, same seeds, same time.

Trains a configuration (`--configs`, names below) per seed (`--seeds`) on the same
Fashion-MNIST subset and batches, with warm-up + cosine decay (Adam or AdamW, peak
1e-3, the machine's precision), as a kregs trial trains; every configuration has BN
before the activation. Equal time: `bn` trains `--epochs` epochs, and every other
configuration as many epochs as fit in the same CPU time (its CPU seconds per
step measured first: the median of 3 alternated timings of 25 steps; CPU time
because this shared host switches between two speeds, which wall time follows;
`--equal-epochs` gives all `--epochs`). Prints, per
configuration, its epochs, seconds per epoch and, over the seeds, the test accuracy
(mean and 95% t interval) of the best epoch (lowest validation loss, the one early
stopping restores), its validation accuracy and train-minus-validation gap (on
unmixed images where MixUp/CutMix mix them).

Configuration names: `bn` (BN only), `blocks`, `blocks-spatial`, `stages`,
`stages-spatial`, `head` (dropout 0.3 there), `l2` (lambda 1e-4), `wd` (decoupled
decay 0.05), `shift`, `flip+shift`, `flip+shift+erase`, `randaugment`, `augmix`
(augmentation), `ls` (label smoothing 0.1), `mixup`, `cutmix` (alpha 1), `ema`
(weight averaging); `resnet` (a small residual CNN with BN, kregs.regularize'd) and
`resnet-sd` (the same with stochastic depth 0.2), the pair that shows stochastic depth.

Usage: python bench/regularizers.py [--quick] [--limit N] [--epochs E] [--seeds S]
                                     [--configs a,b] [--equal-epochs] [--out FILE]
"""

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, fashion_subset, interval, machine, write_result  # noqa: E402

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
    "randaugment": {"augment": "randaugment"},
    "augmix": {"augment": "augmix"},
    "ls": {"label_smoothing": 0.1},
    "mixup": {"mix": "mixup", "mix_alpha": 1.0},
    "cutmix": {"mix": "cutmix", "mix_alpha": 1.0},
    "ema": {"weight_averaging": "ema"},
    "resnet": {},
    "resnet-sd": {"stochastic_depth": 0.2},
}
RESIDUAL = ("resnet", "resnet-sd")


def resnet(input_shape=(28, 28, 1), num_classes=10):
    """A small residual CNN with BN: a stem and four basic blocks (32, 32, 64, 64 filters)."""
    import keras

    def conv_bn(x, filters, stride=1, size=3):
        x = keras.layers.Conv2D(filters, size, stride, padding="same", use_bias=False)(x)
        return keras.layers.BatchNormalization(momentum=0.9)(x)

    inputs = keras.Input(input_shape)
    x = keras.layers.ReLU()(conv_bn(inputs, 32))
    for filters, stride in ((32, 1), (32, 1), (64, 2), (64, 1)):
        branch = keras.layers.ReLU()(conv_bn(x, filters, stride))
        branch = conv_bn(branch, filters)
        shortcut = x if stride == 1 else conv_bn(x, filters, stride, size=1)
        x = keras.layers.ReLU()(keras.layers.Add()([shortcut, branch]))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.MaxPooling2D()(x))
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="resnet")


def build(name, device):
    """The configuration's `RegConfig` and its (uncompiled) model."""
    from kregs import RegConfig, build_model
    from kregs.run.device import POLICIES
    from kregs.usermodel import adapt

    policy = POLICIES[device.precision]
    if name in RESIDUAL:
        reg = RegConfig(**CONFIGS[name])
        return reg, adapt(resnet(), (28, 28, 1), 10, reg, policy, say=lambda text: None)
    reg = RegConfig(**BN, **CONFIGS[name])
    return reg, build_model((28, 28, 1), 10, reg, dtype_policy=policy)


def step_seconds(names, data, batch_size, device, steps=25, rounds=3):
    """`{name: CPU seconds per training step}`: the median of `rounds` alternated timings of
    `steps` steps each, after one traced epoch. CPU time, not wall time: this shared host
    switches between two speeds (one or two cores' worth), which wall time follows."""
    import statistics

    from kregs.data import pipeline
    from kregs.run.train import compile_model, fit_for

    x, y = data[0][: steps * batch_size], data[1][: steps * batch_size]
    steps = math.ceil(len(y) / batch_size)
    models, times = {}, {n: [] for n in names}
    for name in names:
        reg, model = build(name, device)
        models[name] = (reg, compile_model(model, 1e-3, device.loss_scale, reg=reg))
    for round_ in range(rounds + 1):
        for name in names:
            reg, model = models[name]
            kwargs = {
                "x": pipeline(x, y, batch_size, training=True, seed=round_),
                "epochs": 1,
                "verbose": 0,
                "shuffle": False,
            }
            start = time.process_time()
            model.fit(**fit_for(reg, kwargs, 10, round_))
            if round_:  # the first traces the graphs
                times[name].append((time.process_time() - start) / steps)
    return {n: statistics.median(t) for n, t in times.items()}


def train(name, seed, epochs, data, batch_size, device):
    """One run of `epochs` epochs: `(summary, history)`, the best epoch's figures (its
    weights restored by `kregs.BestEpoch`, as in a trial) and every epoch's logs."""
    import keras
    import numpy as np

    from kregs.callbacks import BestEpoch, EpochTime, GeneralizationGap
    from kregs.data import pipeline
    from kregs.run.schedule import warmup_cosine
    from kregs.run.train import compile_model, fit_for

    x, y, val, test = data
    keras.utils.set_random_seed(seed)
    reg, model = build(name, device)
    steps = math.ceil(len(y) / batch_size)
    compile_model(model, warmup_cosine(1e-3, epochs, steps), device.loss_scale, reg=reg)
    callbacks = [GeneralizationGap(), BestEpoch("val_loss"), EpochTime()]
    kwargs = {
        "x": pipeline(x, y, batch_size, training=True, seed=seed),
        "validation_data": val,
        "epochs": epochs,
        "callbacks": callbacks,
        "verbose": 0,
        "shuffle": False,
    }
    cpu = time.process_time()
    h = model.fit(**fit_for(reg, kwargs, 10, seed)).history
    cpu = time.process_time() - cpu
    history = [{k: float(v[i]) for k, v in h.items()} for i in range(len(h["loss"]))]
    best = callbacks[1].best_epoch
    _, accuracy = model.evaluate(test, verbose=0)
    seconds = [row["epoch_seconds"] for row in history]
    return {
        "best_epoch": best + 1,
        "val_accuracy": history[best]["val_accuracy"],
        "gap": history[best]["generalization_gap"],
        "test_accuracy": float(accuracy),
        # the first epoch traces the graphs: the median of the others
        "seconds_per_epoch": float(np.median(seconds[1:] or seconds)),
        "cpu_seconds_per_epoch": cpu / len(history),
    }, history


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000 images, 2 epochs, 1 seed")
    parser.add_argument("--limit", type=int, default=None, help="training images")
    parser.add_argument("--epochs", type=int, default=None, help="bn's epochs")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..S-1")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--equal-epochs", action="store_true", help="not equal time")
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    limit = args.limit or (2000 if args.quick else 10000)
    epochs = args.epochs or (2 if args.quick else 12)
    seeds = list(range(args.seeds or (1 if args.quick else 3)))
    names = args.configs.split(",")
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configurations {unknown}; expected among {', '.join(CONFIGS)}")

    from kregs.run.device import DeviceOptions, configure

    device = configure(DeviceOptions())
    data = fashion_subset(limit)
    print(
        f"regularizers: BN + one regularizer, {limit} images, seeds {seeds}, warm-up + cosine, "
        f"batch {args.batch_size}, {device.precision}",
        flush=True,
    )
    plan = {name: epochs for name in names}
    budget = None
    if not args.equal_epochs:  # equal time: each one's seconds per step, measured first
        step = step_seconds(names, data, args.batch_size, device)
        reference = "bn" if "bn" in names else names[0]
        steps = math.ceil(limit / args.batch_size)
        budget = epochs * steps * step[reference]
        plan = {n: max(1, round(epochs * step[reference] / step[n])) for n in names}
        print(
            f"  equal time: {budget:.0f} CPU s of training steps each ({reference}'s {epochs} "
            f"epochs); CPU ms per step { ({n: round(1000 * t, 1) for n, t in step.items()}) }; "
            f"epochs {plan}",
            flush=True,
        )
    runs, histories = {n: [] for n in names}, {n: [] for n in names}
    for seed in seeds:  # alternated: a slower host slows every configuration alike
        for name in names:
            run, history = train(name, seed, plan[name], data, args.batch_size, device)
            runs[name].append({**run, "seed": seed, "epochs": plan[name]})
            histories[name].append(history)
            print(
                f"  {name:17s} seed {seed}  {plan[name]:2d} epochs  best {run['best_epoch']:2d}  "
                f"val_acc {run['val_accuracy']:.4f}  gap {run['gap']:+.4f}  test "
                f"{run['test_accuracy']:.4f}  {run['seconds_per_epoch']:.1f} s/epoch  "
                f"{run['cpu_seconds_per_epoch']:.1f} CPU s/epoch",
                flush=True,
            )
    summary = {name: _summary(name, runs[name]) for name in names}
    print("  test accuracy over the seeds, mean [95% t interval]:")
    for name, s in summary.items():
        low, high = s["test_low"], s["test_high"]
        ci = f"[{100 * low:.2f}, {100 * high:.2f}]" if low is not None else ""
        print(
            f"  {name:17s} {100 * s['test_accuracy']:.2f}% {ci:16s} "
            f"val {100 * s['val_accuracy']:.2f}%"
            f"  gap {100 * s['gap']:+.2f}  {s['epochs']:2d} epochs  "
            f"{s['seconds_per_epoch']:.1f} s/epoch  {s['cpu_seconds_per_epoch']:.1f} CPU s/epoch",
            flush=True,
        )
    result = {
        "benchmark": "regularizers",
        "command": command_line(),
        "machine": machine(),
        "images": limit,
        "epochs": epochs,
        "seeds": seeds,
        "equal_time_seconds": budget,
        "batch_size": args.batch_size,
        "precision": device.precision,
        "summary": summary,
        "histories": histories,
    }
    print(f"  written to {write_result('regularizers', result, args.out)}")
    return result


def _summary(name, runs):
    import statistics

    from kregs import RegConfig

    test, low, high = interval([r["test_accuracy"] for r in runs])
    reg = RegConfig(**CONFIGS[name]) if name in RESIDUAL else RegConfig(**BN, **CONFIGS[name])
    return {
        "config": reg.to_dict(),
        "model": "resnet" if name in RESIDUAL else "cnn",
        "epochs": runs[0]["epochs"],
        "test_accuracy": test,
        "test_low": low,
        "test_high": high,
        "val_accuracy": statistics.mean(r["val_accuracy"] for r in runs),
        "gap": statistics.mean(r["gap"] for r in runs),
        "best_epoch": statistics.mean(r["best_epoch"] for r in runs),
        "seconds_per_epoch": statistics.median(r["seconds_per_epoch"] for r in runs),
        "cpu_seconds_per_epoch": statistics.median(r["cpu_seconds_per_epoch"] for r in runs),
        "runs": runs,
    }


if __name__ == "__main__":
    main()
