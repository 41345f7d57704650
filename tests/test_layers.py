import keras
import numpy as np
import pytest

from kregs import L2Penalty, RegConfig
from kregs.fused import BernoulliDropout, FusedBatchNormalization, byte_rate
from kregs.layers import ConvBlock, DenseBlock


@pytest.mark.parametrize(
    "batch_norm, dropout, order, bias",
    [
        ("none", 0.0, ("conv", "act"), True),
        ("none", 0.3, ("conv", "act", "dropout"), True),
        ("before_activation", 0.3, ("conv", "bn", "act", "dropout"), False),
        ("after_activation", 0.3, ("conv", "act", "bn", "dropout"), True),
        ("before_activation", 0.0, ("conv", "bn", "act"), False),
    ],
)
def test_conv_block_order_and_bias(batch_norm, dropout, order, bias):
    block = ConvBlock(8, reg=RegConfig(dropout=dropout, batch_norm=batch_norm))
    block.build((None, 6, 6, 3))
    assert block.step_names == order
    assert block.steps[0].use_bias is bias
    assert block.compute_output_shape((None, 6, 6, 3)) == (None, 6, 6, 8)


@pytest.mark.parametrize(
    "batch_norm, order",
    [
        ("none", ("dense", "act", "dropout")),
        ("before_activation", ("dense", "bn", "act", "dropout")),
        ("after_activation", ("dense", "act", "bn", "dropout")),
    ],
)
def test_dense_block_order(batch_norm, order):
    block = DenseBlock(4, reg=RegConfig(dropout=0.5, batch_norm=batch_norm))
    assert block.step_names == order
    assert block(np.ones((2, 3), "float32")).shape == (2, 4)


def test_l2_on_kernel_only():
    reg = RegConfig(l2=0.2, batch_norm="after_activation")
    block = DenseBlock(5, reg=reg)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    block(x, training=True)
    kernel = block.steps[0].kernel
    assert isinstance(block.steps[0].kernel_regularizer, L2Penalty)
    assert block.steps[0].bias_regularizer is None
    bn = block.steps[2]
    assert bn.gamma_regularizer is None and bn.beta_regularizer is None
    assert len(block.losses) == 1
    expected = 0.1 * np.sum(keras.ops.convert_to_numpy(kernel).astype("float64") ** 2)
    np.testing.assert_allclose(float(block.losses[0]), expected, rtol=1e-6)


def test_no_regularizer_when_lambda_is_zero():
    block = DenseBlock(5, reg=RegConfig())
    block(np.ones((1, 3), "float32"))
    assert block.steps[0].kernel_regularizer is None and block.losses == []


def test_dropout_zeroes_rate_fraction_scales_survivors_and_is_identity_at_inference():
    rate = 0.4
    block = DenseBlock(500, reg=RegConfig(dropout=rate), activation="linear")
    x = np.random.default_rng(0).normal(size=(200, 20)).astype("float32")
    infer = keras.ops.convert_to_numpy(block(x, training=False))
    train = keras.ops.convert_to_numpy(block(x, training=True))
    assert np.array_equal(infer, keras.ops.convert_to_numpy(block(x)))  # default: inference
    dropped = train == 0
    assert abs(dropped.mean() - rate) < 0.01  # 100000 units: std of the mean ~0.0015
    applied = byte_rate(rate) if keras.backend.backend() == "tensorflow" else rate
    np.testing.assert_allclose(train[~dropped], infer[~dropped] / (1 - applied), rtol=1e-5)


def test_batch_norm_normalises_per_channel_in_training():
    block = ConvBlock(6, reg=RegConfig(batch_norm="before_activation"), activation="linear")
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(32, 8, 8, 3)) * 5 + 3).astype("float32")
    y = keras.ops.convert_to_numpy(block(x, training=True))
    # gamma = 1 and beta = 0 at initialisation, so this is the normalised value.
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1.0, atol=1e-2)
    # The moving statistics took one step (momentum 0.9) towards the batch's.
    conv = keras.ops.convert_to_numpy(block.steps[0](x))
    bn = block.steps[1]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn.moving_mean),
        0.1 * conv.mean(axis=(0, 1, 2)),
        rtol=1e-3,
        atol=1e-6,
    )


def test_batch_norm_uses_moving_statistics_at_inference():
    block = DenseBlock(3, reg=RegConfig(batch_norm="before_activation"), activation="linear")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32") + 10
    dense = keras.ops.convert_to_numpy(block.steps[0](x))
    y = keras.ops.convert_to_numpy(block(x, training=False))
    # Fresh moving statistics are mean 0, variance 1: inference leaves values as they are.
    np.testing.assert_allclose(y, dense / np.sqrt(1 + 1e-3), rtol=1e-5)


@pytest.mark.parametrize("cls, arg", [(ConvBlock, "filters"), (DenseBlock, "units")])
@pytest.mark.parametrize("bad", [0, -3, 2.5, "8"])
def test_rejects_bad_width(cls, arg, bad):
    with pytest.raises(ValueError) as err:
        cls(bad)
    assert str(err.value) == (
        f"Invalid value for argument `{arg}`: expected an int >= 1. Received: {arg}={bad!r}"
    )


def test_rejects_bad_reg():
    with pytest.raises(ValueError, match="expected a kregs.RegConfig or its to_dict"):
        ConvBlock(4, reg=0.1)


def test_config_round_trip():
    reg = RegConfig(l2=0.01, dropout=0.2, batch_norm="after_activation")
    block = ConvBlock(16, kernel_size=5, reg=reg, activation="elu", name="b")
    config = block.get_config()
    assert config["filters"] == 16 and config["kernel_size"] == 5
    assert config["reg"] == reg.to_dict() and config["activation"] == "elu"
    clone = ConvBlock.from_config(config)
    assert clone.reg == reg and clone.step_names == block.step_names
    restored = keras.layers.deserialize(keras.layers.serialize(DenseBlock(7, reg=reg)))
    assert isinstance(restored, DenseBlock) and restored.units == 7 and restored.reg == reg


def test_works_in_a_plain_sequential_model():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            ConvBlock(4, reg=RegConfig(l2=0.1)),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    assert model.output_shape == (None, 2)
    assert len(model.losses) == 1


@pytest.mark.tensorflow  # the fused kernel is TensorFlow's
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_fused_batch_norm_matches_keras_batch_norm(policy):
    # Same outputs, input and weight gradients, and moving statistics (Keras' biased
    # variance) as keras.layers.BatchNormalization, in training and at inference.
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2, 3, (16, 5, 5, 8)).astype("float32"))
    weights = tf.constant(rng.normal(size=(16, 5, 5, 8)).astype("float32"))
    keras_bn = keras.layers.BatchNormalization(momentum=0.9, dtype=policy)
    fused = FusedBatchNormalization(momentum=0.9, dtype=policy)
    for layer in (keras_bn, fused):
        layer.build(x.shape)
    fused.gamma.assign(np.linspace(0.5, 2, 8))
    keras_bn.gamma.assign(np.linspace(0.5, 2, 8))
    outputs, grads = [], []
    for layer in (keras_bn, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, "float32") * weights)
        assert y.dtype == ("float32" if policy == "float32" else "bfloat16")
        outputs.append(np.asarray(tf.cast(y, "float32")))
        grads.append([np.asarray(g) for g in tape.gradient(loss, [x, layer.gamma, layer.beta])])
    tol = 1e-5 if policy == "float32" else 2e-2
    np.testing.assert_allclose(outputs[1], outputs[0], atol=tol * 10)
    for fused_grad, keras_grad in zip(grads[1], grads[0], strict=True):
        scale = np.abs(keras_grad).max()
        assert scale > 0.1
        np.testing.assert_allclose(fused_grad, keras_grad, rtol=tol, atol=tol * scale)
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(
            np.asarray(getattr(fused, name)), np.asarray(getattr(keras_bn, name)), rtol=tol / 10
        )
    batch = np.asarray(x).reshape(-1, 8)  # bfloat16 activations are rounded: rtol 1e-3
    np.testing.assert_allclose(
        np.asarray(fused.moving_variance), 0.9 + 0.1 * batch.var(0), rtol=tol / 10
    )
    np.testing.assert_allclose(
        np.asarray(tf.cast(fused(x), "float32")),
        np.asarray(tf.cast(keras_bn(x), "float32")),
        atol=tol * 10,
    )


def test_bernoulli_dropout_keeps_one_minus_rate_and_scales_survivors():
    layer = BernoulliDropout(0.25, seed=3)
    y = np.asarray(layer(np.ones((400, 250), "float32"), training=True))
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs((y == 0).mean() - 0.25) < 0.005  # 100000 elements: std ~0.0014
    assert np.array_equal(np.asarray(layer(np.ones((3, 4), "float32"))), np.ones((3, 4)))
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(again) is BernoulliDropout and again.rate == 0.25


@pytest.mark.tensorflow  # random bytes are the TensorFlow backend's path
@pytest.mark.parametrize("shape", [(64, 14, 14, 32), (700, 143)])  # 4 bytes per word; not
def test_dropout_with_random_bytes_is_unbiased_at_any_rate(shape):
    """On TensorFlow the rate is a multiple of 1/256 and survivors are scaled to match:
    the expectation is exact, whatever the rate."""
    import tensorflow as tf

    assert byte_rate(0.3) == 77 / 256 and byte_rate(0.001) == 1 / 256
    assert byte_rate(0.999) == 255 / 256
    layer = BernoulliDropout(0.3, seed=5)
    x = np.ones(shape, "float32")
    for y in (layer(x, training=True), tf.function(layer, jit_compile=True)(x, training=True)):
        y = np.asarray(y)
        np.testing.assert_allclose(np.unique(y), [0.0, 256 / 179], rtol=1e-6)
        assert abs((y == 0).mean() - 77 / 256) < 0.006  # 100000 elements: std ~0.0015
        assert abs(y.mean() - 1.0) < 0.01
    # Fresh bytes at every call; in bfloat16, the same rule.
    assert not np.array_equal(np.asarray(layer(x, training=True)), y)
    half = BernoulliDropout(0.5, seed=1, dtype="mixed_bfloat16")
    z = np.asarray(half(x, training=True).numpy().astype("float32"))
    assert set(np.unique(z)) == {0.0, 2.0} and abs((z == 0).mean() - 0.5) < 0.01
