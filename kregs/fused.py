"""Keras' batch normalization and dropout, computed with fewer passes over the activations.

Same layers, same variables, same results (up to rounding), faster training:

- `FusedBatchNormalization`: on the TensorFlow backend, a 4D channels-last
  input (a conv block's) goes through TensorFlow's fused kernel
  (`tf.compat.v1.nn.fused_batch_norm`, oneDNN on a CPU), which reads a
  bfloat16 or float16 input as it is and keeps the statistics in float32.
  Keras' layer casts the activations to float32, computes the moments, then
  normalizes: several passes, each slower in mixed precision.
- `BernoulliDropout`: Keras' element-wise dropout with its random numbers
  drawn in float32 whatever the compute dtype (bfloat16 uniforms are slower
  to draw on a CPU).

How much each saves: BENCHMARKS.md, "Figures behind the defaults".

Everything else (other backends, masks, other axes, renormalization,
`noise_shape`) is the parent layer's own code.
"""

import keras
from keras import ops

__all__ = ["BernoulliDropout", "FusedBatchNormalization"]


@keras.saving.register_keras_serializable(package="kregs")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with TensorFlow's fused kernel for conv activations.

    The moving statistics follow Keras' rule: `moving = moving * momentum +
    batch * (1 - momentum)` with the batch's biased variance (the fused
    kernel's Bessel-corrected one is scaled back by (n - 1) / n).

    Args:
        **kwargs: `keras.layers.BatchNormalization`'s.

    Example:
    >>> bn = FusedBatchNormalization(momentum=0.9)
    >>> y = bn(keras.ops.ones((8, 4, 4, 16)), training=True)
    """

    def _fusable(self, inputs, mask):
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.renorm
            and not getattr(self, "synchronized", False)
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and self.scale
            and self.center
            and self.epsilon > 1.001e-5  # the fused kernel's least epsilon
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        train = bool(training) and self.trainable
        if ops.dtype(inputs) not in ("float16", "bfloat16", "float32"):
            inputs = ops.cast(inputs, "float32")
        gamma = ops.cast(self.gamma, "float32")
        beta = ops.cast(self.beta, "float32")
        if not train:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs,
                gamma,
                beta,
                mean=ops.cast(self.moving_mean, "float32"),
                variance=ops.cast(self.moving_variance, "float32"),
                epsilon=self.epsilon,
                is_training=False,
            )
            return ops.cast(outputs, self.compute_dtype)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, epsilon=self.epsilon, is_training=True
        )
        shape = tf.shape(inputs)
        n = tf.cast(shape[0] * shape[1] * shape[2], "float32")
        variance = variance * tf.maximum(n - 1.0, 0.0) / n  # back to the biased variance
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return ops.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package="kregs")
class BernoulliDropout(keras.layers.Dropout):
    """`keras.layers.Dropout`, its random numbers drawn in float32.

    In training each element is kept with probability `1 - rate` and scaled by
    `1 / (1 - rate)`, dropped (set to 0) otherwise; at inference the identity.

    Args:
        rate: float in [0, 1), the probability to drop an element.
        **kwargs: `keras.layers.Dropout`'s.

    Example:
    >>> drop = BernoulliDropout(0.25, seed=0)
    >>> drop(keras.ops.ones((2, 8)), training=True)   # 0 or 1/0.75 each
    """

    def call(self, inputs, training=False):
        if not training or self.rate <= 0 or self.noise_shape is not None:
            return super().call(inputs, training=training)
        noise = keras.random.uniform(ops.shape(inputs), dtype="float32", seed=self.seed_generator)
        keep = ops.cast(noise >= self.rate, inputs.dtype)
        return inputs * keep * ops.cast(1.0 / (1.0 - self.rate), inputs.dtype)
