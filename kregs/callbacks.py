"""Callbacks that make overfitting and cost visible in every history, and keep the best epoch."""

import math
import time

import keras
import numpy as np


class GeneralizationGap(keras.callbacks.Callback):
    """Adds the generalization gap and the weight norm to each epoch's logs.

    At the end of every epoch it writes two entries into `logs`, so they appear
    in `History.history`, in KerasTuner's trial metrics, in CSVLogger files and
    in TensorBoard like any metric:

    - `generalization_gap`: `accuracy - val_accuracy` (train minus validation;
      positive means the model fits the training data better than unseen data).
      Only written when both accuracies are in the logs.
    - `weight_norm_sq`: the total squared L2 norm of all trainable weights,
      `sum(w ** 2)`; L2 regularization keeps it small.

    Note that the training accuracy Keras reports is averaged over the epoch
    with dropout active, so the gap can be negative under strong dropout.

    With `reference` (training images mixed by MixUp or CutMix, whose running
    accuracy is on the mixed images), the training accuracy is measured at the
    end of each epoch on `reference()`'s unmixed batches in inference mode,
    written as `unmixed_accuracy`, and the gap is `unmixed_accuracy - val_accuracy`.

    Args:
        metric: str, the name of the accuracy metric. Default "accuracy".
        reference: callable returning `(images, integer labels)` batches, or None.

    Example:
    >>> history = model.fit(x, y, validation_split=0.1, callbacks=[GeneralizationGap()])
    >>> history.history["generalization_gap"]
    """

    def __init__(self, metric="accuracy", reference=None):
        super().__init__()
        self.metric = metric
        self.reference = reference

    def _unmixed_accuracy(self):
        hits = total = 0
        for images, labels in self.reference():
            probabilities = keras.ops.convert_to_numpy(self.model.predict_on_batch(images))
            labels = np.asarray(keras.ops.convert_to_numpy(labels)).reshape(-1)
            hits += int(np.sum(np.argmax(probabilities, axis=-1) == labels))
            total += len(labels)
        return hits / total if total else None

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        train, val = logs.get(self.metric), logs.get(f"val_{self.metric}")
        if self.reference is not None:
            train = logs["unmixed_accuracy"] = self._unmixed_accuracy()
        if train is not None and val is not None:
            logs["generalization_gap"] = float(train) - float(val)
        logs["weight_norm_sq"] = float(
            sum(
                np.sum(np.square(keras.ops.convert_to_numpy(w)))
                for w in self.model.trainable_weights
            )
        )

    def get_config(self):
        return {"metric": self.metric}


class EpochTime(keras.callbacks.Callback):
    """Adds `epoch_seconds`, the wall time of the epoch (validation included), to the logs.

    Example:
    >>> history = model.fit(x, y, epochs=3, callbacks=[EpochTime()])
    >>> history.history["epoch_seconds"]
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = time.perf_counter() - self._start


CANDIDATE = "best_candidate"  # logged by BestEpoch: whether an epoch could be the best


class BestEpoch(keras.callbacks.Callback):
    """Keeps the weights of the best epoch and restores them when training ends.

    The best epoch is the one `kregs.run.metrics.best_epoch` names: the first
    epoch with the lowest *finite* value of `monitor` (a NaN or infinite loss
    never counts; ties keep the earlier epoch). The model left after `fit`
    therefore is the one every kregs table describes. With `patience`, training
    also stops after that many epochs without a lower value, as Keras'
    `EarlyStopping`; unlike `EarlyStopping(restore_best_weights=True)`, a NaN
    first epoch is never taken as the best (Keras keeps epoch 1's weights then).

    With `start_from_epoch`, the epochs before it are neither candidates nor counted
    towards `patience` (as Keras' `EarlyStopping(start_from_epoch=)`): a model whose BN
    statistics have not settled after a few steps is never the one restored. Each
    epoch logs `best_candidate` (1.0 or 0.0), so that a history says which epochs could
    be the best (`kregs.run.metrics.best_epoch`).

    Args:
        monitor: str, the logged value to minimise. Default "val_loss".
        patience: int or None, epochs without improvement before training
            stops; None never stops. Default None.
        start_from_epoch: int >= 0, the first epoch (0-based) that may be the best.
            Default 0.

    Example:
    >>> model.fit(x, y, validation_split=0.1, epochs=20, callbacks=[BestEpoch(patience=3)])
    """

    def __init__(self, monitor="val_loss", patience=None, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = patience
        self.start_from_epoch = int(start_from_epoch)
        self.best = self.best_epoch = self.best_weights = None
        self.wait = 0

    def on_train_begin(self, logs=None):
        self.best = self.best_epoch = self.best_weights = None
        self.wait = 0

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[CANDIDATE] = float(epoch >= self.start_from_epoch)
        if epoch < self.start_from_epoch:
            return
        value = (logs or {}).get(self.monitor)
        value = float(value) if value is not None else math.nan
        if math.isfinite(value) and (self.best is None or value < self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.patience is not None and self.wait >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def get_config(self):
        return {
            "monitor": self.monitor,
            "patience": self.patience,
            "start_from_epoch": self.start_from_epoch,
        }
