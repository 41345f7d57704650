"""`Trainer`: one study run (one configuration, one seed) under the study's protocol."""

import logging
import time

import keras
import numpy as np

from kregs import data
from kregs.callbacks import training_callbacks
from kregs.models import build_model, compile_model

logger = logging.getLogger(__name__)

# Per-epoch series kept in each run's record (for the learning curves).
HISTORY_KEYS = ("accuracy", "val_accuracy", "loss", "val_loss", "epoch_seconds")


class Trainer:
    """Trains and tests one configuration at a time on one data set, with one budget.

    The data set is loaded once per seed (the seed picks the training subset
    and the validation split, the same for every configuration).

    Args:
        dataset: str, the data set's name.
        budget: a `kregs.study.protocol.StudyBudget`.
        arch: str, `"cnn"` or `"mlp"`.
        data_dir: str or None, where the data set's files are.
        validation_split: float.
        deterministic: bool, turn on TensorFlow's op determinism.
        mixed_precision, jit_compile: bool or None (on when a GPU is present).

    Example:
    >>> trainer = Trainer("fashion_mnist", protocol.resolve_budget("smoke"))
    >>> record = trainer.run("l2+bn", RegConfig.from_name("l2+bn", 1e-4, 0.25), seed=0)
    """

    def __init__(
        self,
        dataset,
        budget,
        arch="cnn",
        data_dir=None,
        validation_split=0.1,
        deterministic=True,
        mixed_precision=None,
        jit_compile=None,
    ):
        import tensorflow as tf

        self.dataset = dataset
        self.budget = budget
        self.arch = arch
        self.data_dir = data_dir
        self.validation_split = validation_split
        gpu = bool(tf.config.list_physical_devices("GPU"))
        self.mixed_precision = gpu if mixed_precision is None else bool(mixed_precision)
        self.jit_compile = gpu if jit_compile is None else bool(jit_compile)
        if deterministic:
            tf.config.experimental.enable_op_determinism()
        self._data = None  # (seed, Dataset)
        # Load now, so a missing data set fails before the first run.
        self._load(0)

    def _load(self, seed):
        if self._data is None or self._data[0] != seed:
            ds = data.load_dataset(
                self.dataset,
                data_dir=self.data_dir,
                validation_split=self.validation_split,
                limit=self.budget.limit,
                seed=seed,
            )
            if self.budget.test_limit is not None and self.budget.test_limit < len(ds.test[1]):
                x, y = ds.test
                keep = data.stratified_sample(
                    y, self.budget.test_limit, np.random.default_rng(seed)
                )
                ds = data.Dataset(ds.train, ds.validation, (x[keep], y[keep]), ds.info)
            self._data = (seed, ds)
        return self._data[1]

    def run(self, name, reg, seed):
        """Trains configuration `reg` (named `name`) with `seed`; returns its record.

        Returns:
            dict with `row` (the study.csv row) and `history` (per-epoch series).
        """
        ds = self._load(seed)
        budget = self.budget
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        model = build_model(
            ds.info.input_shape,
            ds.info.num_classes,
            reg=reg,
            arch=self.arch,
            dtype_policy="mixed_float16" if self.mixed_precision else None,
        )
        compile_model(model, budget.learning_rate, self.mixed_precision, self.jit_compile)
        start = time.monotonic()
        history = model.fit(
            data.pipeline(*ds.train, budget.batch_size, training=True, seed=seed),
            validation_data=data.pipeline(*ds.validation, budget.batch_size, training=False),
            epochs=budget.epochs,
            shuffle=False,  # the pipeline shuffles, reseeded every epoch
            callbacks=training_callbacks(budget.patience),
            verbose=0,
        ).history
        train_seconds = time.monotonic() - start
        test_loss, test_accuracy = model.evaluate(
            data.pipeline(*ds.test, budget.batch_size, training=False), verbose=0
        )[:2]
        row = _row(name, reg, seed, history, train_seconds, test_loss, test_accuracy, ds)
        logger.info("%s seed %d: test accuracy %.4f", name, seed, row["test_accuracy"])
        return {
            "row": row,
            "history": {k: [float(v) for v in history.get(k, [])] for k in HISTORY_KEYS},
        }


def _row(name, reg, seed, history, train_seconds, test_loss, test_accuracy, ds):
    """One study.csv row from a finished run."""
    val_acc = history.get("val_accuracy", [])
    val_loss = history.get("val_loss", [])
    # EarlyStopping restored the weights of the epoch with the lowest val_loss:
    # the model tested is that epoch's, and its gap is reported.
    best = int(np.argmin(val_loss)) if val_loss else None
    times = sorted(history.get("epoch_seconds", [])[1:] or history.get("epoch_seconds", []))
    diverged = any(not np.isfinite(v) for v in history.get("loss", []))
    return {
        "config": name,
        "seed": seed,
        "l2": reg.l2,
        "dropout": reg.dropout,
        "batch_norm": reg.batch_norm,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "best_val_accuracy": float(max(val_acc)) if val_acc else None,
        "final_train_accuracy": float(history["accuracy"][-1]) if history.get("accuracy") else None,
        "generalization_gap": (
            float(history["accuracy"][best] - val_acc[best]) if best is not None else None
        ),
        "epochs": len(history.get("loss", [])),
        "best_epoch": best + 1 if best is not None else None,
        "seconds_per_epoch": float(np.median(times)) if times else None,
        "train_seconds": round(train_seconds, 3),
        "train_images": int(len(ds.train[1])),
        "test_images": int(len(ds.test[1])),
        "diverged": diverged,
    }
