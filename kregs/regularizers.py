"""The L2 weight penalty in the study's convention, and L2-SP (towards the starting weights)."""

import base64

import keras
import numpy as np
from keras import ops

from kregs.checks import check_lambda
from kregs.errors import invalid_value


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


@keras.saving.register_keras_serializable(package="kregs")
class L2SP(keras.regularizers.Regularizer):
    """The L2-SP penalty `alpha / 2 * sum((w - w0) ** 2)`: towards the starting weights.

    Fine-tuning a pre-trained model, an L2 penalty pulls every weight towards 0,
    forgetting what pre-training learned; L2-SP pulls it towards its pre-trained
    value `w0` instead (Li, Grandvalet & Davoine). Its gradient is
    `alpha * (w - w0)`. `w0` is kept with the regularizer (its config, as float32
    bytes in base64), so a `.keras` file carries it.

    Args:
        alpha: float >= 0, the penalty's strength (the study's lambda convention,
            as `kregs.L2Penalty`).
        start: array-like, `w0`: the weight's starting value (its shape).

    Example:
    >>> layer = model.get_layer("dense")
    >>> layer.kernel_regularizer = L2SP(0.01, layer.kernel.numpy())  # (regularize does it)

    Reference:
        Li, Grandvalet & Davoine, "Explicit Inductive Bias for Transfer Learning with
        Convolutional Networks", ICML 2018.
    """

    def __init__(self, alpha=0.0, start=None):
        self.alpha = check_lambda(alpha, "alpha")
        if isinstance(start, dict):  # from get_config
            raw = base64.b64decode(start["data"])
            start = np.frombuffer(raw, dtype="float32").reshape(start["shape"])
        if start is None:
            raise invalid_value("start", start, "the weight's starting value (an array)")
        self.start = np.asarray(start, dtype="float32")

    def __call__(self, x):
        start = ops.cast(ops.convert_to_tensor(self.start), x.dtype)
        return ops.multiply(0.5 * self.alpha, ops.sum(ops.square(ops.subtract(x, start))))

    def get_config(self):
        data = base64.b64encode(np.ascontiguousarray(self.start).tobytes()).decode("ascii")
        return {
            "alpha": self.alpha,
            "start": {"shape": list(self.start.shape), "data": data},
        }

    def __repr__(self):
        return f"L2SP(alpha={self.alpha!r}, start=<{self.start.shape}>)"
