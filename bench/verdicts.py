"""How honest kregs' verdicts are: false "shown" in A/A comparisons, and coverage.

Three paths compare two models, each as kregs does it:

- within-run: the validation images of one split, image by image (`kregs tune`'s
  control against its best trial: `kregs.verdicts.paired`);
- compare: the test images, image by image (`kregs compare`, the refit against the
  search's model: `kregs.verdicts.paired`);
- folds: 5 folds of every training image, fold by fold (`kregs tune --folds`:
  `kregs.verdicts.resampled`, Nadeau and Bengio's corrected t-test).

*A/A*: two identical configurations (no regularization) that differ only in their seed,
compared by each path `--repeats` times: the share called `shown` is the path's
false-positive rate, to be at most 5% plus its sampling margin (binomial: with 40
repeats, 4 or more happen 14% of the time at a true 5%, 5 or more 5%).

*Coverage*: one pair of configurations (none against dropout+bn) over `--coverage` seeds:
the long-run difference is the mean of their test accuracy differences over every
seed; each single run's interval covers it or not, per path (the within-run and
compare intervals cover only which images were measured, not training's randomness:
their coverage of the long-run difference says how much that leaves out).

Small data: 2,000 Fashion-MNIST images (200 of them validation), 200 test images (a small
data set's test split, as `--test-split 0.1` holds out), kregs' MLP for 3 epochs (`--arch
cnn`: the smoke CNN, three times the time). `--test-images 2000` measures the compare
path on a larger test set: there two
models of one configuration often differ measurably (under-trained networks differ by
seed more than a test set's sampling), which a per-image interval does not cover.

Usage: python bench/verdicts.py [--quick] [--repeats N] [--coverage N] [--out FILE]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402

PATHS = ("within-run", "compare", "folds")
PAIR = ("none", "dropout+bn")
FOLDS = 5


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, 2 seeds, 1 epoch")
    parser.add_argument("--repeats", type=int, default=None, help="A/A repeats per path")
    parser.add_argument("--coverage", type=int, default=None, help="seeds of the coverage pair")
    parser.add_argument("--limit", type=int, default=2000, help="training images")
    parser.add_argument("--test-images", type=int, default=200, help="test images")
    parser.add_argument("--arch", default="mlp", help="kregs' network: mlp or cnn")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 40)
    coverage = args.coverage or (2 if args.quick else 40)
    epochs = args.epochs or (1 if args.quick else 3)

    bench = Bench(args.limit, epochs, args.test_images, args.arch)
    print(
        f"verdicts: A/A x{repeats} per path, coverage of {PAIR[0]} vs {PAIR[1]} over "
        f"{coverage} seeds; {args.limit} Fashion-MNIST images, kregs' {args.arch}, "
        f"{epochs} epochs, "
        f"{bench.device.precision}",
        flush=True,
    )
    started, cpu = time.monotonic(), time.process_time()
    aa = {path: [] for path in PATHS}
    for r in range(repeats):
        for path, result in bench.aa(r).items():
            aa[path].append(result)
        print(
            f"A/A {r + 1}/{repeats}: " + ", ".join(f"{p} {aa[p][-1]['verdict']}" for p in PATHS),
            flush=True,
        )
    cover = bench.coverage(coverage)
    result = {
        "benchmark": "verdicts",
        "command": command_line(),
        "machine": machine(),
        "data": {
            "train_images": args.limit,
            "test_images": bench.test_images,
            "epochs": epochs,
            "arch": args.arch,
            "folds": FOLDS,
            "pair": list(PAIR),
        },
        "aa": {path: _rate(runs) for path, runs in aa.items()},
        "coverage": cover,
        "seconds": round(time.monotonic() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
    }
    result["summary"] = summary(result)
    print(result["summary"], flush=True)
    print(f"wrote {write_result('verdicts', result, args.out)}")


class Bench:
    """The data, the device and one training run, as kregs' study trains one."""

    def __init__(self, limit, epochs, test_images=200, arch="mlp"):
        import numpy as np

        from kregs.data import Dataset, Splits, stratified_sample
        from kregs.run.device import DeviceOptions, configure
        from kregs.study.budget import StudyBudget

        self.device = configure(DeviceOptions())
        ds = Dataset.from_name("fashion_mnist").load(validation_split=0.1, limit=limit, seed=0)
        keep = stratified_sample(ds.test[1], test_images, np.random.default_rng(0))
        self.ds = Splits(ds.train, ds.validation, (ds.test[0][keep], ds.test[1][keep]), ds.info)
        self.test_images = len(keep)
        self.budget = StudyBudget(epochs=epochs, batch_size=64, patience=2)
        self.arch = arch

    def train(self, config, seed, ds=None):
        """`(validation outcomes, test outcomes)` of configuration `config` trained with `seed`."""
        import keras

        from kregs.config import RegConfig
        from kregs.models import build_model
        from kregs.run.train import compile_model, fit_arguments, fit_for, outcomes
        from kregs.study.protocol import StudyValues, configurations

        ds = ds or self.ds
        reg = configurations(StudyValues(), (config,))[config] if config != "none" else RegConfig()
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        shape, k, policy = ds.info.input_shape, ds.info.num_classes, self.device.dtype_policy
        model = build_model(shape, k, reg=reg, arch=self.arch, dtype_policy=policy)
        compile_model(model, self.budget.learning_rate, self.device.loss_scale, False, reg=reg)
        kwargs = fit_for(reg, fit_arguments(ds, self.budget, seed), ds.info.num_classes, seed)
        model.fit(kwargs.pop("x"), **kwargs)
        size = self.budget.batch_size
        return outcomes(model, *ds.validation, size), outcomes(model, *ds.test, size)

    def folds(self, config, seed):
        """Each fold's validation accuracy of `config` trained with `seed` (5 folds)."""
        from kregs.data import Splits
        from kregs.tuner.folds import FoldData

        data = FoldData(self.ds, FOLDS, seed=0)
        scores = []
        for k in range(FOLDS):
            train, held = data.split(k)
            fold = Splits(train, held, held, self.ds.info)
            scores.append(float(self.train(config, seed * 100 + k, fold)[0].mean()))
        return scores

    def aa(self, r):
        """One A/A repeat: the same configuration, two seeds, by each path."""
        from kregs.verdicts import paired, resampled

        (val_a, test_a), (val_b, test_b) = self.train("none", 2 * r), self.train("none", 2 * r + 1)
        fa, fb = self.folds("none", 1000 + 2 * r), self.folds("none", 1001 + 2 * r)
        fold_diffs = [b - a for a, b in zip(fa, fb, strict=True)]
        return {
            "within-run": _short(paired(val_a, val_b)),
            "compare": _short(paired(test_a, test_b)),
            "folds": _short(resampled(fold_diffs, 1 / (FOLDS - 1))),
        }

    def coverage(self, seeds):
        """Each path's intervals for the pair over `seeds` seeds, against the long-run
        difference (the mean of their test accuracy differences)."""
        from kregs.verdicts import paired, resampled

        runs = []
        for seed in range(seeds):
            (va, ta), (vb, tb) = self.train(PAIR[0], 5000 + seed), self.train(PAIR[1], 5000 + seed)
            fold_diffs = None
            if seed < max(1, seeds // 2):  # folds cost five runs each: half the seeds
                fa, fb = self.folds(PAIR[0], 6000 + seed), self.folds(PAIR[1], 6000 + seed)
                fold_diffs = [b - a for a, b in zip(fa, fb, strict=True)]
            runs.append(
                {
                    "test_difference": float(tb.mean() - ta.mean()),
                    "within-run": _short(paired(va, vb)),
                    "compare": _short(paired(ta, tb)),
                    "folds": _short(resampled(fold_diffs, 1 / (FOLDS - 1))) if fold_diffs else None,
                }
            )
            print(
                f"coverage seed {seed + 1}/{seeds}: test difference "
                f"{100 * runs[-1]['test_difference']:+.2f} points",
                flush=True,
            )
        target = sum(r["test_difference"] for r in runs) / len(runs)
        out = {"long_run_difference": target, "seeds": seeds}
        for path in PATHS:
            found = [r[path] for r in runs if r[path] is not None]
            covered = sum(1 for f in found if f["low"] <= target <= f["high"])
            out[path] = {
                "covered": covered,
                "runs": len(found),
                "share": covered / len(found) if found else None,
                "mean_width": sum(f["high"] - f["low"] for f in found) / len(found),
            }
        return out


def _short(result):
    return {
        "difference": result.difference,
        "low": result.low,
        "high": result.high,
        "verdict": result.verdict,
    }


def _rate(runs):
    shown = sum(1 for r in runs if r["verdict"] == "shown")
    n = len(runs)
    return {"shown": shown, "runs": n, "share": shown / n, "margin": _margin(n)}


def _margin(n, alpha=0.05):
    """The most false "shown" of `n` at a true rate of 5% that happens 5% of the time or more:
    the count a path may reach before it is called too eager."""
    from scipy import stats

    return int(stats.binom.ppf(1 - alpha, n, 0.05))


def summary(result):
    lines = ["A/A (identical configurations, seeds apart): share called shown"]
    for path, r in result["aa"].items():
        lines.append(
            f"  {path:10s} {r['shown']}/{r['runs']} ({100 * r['share']:.1f}%); at most "
            f"{r['margin']} expected at a true 5%"
        )
    cover = result["coverage"]
    lines.append(
        f"coverage of the long-run difference {100 * cover['long_run_difference']:+.2f} "
        f"points ({cover['seeds']} seeds)"
    )
    for path in PATHS:
        c = cover[path]
        if c["runs"]:
            lines.append(
                f"  {path:10s} {c['covered']}/{c['runs']} ({100 * c['share']:.0f}%), mean "
                f"width {100 * c['mean_width']:.2f} points"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
