"""The refit: the best configuration trained again on every training image, tested once."""

import logging
import math
import os
import time

import numpy as np

from kregs import data
from kregs.run.files import new_folder, read_json, replace_folder, write_json
from kregs.run.progress import ProgressCallback, Tracker
from kregs.run.train import evaluate
from kregs.tuner.best import best_completed

logger = logging.getLogger(__name__)

REFIT_DIR = "refit"
MODEL_FILE = "model.keras"
RECORD_FILE = "model.json"


def refit_epochs(extras):
    """The refit's epochs: the best trial's best epoch, counted from its first epoch.

    A Hyperband trial that continued its parent's training started at epoch
    `initial_epoch`; its history (and best epoch) count from there.
    """
    return int(extras.get("initial_epoch") or 0) + int(extras["best_epoch"])


def refit_scale(search):
    """The refit's images per trial image: how many times longer its epochs are."""
    refit_images = len(search.ds.train[1]) + len(search.ds.validation[1])
    return refit_images / len(search.trial_ds.train[1])


def planned_refit(search, tuner):
    """The refit's epochs if the search ended now (the best trial's), or None."""
    best = best_completed(tuner.oracle, 1)
    extras = tuner.read_extras(best[0].trial_id) if best else None
    return refit_epochs(extras) if extras and extras.get("best_epoch") else None


def refit(search, trial, extras, listener, epochs=None):
    """Trains `trial`'s configuration on training + validation images; tests it once.

    The model trains for `epochs` (None: `refit_epochs(extras)`, the best trial's; a
    time budget may give fewer: `kregs.tuner.clock`) epochs with the learning-rate
    schedule over exactly those epochs, without validation (nothing is held
    out) or early stopping. It is saved as `refit/model.keras` with its record
    (`refit/model.json`); calling again with the same trial and epochs loads
    it instead of training (a resumed run).

    Args:
        search: the run's `kregs.tuner.search.Search`.
        trial: the best KerasTuner `Trial`.
        extras: dict, the trial's kregs_trial.json.
        listener: a `Listener` told the refit's epochs.
        epochs: int or None, the epochs to train.

    Returns:
        `(model, record)`: the refit `keras.Model` and a dict with `trial_id`,
        `epochs`, `planned_epochs` (the best trial's), `images`, `seconds` and `test`
        (`accuracy`, `loss`, `images`).
    """
    import keras

    folder = search.folder.file(REFIT_DIR)
    planned = refit_epochs(extras)
    epochs = planned if epochs is None else epochs
    record = read_json(os.path.join(folder, RECORD_FILE))
    done = record and record.get("planned_epochs", record.get("epochs")) == planned
    if done and record.get("trial_id") == trial.trial_id:
        return keras.models.load_model(os.path.join(folder, MODEL_FILE)), record

    ds = search.ds
    x = data.concat(ds.train[0], ds.validation[0])
    y = np.concatenate([ds.train[1], ds.validation[1]])
    steps = math.ceil(len(y) / search.batch_size)
    hypermodel = search.hypermodel_for(schedule=(epochs, steps))
    hp = trial.hyperparameters.copy()
    hp.values = {k: v for k, v in hp.values.items() if not k.startswith("tuner/")}
    keras.backend.clear_session()
    keras.utils.set_random_seed(search.config.seed)
    model = hypermodel.build(hp)
    start = time.monotonic()
    hypermodel.fit(
        hp,
        model,
        data.pipeline(x, y, search.batch_size, training=True, seed=search.config.seed),
        epochs=epochs,
        shuffle=False,
        callbacks=[
            keras.callbacks.TerminateOnNaN(),
            ProgressCallback(listener, "refit", Tracker(1)),
            *([deadline(keras, search.clock)] if search.clock is not None else []),
        ],
        verbose=1 if search.config.verbose else 0,
    )
    trained = len(model.history.history.get("loss", [])) or epochs
    record = {
        "trial_id": trial.trial_id,
        "epochs": trained,
        "planned_epochs": planned,
        "images": int(len(y)),
        "seconds": round(time.monotonic() - start, 1),
        "test": evaluate(model, *ds.test, search.config.budget.batch_size),
    }
    _save(model, record, folder)
    return model, record


def deadline(keras, clock):
    """A callback that ends the refit when its next epoch would not end before the time
    budget's deadline, with the test and export's time left (`TimeBudget.refit_may_go_on`):
    the refit's epochs are planned with a margin; this holds when the host slows more."""

    class Deadline(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            last = epoch + 1 >= self.params.get("epochs", 0)
            if not last and not clock.refit_may_go_on(time.monotonic() - self.began):
                logger.warning("refit stopped after epoch %d: the time budget ends", epoch + 1)
                self.model.stop_training = True

    return Deadline()


def _save(model, record, folder):
    """refit/ as one whole: written beside it under a unique name, put in place in one step."""
    with new_folder(os.path.dirname(folder), REFIT_DIR) as tmp:
        model.save(os.path.join(tmp, MODEL_FILE))
        write_json(os.path.join(tmp, RECORD_FILE), record)
        replace_folder(tmp, folder, owned=(MODEL_FILE, RECORD_FILE))
