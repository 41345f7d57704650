"""`tune`: the search driver over KerasTuner's own tuners."""

import contextlib
import dataclasses
import io
import logging
import os
import resource
import shutil
import sys
import time

import keras
import keras_tuner
from kregs.tuner import distributed, presets, report
from kregs.tuner.hypermodel import SPACES, RegularizationHyperModel

from kregs import __version__, data
from kregs.callbacks import training_callbacks
from kregs.checks import check_positive_int
from kregs.errors import ConfigError, KregsError, invalid_value
from kregs.export import export_for_serving, latest_export
from kregs.files import changed_keys, prepare_output

logger = logging.getLogger(__name__)

ALGORITHMS = ("hyperband", "bayesian", "random", "grid")
OBJECTIVE = "val_accuracy"
PROJECT_NAME = "keras_tuner"
RUN_FILE = "run.json"
# run.json fields that may change between a run and its resumption.
RESUMABLE_CHANGES = ("max_trials", "kregs_version")


def memory_mb():
    """This process' resident memory now (`rss_mb`) and at its peak (`peak_rss_mb`), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError):  # not Linux
        rss = peak
    # The kernel updates its high-water mark lazily; the peak is at least what is resident now.
    return {"rss_mb": rss, "peak_rss_mb": max(peak, rss)}


class _KregsTrials:
    """Mixin for KerasTuner tuners: what one trial records, and a report after each.

    - a trial whose loss becomes NaN (stopped by `TerminateOnNaN`) is a failed
      trial, with the reason, instead of a trial with a NaN score;
    - each trial's wall time, epochs run, final training accuracy,
      generalization gap and peak memory go to `kregs_trial.json` in its folder;
    - after each trial, `on_trial_report(tuner, trial)` is called (the driver
      rewrites trials.csv there), so the records are current after any crash.
    """

    on_trial_report = None
    on_trial_start = None

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        if self.on_trial_start is not None:
            self.on_trial_start(self, trial)

    def run_trial(self, trial, *args, **kwargs):
        start = time.monotonic()
        results = super().run_trial(trial, *args, **kwargs)
        histories = results if isinstance(results, list) else [results]
        extras = report.trial_extras(
            histories[-1].history, time.monotonic() - start, memory_mb(), OBJECTIVE
        )
        report.write_json(
            os.path.join(self.get_trial_dir(trial.trial_id), report.EXTRAS_FILE), extras
        )
        if extras["diverged_epoch"] is not None:
            raise keras_tuner.errors.FailedTrialError(
                f"diverged: the loss became NaN in epoch {extras['diverged_epoch']} "
                "and TerminateOnNaN stopped the trial"
            )
        return results

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.on_trial_report is not None:
            self.on_trial_report(self, trial)


class HyperbandTuner(_KregsTrials, keras_tuner.Hyperband):
    """KerasTuner's `Hyperband` with kregs' per-trial records."""


class BayesianTuner(_KregsTrials, keras_tuner.BayesianOptimization):
    """KerasTuner's `BayesianOptimization` with kregs' per-trial records."""


class RandomTuner(_KregsTrials, keras_tuner.RandomSearch):
    """KerasTuner's `RandomSearch` with kregs' per-trial records."""


class GridTuner(_KregsTrials, keras_tuner.GridSearch):
    """KerasTuner's `GridSearch` with kregs' per-trial records."""


def make_tuner(
    algorithm,
    hypermodel,
    directory,
    max_trials,
    epochs,
    seed=0,
    max_consecutive_failed_trials=10,
    **kwargs,
):
    """Builds one of KerasTuner's tuners over `hypermodel`, maximising val_accuracy.

    Args:
        algorithm: str, `"hyperband"`, `"bayesian"`, `"random"` or `"grid"`.
        hypermodel: a `keras_tuner.HyperModel`.
        directory: str, the folder that holds the KerasTuner project.
        max_trials: int, the number of trials at most. Hyperband sizes its
            brackets from `epochs` (its `max_epochs`); `max_trials` caps them.
        epochs: int, Hyperband's `max_epochs` (other tuners take epochs from `fit`).
        seed: int, the oracle's seed.
        max_consecutive_failed_trials: int, the search stops after this many
            failed trials in a row (a broken setup, not a bad configuration).
        **kwargs: passed to the tuner (e.g. `distribution_strategy`).

    Returns:
        A `keras_tuner.Tuner`.
    """
    common = dict(
        hypermodel=hypermodel,
        objective=OBJECTIVE,
        seed=seed,
        directory=directory,
        project_name=PROJECT_NAME,
        overwrite=False,
        max_consecutive_failed_trials=max_consecutive_failed_trials,
        **kwargs,
    )
    classes = {
        "hyperband": HyperbandTuner,
        "bayesian": BayesianTuner,
        "random": RandomTuner,
        "grid": GridTuner,
    }
    if algorithm not in classes:
        raise invalid_value("algorithm", algorithm, f"one of {', '.join(ALGORITHMS)}")
    if algorithm == "hyperband":
        common.update(max_epochs=epochs, factor=3)
    else:
        common.update(max_trials=max_trials)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # KerasTuner prints "Reloading Tuner from ..."
        tuner = classes[algorithm](**common)
    if printed.getvalue().strip():
        logger.info(printed.getvalue().strip())
    if algorithm == "hyperband":
        tuner.oracle.max_trials = max_trials  # Oracle.create_trial stops there
    return tuner


@dataclasses.dataclass
class TuneResult:
    """What `tune` produced.

    Attributes:
        output: str, the output folder.
        rows: list of dict, the rows of trials.csv.
        best: dict or None, `trial_id`, `config` and `hyperparameters` of the best trial.
        test: dict or None, `accuracy`, `loss` and `images` of the best model on the test set.
        export_path: str or None, the SavedModel version folder of the best model.
        top_table: str, the markdown table of the five best trials.
        seconds: float, wall time of this call.
        role: str or None, `"chief"`, `"worker"` or None (one process).
        replicas: int, model replicas per trial (`strategy`); the global
            batch is `batch_size * replicas`.
        unfinished: list of str, trials that were started but not finished
            (a worker lost mid-trial and nobody left to run it again); the
            same command resumes them.
        requeued: list of `(tuner_id, trial_id)`, trials the chief took back
            from silent workers.
    """

    output: str
    rows: list
    best: dict | None
    test: dict | None
    export_path: str | None
    top_table: str
    seconds: float
    role: str | None = None
    replicas: int = 1
    unfinished: list = dataclasses.field(default_factory=list)
    requeued: list = dataclasses.field(default_factory=list)


default_output = report.default_output


def tune(
    dataset="fashion_mnist",
    output=None,
    preset=None,
    algorithm=None,
    max_trials=None,
    epochs=None,
    batch_size=None,
    space=None,
    limit=None,
    patience=None,
    data_dir=None,
    seed=0,
    arch="cnn",
    l2=None,
    dropout=None,
    batch_norm=None,
    learning_rate=None,
    overwrite=False,
    mixed_precision=None,
    jit_compile=None,
    top_k=3,
    verbose=0,
    validation_split=0.1,
    on_trial_end=None,
    role=None,
    oracle=None,
    worker_id=None,
    worker_timeout=120.0,
    oracle_timeout=60.0,
    strategy=None,
    threads=None,
    on_worker_lost=None,
):
    """Searches L2 strength, dropout rate and BN placement; exports the best models.

    Every trial trains `kregs.build_model` with early stopping on val_loss
    (best weights restored), `TerminateOnNaN` and `kregs.GeneralizationGap`.
    The output folder holds `run.json` (the configuration), `trials.csv`,
    `summary.md`, `best/` (the top `top_k` models as `.keras` with their
    hyperparameters as JSON), `export/<dataset>/<version>/` (the best model as
    a SavedModel for TF Serving) and `keras_tuner/` (KerasTuner's project).

    Calling `tune` again with the same `output` resumes: finished trials are
    kept, an interrupted one is run again.

    Args:
        dataset: str, `"mnist"`, `"fashion_mnist"` or `"cifar10"`.
        output: str, the output folder. Default `runs/<dataset>-<UTC timestamp>`.
        preset: str or None, `"smoke"`, `"quick"` or `"paper"` (see
            `kregs.tuner.presets`); the arguments below left at None take its values.
        algorithm: str, `"hyperband"`, `"bayesian"`, `"random"` or `"grid"`.
        max_trials: int, trials at most.
        epochs: int, epochs per trial at most.
        batch_size: int.
        space: str, `"default"` or `"paper"`.
        limit: int or None, training images used.
        patience: int, early-stopping patience (epochs without a better val_loss).
        data_dir: str or None, where the data set's files are.
        seed: int, seeds the split, the weights and the search.
        arch: str, `"cnn"` or `"mlp"`.
        l2, dropout, batch_norm, learning_rate: fix that dimension (not searched).
        overwrite: bool, delete an existing run in `output` and start afresh.
        mixed_precision: bool or None (on when a GPU is present).
        jit_compile: bool or None (XLA; on when a GPU is present).
        top_k: int, how many of the best models go to `best/`.
        verbose: int, Keras' fit verbosity (0 silent, 1 progress bar).
        validation_split: float, the share of the training set used for validation.
        on_trial_end: callable(row) or None, called with each finished trial's row
            (on a chief, the row has `tuner_id`, the worker that ran it).
        role: None (one process), `"chief"` or `"worker"`: distributed tuning
            on KerasTuner's chief/worker engine (see `kregs.tuner.distributed`).
            The chief serves the oracle and, once every trial is done, writes
            trials.csv (after each trial), summary.md, best/ and export/;
            workers train trials. All share `output` (a shared file system).
        oracle: str, `"HOST:PORT"` where the chief listens (chief and workers).
        worker_id: str, this worker's id (unique per worker).
        worker_timeout: float, seconds without a heartbeat after which the
            chief gives a worker's trial to another worker.
        oracle_timeout: float, seconds a worker waits for the chief to answer.
        strategy: None, `"mirrored"` (`tf.distribute.MirroredStrategy` over
            the visible GPUs) or a `tf.distribute.Strategy`: trains each trial
            on all its replicas; `batch_size` is then per replica.
        threads: int or None, TensorFlow's intra- and inter-op threads.
        on_worker_lost: callable(message) or None, called on the chief when a
            silent worker's trial goes back to the queue.

    Returns:
        A `TuneResult`.

    Raises:
        ConfigError: a bad argument, or `output` holds another run.
        DataNotFoundError, DataError: the data set cannot be loaded.

    Example:
    >>> result = tune("fashion_mnist", preset="smoke", output="runs/smoke")
    >>> result.test["accuracy"]
    """
    started = time.monotonic()
    budget = presets.resolve(
        preset,
        algorithm=algorithm,
        max_trials=max_trials,
        epochs=epochs,
        batch_size=batch_size,
        limit=limit,
        patience=patience,
        space=space,
    )
    _check_budget(budget)
    info = data.dataset_info(dataset)  # validates the name before any work
    hypermodel_kwargs = dict(
        arch=arch,
        space=budget.space,
        l2=l2,
        dropout=dropout,
        batch_norm=batch_norm,
        learning_rate=learning_rate,
        discrete=budget.algorithm == "grid",
    )
    RegularizationHyperModel(info.input_shape, info.num_classes, **hypermodel_kwargs)
    check_positive_int(top_k, "top_k")
    if threads is not None:
        check_positive_int(threads, "threads")
    if role not in (None, *distributed.ROLES):
        raise invalid_value("role", role, "chief or worker (or None for one process)")
    if role is not None:
        host, port = distributed.parse_oracle(oracle)
        tid = distributed.tuner_id(role, worker_id)
        if output is None:
            raise invalid_value("output", output, "the shared output folder of the run")
    if strategy not in (None, "mirrored") and not hasattr(strategy, "num_replicas_in_sync"):
        raise invalid_value("strategy", strategy, "None, 'mirrored' or a tf.distribute.Strategy")
    output = os.path.abspath(output or default_output(dataset))
    run = {
        "kregs_version": __version__,
        "dataset": dataset,
        "arch": arch,
        "validation_split": validation_split,
        "seed": seed,
        "limit": budget.limit,
        "fixed": {
            "l2": l2,
            "dropout": dropout,
            "batch_norm": batch_norm,
            "learning_rate": learning_rate,
        },
        **{f.name: getattr(budget, f.name) for f in dataclasses.fields(budget)},
    }
    if role == "worker":
        distributed.wait_for_chief(host, port, oracle_timeout)
        _check_worker_run(output, run)
    else:
        if role == "chief":
            distributed.check_bind(host, port)
        _prepare_output(output, run, overwrite)

    gpu = _configure_devices(threads)
    strategy = _make_strategy(strategy)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    global_batch = budget.batch_size * replicas
    mixed_precision = gpu if mixed_precision is None else mixed_precision
    jit_compile = gpu if jit_compile is None else jit_compile
    keras.utils.set_random_seed(seed)
    ds = data.load_dataset(
        dataset,
        data_dir=data_dir,
        validation_split=validation_split,
        limit=budget.limit,
        seed=seed,
    )
    hypermodel = RegularizationHyperModel(
        ds.info.input_shape,
        ds.info.num_classes,
        jit_compile=jit_compile,
        mixed_precision=mixed_precision,
        **hypermodel_kwargs,
    )
    env = (
        distributed.oracle_env(role, host, port, worker_id)
        if role is not None
        else contextlib.nullcontext()
    )
    heartbeat = monitor = None
    worker_rows = []
    with env:
        tuner = make_tuner(
            budget.algorithm,
            hypermodel,
            output,
            budget.max_trials,
            budget.epochs,
            seed=seed,
            **({"distribution_strategy": strategy} if strategy is not None else {}),
        )

        def report_trial(tuner_, trial, ran_by=None):
            rows = _rows(tuner_, hypermodel)
            report.write_trials_csv(os.path.join(output, "trials.csv"), rows)
            if on_trial_end is not None:
                row = next(r for r in rows if r["trial_id"] == trial.trial_id)
                on_trial_end({**row, "tuner_id": ran_by})

        if role == "worker":
            distributed.set_rpc_timeout(oracle_timeout)
            heartbeat = distributed.Heartbeat(output, tid).start()

            def start_trial(tuner_, trial):
                heartbeat.trial_id = trial.trial_id

            def report_worker_trial(tuner_, trial):
                heartbeat.trial_id = None
                extras = report.read_json(
                    os.path.join(tuner_.get_trial_dir(trial.trial_id), report.EXTRAS_FILE)
                )
                row = report.trial_row(trial, _effective(hypermodel, trial), extras)
                worker_rows.append(row)
                if on_trial_end is not None:
                    on_trial_end({**row, "tuner_id": tid})

            tuner.on_trial_start = start_trial
            tuner.on_trial_report = report_worker_trial
        elif role == "chief":
            _report_from_chief(tuner, report_trial)
            monitor = distributed.WorkerMonitor(
                tuner.oracle, output, worker_timeout, on_event=on_worker_lost
            ).start()
        else:
            tuner.on_trial_report = report_trial
        logger.info("tuning %s into %s (%s, role %s)", dataset, output, budget, role or "single")
        try:
            tuner.search(
                data.pipeline(*ds.train, global_batch, training=True, seed=seed),
                validation_data=data.pipeline(*ds.validation, global_batch, training=False),
                epochs=budget.epochs,
                shuffle=False,  # the pipeline shuffles, reseeded every epoch
                callbacks=training_callbacks(budget.patience),
                verbose=verbose,
            )
        finally:
            if heartbeat is not None:
                heartbeat.stop()
            if monitor is not None:
                monitor.stop()
    if role == "worker":
        return TuneResult(
            output,
            worker_rows,
            None,
            None,
            None,
            report.top_table(worker_rows),
            time.monotonic() - started,
            role=role,
            replicas=replicas,
        )
    unfinished = sorted(
        t.trial_id for t in tuner.oracle.trials.values() if t.status in ("RUNNING", "IDLE")
    )
    rows = _rows(tuner, hypermodel)
    report.write_trials_csv(os.path.join(output, "trials.csv"), rows)
    best, test, export_path = _finish(tuner, hypermodel, ds, output, top_k, budget)
    report.write_atomic(
        os.path.join(output, "summary.md"),
        report.summary_markdown({**run, "replicas": replicas}, rows, best, test),
    )
    return TuneResult(
        output,
        rows,
        best,
        test,
        export_path,
        report.top_table(rows),
        time.monotonic() - started,
        role=role,
        replicas=replicas,
        unfinished=unfinished,
        requeued=list(monitor.requeued) if monitor is not None else [],
    )


def _report_from_chief(tuner, report_trial):
    """On the chief, trials end through the oracle (workers call it over gRPC): report there."""
    oracle = tuner.oracle
    end_trial = oracle.end_trial

    def end_trial_and_report(trial):
        ran_by = next(
            (tid for tid, t in oracle.ongoing_trials.items() if t.trial_id == trial.trial_id),
            None,
        )
        end_trial(trial)
        ended = oracle.trials[trial.trial_id]
        if ended.status not in ("RUNNING", "IDLE"):
            try:
                report_trial(tuner, ended, ran_by)
            except Exception:  # noqa: BLE001 - a report must not fail the worker's call
                logger.exception("trials.csv not updated after trial %s", trial.trial_id)

    oracle.end_trial = end_trial_and_report


def _check_worker_run(output, run):
    """A worker runs the chief's search: its options must match the chief's run.json."""
    previous = report.read_json(os.path.join(output, RUN_FILE))
    if previous is None:
        raise ConfigError(
            f"{output} holds no {RUN_FILE}: the chief writes it before it listens; "
            "give the workers the chief's --output (on a shared file system)"
        )
    changed = changed_keys(previous, run, RESUMABLE_CHANGES)
    if changed:
        diffs = ", ".join(f"{k}: chief {previous.get(k)!r}, worker {run.get(k)!r}" for k in changed)
        raise ConfigError(f"this worker's options differ from the chief's run ({diffs})")


def _make_strategy(strategy):
    if strategy != "mirrored":
        return strategy
    import tensorflow as tf

    return tf.distribute.MirroredStrategy()


def _check_budget(budget):
    if budget.algorithm not in ALGORITHMS:
        raise invalid_value("algorithm", budget.algorithm, f"one of {', '.join(ALGORITHMS)}")
    if budget.space not in SPACES:
        raise invalid_value("space", budget.space, f"one of {', '.join(SPACES)}")
    for name in ("max_trials", "epochs", "batch_size", "patience"):
        check_positive_int(getattr(budget, name), name)
    if budget.limit is not None:
        check_positive_int(budget.limit, "limit")


def _prepare_output(output, run, overwrite):
    """Creates `output`, or checks that it holds this same run (resume)."""
    prepare_output(output, RUN_FILE, run, overwrite, RESUMABLE_CHANGES, "run", "configuration")


def _configure_devices(threads=None):
    """Turns on GPU memory growth, sets TensorFlow's threads; returns whether a GPU is present."""
    import tensorflow as tf

    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already running in this process
            logger.warning("threads=%d not applied: TensorFlow is already initialised", threads)

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised by an earlier call
            pass
    return bool(gpus)


def _rows(tuner, hypermodel):
    rows = []
    for trial in tuner.oracle.trials.values():
        if trial.status in ("RUNNING", "IDLE"):
            continue
        extras = report.read_json(
            os.path.join(tuner.get_trial_dir(trial.trial_id), report.EXTRAS_FILE)
        )
        rows.append(report.trial_row(trial, _effective(hypermodel, trial), extras))
    return rows


def _effective(hypermodel, trial):
    """The configuration a trial actually trained: RegConfig name and values in force."""
    hp = trial.hyperparameters.copy()
    reg = hypermodel.reg_config(hp)
    return {"config": reg.name, **reg.to_dict(), "learning_rate": hypermodel.learning_rate(hp)}


def _trial_summary(hypermodel, trial):
    """`trial_id`, RegConfig name and hyperparameters of a trial, as best/ and exports record."""
    return {
        "trial_id": trial.trial_id,
        "config": hypermodel.reg_config(trial.hyperparameters.copy()).name,
        "hyperparameters": trial.hyperparameters.values,
    }


def _export(model, summary, info, base_dir, **extra):
    """Exports `model` as the next version of `<base_dir>/export/<dataset>/`."""
    metadata = {
        **summary,
        "dataset": info.name,
        "class_names": list(info.class_names),
        "kregs_version": __version__,
        **extra,
    }
    return export_for_serving(
        model, os.path.join(base_dir, "export", info.name), info.class_names, metadata
    )


def _finish(tuner, hypermodel, ds, output, top_k, budget):
    """Writes best/, measures the best model on the test set once, exports it."""
    best_trials = tuner.oracle.get_best_trials(top_k)
    if not best_trials:
        raise KregsError(f"no trial completed; the reasons are in {output}/trials.csv")
    best_dir = os.path.join(output, "best")
    tmp_dir = best_dir + ".tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    os.makedirs(tmp_dir)
    best_model = None
    for rank, trial in enumerate(best_trials, start=1):
        model = tuner.load_model(trial)
        stem = os.path.join(tmp_dir, f"rank{rank}-trial{trial.trial_id}")
        model.save(stem + ".keras")
        report.write_json(
            stem + ".json",
            {
                "rank": rank,
                **_trial_summary(hypermodel, trial),
                "val_accuracy": trial.score,
                "class_names": list(ds.info.class_names),
            },
        )
        if rank == 1:
            best_model = model
    shutil.rmtree(best_dir, ignore_errors=True)
    os.replace(tmp_dir, best_dir)

    top = best_trials[0]
    best = _trial_summary(hypermodel, top)
    test_file = os.path.join(output, "test_result.json")
    test = report.read_json(test_file)
    if test is None or test.get("trial_id") != top.trial_id:
        x, y = ds.test
        loss, accuracy = best_model.evaluate(
            data.pipeline(x, y, budget.batch_size, training=False), verbose=0
        )[:2]
        test = {
            "trial_id": top.trial_id,
            "accuracy": float(accuracy),
            "loss": float(loss),
            "images": int(len(y)),
        }
        report.write_json(test_file, test)

    model_dir = os.path.join(output, "export", ds.info.name)
    version, meta = latest_export(model_dir)
    if version is not None and meta.get("trial_id") == top.trial_id:
        export_path = os.path.join(model_dir, str(version))
    else:
        export_path = _export(best_model, best, ds.info, output, test_accuracy=test["accuracy"])
    return best, test, export_path


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
    """
    run_dir = os.path.abspath(run_dir)
    run = report.read_json(os.path.join(run_dir, RUN_FILE))
    if run is None:
        raise ConfigError(f"{run_dir} is not a kregs run (no {RUN_FILE})")
    info = data.dataset_info(run["dataset"])
    hypermodel = RegularizationHyperModel(
        info.input_shape,
        info.num_classes,
        arch=run["arch"],
        space=run["space"],
        discrete=run["algorithm"] == "grid",
        **run["fixed"],
    )
    tuner = make_tuner(
        run["algorithm"], hypermodel, run_dir, run["max_trials"], run["epochs"], seed=run["seed"]
    )
    if trial_id is None:
        trials = tuner.oracle.get_best_trials(1)
        if not trials:
            raise ConfigError(f"{run_dir} has no completed trial to export")
        trial = trials[0]
    else:
        trial = tuner.oracle.trials.get(str(trial_id))
        if trial is None or trial.status != "COMPLETED":
            done = sorted(
                t.trial_id for t in tuner.oracle.trials.values() if t.status == "COMPLETED"
            )
            raise invalid_value(
                "trial", trial_id, f"a completed trial of this run ({', '.join(done)})"
            )
    return _export(tuner.load_model(trial), _trial_summary(hypermodel, trial), info, run_dir)
