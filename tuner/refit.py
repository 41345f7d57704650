"""The refit: the best configuration trained again on every training image, tested once."""

import logging
import math
import os
import time

import numpy as np

from kregs import data
from kregs.compat import learning_rate_schedule
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


def refit(search, trial, extras, listener, epochs=None, start=None):
    """Trains `trial`'s configuration on training + validation images; tests it once.

    The model trains for `epochs` (None: `refit_epochs(extras)`, the best trial's; a
    time budget may give fewer or more: `kregs.tuner.clock`) epochs with the
    learning-rate schedule over exactly those epochs, without validation (nothing
    is held out) or early stopping. Under a time budget the epochs are re-planned
    from the refit's own pace as it trains (`paced`), its decay with them. With
    `start`, it begins from the trial's trained weights (`start_from`), its optimizer
    fresh and its learning rate warmed up again. It is saved as `refit/model.keras`
    with its record (`refit/model.json`); asked again for the same refit (`_finished`),
    it loads it instead of training (a resumed run).

    Args:
        search: the run's `kregs.tuner.search.Search`.
        trial: the best KerasTuner `Trial`.
        extras: dict, the trial's kregs_trial.json.
        listener: a `Listener` told the refit's epochs.
        epochs: int or None, the epochs to train.
        start: the trial's trained `keras.Model`, or None (fresh initial weights).

    Returns:
        `(model, record)`: the refit `keras.Model` and a dict with `trial_id`,
        `epochs`, `planned_epochs` (the best trial's), `start` ("trial" or
        "scratch"), `images`, `seconds` and `test` (`accuracy`, `loss`, `images`).
    """
    import keras

    folder = search.folder.file(REFIT_DIR)
    planned = refit_epochs(extras)
    epochs = planned if epochs is None else epochs
    record = read_json(os.path.join(folder, RECORD_FILE))
    wanted = _identity(search, trial, planned, start, extras)
    if _finished(record, wanted, epochs):
        return keras.models.load_model(os.path.join(folder, MODEL_FILE)), record

    ds = search.ds
    x, y = (
        data.concat(ds.train[0], ds.validation[0]),
        np.concatenate([ds.train[1], ds.validation[1]]),
    )
    steps = math.ceil(len(y) / search.batch_size)
    hypermodel = search.hypermodel_for(schedule=(epochs, steps))
    hp = trial.hyperparameters.copy()
    hp.values = {k: v for k, v in hp.values.items() if not k.startswith("tuner/")}
    weights = start.get_weights() if start is not None else None
    keras.backend.clear_session()
    keras.utils.set_random_seed(search.config.seed)
    model = hypermodel.build(hp)
    # From the trial's weights too the learning rate warms up to the trial's whole peak:
    # half of it tested lower on every seed of an A/B (bench/results/accuracy.json).
    started_from = start_from(model, weights)
    clock = search.clock if search.clock is not None and search.clock.seconds else None
    most = max(epochs, clock.most_refit_epochs(planned)) if clock is not None else epochs
    plan = RefitPlan(epochs, most, steps, learning_rate_schedule(model.optimizer))
    began = time.monotonic()
    hypermodel.fit(
        hp,
        model,
        data.pipeline(x, y, search.batch_size, training=True, seed=search.config.seed),
        epochs=most,
        shuffle=False,
        callbacks=_callbacks(keras, search, plan, clock, listener),
        verbose=1 if search.config.verbose else 0,
    )
    trained = len(model.history.history.get("loss", [])) or epochs
    record = {
        **wanted,
        "epochs": trained,
        "first_plan": epochs,
        "start": started_from,
        "images": int(len(y)),
        "seconds": round(time.monotonic() - began, 1),
        "test": evaluate(model, *ds.test, search.config.budget.batch_size),
    }
    _save(model, record, folder)
    return model, record


def _callbacks(keras, search, plan, clock, listener):
    """The refit's callbacks: NaN stops it; with a deadline (`clock`) it is paced; the run's
    time is written after every epoch; its epochs are reported to `listener`."""
    return [
        keras.callbacks.TerminateOnNaN(),
        *([paced(keras, clock, plan)] if clock is not None else []),
        *([saving(keras, search.clock)] if search.clock is not None else []),
        ProgressCallback(listener, "refit", Tracker(1), planned=lambda: plan.epochs),
    ]


def _identity(search, trial, planned, start, extras):
    """What makes a refit the one asked for: its trial, that trial's planned epochs and
    weights (`extras["weights"]`), where it starts, and the time budget it was planned in."""
    return {
        "trial_id": trial.trial_id,
        "planned_epochs": planned,
        "start": "trial" if start is not None else "scratch",
        "trial_weights": extras.get("weights"),
        "time_budget": search.config.budget.time_budget,
    }


def _finished(record, wanted, epochs):
    """Whether refit/'s `record` is the refit asked for (`wanted`): its trial and that
    trial's weights (not a trial trained again since), its plan and start; and, where the
    time budget changed (the same command with a longer one), whether it already trained
    the `epochs` the new budget plans."""
    if not record:
        return False
    same = all(
        record.get(key, _EARLIER.get(key)) == value
        for key, value in wanted.items()
        if key != "time_budget"
    )
    if not same:
        return False
    return record.get("time_budget") == wanted["time_budget"] or record["epochs"] >= epochs


# What a refit record written by an earlier kregs held where it lacks a key.
_EARLIER = {"start": "scratch", "trial_weights": None, "planned_epochs": None}


def start_from(model, weights):
    """Sets `model`'s weights to the trial's `weights` (its `get_weights()`), if given.

    Returns:
        "trial" where the model now holds the trial's weights; "scratch" where
        `weights` is None or does not fit the model (logged: it then trains from
        its initial weights).
    """
    if weights is None:
        return "scratch"
    try:
        model.set_weights(weights)
    except ValueError as err:
        logger.warning("refit starts from scratch: the trial's weights do not fit (%s)", err)
        return "scratch"
    return "trial"


class RefitPlan:
    """The refit's epochs as it trains: planned before it starts, re-planned from its pace.

    Args:
        epochs: int, the epochs planned before training.
        most: int >= `epochs`, the epochs it may grow to (`fit`'s `epochs`).
        steps: int, the steps of one epoch.
        schedule: the model's `WarmupCosine` (its decay follows the plan), or None.
    """

    def __init__(self, epochs, most, steps, schedule=None):
        self.epochs = epochs
        self.most = most
        self.steps = steps
        self.schedule = schedule if hasattr(schedule, "replan") else None

    def replan(self, done, epochs, model):
        """Trains `epochs` epochs in all, `done` of them trained: the learning rate's decay
        is stretched or compressed from where it is to end with them."""
        import keras

        if self.schedule is not None:
            self.schedule.replan(done * self.steps, epochs * self.steps)
            if keras.config.backend() == "jax":  # its traced step holds the old plan
                model.make_train_function(force=True)
        self.epochs = epochs


def paced(keras, clock, plan):
    """A callback that paces the refit to the time budget's deadline, epoch by epoch.

    After every epoch it re-plans the epochs at the refit's own pace
    (`TimeBudget.refit_replan`): more where the estimate from the trials was cautious,
    fewer where the host has slowed, the learning rate's decay re-planned with them
    (`RefitPlan.replan`), so the refit ends at rest rather than cut in the middle of
    its decay. The first epoch also traces the step: its pace may add epochs, never
    take them away; it only stops the refit if another epoch of its length would not
    end before the deadline with the test and export's time left
    (`TimeBudget.refit_may_go_on`).

    Args:
        keras: the keras module.
        clock: the run's `kregs.tuner.clock.TimeBudget`.
        plan: the refit's `RefitPlan` (`fit` runs `plan.most` epochs at most).
    """

    class Paced(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.began = clock.elapsed()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(clock.elapsed() - self.began)
            done = epoch + 1
            if done >= plan.epochs:
                self.model.stop_training = True
                return
            epochs = clock.refit_replan(done, self.seconds, plan.epochs, plan.most)
            if epoch == 0 and epochs < plan.epochs:  # its tracing: a pace to add by only
                epochs = plan.epochs if clock.refit_may_go_on(self.seconds[0]) else done
            if epochs <= done:
                logger.warning("refit stopped after epoch %d: the time budget ends", done)
                self.model.stop_training = True
                plan.epochs = done
            elif epochs != plan.epochs:
                logger.info("refit re-planned after epoch %d: %d epochs", done, epochs)
                plan.replan(done, epochs, self.model)

    return Paced()


def saving(keras, clock):
    """A callback that writes the run's time to time.json after every refit epoch: a refit
    interrupted after some epochs has its time counted (`TimeBudget.save`)."""

    class Saving(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            clock.save()

    return Saving()


def _save(model, record, folder):
    """refit/ as one whole: written beside it under a unique name, put in place in one step."""
    with new_folder(os.path.dirname(folder), REFIT_DIR) as tmp:
        model.save(os.path.join(tmp, MODEL_FILE))
        write_json(os.path.join(tmp, RECORD_FILE), record)
        replace_folder(tmp, folder, owned=(MODEL_FILE, RECORD_FILE))
