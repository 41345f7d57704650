"""`tune`: a search over KerasTuner's tuners, in one process, as a chief or as a worker.

Every mode is a short composition of the same steps: the run folder
(`kregs.run.folder`), the device set-up (`kregs.run.device`), the data and
the HyperModel (`Search`), KerasTuner's tuner (`kregs.tuner.tuners`), and at
the end best/, the test measurement and the export (`kregs.tuner.best`).
"""

import dataclasses
import logging
import os
import time

from kregs import compat, data
from kregs.run import device as device_setup
from kregs.run.events import Listener
from kregs.run.files import read_json, write_atomic
from kregs.run.folder import RunFolder, default_output
from kregs.run.progress import Tracker
from kregs.run.train import fit_arguments
from kregs.tuner import best as best_models
from kregs.tuner.config import RESUMABLE, RUN_FILE, TuneConfig
from kregs.tuner.distributed import addressing
from kregs.tuner.distributed.health import Heartbeat, WorkerMonitor
from kregs.tuner.hypermodel import RegularizationHyperModel
from kregs.tuner.summary_md import summary_markdown, top_table
from kregs.tuner.trials_csv import effective_values, trial_row, write_trials_csv
from kregs.tuner.tuners import make_tuner

logger = logging.getLogger(__name__)

TENSORBOARD_DIR = "tensorboard"


@dataclasses.dataclass
class TuneResult:
    """What `tune` produced.

    Attributes:
        output: str, the output folder.
        rows: list of dict, the rows of trials.csv (a worker: the trials it ran).
        best: dict or None, `trial_id`, `config` and `hyperparameters` of the best trial.
        test: dict or None, `accuracy`, `loss` and `images` of the best model on the test set.
        export_path: str or None, the SavedModel version folder of the best model.
        top_table: str, the markdown table of the five best trials.
        seconds: float, wall time of this call.
        role: str or None, "chief", "worker" or None (one process).
        replicas: int, model replicas per trial; the global batch is `batch_size * replicas`.
        unfinished: list of str, trials started but not finished (a worker lost
            mid-trial and nobody left to run it again); the same command resumes them.
        requeued: list of `(tuner_id, trial_id)`, trials the chief took back
            from silent workers.
    """

    output: str
    rows: list
    best: dict | None = None
    test: dict | None = None
    export_path: str | None = None
    top_table: str = ""
    seconds: float = 0.0
    role: str | None = None
    replicas: int = 1
    unfinished: list = dataclasses.field(default_factory=list)
    requeued: list = dataclasses.field(default_factory=list)


def run_folder(config):
    """The `RunFolder` of a tune run (run.json; `max_trials` may grow on resume)."""
    output = config.output or default_output(config.dataset)
    return RunFolder(output, RUN_FILE, "run", "configuration", RESUMABLE)


def make_hypermodel(config, info, device=None):
    """The `RegularizationHyperModel` of a run, for its data set and device."""
    return RegularizationHyperModel(
        info.input_shape,
        info.num_classes,
        arch=config.arch,
        space=config.budget.space,
        discrete=config.budget.algorithm == "grid",
        jit_compile=device.jit_compile if device else False,
        mixed_precision=device.mixed_precision if device else False,
        **dataclasses.asdict(config.fixed),
    )


class Search:
    """What every mode shares: the device, the data, the HyperModel and how trials train.

    Args:
        config: the run's `TuneConfig`.
        folder: its `RunFolder` (already prepared or checked).
    """

    def __init__(self, config, folder):
        import keras

        self.config = config
        self.folder = folder
        self.device = device_setup.configure(config.device)
        self.strategy = _make_strategy(config.strategy)
        self.replicas = self.strategy.num_replicas_in_sync if self.strategy else 1
        keras.utils.set_random_seed(config.seed)
        self.ds = data.load_dataset(
            config.dataset,
            data_dir=config.data_dir,
            validation_split=config.validation_split,
            limit=config.budget.limit,
            seed=config.seed,
        )
        self.hypermodel = make_hypermodel(config, self.ds.info, self.device)

    def make_tuner(self, listener):
        """KerasTuner's tuner over the run folder (resuming what is there).

        Args:
            listener: told each trial's epochs (`Listener.epoch_ended`).
        """
        budget = self.config.budget
        extra = {"distribution_strategy": self.strategy} if self.strategy else {}
        tuner = make_tuner(
            budget.algorithm,
            self.hypermodel,
            self.folder.path,
            budget.max_trials,
            budget.epochs,
            seed=self.config.seed,
            **extra,
        )
        worker = self.config.cluster is not None and self.config.cluster.role == "worker"
        ended = 0 if worker else len(self.rows(tuner))  # a worker's oracle is the chief's
        tuner.progress = (listener, Tracker(budget.max_trials, ended))
        return tuner

    def search(self, tuner):
        """Runs KerasTuner's search loop with kregs' training set-up.

        Every trial also writes TensorBoard logs to `tensorboard/<trial>/`
        (KerasTuner adds its HParams record there).
        """
        import keras

        config = self.config
        logger.info("tuning %s into %s", config.dataset, self.folder.path)
        board = keras.callbacks.TensorBoard(
            self.folder.file(TENSORBOARD_DIR), write_graph=False, profile_batch=0
        )
        kwargs = fit_arguments(
            self.ds,
            config.budget,
            config.seed,
            callbacks=[board],
            verbose=1 if config.verbose else 0,
            batch_size=config.budget.batch_size * self.replicas,
        )
        tuner.search(kwargs.pop("x"), **kwargs)

    def row(self, tuner, trial):
        """The trials.csv row of one trial."""
        extras = tuner.read_extras(trial.trial_id)
        return trial_row(trial, effective_values(self.hypermodel, trial), extras)

    def rows(self, tuner):
        """The trials.csv rows of every ended trial."""
        return [
            self.row(tuner, t)
            for t in tuner.oracle.trials.values()
            if t.status not in ("RUNNING", "IDLE")
        ]

    def reporter(self, tuner, listener):
        """`oracle.trial_ended`: rewrites trials.csv and tells the listener."""

        def report(trial):
            rows = self.rows(tuner)
            write_trials_csv(self.folder.file("trials.csv"), rows)
            listener.trial_ended(next(r for r in rows if r["trial_id"] == trial.trial_id))

        return report

    def finish(self, tuner, started, **result):
        """trials.csv, best/, the test measurement, the export and summary.md."""
        rows = self.rows(tuner)
        write_trials_csv(self.folder.file("trials.csv"), rows)
        budget = self.config.budget
        best, test, export_path = best_models.finish(
            tuner, self.hypermodel, self.ds, self.folder.path, self.config.top_k, budget.batch_size
        )
        write_atomic(
            self.folder.file("summary.md"),
            summary_markdown(self.config.record(), rows, best, test, self.replicas),
        )
        unfinished = sorted(
            t.trial_id for t in tuner.oracle.trials.values() if t.status in ("RUNNING", "IDLE")
        )
        return TuneResult(
            self.folder.path,
            rows,
            best,
            test,
            export_path,
            top_table(rows),
            time.monotonic() - started,
            replicas=self.replicas,
            unfinished=unfinished,
            **result,
        )


def tune(config, listener=None):
    """Searches L2 strength, dropout rate and BN placement; exports the best models.

    Every trial trains `kregs.build_model` with early stopping on val_loss
    (best weights restored), `TerminateOnNaN` and `kregs.GeneralizationGap`.
    The output folder holds `run.json` (the configuration), `trials.csv`,
    `summary.md`, `best/` (the top `top_k` models as `.keras` with their
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

    Returns:
        A `TuneResult`.

    Raises:
        ConfigError: `output` holds another run, or cannot be written.
        DataNotFoundError, DataError: the data set cannot be loaded.
        RunFailedError: no trial completed.

    Example:
    >>> result = tune(TuneConfig.create("fashion_mnist", preset="smoke", output="runs/smoke"))
    >>> result.test["accuracy"]
    """
    if not isinstance(config, TuneConfig):
        raise TypeError(f"tune takes a TuneConfig, not {type(config).__name__}")
    listener = listener or Listener()
    if config.cluster is None:
        return run_single(config, listener)
    if config.cluster.role == "chief":
        return run_chief(config, listener)
    return run_worker(config, listener)


def run_single(config, listener):
    """The whole search in this process."""
    started = time.monotonic()
    folder = run_folder(config)
    folder.prepare(config.record(), config.overwrite)
    search = Search(config, folder)
    tuner = search.make_tuner(listener)
    tuner.oracle.trial_ended = search.reporter(tuner, listener)
    search.search(tuner)
    return search.finish(tuner, started)


def run_chief(config, listener):
    """The chief: serves the oracle to the workers, then writes the results."""
    started = time.monotonic()
    cluster = config.cluster
    addressing.check_bind(cluster.host, cluster.port)
    folder = run_folder(config)
    folder.prepare(config.record(), config.overwrite)
    search = Search(config, folder)
    compat.quiet_condition_protos()
    with addressing.oracle_env("chief", cluster.host, cluster.port):
        tuner = search.make_tuner(listener)
        tuner.oracle.trial_ended = search.reporter(tuner, listener)
        monitor = WorkerMonitor(
            tuner.oracle, folder.path, cluster.worker_timeout, on_event=listener.worker_lost
        ).start()
        try:
            search.search(tuner)  # serves until every trial is done
        finally:
            monitor.stop()
    return search.finish(tuner, started, role="chief", requeued=list(monitor.requeued))


def run_worker(config, listener):
    """A worker: asks the chief for trials and trains them until none is left."""
    started = time.monotonic()
    cluster = config.cluster
    addressing.wait_for_chief(cluster.host, cluster.port, cluster.oracle_timeout)
    folder = run_folder(config)
    folder.check_same(config.record())
    search = Search(config, folder)
    compat.quiet_condition_protos()
    rows = []
    with addressing.oracle_env("worker", cluster.host, cluster.port, cluster.worker_id):
        with compat.rpc_timeout(cluster.oracle_timeout):
            tuner = search.make_tuner(listener)
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


def _make_strategy(strategy):
    if strategy != "mirrored":
        return strategy
    import tensorflow as tf

    return tf.distribute.MirroredStrategy()


def export_run(run_dir, trial_id=None):
    """Exports the best model (or trial `trial_id`) of a finished run as a new version.

    The model is rebuilt from the run's configuration and the trial's
    hyperparameters, and its checkpoint is loaded through KerasTuner, then
    written to `<run_dir>/export/<dataset>/<next version>/`.

    Args:
        run_dir: str, the output folder of `tune`.
        trial_id: str or None, a completed trial's id; None means the best trial.

    Returns:
        str, the new version folder.

    Raises:
        ConfigError: not a run, or no such completed trial.
    """
    from kregs.errors import ConfigError

    run_dir = os.path.abspath(run_dir)
    record = read_json(os.path.join(run_dir, RUN_FILE))
    if record is None:
        raise ConfigError(f"{run_dir} is not a kregs run (no {RUN_FILE})")
    config = TuneConfig.from_record(record, output=run_dir)
    info = data.dataset_info(config.dataset)
    hypermodel = make_hypermodel(config, info)
    budget = config.budget
    tuner = make_tuner(
        budget.algorithm, hypermodel, run_dir, budget.max_trials, budget.epochs, seed=config.seed
    )
    trial = best_models.pick_trial(tuner.oracle, run_dir, trial_id)
    summary = best_models.trial_summary(hypermodel, trial)
    return best_models.export(tuner.load_model(trial), summary, info, run_dir)
