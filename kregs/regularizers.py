"""The L2 weight penalty, in the study's convention."""

import keras
from keras import ops

from kregs.checks import check_lambda


@keras.saving.register_keras_serializable(package="kregs")
class L2Penalty(keras.regularizers.Regularizer):
    """L2 weight penalty `lam / 2 * sum(w ** 2)`, whose gradient is `lam * w`.

    This is the convention of the regularization study kregs reproduces (and of
    most textbooks): the loss becomes `L + lam / 2 * ||w||^2`, so plain gradient
    descent with step `eta` shrinks every weight by the factor `1 - eta * lam`.

    Keras' own `keras.regularizers.L2(l2)` adds `l2 * sum(w ** 2)` instead, so
    `L2Penalty(lam)` equals `keras.regularizers.L2(l2=lam / 2)`; a lambda read off
    a paper goes into `L2Penalty` unchanged.

    kregs' blocks attach it to kernels only, never to biases nor to batch
    normalization's gamma and beta, whose scale carries no capacity to overfit.
    The penalty is the same in training and inference (it is only a loss term).

    Args:
        lam: float, the penalty strength lambda; finite and >= 0. Default 0.

    Example:
    >>> reg = L2Penalty(0.1)
    >>> float(reg(keras.ops.ones((2, 3))))  # 0.1 / 2 * 6
    0.3
    >>> layer = keras.layers.Dense(10, kernel_regularizer=L2Penalty(1e-4))

    Reference:
        Krogh & Hertz, "A Simple Weight Decay Can Improve Generalization", NeurIPS 1991.
    """

    def __init__(self, lam=0.0):
        self.lam = check_lambda(lam)

    def __call__(self, x):
        return ops.multiply(0.5 * self.lam, ops.sum(ops.square(x)))

    def get_config(self):
        return {"lam": self.lam}

    def __repr__(self):
        return f"L2Penalty(lam={self.lam!r})"
