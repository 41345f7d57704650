"""Fine-tuning regularization side by side: none, L2 towards zero, decoupled decay, L2-SP,
and what `kregs tune --model` picks.

A transfer task built from Fashion-MNIST: kregs' CNN (BN before the activation) is
pre-trained on five classes (T-shirt/top, Trouser, Pullover, Dress, Coat: all their
training images, `--pretrain-epochs`), then fine-tuned on the five others (Sandal,
Shirt, Sneaker, Bag, Ankle boot) from `--per-class` images of each (a stratified
sample per seed, 10% of it for validation) and tested on all their 5,000 test images.
Its classifier is replaced (5 new classes); every run starts from the pre-trained
weights and trains `--epochs` epochs (warm-up and cosine decay to a peak of 1e-3,
early stopping on validation loss, the machine's precision):

- `none`: no regularization;
- `l2`: the L2 penalty towards zero, lambda `--l2` (every kernel);
- `decay`: decoupled weight decay `--weight-decay` (AdamW);
- `l2sp`: L2-SP, alpha `--alpha`, towards the pre-trained weights (the new classifier:
  L2 of the same strength);
- `search`: `kregs tune --model pretrained.keras --init pretrained --space extended`
  (`--trials` trials of the same epochs; its refit model is tested).

Prints each method's test accuracy per seed, mean and 95% t interval over `--seeds`.

Usage: python bench/finetune.py [--quick] [--seeds S] [--per-class N] [--epochs E]
       [--trials T] [--out FILE]
"""

import argparse
import math
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, interval, machine, write_result  # noqa: E402

METHODS = ("none", "l2", "decay", "l2sp", "search")
SOURCE, TARGET = range(5), range(5, 10)


def pretrain(path, epochs, device, limit=None):
    """kregs' CNN trained on the source classes (`limit` images of them at most), saved."""
    import keras
    import numpy as np

    import kregs
    from kregs.data import load_dataset, pipeline, stratified_sample
    from kregs.run.train import compile_model

    ds = load_dataset("fashion_mnist", validation_split=0.0, seed=0)
    x, y = ds.train
    keep = np.flatnonzero(y < 5)
    if limit is not None:
        keep = keep[stratified_sample(y[keep], min(limit, len(keep)), np.random.default_rng(0))]
    keras.utils.set_random_seed(0)
    model = kregs.build_model(
        (28, 28, 1),
        5,
        kregs.RegConfig(batch_norm="before_activation"),
        dtype_policy=device.dtype_policy,
    )
    compile_model(model, 1e-3)
    model.fit(pipeline(x[keep], y[keep], 128, training=True, seed=0), epochs=epochs, verbose=0)
    xt, yt = ds.test
    accuracy = model.evaluate(xt[yt < 5], yt[yt < 5], verbose=0)[1]
    model.save(path)
    return float(accuracy), ds


def target(ds, per_class, seed):
    """`(x, y, x_test, y_test)` of the target task: `per_class` images of each of its classes."""
    import numpy as np

    from kregs.data import stratified_sample

    x, y = ds.train
    mask = y >= 5
    xs, ys = x[mask], y[mask] - 5
    keep = stratified_sample(ys, 5 * per_class, np.random.default_rng(100 + seed))
    xt, yt = ds.test
    return xs[keep], ys[keep], xt[yt >= 5], yt[yt >= 5] - 5


def finetune(pretrained, data, reg, epochs, seed, device):
    """Test accuracy of the pre-trained model fine-tuned with `reg` on `data`."""
    import keras

    from kregs.callbacks import BestEpoch
    from kregs.data import Dataset, pipeline
    from kregs.run.schedule import warmup_cosine
    from kregs.run.train import compile_model
    from kregs.usermodel import ModelSource

    x, y, x_test, y_test = data
    splits = Dataset.from_arrays(x, y, x_test, y_test).load(validation_split=0.1, seed=seed)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    source = ModelSource.create(pretrained, init="pretrained")
    model = source.build((28, 28, 1), 5, reg, device.dtype_policy)
    steps = math.ceil(len(splits.train[1]) / 64)
    compile_model(model, warmup_cosine(1e-3, epochs, steps), weight_decay=reg.weight_decay)
    model.fit(
        pipeline(*splits.train, 64, training=True, seed=seed),
        validation_data=pipeline(*splits.validation, 256, training=False),
        epochs=epochs,
        verbose=0,
        callbacks=[BestEpoch(patience=4)],
    )
    return float(model.evaluate(pipeline(x_test, y_test, 256, training=False), verbose=0)[1])


def search(pretrained, data, epochs, trials, seed, work):
    """The refit model's test accuracy of `kregs tune --model` on `data`, and its pick."""
    from kregs.data import Dataset
    from kregs.tuner import TuneConfig, tune

    x, y, x_test, y_test = data
    config = TuneConfig.create(
        Dataset.from_arrays(x, y, x_test, y_test, name=f"target{seed}"),
        model=pretrained,
        init="pretrained",
        space="extended",
        algorithm="random",
        max_trials=trials,
        epochs=epochs,
        batch_size=64,
        patience=4,
        seed=seed,
        output=os.path.join(work, f"search-{seed}"),
        keep_best=1,
    )
    result = tune(config)
    return result.refit["test"]["accuracy"], result.best["config"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 seed, 40 per class, 2 epochs, 2,000 to pre-train"
    )
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--per-class", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs")
    parser.add_argument("--pretrain-epochs", type=int, default=None)
    parser.add_argument("--pretrain-limit", type=int, default=None, help="source images")
    parser.add_argument("--trials", type=int, default=None, help="the search's trials")
    parser.add_argument("--l2", type=float, default=0.01)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--alpha", type=float, default=0.1, help="L2-SP's alpha")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 3)
    per_class = args.per_class or (40 if args.quick else 200)
    epochs = args.epochs or (2 if args.quick else 15)
    pretrain_epochs = args.pretrain_epochs or (1 if args.quick else 4)
    pretrain_limit = args.pretrain_limit or (2000 if args.quick else None)
    trials = args.trials or (2 if args.quick else 6)
    methods = args.methods.split(",")

    from kregs import RegConfig
    from kregs.run import device as device_setup

    device = device_setup.configure(device_setup.DeviceOptions())
    regs = {
        "none": RegConfig(),
        "l2": RegConfig(l2=args.l2),
        "decay": RegConfig(weight_decay=args.weight_decay),
        "l2sp": RegConfig(l2sp=args.alpha),
    }
    runs = []
    with tempfile.TemporaryDirectory() as work:
        pretrained = os.path.join(work, "pretrained.keras")
        start = time.perf_counter()
        source_accuracy, ds = pretrain(pretrained, pretrain_epochs, device, pretrain_limit)
        print(
            f"pre-trained on classes 0-4 in {time.perf_counter() - start:.0f} s: test "
            f"accuracy {source_accuracy:.4f} on them"
        )
        for seed in range(seeds):
            data = target(ds, per_class, seed)
            for method in methods:
                start = time.perf_counter()
                pick = None
                if method == "search":
                    accuracy, pick = search(pretrained, data, epochs, trials, seed, work)
                else:
                    accuracy = finetune(pretrained, data, regs[method], epochs, seed, device)
                seconds = time.perf_counter() - start
                runs.append(
                    {
                        "method": method,
                        "seed": seed,
                        "test_accuracy": accuracy,
                        "seconds": seconds,
                        "pick": pick,
                    }
                )
                print(
                    f"  seed {seed} {method:6s} test accuracy {accuracy:.4f} ({seconds:.0f} s)"
                    + (f": picked {pick}" if pick else "")
                )
    summary = {}
    for method in methods:
        values = [r["test_accuracy"] for r in runs if r["method"] == method]
        mean, low, high = interval(values)
        summary[method] = {
            "mean": mean,
            "low": low,
            "high": high,
            "n": len(values),
            "seconds": statistics.mean(r["seconds"] for r in runs if r["method"] == method),
        }
    print(f"fine-tuning: {per_class} images per class, {epochs} epochs, {seeds} seeds")
    for method, s in summary.items():
        ci = f"[{s['low']:.4f}, {s['high']:.4f}]" if s["low"] is not None else "(one seed)"
        print(f"  {method:6s} {s['mean']:.4f} {ci}  {s['seconds']:.0f} s per run")
    result = {
        "benchmark": "finetune",
        "command": command_line(),
        "machine": machine(),
        "seeds": seeds,
        "per_class": per_class,
        "epochs": epochs,
        "pretrain_epochs": pretrain_epochs,
        "pretrain_limit": pretrain_limit,
        "source_test_accuracy": source_accuracy,
        "values": {
            "l2": args.l2,
            "weight_decay": args.weight_decay,
            "alpha": args.alpha,
            "trials": trials,
        },
        "runs": runs,
        "summary": summary,
    }
    print(f"  written to {write_result('finetune', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
