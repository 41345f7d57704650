"""Cross-validation of a search's leading configurations (`--folds`), for small data.

On a small validation split one trial's accuracy is a few images either way. With
`--folds K`, once the search has ended, its control and its `CANDIDATES` best regularized
configurations are each trained again on K stratified folds of every training image
(training and validation together; the test split untouched): fold k holds out the k-th
K-th of the images and trains on the rest. A configuration's score is its mean over
folds, and the verdict on regularization compares the control with the best regularized
configuration fold by fold with Nadeau and Bengio's corrected resampled t-test
(`kregs.verdicts.resampled`), which covers training's randomness as well as the images.

Each fold is a KerasTuner trial of its own (the search's values plus `cv/fold` and
`cv/of`, the trial it repeats), handed out by the oracle after the search's trials: a
finished fold is never trained again after a kill, workers of a distributed search train
folds as they train trials, and a time budget decides whether one more fold starts. The
plan (which configurations, which were stopped) is kept in folds.json. Folds go fold by
fold (every configuration's fold 0, then fold 1, ...), so that after `PRUNE_AFTER` folds a
configuration clearly behind the leader stops (a one-sided Wilcoxon signed-rank test on
the folds both have, p < `PRUNE_P`: Optuna's `WilcoxonPruner` rule). The control is never
stopped: it is the verdict's reference. The refit still trains on every training image.
"""

import logging
import os

import numpy as np

from kregs.errors import invalid_value
from kregs.run.files import read_json, write_json
from kregs.verdicts import resampled

logger = logging.getLogger(__name__)

FOLDS_FILE = "folds.json"
FOLD = "cv/fold"  # the fold a trial trains on held out
OF = "cv/of"  # the search's trial whose configuration it repeats
CANDIDATES = 2  # regularized configurations cross-validated besides the control
AUTO_FOLDS = 5  # --folds auto: 5 folds ...
AUTO_BELOW = 2000  # ... when the validation split would hold fewer images than this
PRUNE_AFTER = 3  # folds a configuration has before it can be stopped
PRUNE_P = 0.1  # the one-sided Wilcoxon p below which it stops


def check_folds(value):
    """`"auto"`, 0 (off) or an int >= 2, as `--folds` takes it (an int in a string too)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    whole = isinstance(value, int) and not isinstance(value, bool)
    if value == "auto" or (whole and value != 1 and value >= 0):
        return value
    raise invalid_value("folds", value, "auto, 0 (none) or a number of folds >= 2")


def fold_count(folds, validation_images):
    """The number of folds: `folds`, or for "auto" `AUTO_FOLDS` where the validation
    split holds fewer than `AUTO_BELOW` images, else 0 (no cross-validation)."""
    if folds == "auto":
        return AUTO_FOLDS if validation_images < AUTO_BELOW else 0
    return int(folds)


def stratified_folds(labels, k, seed):
    """A fold number 0..k-1 for every image: each class spread evenly over the folds.

    Example:
    >>> np.bincount(stratified_folds(np.repeat([0, 1], 10), 5, seed=0)).tolist()
    [4, 4, 4, 4, 4]
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, 7])
    fold = np.empty(len(labels), int)
    offset = 0
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        fold[members] = (np.arange(len(members)) + offset) % k
        offset += len(members)  # (the classes' remainders spread over the folds)
    return fold


class FoldData:
    """Every training image of a run, split into folds: what a fold trial trains on.

    Args:
        ds: the run's `kregs.data.Splits` (its training and validation splits together).
        k: int >= 2.
        seed: int.
        limit: int or None, the images a fold trains on at most (a stratified subset, as
            `--trial-images` cuts a search trial's).
    """

    def __init__(self, ds, k, seed, limit=None):
        from kregs import data

        self.k, self.seed, self.limit = k, seed, limit
        self.images = data.concat(ds.train[0], ds.validation[0])
        self.labels = np.concatenate([ds.train[1], ds.validation[1]])
        self.fold = stratified_folds(self.labels, k, seed)

    def split(self, k):
        """`((train images, labels), (held-out images, labels))` of fold `k`."""
        from kregs import data

        held = self.fold == k
        train = np.flatnonzero(~held)
        if self.limit is not None and self.limit < len(train):
            pick = data.stratified_sample(
                self.labels[train], self.limit, np.random.default_rng([self.seed, k])
            )
            train = train[pick]
        index = np.flatnonzero(held)
        return (
            (data.take(self.images, train), self.labels[train]),
            (data.take(self.images, index), self.labels[index]),
        )

    @property
    def test_share(self):
        """A fold's held-out images over its training images (Nadeau and Bengio's n2/n1)."""
        return 1 / (self.k - 1)


class CrossValidation:
    """The oracle's side: which folds to hand out, when, and what they showed.

    Args:
        folder: str, the run folder (folds.json).
        k: int, folds (0: none).
        name_of: callable(trial) -> str, the name of a trial's configuration.
        baseline: bool, the search tried the control.
    """

    def __init__(self, folder, k, name_of, baseline=True):
        self.folder = folder
        self.path = os.path.join(folder, FOLDS_FILE)
        self.k = k
        self.name_of = name_of
        self.baseline = baseline
        self.plan = read_json(self.path)  # (a run that cross-validated already)

    @property
    def started(self):
        return self.plan is not None

    def start(self, oracle):
        """Plans the folds once the search has ended: the control and the best regularized
        configurations, by the search's validation accuracy."""
        search = [t for t in oracle.trials.values() if _is_search(t) and t.status == "COMPLETED"]
        search.sort(key=lambda t: -t.score)
        control = [t for t in search if self.baseline and self.name_of(t) == "none"]
        control = sorted(control, key=lambda t: int(t.trial_id))[:1]
        others = [t for t in search if self.name_of(t) != "none"][:CANDIDATES]
        configs = [t.trial_id for t in control + others]
        self.plan = {
            "k": self.k,
            "configs": configs,
            "control": control[0].trial_id if control else None,
            "pruned": {},
        }
        write_json(self.path, self.plan)
        logger.info("cross-validating trials %s on %d folds", ", ".join(configs), self.k)

    def next_values(self, oracle):
        """The values of the next fold trial to hand out, or None where none is left."""
        if not self.plan:
            return None
        taken = {
            (t.hyperparameters.values.get(OF), t.hyperparameters.values.get(FOLD))
            for t in oracle.trials.values()
            if not _is_search(t)
        }
        for fold in range(self.plan["k"]):
            for trial_id in self.plan["configs"]:
                if trial_id in self.plan["pruned"] or (trial_id, fold) in taken:
                    continue
                values = oracle.trials[trial_id].hyperparameters.values
                kept = {k: v for k, v in values.items() if not k.startswith("tuner/")}
                return {**kept, FOLD: fold, OF: trial_id}
        return None

    def after_fold(self, oracle):
        """After a fold trial ended: stops a configuration clearly behind the leader."""
        if not self.plan:
            return
        scores = fold_scores(oracle, self.plan)
        leader = _leader(scores, self.plan)
        for trial_id, folds in scores.items():
            if trial_id in (leader, self.plan.get("control")) or trial_id in self.plan["pruned"]:
                continue
            reason = behind(folds, scores.get(leader, {}))
            if reason:
                self.plan["pruned"][trial_id] = reason
                write_json(self.path, self.plan)
                logger.info("cross-validation: trial %s stopped (%s)", trial_id, reason)

    def remaining(self, oracle):
        """Fold trials still to run (planned, or to be planned once the search ends)."""
        if self.plan is None:
            return self.k * (CANDIDATES + int(self.baseline))
        done = sum(1 for t in oracle.trials.values() if not _is_search(t))
        planned = self.plan["k"] * len(self.plan["configs"])
        return max(0, planned - done - len(self.plan["pruned"]))


def behind(folds, leader):
    """Why a configuration's fold scores are clearly behind the leader's, or None."""
    from scipy import stats

    common = sorted(set(folds) & set(leader))
    if len(common) < PRUNE_AFTER:
        return None
    diff = np.array([folds[f] - leader[f] for f in common])
    if np.all(diff == 0):
        return None
    p = float(stats.wilcoxon(diff, alternative="less").pvalue)
    if p >= PRUNE_P:
        return None
    return (
        f"behind the leader on {int(np.sum(diff < 0))} of {len(common)} folds, "
        f"{100 * diff.mean():+.2f} points on average (Wilcoxon p = {p:.2g})"
    )


def fold_scores(oracle, plan):
    """`{trial id: {fold: validation accuracy}}` of the completed fold trials."""
    scores = {trial_id: {} for trial_id in plan["configs"]}
    for trial in oracle.trials.values():
        values = trial.hyperparameters.values
        if _is_search(trial) or trial.status != "COMPLETED" or values.get(OF) not in scores:
            continue
        scores[values[OF]][int(values[FOLD])] = float(trial.score)
    return scores


def result(oracle, folder, name_of):
    """What the cross-validation showed, or None where the run has none: each
    configuration's fold scores and mean, the winner, what was stopped, and the
    regularization verdict (control against the best regularized, fold by fold).

    Args:
        oracle: the run's oracle (its trials).
        folder: str, the run folder (folds.json).
        name_of: callable(trial) -> str, the name of a trial's configuration.

    Returns:
        dict with `k`, `configs` (`{trial id: {"config", "folds", "mean"}}`), `winner`,
        `pruned`, and `regularization` and `runner_up` (`kregs.tuner.verdicts` entries,
        each None without two configurations trained on two common folds).
    """
    plan = read_json(os.path.join(folder, FOLDS_FILE))
    if not plan:
        return None
    scores = fold_scores(oracle, plan)
    configs = {
        trial_id: {
            "config": name_of(oracle.trials[trial_id]),
            "folds": {str(f): v for f, v in sorted(folds.items())},
            "mean": float(np.mean(list(folds.values()))) if folds else None,
        }
        for trial_id, folds in scores.items()
    }
    done = {t: c for t, c in configs.items() if c["mean"] is not None}
    winner = max(done, key=lambda t: done[t]["mean"]) if done else None
    out = {"k": plan["k"], "configs": configs, "winner": winner, "pruned": plan["pruned"]}
    out["regularization"] = _verdict(plan, scores, configs)
    out["runner_up"] = _runner_up(plan, scores, configs, winner)
    return out


def _verdict(plan, scores, configs):
    control = plan.get("control")
    rivals = [t for t in plan["configs"] if t != control and configs[t]["mean"] is not None]
    if control is None or not rivals or configs[control]["mean"] is None:
        return None
    best = max(rivals, key=lambda t: configs[t]["mean"])
    what = f"regularization, trial {best} ({configs[best]['config']}) against the control, trial "
    return _across_folds(plan["k"], scores, control, best, what + str(control))


def _runner_up(plan, scores, configs, winner):
    """The winner against the next best mean over folds (None with fewer than two)."""
    others = [t for t, c in configs.items() if t != winner and c["mean"] is not None]
    if winner is None or not others:
        return None
    second = max(others, key=lambda t: configs[t]["mean"])
    what = (
        f"the best, trial {winner} ({configs[winner]['config']}), against the runner-up, "
        f"trial {second} ({configs[second]['config']})"
    )
    return _across_folds(plan["k"], scores, second, winner, what)


def _across_folds(k, scores, a, b, what):
    """B against A on the folds both trained (`kregs.verdicts.resampled`), an entry of
    `kregs.tuner.verdicts`, or None with fewer than two such folds."""
    common = sorted(set(scores[a]) & set(scores[b]))
    if len(common) < 2:
        return None
    differences = [scores[b][f] - scores[a][f] for f in common]
    found = resampled(differences, 1 / (k - 1))
    means = (
        float(np.mean([scores[a][f] for f in common])),
        float(np.mean([scores[b][f] for f in common])),
    )
    what = f"{what}, cross-validated on {len(common)} of {k} folds"
    return {
        **found.to_dict(),
        "what": what,
        "text": found.text(what, means),
        "note": "Each fold trains anew on the other folds' images: the interval covers "
        "training's randomness as well as which images were measured.",
    }


def _leader(scores, plan):
    means = {t: np.mean(list(f.values())) for t, f in scores.items() if f}
    return max(means, key=means.get) if means else None


def _is_search(trial):
    return trial.hyperparameters.values.get(FOLD) is None


def is_fold_trial(trial):
    """Whether a KerasTuner trial is a fold of the cross-validation (not one of the search's)."""
    return not _is_search(trial)


__all__ = [
    "CrossValidation",
    "FoldData",
    "check_folds",
    "fold_count",
    "is_fold_trial",
    "result",
    "stratified_folds",
]
