"""Epoch reports: each trial tells the oracle every epoch's validation accuracy and seconds.

KerasTuner's oracle has the hook for it (`update_trial(trial_id, metrics,
step)`, whose answer's status STOPPED "signals early stopping"), and its
distributed engine carries it from a worker to the chief; KerasTuner's own
tuners never call it per epoch. kregs does (`EpochReport`), and the oracle
(`kregs.tuner.tuners._Reporting`) records the reports in the trial's metrics
(`epoch_val_accuracy`, `epoch_seconds`, step = epoch from 1: saved in its
trial.json, so a resumed or restarted chief has them), then asks its pruner
(`kregs.tuner.pruning`) and its time budget (`kregs.tuner.clock`). The
oracle stays the one record of every trial; nothing else is shared.
"""

import math
import time

import keras

from kregs import compat
from kregs.tuner.clock import REFIT_RESERVE
from kregs.tuner.folds import is_fold_trial
from kregs.tuner.pruning import SLOW_WARMUP

ACCURACY = "epoch_val_accuracy"
SECONDS = "epoch_seconds"
TRAINING = "epoch_training_seconds"  # the epoch without its validation
PRUNED = "PRUNED"  # a pruned trial's status in trials.csv (KerasTuner's STOPPED)


class EpochReport(keras.callbacks.Callback):
    """Reports each epoch's val_accuracy and seconds (all of it, and its training batches
    alone: up to its validation) to the oracle; stops the training when the oracle says so.

    Args:
        oracle: the tuner's oracle (in a worker, the chief's client).
        trial_id: str, the trial being trained.

    Attributes:
        pruned_epoch: int or None, the epoch after which the oracle stopped the trial.
    """

    def __init__(self, oracle, trial_id):
        super().__init__()
        self.oracle = oracle
        self.trial_id = trial_id
        self.pruned_epoch = None
        self._start = None
        self._trained = None  # seconds from the epoch's start to its validation

    def __deepcopy__(self, memo):
        # KerasTuner deep-copies a trial's callbacks: this one must report to the oracle
        # itself, and keep `pruned_epoch` where the tuner reads it (one per trial).
        return self

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.monotonic()
        self._trained = None

    def on_test_begin(self, logs=None):
        if self._start is not None and self._trained is None:
            self._trained = time.monotonic() - self._start

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_accuracy")
        if value is None or not math.isfinite(float(value)) or self._start is None:
            return
        seconds = time.monotonic() - self._start
        trained = seconds if self._trained is None else self._trained
        report = {ACCURACY: float(value), SECONDS: seconds, TRAINING: trained}
        answer = self.oracle.update_trial(self.trial_id, report, step=epoch + 1)
        if getattr(answer, "status", None) == "STOPPED":
            self.pruned_epoch = epoch + 1
            self.model.stop_training = True


def curve(trial, name):
    """`{epoch: value}` of a trial's reports of `name` (the last value of an epoch reported
    twice: a trial run again after an interruption)."""
    if not trial.metrics.exists(name):
        return {}
    return {int(o.step): float(o.value[-1]) for o in trial.metrics.get_history(name) if o.value}


def seconds_by_trial(oracle, name=SECONDS):
    """`{trial id: {epoch: seconds}}` of every trial that reported (`name`: the whole
    epoch's, or `TRAINING`, without its validation)."""
    out = {t.trial_id: curve(t, name) for t in oracle.trials.values()}
    return {k: v for k, v in out.items() if v}


def record_epoch(oracle, trial_id, metrics, step):
    """The oracle's side of an epoch report: records it, then may stop the trial.

    Call it under the oracle's lock. Returns the trial to answer with: the
    oracle's own, or a copy whose status STOPPED tells the tuner to stop (the
    oracle's trial stays RUNNING until it ends, then is STOPPED: `settle`).
    """
    import keras_tuner

    trial = oracle.trials[trial_id]
    for name in (ACCURACY, SECONDS, TRAINING):
        if name in metrics:
            if not trial.metrics.exists(name):
                trial.metrics.register(name, direction="max" if name == ACCURACY else "min")
            trial.metrics.update(name, float(metrics[name]), step=step)
    compat.save_trial(oracle, trial)
    if oracle.pruner is None or trial.status != "RUNNING":
        return trial
    reason = why_prune(oracle, trial, step)
    if reason is None:
        return trial
    if oracle.pruned is None:
        oracle.pruned = {}
    oracle.pruned[trial_id] = f"pruned at epoch {step}: {reason}"
    return keras_tuner.engine.trial.Trial(
        hyperparameters=trial.hyperparameters, trial_id=trial_id, status="STOPPED"
    )


def why_prune(oracle, trial, epoch):
    """The pruner's reason to stop `trial` after `epoch`, or None. The folds of a
    cross-validation are neither judged nor compared with (they train on other images;
    across folds, `kregs.tuner.folds` stops a configuration)."""
    if is_fold_trial(trial):
        return None
    others = {
        t.trial_id: curve(t, ACCURACY)
        for t in oracle.trials.values()
        if t.trial_id != trial.trial_id
        and t.status not in ("FAILED", "INVALID")
        and not is_fold_trial(t)
    }
    completed = {k: v for k, v in others.items() if oracle.trials[k].status == "COMPLETED"}
    slow = getattr(oracle, "slow_start", None)
    if slow is None or not slow(trial):
        return oracle.pruner.decide(curve(trial, ACCURACY), epoch, completed, others)
    # A slow starter: judged later, and against its peers where enough of them completed.
    peers = {k: v for k, v in completed.items() if slow(oracle.trials[k])}
    if len(peers) >= getattr(oracle.pruner, "min_trials", 2):
        completed = peers
    epochs = getattr(oracle, "trial_epochs", 0)
    warmup = max(getattr(oracle.pruner, "warmup", 0), math.ceil(SLOW_WARMUP * epochs))
    return oracle.pruner.decide(curve(trial, ACCURACY), epoch, completed, others, warmup)


def settle(oracle, trial):
    """Before the oracle ends `trial`: a trial it stopped ends STOPPED, with the reason as
    its message, whatever status the tuner reports (the oracle decided)."""
    reason = (oracle.pruned or {}).pop(trial.trial_id, None)
    if reason is not None and trial.status == "COMPLETED":
        trial.status = "STOPPED"
        trial.message = reason
    if oracle.clock is not None:
        oracle.clock.ended(trial.trial_id)


def time_for_a_trial(oracle):
    """Whether the oracle's time budget lets one more trial start (then the folds of the
    cross-validation still to run, and the refit).

    The first configurations (`oracle.first_trials`: the control, the recipe) start
    whenever the refit of the best trial's epochs still fits; later ones only where it
    fits with `REFIT_RESERVE` times those epochs."""
    plan = oracle.refit_plan() if oracle.refit_plan is not None else None
    reserve = 1.0 if len(oracle.trials) < oracle.first_trials else REFIT_RESERVE
    cross = getattr(oracle, "cross_validation", None)
    folds = cross.remaining(oracle) if cross is not None and cross.k else 0
    if cross is not None and cross.started:  # a fold starts: the others left after it
        folds = max(0, folds - 1)
    after = {"after": folds} if folds else {}
    return oracle.clock.may_start(
        seconds_by_trial(oracle), plan, seconds_by_trial(oracle, TRAINING), reserve, **after
    )
