"""Where a long run is: per-epoch progress of each trial or study run, and the time left."""

import dataclasses
import statistics
import time

import keras

from kregs.run.interrupt import check_interrupt


@dataclasses.dataclass(frozen=True)
class EpochProgress:
    """One epoch of one unit of work (a tuning trial, a study run) has ended.

    Attributes:
        unit: str, what trains, e.g. "trial 3" or "l2+bn seed 1".
        epoch: int, epochs done (1-based; a continued Hyperband trial counts on).
        epochs: int, the epoch it stops at at most.
        val_accuracy: float or None, this epoch's validation accuracy.
        seconds_per_epoch: float, this unit's mean epoch time so far.
        unit_left: float, seconds until the unit's last epoch at most (early
            stopping may end it sooner).
        total_left: float, estimated seconds until the whole search or study ends.
        done: int, units finished so far; total: int, units planned (at most).
    """

    unit: str
    epoch: int
    epochs: int
    val_accuracy: float | None
    seconds_per_epoch: float
    unit_left: float
    total_left: float
    done: int
    total: int


class Tracker:
    """Counts the units of a search or study and times them, to estimate the time left.

    Args:
        total: int, units planned (at most; a search may stop sooner).
        done: int, units already finished (e.g. before a resume).
        deadline: callable returning the seconds left before a time budget ends, or
            None: the time left is at most that.

    Example:
    >>> tracker = Tracker(total=10)
    >>> tracker.unit_done(60.0)
    >>> tracker.left(unit_left=30.0, unit_estimate=60.0)  # 30 s + 8 more units of 60 s
    510.0
    """

    def __init__(self, total, done=0, deadline=None):
        self.total = total
        self.done = done
        self.deadline = deadline
        self._seconds = []

    def unit_done(self, seconds):
        self.done += 1
        self._seconds.append(seconds)

    def left(self, unit_left, unit_estimate):
        """The current unit's time left plus the others', from finished units when there are."""
        per_unit = statistics.mean(self._seconds) if self._seconds else unit_estimate
        left = unit_left + max(self.total - self.done - 1, 0) * per_unit
        return left if self.deadline is None else max(0.0, min(left, self.deadline()))


class ProgressCallback(keras.callbacks.Callback):
    """Tells a `kregs.run.events.Listener` where a unit's training is, epoch by epoch.

    Calls `listener.unit_started(unit, epochs)` when training begins and
    `listener.epoch_ended(EpochProgress)` after each epoch. When training ends
    the unit counts as done in `tracker`.

    Args:
        listener: a `Listener`.
        unit: str, what trains ("trial 3").
        tracker: a `Tracker`.
        planned: callable() -> int, or None: the epochs the unit plans to train, where
            they may change as it trains (a refit paced by a time budget); None: the
            `epochs` given to `fit`.
    """

    def __init__(self, listener, unit, tracker, planned=None):
        super().__init__()
        self.listener = listener
        self.unit = unit
        self.tracker = tracker
        self.planned = planned

    def _epochs(self):
        return self.planned() if self.planned is not None else self.params["epochs"]

    def __deepcopy__(self, memo):
        # KerasTuner deep-copies a trial's callbacks; this one must keep reporting to the
        # same listener and tracker (its own state is reset in on_train_begin).
        return self

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()
        self._times = []
        self.listener.unit_started(self.unit, self._epochs())

    def on_epoch_begin(self, epoch, logs=None):
        check_interrupt()
        self._epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        check_interrupt()
        self._times.append(time.monotonic() - self._epoch_start)
        epochs = self._epochs()
        per_epoch = statistics.mean(self._times)
        unit_left = (epochs - epoch - 1) * per_epoch
        estimate = epochs * per_epoch  # a whole unit at this pace, until one has finished
        val = (logs or {}).get("val_accuracy")
        self.listener.epoch_ended(
            EpochProgress(
                unit=self.unit,
                epoch=epoch + 1,
                epochs=epochs,
                val_accuracy=None if val is None else float(val),
                seconds_per_epoch=per_epoch,
                unit_left=unit_left,
                total_left=self.tracker.left(unit_left, estimate),
                done=self.tracker.done,
                total=self.tracker.total,
            )
        )

    def on_train_end(self, logs=None):
        self.tracker.unit_done(time.monotonic() - self._start)
