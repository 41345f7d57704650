"""The loss and accuracy of models trained on integer labels or on mixed (soft) ones.

A model trained with `RegConfig.mix` sees one-hot labels mixed in proportion
(`kregs.mixing`) during training and integer labels when validated and tested;
label smoothing (`RegConfig.label_smoothing`) applies to both. `CrossEntropy`
and `Accuracy` take either, decided by the labels' rank: integer labels
`(batch,)` against probabilities `(batch, classes)`, or a distribution over the
classes `(batch, classes)`.
"""

import keras

from kregs.checks import check_dropout


def _as_distribution(y_true, y_pred):
    """`y_true` as a distribution over `y_pred`'s classes (one-hot from integer labels)."""
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == y_pred.shape[-1]:
        return keras.ops.cast(y_true, y_pred.dtype)
    labels = keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32")
    return keras.ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)


@keras.saving.register_keras_serializable("kregs")
class CrossEntropy(keras.losses.Loss):
    """Categorical cross-entropy with label smoothing, from integer or soft labels.

    With integer labels and `label_smoothing=0` it equals Keras'
    `sparse_categorical_crossentropy`; with label smoothing `ls`, the targets
    are `(1 - ls) * one_hot + ls / classes` (Keras' `CategoricalCrossentropy`
    with `label_smoothing=ls`), without a one-hot copy of the data set.

    Args:
        label_smoothing: float in [0, 1). Default 0.
        name: str. Default "crossentropy".

    Example:
    >>> model.compile("adam", loss=CrossEntropy(0.1), metrics=[Accuracy()])
    """

    def __init__(self, label_smoothing=0.0, name="crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = check_dropout(label_smoothing, "label_smoothing")

    def call(self, y_true, y_pred):
        target = _as_distribution(y_true, y_pred)
        return keras.losses.categorical_crossentropy(
            target, y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def _accuracy(y_true, y_pred):
    target = _as_distribution(y_true, y_pred)
    hits = keras.ops.argmax(target, axis=-1) == keras.ops.argmax(y_pred, axis=-1)
    return keras.ops.cast(hits, "float32")


@keras.saving.register_keras_serializable("kregs")
class Accuracy(keras.metrics.MeanMetricWrapper):
    """The share of images whose most probable class is the label's (the mixed label's
    larger part for soft labels), from integer or soft labels.

    Args:
        name: str. Default "accuracy" (so histories keep `accuracy` and `val_accuracy`).

    Example:
    >>> model.compile("adam", loss=CrossEntropy(), metrics=[Accuracy()])
    """

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


__all__ = ["Accuracy", "CrossEntropy"]
