"""Every use of a private KerasTuner or TensorFlow name, in one place.

kregs uses public APIs everywhere else (a test fails if a private name
appears in another file). Each function here says why the public API is not
enough. They are written for the versions pyproject.toml allows:
keras-tuner >= 1.4.7, < 1.5 (`TESTED_KERAS_TUNER`), where every name used
below exists; `keras_tuner_warning` tells a user outside that range.
"""

import contextlib
import json
import logging
import os
import time

logger = logging.getLogger(__name__)

TESTED_KERAS_TUNER = ((1, 4, 7), (1, 5))  # [low, high)


def _version_tuple(text):
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def keras_tuner_warning():
    """One line when the installed keras-tuner is outside the tested range, else None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("keras-tuner")
    except PackageNotFoundError:
        return None
    low, high = TESTED_KERAS_TUNER
    if low <= _version_tuple(found) < high:
        return None
    return (
        f"Warning: kregs is tested with keras-tuner >= {'.'.join(map(str, low))}, "
        f"< {'.'.join(map(str, high))}; found {found}: distributed tuning may misbehave"
    )


def quiet_condition_protos():
    """Replaces KerasTuner's `conditions.Parent.to_proto` with the same code minus a `print`.

    Why: keras-tuner 1.4.7 and 1.4.8 left a `print(self.values[0])` in
    `keras_tuner/src/engine/conditions.py::Parent.to_proto` (no upstream issue
    filed): every trial with a conditional hyperparameter sent over gRPC
    writes a stray `True` to the worker's stdout. Redirecting stdout around
    the call is not an option: it runs in gRPC's threads, and
    `contextlib.redirect_stdout` swaps `sys.stdout` for every thread.
    """
    from keras_tuner.src import protos
    from keras_tuner.src.engine import conditions

    if getattr(conditions.Parent.to_proto, "_kregs_quiet", False):
        return

    def to_proto(self):
        proto = protos.get_proto()
        first = self.values[0]
        if isinstance(first, str):
            values = [proto.Value(string_value=v) for v in self.values]
        elif isinstance(first, bool):
            values = [proto.Value(boolean_value=v) for v in self.values]
        elif isinstance(first, int):
            values = [proto.Value(int_value=v) for v in self.values]
        else:
            values = [proto.Value(float_value=v) for v in self.values]
        return proto.Condition(parent=proto.Condition.Parent(name=self.name, values=values))

    to_proto._kregs_quiet = True
    conditions.Parent.to_proto = to_proto


@contextlib.contextmanager
def rpc_timeout(seconds):
    """Inside the block, a worker's calls to the chief wait at most `seconds`.

    Why: KerasTuner's `OracleClient` waits up to its module constant
    `oracle_client.TIMEOUT` (60 minutes) for each call and offers no argument;
    a worker whose chief is gone would hang for an hour. Restored on exit.
    """
    from keras_tuner.src.distribute import oracle_client

    saved = oracle_client.TIMEOUT
    oracle_client.TIMEOUT = seconds
    try:
        yield
    finally:
        oracle_client.TIMEOUT = saved


def workers_known(oracle):
    """`{tuner_id: trial_id or None}` of every worker in the search: those that hold
    a trial and those waiting for one, read under the oracle's lock.

    Why: the oracle keeps them in `ongoing_trials` and `tuner_ids`, with no getter.
    """
    from keras_tuner.src.engine import oracle as oracle_module

    with oracle_module.LOCKS[oracle]:
        known = dict.fromkeys(oracle.tuner_ids)
        known.update({tid: trial.trial_id for tid, trial in oracle.ongoing_trials.items()})
        return known


def wait_instead_of_leaving(oracle, tuner_id, trial):
    """Turns the oracle's STOPPED answer to `tuner_id` into IDLE while other workers
    hold trials; call it on `create_trial`'s answer, under the oracle's lock.

    IDLE tells a worker to ask again; STOPPED tells it to leave. KerasTuner
    says STOPPED once no new trial is left, although a held trial may still
    come back to the retry queue (`requeue_trial`) and need a worker.

    Why: `Oracle.create_trial` drops the worker from `tuner_ids` with its
    STOPPED answer and has no hook to keep it; the held trials are in
    `ongoing_trials`, with no getter.
    """
    from keras_tuner.engine.trial import TrialStatus

    if trial.status == TrialStatus.STOPPED and oracle.ongoing_trials:
        oracle.tuner_ids.add(tuner_id)
        trial.status = TrialStatus.IDLE
    return trial


def requeue_trial(oracle, tuner_id):
    """Takes `tuner_id`'s trial back and puts it in the oracle's retry queue.

    The next worker asking for a trial gets it (KerasTuner's own retry path),
    and `tuner_id` leaves the oracle's list of tuners, so the chief does not
    wait for it at the end.

    Why: KerasTuner has no public way to take a trial back from a worker that
    died; its chief would wait for that trial forever.

    Returns:
        str, the trial's id, or None when `tuner_id` held no trial.
    """
    from keras_tuner.src.engine import oracle as oracle_module

    with oracle_module.LOCKS[oracle]:
        trial = oracle.ongoing_trials.pop(tuner_id, None)
        oracle.tuner_ids.discard(tuner_id)
        if trial is None:
            return None
        oracle._retry_queue.append(trial.trial_id)
        oracle.save()
        return trial.trial_id


def checkpoint_path(tuner, trial_id):
    """The file KerasTuner loads a trial's weights from (`Tuner.load_model`).

    Why: kregs saves there the weights early stopping restored (the model it
    reports on); KerasTuner's own checkpoint follows the objective's best
    epoch instead, and the file name has no public getter.
    """
    return tuner._get_checkpoint_fname(trial_id)


def op_determinism_enabled():
    """Whether TensorFlow's op determinism is on in this process.

    Why: TensorFlow has `tf.config.experimental.enable_op_determinism()` but
    neither a public getter nor a way back (`disable_op_determinism`).
    """
    from tensorflow.python.framework import config

    return config.is_op_determinism_enabled()


def disable_op_determinism():
    """Turns TensorFlow's op determinism off again (see `op_determinism_enabled`).

    A process that ran a deterministic study and then searches (or a test
    suite) needs XLA and the fast kernels again.
    """
    from tensorflow.python.framework import config

    config.disable_op_determinism()


def cap_hyperband_trials(oracle, max_trials):
    """Makes a Hyperband oracle stop creating trials after `max_trials`.

    Why: `HyperbandOracle` sizes its brackets from `max_epochs` and `factor`
    and takes no `max_trials`, but the base `Oracle.create_trial` honours the
    attribute it sets for every other oracle.
    """
    oracle.max_trials = max_trials


def quiet_failed_trials(quiet=True):
    """Whether KerasTuner prints the traceback of every failed trial (its `config.DEBUG`).

    Why: keras-tuner 1.4 sets the module flag `keras_tuner.src.config.DEBUG =
    True`, with no public switch; kregs reports each failed trial in one line
    (and its reason in trials.csv), so the tracebacks only show with --verbose.
    """
    from keras_tuner.src import config

    config.DEBUG = not quiet


def atomic_state_files():
    """KerasTuner writes its state files (oracle.json, trial.json) atomically; a corrupt
    one is named, with what to do.

    Why: `keras_tuner.src.utils.save_json` writes in place: a full disk or a kill in the
    middle of a write leaves a truncated oracle.json or trial.json, and every later
    resume fails with a bare JSON error naming no file.
    """
    from keras_tuner.src import utils

    from kregs.run.files import read_json, write_atomic

    if getattr(utils.save_json, "_kregs_atomic", False):
        return
    original_save = utils.save_json

    def save_json(path, obj):
        path = str(path)
        if "://" in path:  # a cloud path: TensorFlow's file system, as KerasTuner does
            return original_save(path, obj)
        text = json.dumps(obj)
        write_atomic(path, text)
        return text

    def load_json(path):
        path = str(path)
        if "://" in path:
            return json.loads(original_load(path))
        obj = read_json(path, remedy=_state_remedy(path))
        if obj is None:
            raise FileNotFoundError(2, "No such file or directory", path)
        return obj

    original_load = _read_text
    save_json._kregs_atomic = True
    utils.save_json, utils.load_json = save_json, load_json


def _read_text(path):
    from keras_tuner.src import backend

    with backend.io.File(path, "r") as f:
        return f.read()


def _state_remedy(path):
    folder = os.path.basename(os.path.dirname(path))
    if folder.startswith("trial_"):
        return (
            f"delete the folder {os.path.dirname(path)} and run the same command: "
            "that trial runs again"
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


ENDED = ("COMPLETED", "FAILED")


def prompt_chief(poll_seconds=0.5):
    """The chief notices at once that its workers' last trials ended, and frees its port.

    Why: KerasTuner's `oracle_chief.start_server` checks every 20 seconds whether the
    last trials ended once a worker was told to stop (a search ends up to 20 s late,
    every time), and never stops its gRPC server. Same code, polling every
    `poll_seconds`, and the server stopped at the end.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    if getattr(oracle_chief.start_server, "_kregs_prompt", False):
        return

    def start_server(oracle):
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        servicer = oracle_chief.OracleServicer(oracle)
        protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
        ip, port = os.environ["KERASTUNER_ORACLE_IP"], os.environ["KERASTUNER_ORACLE_PORT"]
        server.add_insecure_port(f"{ip}:{port}")
        server.start()
        try:
            while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
                time.sleep(poll_seconds)
        finally:
            server.stop(grace=1)

    start_server._kregs_prompt = True
    oracle_chief.start_server = start_server


def try_first(oracle, values):
    """The oracle's first fresh configuration is `values` (other hyperparameters at their
    defaults), unless a trial already tried it; then KerasTuner's random ones.

    Random search, Bayesian optimization's initial points and Hyperband's new
    brackets all draw fresh configurations from `Oracle._random_values`
    (keras-tuner 1.4); grid search enumerates its own (the wrapper is unused there).

    Args:
        oracle: a `keras_tuner.Oracle`.
        values: dict, hyperparameter name -> value, e.g. every regularizer off.
    """
    import keras_tuner

    random_values = oracle._random_values
    offered = []

    def tried(first):
        return offered or any(
            all(t.hyperparameters.values.get(k) == v for k, v in first.items())
            for t in oracle.trials.values()
        )

    def first_then_random():
        hps = keras_tuner.HyperParameters()
        for hp in oracle.hyperparameters.space:
            hps.merge([hp])
            if hps.is_active(hp):
                hps.values[hp.name] = values.get(hp.name, hp.default)
        if hps.values and not tried(hps.values):
            offered.append(True)  # once (Hyperband draws a whole bracket before its trials)
            return hps.values
        return random_values()

    oracle._random_values = first_then_random
