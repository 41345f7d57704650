"""KerasTuner's tuners with kregs' per-trial records: a thin factory over their oracles.

`make_tuner` builds one of KerasTuner's oracles (Hyperband, Bayesian
optimization, random or grid search) and a tuner over it. What kregs adds to
every trial, in `KregsTrials`:

- the model kept for a trial is the best epoch's (`kregs.callbacks.BestEpoch`,
  added when the trial's callbacks lack one: the best epoch of
  `kregs.run.metrics`), and the trial's score (val_accuracy) is read at that
  epoch, so trials.csv, the ranking, best/ and the export agree;
- a trial whose loss becomes NaN (stopped by `TerminateOnNaN`) is a failed
  trial with the reason, instead of a trial with a NaN score;
- each trial's numbers (its history row, wall time, memory, who ran it, the
  epoch it was pruned at) go to `kregs_trial.json` in its folder;
- each epoch's validation accuracy and seconds go to the oracle
  (`kregs.tuner.epochs.EpochReport`), which may answer "stop" (pruning).

The oracle calls `trial_ended(trial)` once a trial has ended for good
(completed or failed), on the process that owns the oracle: the single
process, or the chief.
"""

import contextlib
import io
import logging
import os
import time

import keras
import keras_tuner
import numpy as np

from kregs import compat
from kregs.callbacks import BestEpoch
from kregs.data.batches import numpy_batches
from kregs.errors import ChiefLostError, DiskFullError, invalid_value
from kregs.run import metrics
from kregs.run.files import check_disk, full_disk, read_json, write_json
from kregs.run.interrupt import check_interrupt
from kregs.run.processes import memory_mb
from kregs.run.progress import ProgressCallback
from kregs.tuner import epochs
from kregs.tuner.budget import ALGORITHMS
from kregs.tuner.folds import FOLD, OF
from kregs.tuner.trials_csv import error_reason
from kregs.verdicts import pack

logger = logging.getLogger(__name__)

OBJECTIVE = "val_accuracy"
PROJECT_NAME = "keras_tuner"
EXTRAS_FILE = "kregs_trial.json"  # per trial, beside KerasTuner's trial.json
ENDED = ("COMPLETED", "FAILED", "STOPPED")  # STOPPED: pruned (kregs.tuner.epochs)
ASK_INTERVAL = 1.0  # seconds between the requests of a worker told to wait


class SearchStopped(DiskFullError, keras_tuner.errors.FatalError):
    """Stops KerasTuner's search loop (a fatal error to it), e.g. when the disk is full."""


class ChiefUnreachable(ChiefLostError, keras_tuner.errors.FatalError):
    """A worker's call to the chief failed: its search stops at once (a fatal error to
    KerasTuner, which would otherwise take it for a failed trial and call the chief again).

    Attributes:
        rpc_error: the `grpc.RpcError` of the call.
    """

    def __init__(self, rpc_error):
        code = rpc_error.code() if hasattr(rpc_error, "code") else None
        super().__init__(getattr(code, "name", None) or type(rpc_error).__name__)
        self.rpc_error = rpc_error


class FailFastOracle:
    """A worker's oracle client (KerasTuner's `OracleClient`) whose first failed call to the
    chief raises `ChiefUnreachable`.

    Without it a lost chief costs a worker two waits of `--oracle-timeout`: the failed
    `update_trial` at the end of a trial is caught as the trial's failure, and the
    `end_trial` that follows waits again.

    Args:
        client: the worker tuner's `oracle`.
    """

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        import grpc

        value = getattr(self._client, name)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            try:
                return value(*args, **kwargs)
            except grpc.RpcError as err:
                raise ChiefUnreachable(err) from err

        return call


class SaveRestoredWeights(keras.callbacks.Callback):
    """Saves the model's weights at the end of training, after `BestEpoch` restored them.

    Placed after `kregs.callbacks.BestEpoch`, it overwrites the checkpoint
    KerasTuner loads for the trial with the best epoch's weights.
    """

    def __init__(self, filepath):
        super().__init__()
        self.filepath = filepath

    def on_train_end(self, logs=None):
        # Written beside the target and renamed over it: never half a checkpoint.
        folder, name = os.path.split(self.filepath)
        tmp = os.path.join(folder, f".tmp-{os.getpid()}-{name}")  # keeps the .weights.h5 suffix
        try:
            self.model.save_weights(tmp)
            os.replace(tmp, self.filepath)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


class ValidationOutcomes(keras.callbacks.Callback):
    """After training (the best epoch's weights restored): which validation images the
    trial's model classifies right, for paired comparisons (`kregs.verdicts`).

    Args:
        validation: the validation pipeline `fit` was given.
        report: the trial's `EpochReport` (a pruned trial is not measured).

    Attributes:
        correct: bool array `N`, or None (pruned, or no validation).
    """

    def __init__(self, validation, report):
        super().__init__()
        self.validation, self.report, self.correct = validation, report, None

    def __deepcopy__(self, memo):
        return self  # (KerasTuner deep-copies callbacks; this one is read afterwards)

    def on_train_end(self, logs=None):
        if self.validation is None or self.report.pruned_epoch is not None:
            return
        try:
            if isinstance(self.validation, (tuple, list)):  # (x, y) arrays, as `fit` takes
                x, labels = self.validation[0], np.asarray(self.validation[1]).reshape(-1)
            else:
                x = self.validation
                labels = [np.asarray(y).reshape(-1) for _, y in numpy_batches(x)]
                labels = np.concatenate(labels) if labels else None
            if labels is not None:
                scores = np.asarray(self.model.predict(x, verbose=0))
                self.correct = scores.argmax(axis=-1) == labels
        except Exception as err:  # noqa: BLE001 - a measurement, never the trial's failure
            logger.warning("no per-image validation outcomes for this trial: %s", err)


def trial_label(trial):
    """`trial 07`, or `trial 12 (fold 2 of trial 03)` for a fold of the cross-validation."""
    values = trial.hyperparameters.values
    if values.get(FOLD) is None:
        return f"trial {trial.trial_id}"
    return f"trial {trial.trial_id} (fold {values[FOLD]} of trial {values[OF]})"


class KregsTrials:
    """Mixin for KerasTuner tuners: what one trial records (see the module's docstring).

    Attributes:
        trial_started: callable(tuner, trial) or None, called as a trial begins.
        trial_finished: callable(tuner, trial) or None, called on the process
            that ran the trial once it has ended (a worker's own report).
        progress: `(listener, tracker)` or None: each trial reports its epochs
            (`kregs.run.progress.ProgressCallback`).
    """

    trial_started = None
    trial_finished = None
    progress = None
    folds = None  # callable(fold, fit kwargs) -> (hypermodel, x, kwargs): a fold trial's
    _asked = False  # asked for a trial, and none has begun since

    def pre_create_trial(self):
        check_interrupt()
        super().pre_create_trial()
        if self._asked:  # told to wait (IDLE): KerasTuner's loop would ask again at once
            time.sleep(ASK_INTERVAL)
        self._asked = True

    def on_trial_begin(self, trial):
        self._asked = False
        check_interrupt()
        super().on_trial_begin(trial)
        if self.trial_started is not None:
            self.trial_started(self, trial)

    def run_trial(self, trial, *args, **kwargs):
        fold = trial.hyperparameters.values.get(FOLD)
        if fold is None or self.folds is None:
            return self._run_trial(trial, *args, **kwargs)
        # A fold of the cross-validation: its own images and schedule (`Search.fold_trial`).
        hypermodel, x, kwargs = self.folds(int(fold), kwargs)
        kept, self.hypermodel = self.hypermodel, hypermodel
        try:
            return self._run_trial(trial, x, *args[1:], **kwargs)
        finally:
            self.hypermodel = kept

    def _run_trial(self, trial, *args, **kwargs):
        start = time.monotonic()
        given = list(kwargs.get("callbacks", []))
        # The contract every trial keeps, whatever callbacks it was given: the model
        # saved is the best epoch's (restored by BestEpoch), and the score is read there.
        extra = [] if any(isinstance(c, BestEpoch) for c in given) else [BestEpoch()]
        extra.append(SaveRestoredWeights(compat.checkpoint_path(self, trial.trial_id)))
        report = epochs.EpochReport(self.oracle, trial.trial_id)
        outcomes = ValidationOutcomes(kwargs.get("validation_data"), report)
        extra += [outcomes, report]
        if self.progress is not None:
            listener, tracker = self.progress
            extra.append(ProgressCallback(listener, trial_label(trial), tracker))
        kwargs["callbacks"] = [*given, *extra]
        folder = self.get_trial_dir(trial.trial_id)
        try:
            results = super().run_trial(trial, *args, **kwargs)
            check_disk(folder)
        except Exception as err:
            disk = full_disk(err, folder)
            if disk is not None:  # the whole search stops: no trial can be saved now
                raise SearchStopped(str(disk)) from None
            # KerasTuner keeps the traceback, whose last line may be a TensorFlow node's name.
            write_json(os.path.join(folder, EXTRAS_FILE), {"error": error_reason(err)})
            raise
        history = (results[-1] if isinstance(results, list) else results).history
        row = metrics.history_row(history)
        extras = {
            **row,
            # A Hyperband trial continuing its parent's training started at this epoch.
            "initial_epoch": int(trial.hyperparameters.values.get("tuner/initial_epoch", 0)),
            "precision": getattr(self.hypermodel, "precision", None),
            "seconds": round(time.monotonic() - start, 2),
            "pruned_epoch": report.pruned_epoch,
            **{k: round(v, 1) for k, v in memory_mb().items()},
            # Who ran it, in a distributed search (KerasTuner's id of this worker).
            "tuner_id": os.environ.get("KERASTUNER_TUNER_ID"),
            "pid": os.getpid(),
            "history": metrics.curves(history),
            **(
                {}
                if outcomes.correct is None
                else {
                    "val_images": int(outcomes.correct.size),
                    "val_correct": pack(outcomes.correct),
                }
            ),
        }
        write_json(os.path.join(self.get_trial_dir(trial.trial_id), EXTRAS_FILE), extras)
        if row["diverged_epoch"] is not None:
            raise keras_tuner.errors.FailedTrialError(
                f"diverged: the loss became NaN in epoch {row['diverged_epoch']} "
                "and TerminateOnNaN stopped the trial"
            )
        if row["best_epoch"] is None:
            raise keras_tuner.errors.FailedTrialError("no finite validation loss in any epoch")
        return {
            "val_accuracy": row["best_val_accuracy"],
            "val_loss": row["best_val_loss"],
            "accuracy": row["best_train_accuracy"],
        }

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.trial_finished is not None:
            self.trial_finished(self, trial)

    def read_extras(self, trial_id):
        """The `kregs_trial.json` of a trial, or None when it has none."""
        return read_json(os.path.join(self.get_trial_dir(trial_id), EXTRAS_FILE))


class KregsTuner(KregsTrials, compat.AtomicTunerState, keras_tuner.Tuner):
    """KerasTuner's `Tuner` (random, Bayesian and grid search) with kregs' records."""


class KregsHyperband(KregsTrials, compat.AtomicTunerState, keras_tuner.Hyperband):
    """KerasTuner's `Hyperband` tuner with kregs' records, over an oracle kregs built.

    `keras_tuner.Hyperband.__init__` only builds its oracle; kregs builds the
    oracle itself (to report ended trials), so it goes to `Tuner.__init__`.
    Hyperband's own trial logic (epochs per round, continuing a trial from
    its parent's checkpoint) is inherited unchanged.
    """

    def __init__(self, oracle, hypermodel, **kwargs):
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


class _Reporting(compat.AtomicOracleState):
    """Oracle mixin: calls `trial_ended(trial)` when a trial has ended for good; writes its
    state files atomically (`kregs.compat.AtomicOracleState`); after a reload, every
    unfinished trial runs again once (`kregs.compat.repair_after_reload`).

    With a `pruner` it records every trial's epoch reports and stops those
    behind (`kregs.tuner.epochs`, `kregs.tuner.pruning`); with a `clock` with a
    deadline it hands out no trial that cannot end in time (`kregs.tuner.clock`).

    With `hold_workers` (the chief), a worker asking for a trial when no new
    one is left, while other workers still hold trials, is told to wait
    (KerasTuner's IDLE) instead of to leave (STOPPED): a held trial may come
    back to the queue (its worker fell silent, `WorkerMonitor`), and someone
    must be there to run it again.
    """

    trial_ended = None
    hold_workers = False
    pruner = None  # kregs.tuner.pruning: stops trials behind the others (epoch reports)
    pruned = None  # trial id -> why the pruner stopped it, until it ends
    clock = None  # kregs.tuner.clock.TimeBudget: no trial starts that cannot end in time
    refit_plan = None  # callable: the refit's planned epochs (the best trial's), or None
    cross_validation = None  # kregs.tuner.folds.CrossValidation: folds after the search
    stop_rule = None  # callable(oracle) -> why the search stops now, or None (--stop auto)
    first_trials = 0  # how many first configurations (`make_tuner`'s `first`) it hands out

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        compat.skip_ended_retries(self)
        cross = self.cross_validation
        if cross is not None and cross.started and not compat.has_retries(self):
            trial = self._fold_trial(tuner_id)
        elif self.clock is not None and not epochs.time_for_a_trial(self):
            trial = compat.stopped_trial(self, tuner_id)
        elif self.stop_rule is not None and self._stops():
            trial = compat.stopped_trial(self, tuner_id)
        else:
            trial = super().create_trial(tuner_id)
            if self.clock is not None and trial.status == "RUNNING":
                self.clock.search_goes_on()
        if trial.status == "STOPPED" and cross is not None and cross.k and not cross.started:
            cross.start(self)  # the search has ended: its folds begin
            trial = self._fold_trial(tuner_id)
        if self.clock is not None and trial.status == "RUNNING":
            self.clock.began(trial.trial_id)
        if self.hold_workers:
            compat.wait_instead_of_leaving(self, tuner_id, trial)
        return trial

    def _stops(self):
        """Whether `stop_rule` ends the search now (its reason kept in the clock)."""
        reason = self.stop_rule(self)
        if reason and self.clock is not None:
            self.clock.stopped(reason)
        return bool(reason)

    def _fold_trial(self, tuner_id):
        """The next fold of the cross-validation, or STOPPED (none left, or no time)."""
        values = self.cross_validation.next_values(self)
        if values is None or (self.clock is not None and not epochs.time_for_a_trial(self)):
            return compat.stopped_trial(self, tuner_id)
        return compat.start_trial(self, tuner_id, values)

    def reload(self):
        super().reload()
        compat.repair_after_reload(self)

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        if epochs.ACCURACY not in metrics:  # KerasTuner's own report of the trial's result
            return super().update_trial(trial_id, metrics, step)
        return epochs.record_epoch(self, trial_id, metrics, step)

    @keras_tuner.synchronized
    def end_trial(self, trial):
        if compat.ended_before(self, trial):  # a second report of a finished trial
            logger.info("trial %s was reported ended again; counted once", trial.trial_id)
            return
        epochs.settle(self, trial)
        super().end_trial(trial)
        self.save()  # KerasTuner saved before it dropped the trial from the ongoing ones
        ended = self.trials[trial.trial_id]
        if self.cross_validation is not None and ended.hyperparameters.values.get(FOLD) is not None:
            self.cross_validation.after_fold(self)
        if self.trial_ended is not None and ended.status in ENDED:
            try:
                self.trial_ended(ended)
            except Exception:  # noqa: BLE001 - a report must not fail a worker's call
                logger.exception("trial %s ended but its report failed", trial.trial_id)


class HyperbandOracle(_Reporting, keras_tuner.oracles.HyperbandOracle):
    """KerasTuner's Hyperband oracle, reporting ended trials."""


class BayesianOracle(_Reporting, keras_tuner.oracles.BayesianOptimizationOracle):
    """KerasTuner's Bayesian optimization oracle, reporting ended trials."""


class RandomOracle(_Reporting, keras_tuner.oracles.RandomSearchOracle):
    """KerasTuner's random search oracle, reporting ended trials."""


class GridOracle(_Reporting, keras_tuner.oracles.GridSearchOracle):
    """KerasTuner's grid search oracle, reporting ended trials."""


ORACLES = {
    "hyperband": HyperbandOracle,
    "bayesian": BayesianOracle,
    "random": RandomOracle,
    "grid": GridOracle,
}


def make_oracle(algorithm, max_trials, epochs, seed=0, max_consecutive_failed_trials=10):
    """Builds KerasTuner's oracle for `algorithm`, maximising val_accuracy.

    Args:
        algorithm: str, "hyperband", "bayesian", "random" or "grid".
        max_trials: int, the number of trials at most. Hyperband sizes its
            brackets from `epochs` (its `max_epochs`); `max_trials` caps them.
        epochs: int, Hyperband's `max_epochs` (other oracles ignore it).
        seed: int, the oracle's seed.
        max_consecutive_failed_trials: int, the search stops after this many
            failed trials in a row (a broken setup, not a bad configuration).

    Returns:
        A `keras_tuner.Oracle` with a `trial_ended` attribute.
    """
    if algorithm not in ORACLES:
        raise invalid_value("algorithm", algorithm, f"one of {', '.join(ALGORITHMS)}")
    common = dict(
        objective=keras_tuner.Objective(OBJECTIVE, "max"),
        seed=seed,
        max_consecutive_failed_trials=max_consecutive_failed_trials,
    )
    if algorithm == "hyperband":
        oracle = HyperbandOracle(max_epochs=epochs, factor=3, **common)
        compat.cap_hyperband_trials(oracle, max_trials)
        return oracle
    return ORACLES[algorithm](max_trials=max_trials, **common)


def make_tuner(algorithm, hypermodel, directory, max_trials, epochs, seed=0, first=None, **kwargs):
    """Builds one of KerasTuner's tuners over `hypermodel`, maximising val_accuracy.

    Args:
        algorithm, max_trials, epochs, seed: see `make_oracle`.
        hypermodel: a `keras_tuner.HyperModel`.
        directory: str, the folder that holds the KerasTuner project.
        first: list of dicts or None, hyperparameter values the first fresh
            configurations take in order (e.g. `RegularizationHyperModel.baseline_values()`,
            the unregularized model, the search's control; then `recipe_values()`), the
            rest at their defaults; later ones are the algorithm's own.
        **kwargs: passed to the tuner (e.g. `distribution_strategy`).

    Returns:
        A `keras_tuner.Tuner` with kregs' records (`KregsTrials`).

    Example:
    >>> tuner = make_tuner("random", RegularizationHyperModel((28, 28, 1), 10), "runs/x", 5, 3)
    >>> tuner.search(x, y, validation_data=(xv, yv), epochs=3)
    """
    oracle = make_oracle(algorithm, max_trials, epochs, seed)
    if first:
        compat.try_first(oracle, first)
        oracle.first_trials = len(first)
    cls = KregsHyperband if algorithm == "hyperband" else KregsTuner
    printed = io.StringIO()
    # KerasTuner prints "Reloading Tuner from ..." on resume (the main thread only).
    with contextlib.redirect_stdout(printed):
        tuner = cls(
            oracle=oracle,
            hypermodel=hypermodel,
            directory=directory,
            project_name=PROJECT_NAME,
            overwrite=False,
            **kwargs,
        )
    if printed.getvalue().strip():
        logger.info(printed.getvalue().strip())
    return tuner
