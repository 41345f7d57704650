"""Keras' batch normalization and dropout, computed with fewer passes over the activations.

Same layers, same variables, same results (up to rounding), faster training:

- `FusedBatchNormalization`: on the TensorFlow backend, a 4D channels-last
  input (a conv block's) goes through TensorFlow's fused kernel
  (`tf.compat.v1.nn.fused_batch_norm`, oneDNN on a CPU), which reads a
  bfloat16 or float16 input as it is and keeps the statistics in float32.
  Keras' layer casts the activations to float32, computes the moments, then
  normalizes: several passes, each slower in mixed precision.
- `BernoulliDropout`: Keras' element-wise dropout with cheaper random numbers.
  Dropout draws one random number per activation, which on a CPU costs more
  than the convolutions once they run in bfloat16. On the TensorFlow backend
  each element is kept or dropped by one random byte (one 32-bit draw of
  TensorFlow's counter-based Philox generator serves four elements); the
  rate is rounded to a multiple of 1/256 (at most 0.002 off) and the
  survivors are scaled by 1 / (1 - that rate), so the expectation is exact;
  the mask holds that scale or 0, so applying it (and its gradient) is one
  multiply.
  Elsewhere it draws float32 uniforms (bfloat16 ones are slower to draw).

How much each saves: BENCHMARKS.md, "Figures behind the defaults".

Everything else (other backends, masks, other axes, renormalization,
`noise_shape`) is the parent layer's own code.
"""

import keras
from keras import ops

__all__ = ["BernoulliDropout", "FusedBatchNormalization", "byte_rate"]

LEVELS = 256  # a random byte's values


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
    """`keras.layers.Dropout` with cheaper random numbers (see the module's docstring).

    In training each element is kept with probability `1 - r` and scaled by
    `1 / (1 - r)`, dropped (set to 0) otherwise, where `r` is `rate` (rounded to
    a multiple of 1/256 on the TensorFlow backend: `byte_rate`); at inference
    the identity.

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
        if keras.backend.backend() == "tensorflow":
            return _byte_dropout(inputs, self.rate, self.seed_generator)
        noise = keras.random.uniform(ops.shape(inputs), dtype="float32", seed=self.seed_generator)
        keep = ops.cast(noise >= self.rate, inputs.dtype)
        return inputs * keep * ops.cast(1.0 / (1.0 - self.rate), inputs.dtype)


def byte_rate(rate):
    """The rate `BernoulliDropout` applies on TensorFlow: `rate` rounded to a multiple of
    1/256, within [1/256, 255/256].

    Example:
    >>> byte_rate(0.3)
    0.30078125
    """
    return min(max(round(rate * LEVELS), 1), LEVELS - 1) / LEVELS


def _byte_dropout(inputs, rate, seed_generator):
    """Dropout with one random byte per element: 32-bit Philox draws, bitcast to bytes."""
    import tensorflow as tf

    threshold = round(byte_rate(rate) * LEVELS)
    seed = tf.cast(seed_generator.next(), "int64")
    shape = tf.shape(inputs)
    last = inputs.shape[-1]
    if last is not None and last % 4 == 0:  # four bytes per word along the last axis
        words = tf.concat([shape[:-1], [last // 4]], axis=0)
        draw = tf.random.stateless_uniform(words, seed, minval=None, maxval=None, dtype="uint32")
        noise = tf.reshape(tf.bitcast(draw, "uint8"), shape)
    else:
        size = tf.size(inputs)
        draw = tf.random.stateless_uniform(
            [(size + 3) // 4], seed, minval=None, maxval=None, dtype="uint32"
        )
        noise = tf.reshape(tf.reshape(tf.bitcast(draw, "uint8"), [-1])[:size], shape)
    # One pass makes the mask (the survivors' scale, 0 elsewhere), one applies it, and the
    # gradient is one multiply by it: a 0/1 mask then a scale took two of each.
    scale = tf.constant(LEVELS / (LEVELS - threshold), inputs.dtype)
    mask = tf.where(noise >= threshold, scale, tf.zeros((), inputs.dtype))
    return inputs * mask
