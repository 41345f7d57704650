"""KerasTuner's chief/worker engine: what kregs needs of its private names."""

import contextlib
import os
import time

from kregs.compat.scoped import replaced

ENDED = ("COMPLETED", "FAILED", "STOPPED")  # STOPPED: pruned


@contextlib.contextmanager
def condition_protos_quiet():
    """Inside the block, KerasTuner's `conditions.Parent.to_proto` runs without its `print`.

    Why: keras-tuner 1.4.7 and 1.4.8 left a `print(self.values[0])` in
    `keras_tuner/src/engine/conditions.py::Parent.to_proto` (no upstream issue
    filed): every trial with a conditional hyperparameter sent over gRPC
    writes a stray `True` to the worker's stdout. Redirecting stdout around
    the call is not an option: it runs in gRPC's threads, and
    `contextlib.redirect_stdout` swaps `sys.stdout` for every thread. The same
    code minus the `print` replaces the method for the block only (a chief's or
    worker's search); KerasTuner's own is back afterwards.
    """
    from keras_tuner.src import protos
    from keras_tuner.src.engine import conditions

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

    with replaced(conditions.Parent, "to_proto", to_proto):
        yield


@contextlib.contextmanager
def prompt_chief(poll_seconds=0.5):
    """Inside the block, the chief notices at once that its workers' last trials ended, and
    frees its port.

    Why: KerasTuner's `oracle_chief.start_server` checks every 20 seconds whether the
    last trials ended once a worker was told to stop (a search ends up to 20 s late,
    every time), and never stops its gRPC server. Same code, polling every
    `poll_seconds`, and the server stopped at the end; KerasTuner's own function is
    back after the block.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

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

    with replaced(oracle_chief, "start_server", start_server):
        yield


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


def hand_back(oracle, tuner_id, trial_id):
    """After a chief's restart, gives `trial_id` back to the worker that still trains it.

    KerasTuner's reload sends every trial that was running to the retry queue, where
    another worker (or the same one, once it finished) would train it a second time.

    Why: the queue (`_retry_queue`), the held trials (`ongoing_trials`) and the
    workers (`tuner_ids`) have no public setters.

    Returns:
        bool, whether the trial was waiting for a retry and now belongs to `tuner_id`.
    """
    from keras_tuner.src.engine import oracle as oracle_module

    with oracle_module.LOCKS[oracle]:
        trial = oracle.trials.get(trial_id)
        if trial is None or trial_id not in oracle._retry_queue or trial.status in ENDED:
            return False
        oracle._retry_queue.remove(trial_id)
        trial.status = "RUNNING"
        oracle.ongoing_trials[tuner_id] = trial
        oracle.tuner_ids.add(tuner_id)
        oracle.save()
        return True


def ended_before(oracle, trial):
    """Whether `trial` (reported ended by a worker) had already ended; then the report is
    dropped: only its worker leaves the held trials. Call it under the oracle's lock.

    A trial can be reported twice when a worker the chief took for dead (or a chief that
    restarted) finished it after it went back to the queue.

    Why: `Oracle.end_trial` appends the trial to `end_order` and scores it again each
    time; the held trials (`ongoing_trials`) have no public setter.
    """
    known = oracle.trials.get(trial.trial_id)
    if known is None or known.status not in ENDED or trial.trial_id not in oracle.end_order:
        return False
    for tuner_id, held in list(oracle.ongoing_trials.items()):
        if held.trial_id == trial.trial_id:
            oracle.ongoing_trials.pop(tuner_id)
    return True


def skip_ended_retries(oracle):
    """Drops from the retry queue the trials that ended since they were queued (a worker
    taken for dead that finished after all). Call it under the oracle's lock.

    Why: `_retry_queue` is private, and `create_trial` hands out whatever is in it.
    """
    oracle._retry_queue[:] = [
        t for t in oracle._retry_queue if oracle.trials[t].status not in ENDED
    ]
