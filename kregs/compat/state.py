"""KerasTuner's state files and trials: atomic writes, named errors, repairs after a kill."""

import contextlib
import glob
import json
import logging
import os

from kregs.compat.scoped import replaced

logger = logging.getLogger(__name__)

ENDED = ("COMPLETED", "FAILED", "STOPPED")  # STOPPED: pruned (kregs.tuner.pruning)


@contextlib.contextmanager
def failed_trials_quiet(quiet=True):
    """Inside the block, KerasTuner prints no traceback of a failed trial (its `config.DEBUG`).

    Why: keras-tuner 1.4 sets the module flag `keras_tuner.src.config.DEBUG =
    True`, with no public switch; kregs reports each failed trial in one line
    (and its reason in trials.csv), so the tracebacks only show with --verbose.
    The flag is KerasTuner's value again after the block.
    """
    from keras_tuner.src import config

    with replaced(config, "DEBUG", not quiet):
        yield


class AtomicOracleState:
    """Oracle mixin: oracle.json and every trial.json written atomically, read with named
    errors; a trial whose trial.json was deleted runs again.

    Why: KerasTuner's `Oracle.save`, `Oracle._save_trial` and `Oracle.reload` go through
    `keras_tuner.src.utils.save_json` and `load_json`, which write in place and read with
    a bare JSON error: a full disk or a kill in the middle of a write leaves a truncated
    file, and every later resume fails naming no file. These overrides (for kregs'
    own oracles only: KerasTuner's are untouched) write a temporary file and rename it,
    and name the file and what to do when one is corrupt. A cloud path (`gs://...`)
    keeps KerasTuner's own code.
    """

    def save(self):
        if _cloud(self._get_oracle_fname()):
            return super().save()
        return _write_state(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        if _cloud(path):
            return super()._save_trial(trial)
        return _write_state(path, trial.get_state())

    def reload(self):
        """KerasTuner's `Oracle.reload`, reading with `kregs.run.files.read_json`.

        A trial that oracle.json names but whose trial.json is gone (the user
        deleted a corrupt one, as kregs' message says) runs again as a new
        configuration under its id: its own values were in that file.
        """
        if _cloud(self._get_oracle_fname()):
            return super().reload()
        from keras_tuner.engine import trial as trial_module

        from kregs.run.files import read_json

        pattern = os.path.join(self._project_dir, "trial_*", "trial.json")
        for fname in sorted(glob.glob(pattern)):
            trial = trial_module.Trial.from_state(read_json(fname, remedy=_state_remedy(fname)))
            self.trials[trial.trial_id] = trial
        fname = self._get_oracle_fname()
        state = read_json(fname, remedy=_state_remedy(fname))
        if state is None:
            raise FileNotFoundError(2, "No such file or directory", fname)
        lost = _forget_lost_trials(self, state)
        self.set_state(state)
        for trial_id in lost:
            self._retry_queue.append(_fresh_trial(self, trial_id).trial_id)
        # As KerasTuner: the trials running when the run stopped run again.
        for trial in self.ongoing_trials.values():
            self._retry_queue.append(trial.trial_id)
        self.ongoing_trials = {}


class AtomicTunerState:
    """Tuner mixin: the tuner's own state file (`<tuner id>.json`) written atomically and
    read with a named error (see `AtomicOracleState`).

    Why: `BaseTuner.save` and `reload` use KerasTuner's in-place `save_json` and
    `load_json` on `BaseTuner._get_tuner_fname()`.
    """

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        path = self._get_tuner_fname()
        if _cloud(path):
            return super().save()
        return _write_state(path, self.get_state())

    def reload(self):
        from kregs.run.files import read_json

        if not self._is_worker():
            self.oracle.reload()
        path = self._get_tuner_fname()
        if _cloud(path):
            return super().reload()
        state = read_json(path, remedy=_state_remedy(path))
        if state is None:
            raise FileNotFoundError(2, "No such file or directory", path)
        self.set_state(state)


def _cloud(path):
    return "://" in str(path)


def _write_state(path, state):
    from kregs.run.files import write_atomic

    text = json.dumps(state)
    write_atomic(str(path), text)
    return text


def _forget_lost_trials(oracle, state):
    """Trial ids oracle.json names without a trial.json; removed from `state` (to run again)."""
    lost = [t for t in state.get("start_order", []) if t not in oracle.trials]
    for key in ("start_order", "end_order", "retry_queue"):
        state[key] = [t for t in state.get(key, []) if t not in lost]
    state["ongoing_trials"] = {
        tuner: t for tuner, t in state.get("ongoing_trials", {}).items() if t not in lost
    }
    for key in ("run_times", "id_to_hash"):
        state[key] = {t: v for t, v in state.get(key, {}).items() if t not in lost}
    return lost


def _fresh_trial(oracle, trial_id):
    """A new configuration under `trial_id`, saved, and started again (KerasTuner's order)."""
    from keras_tuner.engine import trial as trial_module

    response = oracle.populate_space(trial_id)
    hyperparameters = oracle.hyperparameters.copy()
    if response.get("status") == trial_module.TrialStatus.RUNNING:
        hyperparameters.values = response.get("values") or {}
    trial = trial_module.Trial(
        hyperparameters=hyperparameters, trial_id=trial_id, status=trial_module.TrialStatus.RUNNING
    )
    oracle.trials[trial_id] = trial
    oracle.start_order.append(trial_id)
    oracle._record_values(trial)
    oracle._save_trial(trial)
    logger.warning("trial %s had no trial.json (deleted?): it runs again with new values", trial_id)
    return trial


def _state_remedy(path):
    folder = os.path.basename(os.path.dirname(path))
    if folder.startswith("trial_"):
        return (
            f"delete the folder {os.path.dirname(path)} and run the same command: "
            "a new trial runs in its place"
        )
    return "run the same command with --overwrite to start the search afresh"


def repair_after_reload(oracle):
    """After an oracle reloads a run killed at the wrong moment, every unfinished trial runs
    again, exactly once, and no finished trial runs again.

    Why: KerasTuner 1.4 writes a new trial's trial.json before oracle.json, and saves
    oracle.json in `end_trial` before it removes the ended trial from its ongoing trials;
    on reload it retries exactly the trials oracle.json lists as ongoing. A kill between
    the two writes leaves a trial RUNNING that is never run again, or retries (and
    reruns) a trial that had completed.
    """
    from keras_tuner.src.engine import oracle as oracle_module

    with oracle_module.LOCKS[oracle]:
        queue = [t for t in oracle._retry_queue if oracle.trials[t].status not in ENDED]
        for trial_id, trial in oracle.trials.items():
            if trial.status in ("RUNNING", "IDLE") and trial_id not in queue:
                queue.append(trial_id)
        oracle._retry_queue[:] = queue


def checkpoint_path(tuner, trial_id):
    """The file KerasTuner loads a trial's weights from (`Tuner.load_model`).

    Why: kregs saves there the weights early stopping restored (the model it
    reports on); KerasTuner's own checkpoint follows the objective's best
    epoch instead, and the file name has no public getter.
    """
    return tuner._get_checkpoint_fname(trial_id)


def cap_hyperband_trials(oracle, max_trials):
    """Makes a Hyperband oracle stop creating trials after `max_trials`.

    Why: `HyperbandOracle` sizes its brackets from `max_epochs` and `factor`
    and takes no `max_trials`, but the base `Oracle.create_trial` honours the
    attribute it sets for every other oracle.
    """
    oracle.max_trials = max_trials


def try_first(oracle, firsts):
    """The oracle's first fresh configurations are `firsts`, in order (other hyperparameters
    at their defaults), each unless a trial already tried it; then KerasTuner's random ones.

    Random search, Bayesian optimization's initial points and Hyperband's new
    brackets all draw fresh configurations from `Oracle._random_values`
    (keras-tuner 1.4); grid search enumerates its own (the wrapper is unused there).

    Args:
        oracle: a `keras_tuner.Oracle`.
        firsts: list of dicts, hyperparameter name -> value, e.g. every regularizer off.
    """
    import keras_tuner

    random_values = oracle._random_values
    offered = set()  # each once (Hyperband draws a whole bracket before its trials)

    def tried(values):
        return any(
            all(t.hyperparameters.values.get(k) == v for k, v in values.items())
            for t in oracle.trials.values()
        )

    def complete(values):
        hps = keras_tuner.HyperParameters()
        for hp in oracle.hyperparameters.space:
            hps.merge([hp])
            if hps.is_active(hp):
                hps.values[hp.name] = values.get(hp.name, hp.default)
        return hps.values

    def firsts_then_random():
        for i, values in enumerate(firsts):
            if i in offered:
                continue
            offered.add(i)
            hps = complete(values)
            if hps and not tried(hps):
                return hps
        return random_values()

    oracle._random_values = firsts_then_random


def save_trial(oracle, trial):
    """Writes a trial's trial.json now (atomically, `AtomicOracleState`).

    Why: a trial's epoch reports (`kregs.tuner.tuners._Reporting.update_trial`) are
    recorded in its metrics as KerasTuner's own `update_trial` records them, and
    saved as it saves them: through `Oracle._save_trial`, which has no public name.
    """
    oracle._save_trial(trial)


def has_retries(oracle):
    """Whether the oracle holds trials to run again (interrupted ones) before new ones.

    Why: `Oracle.create_trial` hands them out first from `_retry_queue`, which has no
    public getter; an oracle that creates some trials itself (cross-validation's folds,
    `start_trial`) lets KerasTuner's own `create_trial` hand those out first.
    """
    return bool(oracle._retry_queue)


def start_trial(oracle, tuner_id, values):
    """A new trial of `values`, started for `tuner_id`, as `Oracle.create_trial` starts one
    (its id the next number, its values recorded, trial.json and oracle.json saved).

    Why: `create_trial` draws its values from `populate_space` and stops at `max_trials`;
    a trial whose values the oracle chose itself (a fold of the cross-validation, past the
    search's `max_trials`) is started through the same private steps (`_record_values`,
    `_save_trial`, `ongoing_trials`), with no public API for them.
    """
    import keras_tuner

    width = len(str(oracle.max_trials)) if oracle.max_trials else 1
    trial_id = f"{len(oracle.trials):0{width}d}"
    hyperparameters = oracle.hyperparameters.copy()
    hyperparameters.values = dict(values)
    trial = keras_tuner.engine.trial.Trial(
        hyperparameters=hyperparameters, trial_id=trial_id, status="RUNNING"
    )
    oracle.tuner_ids.add(tuner_id)
    oracle._record_values(trial)
    oracle.ongoing_trials[tuner_id] = trial
    oracle.trials[trial_id] = trial
    oracle.start_order.append(trial_id)
    oracle._save_trial(trial)
    oracle.save()
    return trial


def stopped_trial(oracle, tuner_id):
    """The answer to `create_trial` that ends a tuner's search: a STOPPED trial, as
    KerasTuner's oracle gives once `max_trials` is reached (the tuner leaves its loop).

    Why: the oracle has no public way to stop handing out trials early (here: the
    time budget is spent); this is what its `create_trial` does then, tuner ids included.
    """
    import keras_tuner

    oracle.tuner_ids.discard(tuner_id)
    hyperparameters = oracle.hyperparameters.copy()
    hyperparameters.values = {}
    return keras_tuner.engine.trial.Trial(
        hyperparameters=hyperparameters, trial_id=None, status="STOPPED"
    )
