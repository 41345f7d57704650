"""Callbacks that make overfitting and cost visible in every history."""

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

    Args:
        metric: str, the name of the accuracy metric. Default "accuracy".

    Example:
    >>> history = model.fit(x, y, validation_split=0.1, callbacks=[GeneralizationGap()])
    >>> history.history["generalization_gap"]
    """

    def __init__(self, metric="accuracy"):
        super().__init__()
        self.metric = metric

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        train, val = logs.get(self.metric), logs.get(f"val_{self.metric}")
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
