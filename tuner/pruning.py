"""Pruning: a trial whose validation accuracy falls behind the earlier trials' stops early.

Each trial reports its validation accuracy at the end of every epoch to the
oracle (`kregs.tuner.tuners.EpochReport`); the oracle asks its pruner whether
the trial goes on, and answers "stop" (KerasTuner's STOPPED) when it does not.
The pruner sees what the oracle holds of every trial, so in a distributed
search the chief decides from every worker's reports, and after a resume from
the trials of earlier sessions. A pruned trial ends with KerasTuner's status
STOPPED: it is never ranked, never the best model, and trials.csv shows it as
PRUNED with its epoch.

A trial is judged by its best validation accuracy so far (a dip after a good
epoch is not held against it), as Optuna's pruners do.

Strong regularization learns more slowly in its first epochs and wins later (MixUp,
CutMix, RandAugment, AugMix, random erasing, label smoothing, dropout of 0.3 or more:
`slow_start`): judged at epoch 3 against configurations that learn fast, it would be
stopped before it pays. Such a trial is judged against the other slow starters (where
enough of them completed) and only after a longer warm-up, `SLOW_WARMUP` of the trial's
epochs (`kregs.tuner.epochs.why_prune`). No TensorFlow here.
"""

import statistics

from kregs.errors import invalid_value
from kregs.tuner.budget import PRUNINGS

__all__ = [
    "MedianPruner",
    "SLOW_WARMUP",
    "SuccessiveHalvingPruner",
    "best_so_far",
    "make_pruner",
    "slow_start",
]

# A slow starter's warm-up: this share of its epochs before it is judged.
SLOW_WARMUP = 0.4
STRONG_AUGMENT = ("erase", "randaugment", "augmix")


def slow_start(reg):
    """Whether a `kregs.RegConfig` learns slowly in its first epochs and wins later (see the
    module's docstring).

    Example:
    >>> from kregs import RegConfig
    >>> slow_start(RegConfig(mix="mixup")), slow_start(RegConfig(dropout=0.1))
    (True, False)
    """
    parts = set(reg.augment.split("+"))
    return (
        reg.mix != "none"
        or bool(parts & set(STRONG_AUGMENT))
        or reg.label_smoothing >= 0.1
        or reg.dropout >= 0.3
    )


def best_so_far(values):
    """`{epoch: best value up to that epoch}` of `{epoch: value}` (epochs from 1).

    Example:
    >>> best_so_far({1: 0.5, 2: 0.4, 3: 0.7})
    {1: 0.5, 2: 0.5, 3: 0.7}
    """
    best, out = None, {}
    for epoch in sorted(values):
        best = values[epoch] if best is None else max(best, values[epoch])
        out[epoch] = best
    return out


class MedianPruner:
    """Stops a trial whose best validation accuracy by epoch e is below the median of the
    earlier completed trials' by the same epoch (Optuna's `MedianPruner` rule).

    A completed trial that stopped early (patience) before epoch e counts with its
    best value: it had stopped improving. No trial is judged in its first
    `warmup` epochs, nor before `min_trials` trials have completed.

    Args:
        warmup: int >= 0, epochs during which no trial is pruned.
        min_trials: int >= 1, completed trials needed before any is pruned.

    Example:
    >>> pruner = MedianPruner(warmup=2, min_trials=2)
    >>> done = {"0": {1: 0.8, 2: 0.85, 3: 0.88}, "1": {1: 0.7, 2: 0.8, 3: 0.86}}
    >>> pruner.decide({1: 0.3, 2: 0.4, 3: 0.44}, 3, done, {})
    'val_accuracy 0.4400 by epoch 3, below the median 0.8700 of 2 completed trials'
    """

    name = "median"

    def __init__(self, warmup=2, min_trials=2):
        self.warmup = _count(warmup, "warmup", 0)
        self.min_trials = _count(min_trials, "min_trials", 1)

    def decide(self, curve, epoch, completed, others, warmup=None):
        """Why the trial stops at `epoch`, or None if it goes on.

        Args:
            curve: dict epoch -> validation accuracy of this trial (epochs from 1).
            epoch: int, the epoch it just ended.
            completed: dict trial id -> curve, the trials that completed.
            others: dict trial id -> curve, every other trial that reported (unused here).
            warmup: int or None, this trial's warm-up in place of `warmup` (a slow
                starter's: `kregs.tuner.epochs.why_prune`).
        """
        warmup = self.warmup if warmup is None else warmup
        if epoch <= warmup or len(completed) < self.min_trials or epoch not in curve:
            return None
        ref = [_at(best_so_far(c), epoch) for c in completed.values() if c]
        ref = [v for v in ref if v is not None]
        if len(ref) < self.min_trials:
            return None
        value, median = best_so_far(curve)[epoch], statistics.median(ref)
        if value >= median:
            return None
        return (
            f"val_accuracy {value:.4f} by epoch {epoch}, below the median {median:.4f} "
            f"of {len(ref)} completed trials"
        )

    def get_config(self):
        """The pruner's settings, as summary.md and run.json show them."""
        return {"name": self.name, "warmup": self.warmup, "min_trials": self.min_trials}


class SuccessiveHalvingPruner:
    """Asynchronous successive halving (ASHA, Li et al. 2020; Optuna's
    `SuccessiveHalvingPruner`): at each rung, epochs `min_epochs * factor**k`, a trial goes
    on only if its best validation accuracy so far is among the top `1/factor` of every
    trial that reached that rung (running, completed or pruned), itself included.

    Args:
        min_epochs: int >= 1, the first rung.
        factor: int >= 2, the reduction factor.
        min_trials: int >= 1, other trials that must have reached a rung before anyone
            is pruned there.

    Example:
    >>> pruner = SuccessiveHalvingPruner(min_epochs=2, factor=3)
    >>> pruner.rungs(20)
    [2, 6, 18]
    """

    name = "asha"

    def __init__(self, min_epochs=2, factor=3, min_trials=2):
        self.min_epochs = _count(min_epochs, "min_epochs", 1)
        self.factor = _count(factor, "factor", 2)
        self.min_trials = _count(min_trials, "min_trials", 1)

    def rungs(self, epochs):
        """The rungs up to `epochs`."""
        out, rung = [], self.min_epochs
        while rung <= epochs:
            out.append(rung)
            rung *= self.factor
        return out

    def decide(self, curve, epoch, completed, others, warmup=None):
        """Why the trial stops at `epoch`, or None (see `MedianPruner.decide`; `warmup`:
        a slow starter is judged from its second rung on)."""
        if warmup is not None and epoch < 2 * self.min_epochs:
            return None
        if epoch not in self.rungs(epoch) or epoch not in curve:
            return None
        rivals = [best_so_far(c)[epoch] for c in others.values() if epoch in c]
        if len(rivals) < self.min_trials:
            return None
        value = best_so_far(curve)[epoch]
        ranked = sorted([*rivals, value], reverse=True)
        keep = max(1, len(ranked) // self.factor)
        if value >= ranked[keep - 1]:
            return None
        return (
            f"val_accuracy {value:.4f} by epoch {epoch}, not in the top {keep} of "
            f"{len(ranked)} trials at this rung (best {ranked[0]:.4f})"
        )

    def get_config(self):
        """The pruner's settings, as summary.md and run.json show them."""
        return {
            "name": self.name,
            "min_epochs": self.min_epochs,
            "factor": self.factor,
            "min_trials": self.min_trials,
        }


def make_pruner(name):
    """The pruner named `name` (one of `kregs.tuner.budget.PRUNINGS`), None for "none"."""
    if name not in PRUNINGS:
        raise invalid_value("pruning", name, f"one of {', '.join(PRUNINGS)}")
    pruners = {"median": MedianPruner, "asha": SuccessiveHalvingPruner}
    return pruners[name]() if name in pruners else None


def _at(curve, epoch):
    """A completed trial's value at `epoch`: its own, or its last one if it stopped before."""
    if epoch in curve:
        return curve[epoch]
    earlier = [e for e in curve if e < epoch]
    return curve[max(earlier)] if earlier else None


def _count(value, name, least):
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise invalid_value(name, value, f"an integer >= {least}")
    return value
