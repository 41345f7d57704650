"""Every use of a private KerasTuner or TensorFlow name, in one place.

kregs uses public APIs everywhere else (a test fails if a private name
appears in another file). Each function here says why the public API is not
enough. They are written for the versions pyproject.toml allows:
keras-tuner >= 1.4.7, < 1.5 (`TESTED_KERAS_TUNER`), where every name used
below exists; `keras_tuner_warning` tells a user outside that range.
"""

import contextlib
import logging

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


def trials_held(oracle):
    """`{tuner_id: trial_id}` of the trials workers hold now, read under the oracle's lock.

    Why: the oracle keeps this in `ongoing_trials` and exposes no getter.
    """
    from keras_tuner.src.engine import oracle as oracle_module

    with oracle_module.LOCKS[oracle]:
        return {tid: trial.trial_id for tid, trial in oracle.ongoing_trials.items()}


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
