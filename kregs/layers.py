"""Blocks whose regularization is set by one `RegConfig`.

A block is a weight layer followed by batch normalization at the chosen place,
the activation and dropout:

| `batch_norm`          | order                                          |
|-----------------------|------------------------------------------------|
| `"none"`              | conv/dense (with bias) -> ReLU -> dropout      |
| `"before_activation"` | conv/dense (no bias) -> BN -> ReLU -> dropout  |
| `"after_activation"`  | conv/dense (with bias) -> ReLU -> BN -> dropout|

The bias is dropped only when BN directly follows the weight layer: BN's
beta replaces it exactly. BN is Keras' (`kregs.fused.FusedBatchNormalization`:
the same layer with TensorFlow's fused kernel for conv activations). Dropout
is Keras' element-wise `Dropout` (`kregs.fused.BernoulliDropout`) in both
blocks (each activation is dropped independently with probability
`reg.dropout` and the survivors are scaled by `1 / (1 - reg.dropout)`), the
per-unit Bernoulli dropout the study analyses; it is left out when the rate is 0.
With `reg.dropout_kind == "spatial"` a `ConvBlock` drops whole feature maps
(`keras.layers.SpatialDropout2D`) instead. Where dropout goes in a network
(`reg.dropout_placement`) is `kregs.build_model`'s choice: a block given a
`reg` with a dropout rate always applies it.
"""

import keras

# `regularizers` and `fused` as modules, not their names: importing keras registers
# this module (see kregs/__init__.py), possibly while one of them is half imported
# (importing kregs.fused first imports keras, whose hook imports this module).
from kregs import fused, regularizers
from kregs.checks import check_positive_int
from kregs.config import RegConfig

# Moving-average momentum of batch normalization (PyTorch's default; Keras'
# is 0.99). Tuning trials are short: with 0.99 the inference statistics still
# carry ~half their initial values after 70 steps, which makes early
# validation accuracy of BN models meaningless; with 0.9 they settle in ~20.
BN_MOMENTUM = 0.9


def _batch_norm(policy):
    return fused.FusedBatchNormalization(momentum=BN_MOMENTUM, dtype=policy, name="batch_norm")


def dropout_layer(reg, spatial, dtype=None, name="dropout"):
    """The dropout layer `reg` asks for: element-wise, or spatial where `spatial` allows.

    Args:
        reg: `kregs.RegConfig` with a dropout rate > 0.
        spatial: bool, whether the layer's inputs are feature maps (4D), where
            `reg.dropout_kind == "spatial"` drops whole maps.
        dtype: the layer's dtype policy.
        name: str, the layer's name.

    Returns:
        A `kregs.fused.BernoulliDropout` or a `keras.layers.SpatialDropout2D`.
    """
    if spatial and reg.dropout_kind == "spatial":
        return keras.layers.SpatialDropout2D(reg.dropout, dtype=dtype, name=name)
    return fused.BernoulliDropout(reg.dropout, dtype=dtype, name=name)


class _RegBlock(keras.layers.Layer):
    """Runs a weight layer, BN, activation and dropout in the order `reg` gives.

    Subclasses provide `_weight_layer(use_bias, kernel_regularizer)` and say
    whether their outputs are feature maps (`_spatial`).
    """

    _spatial = False

    def __init__(self, reg=None, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.reg = RegConfig.coerce(reg)
        self.activation = keras.activations.get(activation)
        self._activation_config = keras.activations.serialize(self.activation)
        bn = self.reg.batch_norm
        lam = self.reg.l2_to_zero
        regularizer = regularizers.L2Penalty(lam) if lam > 0 else None
        weights = self._weight_layer(
            use_bias=bn != "before_activation", kernel_regularizer=regularizer
        )
        # Sublayers compute in the block's dtype policy (e.g. "mixed_float16").
        policy = self.dtype_policy
        act = keras.layers.Activation(self.activation, dtype=policy, name="activation")
        steps = [weights]
        if bn == "before_activation":
            steps += [
                _batch_norm(policy),
                act,
            ]
        elif bn == "after_activation":
            steps += [
                act,
                _batch_norm(policy),
            ]
        else:
            steps += [act]
        if self.reg.uses_dropout:
            steps.append(dropout_layer(self.reg, spatial=self._spatial, dtype=policy))
        self.steps = steps

    @property
    def step_names(self):
        """The kinds of the block's layers in call order, e.g. `("conv", "bn", "act")`."""
        kinds = {
            keras.layers.Conv2D: "conv",
            keras.layers.Dense: "dense",
            keras.layers.BatchNormalization: "bn",
            keras.layers.Activation: "act",
            keras.layers.SpatialDropout2D: "spatial_dropout",
            keras.layers.Dropout: "dropout",
        }
        return tuple(
            next(kind for cls, kind in kinds.items() if isinstance(layer, cls))
            for layer in self.steps
        )

    def build(self, input_shape):
        shape = input_shape
        for layer in self.steps:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for layer in self.steps:
            shape = layer.compute_output_shape(shape)
        return shape

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.steps:
            x = layer(x, training=training)
        return x

    def get_config(self):
        config = super().get_config()
        config.update({"reg": self.reg.to_dict(), "activation": self._activation_config})
        return config


@keras.saving.register_keras_serializable(package="kregs")
class ConvBlock(_RegBlock):
    """2D convolution with L2, batch normalization and dropout set by one `RegConfig`.

    Order: `Conv2D` ("same" padding; no bias when BN follows it directly) -> BN
    where `reg.batch_norm` puts it -> activation -> `Dropout` (element-wise, or
    `SpatialDropout2D` when `reg.dropout_kind` is "spatial").
    In training, BN normalizes with the batch's statistics and dropout zeroes
    activations; at inference BN uses its moving averages and dropout is the
    identity. The L2 penalty (`kregs.L2Penalty(reg.l2)`) covers the kernel only.

    Args:
        filters: int >= 1, number of output channels.
        kernel_size: int >= 1, side of the square kernel. Default 3.
        reg: `kregs.RegConfig` (or its `to_dict()`), the regularization. Default none.
        activation: activation name or callable. Default "relu".
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
    >>> reg = kregs.RegConfig(l2=1e-4, dropout=0.2, batch_norm="before_activation")
    >>> x = keras.Input((28, 28, 1))
    >>> y = ConvBlock(32, reg=reg)(x)   # (None, 28, 28, 32)

    Reference:
        Ioffe & Szegedy, "Batch Normalization", ICML 2015;
        Srivastava et al., "Dropout", JMLR 2014.
    """

    _spatial = True

    def __init__(self, filters, kernel_size=3, reg=None, activation="relu", **kwargs):
        self.filters = check_positive_int(filters, "filters")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        super().__init__(reg=reg, activation=activation, **kwargs)

    def _weight_layer(self, use_bias, kernel_regularizer):
        return keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            padding="same",
            use_bias=use_bias,
            kernel_regularizer=kernel_regularizer,
            dtype=self.dtype_policy,
            name="conv",
        )

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size})
        return config


@keras.saving.register_keras_serializable(package="kregs")
class DenseBlock(_RegBlock):
    """Dense layer with L2, batch normalization and dropout set by one `RegConfig`.

    Order: `Dense` (no bias when BN follows it directly) -> BN where
    `reg.batch_norm` puts it -> activation -> `Dropout`. Training and inference
    differ as in `ConvBlock`.

    Args:
        units: int >= 1, output width.
        reg: `kregs.RegConfig` (or its `to_dict()`), the regularization. Default none.
        activation: activation name or callable. Default "relu".
        **kwargs: base `keras.layers.Layer` arguments.

    Example:
    >>> block = DenseBlock(128, reg=kregs.RegConfig(dropout=0.5))
    >>> block(keras.ops.ones((4, 64))).shape
    (4, 128)
    """

    def __init__(self, units, reg=None, activation="relu", **kwargs):
        self.units = check_positive_int(units, "units")
        super().__init__(reg=reg, activation=activation, **kwargs)

    def _weight_layer(self, use_bias, kernel_regularizer):
        return keras.layers.Dense(
            self.units,
            use_bias=use_bias,
            kernel_regularizer=kernel_regularizer,
            dtype=self.dtype_policy,
            name="dense",
        )

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


@keras.saving.register_keras_serializable(package="kregs")
class ResidualDrop(keras.layers.Layer):
    """A residual `Add` whose branches are skipped for whole images (stochastic depth).

    Takes the `Add`'s inputs and returns their sum at inference. In training, each input
    in `branch` (a residual branch; the others are the shortcut) is kept for each image
    with probability `1 - rate` and then scaled by `1 / (1 - rate)`, else dropped: the
    image goes through the shortcut (and the other branches) alone (Huang et al. 2016,
    with the scaling at training time as in timm's `drop_path`, so inference needs no
    change). `kregs.regularize` puts it in place of a model's residual `Add`s.

    Args:
        rate: float in [0, 1), the probability of skipping a branch.
        branch: int, or list of ints: the inputs that are residual branches. Default 1
            (`[shortcut, branch]`).
        seed: int or None.

    Example:
    >>> y = ResidualDrop(0.1)([shortcut, branch])
    >>> z = ResidualDrop(0.1, branch=[1, 2])([shortcut, branch_a, branch_b])
    """

    def __init__(self, rate, branch=1, seed=None, **kwargs):
        super().__init__(**kwargs)
        from kregs.checks import check_dropout

        self.rate = check_dropout(rate, "rate")
        branches = [branch] if isinstance(branch, int) else list(branch)
        if not branches or any(
            isinstance(b, bool) or not isinstance(b, int) or b < 0 for b in branches
        ):
            from kregs.errors import invalid_value

            raise invalid_value("branch", branch, "an input's index, or a list of them")
        self.branch, self.seed = branch if isinstance(branch, int) else branches, seed
        self._branches = branches
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if len(inputs) <= max(self._branches):
            raise ValueError(f"{self.name}: branch {self.branch} of {len(inputs)} inputs")
        total = None
        for i, x in enumerate(inputs):
            if training and self.rate > 0 and i in self._branches:
                shape = (keras.ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
                noise = keras.random.uniform(shape, dtype="float32", seed=self.seed_generator)
                keep = keras.ops.cast(noise >= self.rate, x.dtype)
                x = x * keep * keras.ops.cast(1.0 / (1.0 - self.rate), x.dtype)
            total = x if total is None else total + x
        return total

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "branch": self.branch, "seed": self.seed}
