"""`Search`: the steps every mode of `kregs tune` shares.

The device set-up (`kregs.run.device`), the data and the HyperModel, KerasTuner's
tuner (`kregs.tuner.tuners`) and how its trials train, the rows of trials.csv,
and at the end best/, the test measurement and the export (`kregs.tuner.best`).
The modes that compose them (one process, chief, worker) are in
`kregs.tuner.driver`.
"""

import dataclasses
import functools
import logging
import math
import time

from kregs import data
from kregs.deploy.formats import export_files
from kregs.errors import RunFailedError, invalid_value
from kregs.run import device as device_setup
from kregs.run.files import weights_hash, write_atomic
from kregs.run.folder import RunFolder, default_output
from kregs.run.progress import Tracker
from kregs.run.train import check_splits, fit_arguments
from kregs.tuner import best as best_models
from kregs.tuner import clock, epochs, explain, folds
from kregs.tuner.config import RESUMABLE, RUN_FILE
from kregs.tuner.folds import CrossValidation, FoldData, fold_count, is_fold_trial
from kregs.tuner.hypermodel import RegularizationHyperModel
from kregs.tuner.pruning import make_pruner, slow_start
from kregs.tuner.refit import planned_refit, refit, refit_epochs, refit_scale
from kregs.tuner.space import SearchSpace
from kregs.tuner.stopping import why_stop
from kregs.tuner.summary_md import held_only_the_control, summary_markdown, top_table
from kregs.tuner.trials_csv import effective_values, trial_order, trial_row, write_trials_csv
from kregs.tuner.tuners import make_tuner
from kregs.tuner.verdicts import comparisons, search_rows
from kregs.verdicts import unpack

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
        refit: dict or None, the refit's record (`epochs`, `images`, `seconds`,
            `test`): then the exported model is the refit one.
        deployed: `kregs.deploy.DeployResult` or None: the other formats written
            (`--export-format`), their checks and refusals.
        only_the_control: bool, the time budget held the control alone
            (`kregs.tuner.summary_md.held_only_the_control`).
        verdicts: dict, the run's comparisons with their intervals
            (`kregs.tuner.verdicts.comparisons`; run.json's `verdicts`).
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
    refit: dict | None = None
    deployed: object = None
    only_the_control: bool = False
    verdicts: dict = dataclasses.field(default_factory=dict)


# What a tune run writes (all that --overwrite deletes; see kregs.run.folder.owned):
# kregs' files, and those KerasTuner and TensorBoard write for it.
OWNED = (
    "trials.csv",
    "summary.md",
    "test_result.json",
    "best/rank*-trial*.keras",
    "best/rank*-trial*.json",
    *export_files("export/*/[0-9]*"),
    "keras_tuner/*.json",
    "keras_tuner/trial_*/*.json",
    "keras_tuner/trial_*/checkpoint*",
    "tensorboard/**/events.out.tfevents.*",
    "workers/worker-*.json",
    "workers/worker-*.lock",
    "refit/model.keras",
    "refit/model.json",
    clock.TIME_FILE,
    *(f"plots/{name}" for name in explain.PLOTS),
)


def run_folder(config):
    """The `RunFolder` of a tune run (run.json; `max_trials` may grow on resume)."""
    output = config.output or default_output(config.dataset.name)
    return RunFolder(
        output,
        RUN_FILE,
        "run",
        "configuration",
        RESUMABLE,
        owned=OWNED,
        shared=("workers",),
        work=("trials.csv",),
    )


def make_hypermodel(config, info, device=None, steps_per_epoch=None, precision=None):
    """The `RegularizationHyperModel` of a run, for its data set and device.

    With `steps_per_epoch`, every trial's learning rate follows the warm-up
    and cosine schedule over the run's epoch budget. `precision` (a run's recorded
    one) wins over the device's: a finished run's trials rebuilt as they trained.
    """
    budget = config.budget
    residual = config.model is not None and config.model.has_residuals(
        info.input_shape, info.num_classes
    )
    if config.fixed.get("stochastic_depth") and not residual:
        raise invalid_value(
            "stochastic_depth",
            config.fixed.get("stochastic_depth"),
            "a model with residual connections (an Add of a block's input and its output): "
            f"{config.model.location if config.model else 'the built-in ' + config.arch} has none",
        )
    space = SearchSpace(
        budget.space,
        config.fixed,
        flips=config.dataset.flips,
        discrete=budget.algorithm == "grid",
        finetune=config.model is not None and config.model.finetune,
        residual=residual,
    )
    return RegularizationHyperModel(
        info.input_shape,
        info.num_classes,
        arch=config.arch,
        space=space,
        model=config.model,
        jit_compile=device.jit_compile if device else False,
        precision=precision or (device.precision if device else "float32"),
        schedule=(budget.epochs, steps_per_epoch) if steps_per_epoch else None,
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
        self.clock = None  # the run's `TimeBudget` (`make_tuner`; a worker has none)
        self.device = device_setup.configure(config.device)
        self.strategy = device_setup.make_strategy(config.strategy)
        self.replicas = self.strategy.num_replicas_in_sync if self.strategy else 1
        keras.utils.set_random_seed(config.seed)
        self.max_memory = config.max_memory or data.default_max_memory()
        self.ds = config.load_data(self.max_memory)
        check_splits(self.ds, config.validation_split)
        # Trials may train on a subset (the low fidelity); the refit trains on everything.
        self.trial_ds = trial_subset(self.ds, config.budget.trial_images, config.seed)
        if self.trial_ds is not self.ds:
            check_splits(self.ds, config.validation_split, self.trial_ds.train, "--trial-images")
        self.batch_size = config.budget.batch_size * self.replicas
        steps = math.ceil(len(self.trial_ds.train[1]) / self.batch_size)
        self.hypermodel = make_hypermodel(config, self.ds.info, self.device, steps)
        self._notes = None
        self.k = fold_count(config.budget.folds, len(self.ds.validation[1]))
        self.fold_data = (
            FoldData(self.ds, self.k, config.seed, config.budget.trial_images) if self.k else None
        )

    def hypermodel_for(self, schedule):
        """The run's HyperModel with another learning-rate schedule `(epochs, steps)`."""
        return self.hypermodel.with_schedule(schedule)

    def notes(self):
        """What the run adapts to the data (one line each; your model's classifier...)."""
        if self._notes is None:
            model = self.hypermodel.model
            self._notes = (
                model.preview(self.ds.info.input_shape, self.ds.info.num_classes)
                if model is not None
                else []
            )
        return self._notes

    def record(self):
        """What run.json holds: the configuration's record, the precision used here, the
        memory budget and what the data turned out to be (`DatasetInfo`, its split counts)."""
        return {
            **self.config.record(),
            "precision": self.device.precision,
            "max_memory": self.max_memory,
            "data_info": {**self.ds.info.to_dict(), "counts": self.ds.counts()},
            "notes": self.notes(),
        }

    def first_configurations(self):
        """The configurations the search tries first: its control (with `baseline`), then
        the well-tried recipe (`SearchSpace.recipe_values`)."""
        control = [self.hypermodel.baseline_values()] if self.config.budget.baseline else []
        return [*control, self.hypermodel.recipe_values()]

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
            first=self.first_configurations(),
            **extra,
        )
        worker = self.config.cluster is not None and self.config.cluster.role == "worker"
        ended = 0 if worker else len(self.rows(tuner))  # a worker's oracle is the chief's
        tuner.progress = (listener, Tracker(budget.max_trials, ended))
        if not worker:  # the oracle decides: the single process's, or the chief's
            tuner.oracle.pruner = make_pruner(budget.pruning)
            # The run's time, kept in time.json; a deadline with --time-budget.
            record = self.folder.file(clock.TIME_FILE)
            spent, started, session = clock.session_clock(record)
            self.clock = clock.TimeBudget(
                budget.time_budget,
                budget.epochs,
                refit_scale=refit_scale(self) if budget.refit else None,
                spent=spent,
                started=started,
                record=(record, session),
            )
            tuner.oracle.clock = self.clock
            if budget.time_budget is not None:  # the progress lines' "all ... left"
                tuner.progress[1].deadline = self.clock.left
            tuner.oracle.refit_plan = functools.partial(planned_refit, self, tuner)
            tuner.oracle.cross_validation = CrossValidation(
                self.folder.path, self.k, self.name_of, budget.baseline
            )
            if budget.stop == "auto":
                tuner.oracle.stop_rule = self.stop_reason
            tuner.oracle.slow_start = self.slow_start  # (the pruner judges those later)
            tuner.oracle.trial_epochs = budget.epochs
        tuner.folds = self.fold_trial  # (every process trains folds: workers too)
        return tuner

    def name_of(self, trial):
        """The name of a KerasTuner trial's configuration (e.g. "l2+dropout+bn")."""
        return self.hypermodel.reg_config(trial.hyperparameters.copy()).name

    def slow_start(self, trial):
        """Whether a trial's configuration learns slowly at first (`kregs.tuner.pruning`)."""
        return slow_start(self.hypermodel.reg_config(trial.hyperparameters.copy()))

    def stop_reason(self, oracle):
        """Why the search stops now (`kregs.tuner.stopping`), or None."""
        ended = [
            oracle.trials[t]
            for t in oracle.end_order
            if t in oracle.trials and not is_fold_trial(oracle.trials[t])
        ]
        scores = [(t.trial_id, t.score if t.status == "COMPLETED" else None) for t in ended]
        return why_stop(scores, len(self.ds.validation[1]), oracle.first_trials)

    def fold_trial(self, fold, kwargs):
        """`(hypermodel, x, kwargs)` of a fold trial: fold `fold`'s training images in place
        of the search's, its held-out images as the validation split, and a learning-rate
        schedule over its own steps."""
        from kregs import data

        train, held = self.fold_data.split(fold)
        steps = math.ceil(len(train[1]) / self.batch_size)
        hypermodel = self.hypermodel_for((self.config.budget.epochs, steps))
        seed = self.config.seed + fold + 1
        x = data.pipeline(*train, self.batch_size, training=True, seed=seed)
        validation = data.pipeline(*held, self.batch_size, training=False)
        return hypermodel, x, {**kwargs, "validation_data": validation}

    def search(self, tuner):
        """Runs KerasTuner's search loop with kregs' training set-up.

        Every trial also writes TensorBoard logs to `tensorboard/<trial>/`
        (KerasTuner adds its HParams record there) where TensorFlow is
        installed (Keras writes them with it), whatever the backend.
        """
        import keras

        config = self.config
        logger.info("tuning %s into %s", config.dataset.name, self.folder.path)
        boards = []
        if device_setup.tensorflow_available():
            boards.append(
                keras.callbacks.TensorBoard(
                    self.folder.file(TENSORBOARD_DIR), write_graph=False, profile_batch=0
                )
            )
        else:
            logger.info("no TensorBoard logs: Keras writes them with TensorFlow, not installed")
        kwargs = fit_arguments(
            self.trial_ds,
            config.budget,
            config.seed,
            callbacks=boards,
            verbose=1 if config.verbose else 0,
            batch_size=self.batch_size,
        )
        try:
            tuner.search(kwargs.pop("x"), **kwargs)
            if self.clock is not None:  # the run's time, across processes and sessions
                self.clock.search_stopped()
        except RuntimeError as err:
            # KerasTuner stops a search after max_consecutive_failed_trials failures in a row.
            if not str(err).startswith("Number of consecutive failures exceeded"):
                raise
            raise self.failed(tuner, "the search stopped after too many failed trials") from None

    def failed(self, tuner, what):
        """`RunFailedError` for a search without a completed trial: the first reason, named."""
        rows = sorted(self.rows(tuner), key=trial_order)
        write_trials_csv(self.folder.file("trials.csv"), rows)
        first = next((r for r in rows if r["status"] != "COMPLETED"), None)
        reason = f"; the first, trial {first['trial_id']}: {first['error']}" if first else ""
        return RunFailedError(
            f"{what}{reason} (every reason is in {self.folder.file('trials.csv')})"
        )

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

    def finish(self, tuner, started, listener, **result):
        """trials.csv, best/, the test measurement, the export and summary.md.

        Raises:
            RunFailedError: no trial completed (nothing is exported).
        """
        rows = self.rows(tuner)
        write_trials_csv(self.folder.file("trials.csv"), rows)
        if not any(r["status"] == "COMPLETED" for r in rows):
            raise self.failed(tuner, f"every trial failed ({len(rows)})")
        budget = self.config.budget

        def refit_best(trial, trained):
            extras = tuner.read_extras(trial.trial_id)
            start = trained if budget.refit_from == "trial" else None
            extras = {**extras, "weights": weights_hash(trained)}
            planned = refit_epochs(extras)
            if self.clock is not None:  # what the time left allows (a time budget)
                epochs_left = self.clock.refit_epochs(
                    epochs.seconds_by_trial(tuner.oracle),
                    planned,
                    epochs.seconds_by_trial(tuner.oracle, epochs.TRAINING),
                    trial_id=trial.trial_id,
                )
                return refit(self, trial, extras, listener, epochs=epochs_left, start=start)
            return refit(self, trial, extras, listener, start=start)

        best, test, export_path, refitted, deployed = best_models.finish(
            tuner,
            self.hypermodel,
            self.ds,
            self.folder.path,
            self.config.keep_best,
            budget.batch_size,
            refit=refit_best if budget.refit else None,
            deployment=self.config.deployment,
        )
        timing = self.clock.report(rows, refitted, budget.pruning)
        found = self.report(tuner, rows, (best, test, refitted, deployed, timing))
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
            refit=refitted,
            deployed=deployed,
            only_the_control=held_only_the_control(timing, rows),
            verdicts=found,
            **result,
        )

    def report(self, tuner, rows, outcome):
        """The run's comparisons (run.json's `verdicts`), its plots and summary.md.

        Args:
            tuner: the search's tuner.
            rows: trials.csv's rows.
            outcome: `(best, test, refit, deployed, timing)` of `finish`.

        Returns:
            dict, the comparisons (`kregs.tuner.verdicts.comparisons`).
        """
        best, test, refitted, deployed, timing = outcome
        outcomes = {}
        for row in rows:
            extras = tuner.read_extras(row["trial_id"]) or {}
            if extras.get("val_correct"):
                outcomes[row["trial_id"]] = unpack(extras["val_correct"], extras["val_images"])
        images = len(self.ds.train[1]) + len(self.ds.validation[1])
        cross = folds.result(tuner.oracle, self.folder.path, self.name_of)
        found = comparisons(rows, outcomes, test, refitted, cross, images=images)
        if cross:
            found["folds"] = {k: v for k, v in cross.items() if k != "regularization"}
        record = self.record()
        self.folder.write_record({**record, "verdicts": found})
        searched = search_rows(rows)
        ranking = explain.importance(searched, seed=self.config.seed)
        chosen = best["trial_id"] if best else None
        explain.write_plots(self.folder.path, searched, ranking, chosen)
        summary = summary_markdown(
            record,
            rows,
            best,
            test,
            self.replicas,
            self.device,
            refitted,
            ranking,
            deployed,
            timing,
            found,
        )
        write_atomic(self.folder.file("summary.md"), summary)
        return found


def trial_subset(ds, images, seed):
    """`ds` with its training split cut to `images` images (stratified, seeded); None: `ds`."""
    import numpy as np

    x, y = ds.train
    if images is None or images >= len(y):
        return ds
    keep = data.stratified_sample(y, images, np.random.default_rng(seed + 1))
    return data.Splits((data.take(x, keep), y[keep]), ds.validation, ds.test, ds.info)
