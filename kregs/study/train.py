"""`Trainer`: one study run (one configuration, one seed) under the study's protocol."""

import logging
import time

import numpy as np

from kregs import data
from kregs.models import build_model
from kregs.run import metrics
from kregs.run.events import Listener
from kregs.run.progress import ProgressCallback, Tracker
from kregs.run.train import check_splits, compile_model, evaluate, fit_arguments, fit_for

logger = logging.getLogger(__name__)


class Trainer:
    """Trains and tests one configuration at a time, as a `StudyConfig` says.

    The data set is loaded once per seed (the seed picks the training subset
    and the validation split, the same for every configuration).

    Args:
        config: a `kregs.study.config.StudyConfig`.
        device: a `kregs.run.device.Device` (from `kregs.run.device.configure`).
        listener: a `kregs.run.events.Listener` told each run's epochs, or None.
        tracker: a `kregs.run.progress.Tracker` of the runs to train, or None.

    Example:
    >>> trainer = Trainer(StudyConfig.create(preset="smoke"), configure())
    >>> record = trainer.run("l2+bn", RegConfig.from_name("l2+bn", 1e-4, 0.25), seed=0)
    """

    def __init__(self, config, device, listener=None, tracker=None):
        self.config = config
        self.device = device
        self.listener = listener or Listener()
        self.tracker = tracker or Tracker(1)
        self._data = None  # (seed, Dataset)
        # Load now, so a missing data set fails before the first run.
        self.dataset(config.seed)

    def dataset(self, seed):
        """The data set of `seed`: training subset, validation split, (limited) test set."""
        if self._data is None or self._data[0] != seed:
            config = self.config
            ds = config.dataset.load(
                validation_split=config.validation_split,
                limit=config.budget.limit,
                seed=seed,
                max_memory=config.max_memory or data.default_max_memory(),
            )
            test_limit = config.budget.test_limit
            if test_limit is not None and test_limit < len(ds.test[1]):
                x, y = ds.test
                keep = data.stratified_sample(y, test_limit, np.random.default_rng(seed))
                ds = data.Splits(ds.train, ds.validation, (data.take(x, keep), y[keep]), ds.info)
            check_splits(ds, config.validation_split)
            self._data = (seed, ds)
        return self._data[1]

    def run(self, name, reg, seed):
        """Trains configuration `reg` (named `name`) with `seed`; returns its record.

        Returns:
            dict with `row` (the study.csv row), `history` (per-epoch series) and
            `test_correct` (which test images it classifies right: `kregs.verdicts.pack`).
        """
        import keras

        ds = self.dataset(seed)
        budget = self.config.budget
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        if self.config.model is not None:
            model = self.config.model.build(
                ds.info.input_shape, ds.info.num_classes, reg, self.device.dtype_policy
            )
        else:
            model = build_model(
                ds.info.input_shape,
                ds.info.num_classes,
                reg=reg,
                arch=self.config.arch,
                dtype_policy=self.device.dtype_policy,
            )
        compile_model(
            model,
            budget.learning_rate,
            self.device.loss_scale,
            self.device.jit_compile,
            reg=reg,
        )
        start, cpu = time.monotonic(), time.process_time()
        progress = ProgressCallback(self.listener, f"{name} seed {seed}", self.tracker)
        kwargs = fit_arguments(ds, budget, seed, callbacks=[progress])
        kwargs = fit_for(reg, kwargs, ds.info.num_classes, seed)
        history = model.fit(kwargs.pop("x"), **kwargs).history
        train_seconds = time.monotonic() - start
        cpu_seconds = time.process_time() - cpu
        test = evaluate(model, *ds.test, budget.batch_size)
        row = study_row(name, reg, seed, history, train_seconds, test, ds)
        row["train_cpu_seconds"] = round(cpu_seconds, 3)
        logger.info("%s seed %d: test accuracy %.4f", name, seed, row["test_accuracy"])
        return {"row": row, "history": metrics.curves(history), "test_correct": test["correct"]}


def seconds_to_best(history):
    """Training seconds until the end of the best epoch (the sum of the epoch times), or None.

    Example:
    >>> seconds_to_best({"val_loss": [0.5, 0.4, 0.45], "epoch_seconds": [3.0, 2.0, 2.0]})
    5.0
    """
    best = metrics.best_epoch(history)
    times = history.get("epoch_seconds", [])
    if best is None or len(times) <= best:
        return None
    return round(float(sum(times[: best + 1])), 3)


def study_row(name, reg, seed, history, train_seconds, test, ds):
    """One study.csv row from a finished run (numbers at the best epoch: `kregs.run.metrics`)."""
    numbers = metrics.history_row(history)
    return {
        "config": name,
        "seed": seed,
        **reg.to_dict(),
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        **{
            k: numbers[k]
            for k in (
                "best_val_accuracy",
                "final_train_accuracy",
                "generalization_gap",
                "epochs",
                "best_epoch",
                "seconds_per_epoch",
            )
        },
        "train_seconds": round(train_seconds, 3),
        "seconds_to_best": seconds_to_best(history),
        "train_images": int(len(ds.train[1])),
        "test_images": test["images"],
        "diverged": numbers["diverged_epoch"] is not None,
        "failed": metrics.at_chance(
            test["accuracy"], numbers["final_train_accuracy"], ds.info.num_classes
        ),
    }
