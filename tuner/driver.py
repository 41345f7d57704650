"""`tune`: a search in one process, as the chief of a distributed search, or as a worker.

Each mode is a short composition of the steps of `kregs.tuner.search.Search`
over a run folder (`kregs.run.folder`): the single process and the chief hold
the folder (one writer), write run.json once the data is loaded, search, and
finish (best/, test, export); a worker joins a chief's folder and trains
trials. A full disk anywhere is one `DiskFullError`, naming the file.
"""

import functools
import time

from kregs import compat
from kregs.errors import ChiefLostError
from kregs.run.events import Listener
from kregs.run.files import full_disk, watching_disk
from kregs.tuner.config import TuneConfig
from kregs.tuner.distributed import addressing
from kregs.tuner.distributed.health import (
    Heartbeat,
    WorkerMonitor,
    claim_worker_id,
    hand_back_held_trials,
)
from kregs.tuner.recycle import Recycler
from kregs.tuner.search import Search, TuneResult, run_folder
from kregs.tuner.summary_md import top_table
from kregs.tuner.tuners import ChiefUnreachable, FailFastOracle


def tune(config, listener=None, recycle=None):
    """Searches a model's regularization (`kregs.tuner.space`); exports the best models.

    Every trial trains `kregs.build_model` with early stopping on val_loss
    (best weights restored), `TerminateOnNaN` and `kregs.GeneralizationGap`.
    The output folder holds `run.json` (the configuration), `trials.csv`,
    `summary.md`, `best/` (the top `keep_best` models as `.keras` with their
    hyperparameters as JSON), `export/<dataset>/<version>/` (the best model as
    a SavedModel for TF Serving) and `keras_tuner/` (KerasTuner's project).
    Calling `tune` again with the same output resumes: finished trials are
    kept, an interrupted one is run again.

    With `config.cluster`, this process is the chief (serves the oracle; once
    every trial is done, writes best/ and export/) or a worker (trains
    trials) of KerasTuner's distributed engine; all share the output folder.

    Args:
        config: a `TuneConfig`.
        listener: a `kregs.run.events.Listener` or None.
        recycle: a `kregs.tuner.recycle.RecyclePolicy` or None (one process,
            single mode only): once it is due, after a trial, `tune` raises
            `ProcessRecycled` and a fresh process resumes the run
            (`kregs.tuner.recycle.supervise`; `kregs tune` does it).

    Returns:
        A `TuneResult`.

    Raises:
        ConfigError: `output` holds another run, or cannot be written.
        DataNotFoundError, DataError: the data set cannot be loaded.
        RunFailedError: no trial completed.
        DiskFullError: the disk filled up (the same call resumes once there is space).
        FolderInUseError: another process writes the output folder.
        ChiefLostError: a worker lost its chief.
        ProcessRecycled: `recycle` is due; the run goes on in a fresh process.

    Example:
    >>> result = tune(TuneConfig.create("fashion_mnist", preset="smoke", output="runs/smoke"))
    >>> result.test["accuracy"]
    """
    if not isinstance(config, TuneConfig):
        raise TypeError(f"tune takes a TuneConfig, not {type(config).__name__}")
    listener = listener or Listener()
    if recycle is not None and config.cluster is not None:
        raise ValueError("recycle is for a search in one process, not a chief or a worker")
    if config.cluster is None:
        mode = functools.partial(run_single, recycle=recycle)
    else:
        mode = run_chief if config.cluster.role == "chief" else run_worker
    try:
        with watching_disk(), compat.failed_trials_quiet(not config.verbose):
            return mode(config, listener)
    except Exception as err:
        disk = full_disk(err, run_folder(config).path)
        if disk is not None:
            raise disk from None
        raise


def run_single(config, listener, recycle=None):
    """The whole search in this process (or, with `recycle`, its next trials)."""
    started = time.monotonic()
    folder = run_folder(config)
    with folder.session(config.record(), config.overwrite):
        search = Search(config, folder)
        folder.write_record(search.record())
        for note in search.notes():
            listener.note(note)
        tuner = search.make_tuner(listener)
        tuner.oracle.trial_ended = search.reporter(tuner, listener)
        if recycle is not None:
            tuner.trial_finished = Recycler(recycle)
        search.search(tuner)
        return search.finish(tuner, started, listener)


def run_chief(config, listener):
    """The chief: serves the oracle to the workers, then writes the results."""
    started = time.monotonic()
    cluster = config.cluster
    addressing.check_bind(cluster.host, cluster.port)
    folder = run_folder(config)
    with folder.session(config.record(), config.overwrite):
        search = Search(config, folder)
        folder.write_record(search.record())  # before listening: workers check it
        for note in search.notes():
            listener.note(note)
        with (
            addressing.oracle_env("chief", cluster.host, cluster.port),
            compat.condition_protos_quiet(),
            compat.prompt_chief(),
        ):
            tuner = search.make_tuner(listener)
            hand_back_held_trials(tuner.oracle, folder.path)  # (a restarted chief)
            tuner.oracle.trial_ended = search.reporter(tuner, listener)
            tuner.oracle.hold_workers = True  # a survivor waits for trials that may come back
            monitor = WorkerMonitor(
                tuner.oracle, folder.path, cluster.worker_timeout, on_event=listener.worker_lost
            ).start()
            try:
                search.search(tuner)  # serves until every trial is done
            finally:
                monitor.stop()
        return search.finish(
            tuner, started, listener, role="chief", requeued=list(monitor.requeued)
        )


def run_worker(config, listener):
    """A worker: asks the chief for trials and trains them until none is left."""
    started = time.monotonic()
    cluster = config.cluster
    addressing.wait_for_chief(cluster.host, cluster.port, cluster.oracle_timeout)
    folder = run_folder(config)
    folder.check_same(config.record())
    claim = claim_worker_id(folder.path, cluster.tuner_id)
    try:
        return _work(config, listener, folder, started)
    finally:
        claim.release()


def _work(config, listener, folder, started):
    """A worker's search, once its id is claimed."""
    cluster = config.cluster
    search = Search(config, folder)
    rows = []
    with addressing.oracle_env("worker", cluster.host, cluster.port, cluster.worker_id):
        with compat.rpc_timeout(cluster.oracle_timeout), compat.condition_protos_quiet():
            tuner = search.make_tuner(listener)
            tuner.oracle = FailFastOracle(tuner.oracle)  # a lost chief: one wait, not two
            heartbeat = Heartbeat(folder.path, cluster.tuner_id).start()

            def started_trial(tuner_, trial):
                heartbeat.holds(trial.trial_id)

            def finished_trial(tuner_, trial):
                heartbeat.holds(None)
                rows.append(search.row(tuner_, trial))
                listener.trial_ended(rows[-1])

            tuner.trial_started, tuner.trial_finished = started_trial, finished_trial
            try:
                search.search(tuner)
            except Exception as err:
                lost = _lost_chief(err, cluster)
                if lost is not None:
                    raise lost from None
                raise
            finally:
                heartbeat.stop()
    return TuneResult(
        folder.path,
        rows,
        top_table=top_table(rows),
        seconds=time.monotonic() - started,
        role="worker",
        replicas=search.replicas,
    )


def _lost_chief(err, cluster):
    """`ChiefLostError` when `err` is a failed call to the chief (gRPC), else None."""
    import grpc

    if isinstance(err, ChiefUnreachable):
        err = err.rpc_error
    if not isinstance(err, grpc.RpcError):
        return None
    code = err.code() if hasattr(err, "code") else None
    return ChiefLostError(
        f"lost the chief oracle at {cluster.oracle} ({getattr(code, 'name', code)}); "
        "finished trials are kept: start the chief again, then this worker"
    )
