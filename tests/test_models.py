import keras
import numpy as np
import pytest

import kregs
from kregs import RegConfig, build_model
from kregs.layers import ConvBlock, DenseBlock


def test_cnn_structure():
    model = build_model((28, 28, 1), 10, RegConfig(l2=0.1, batch_norm="before_activation"))
    assert model.input.dtype == "uint8" and model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    blocks = [layer for layer in model.layers if isinstance(layer, (ConvBlock, DenseBlock))]
    assert [type(b).__name__ for b in blocks] == ["ConvBlock"] * 4 + ["DenseBlock"]
    assert [b.filters for b in blocks[:4]] == [32, 32, 64, 64]
    assert model.name == "cnn_l2_bn"


def test_mlp_structure():
    model = build_model((32, 32, 3), 10, RegConfig(dropout=0.5), arch="mlp")
    blocks = [layer for layer in model.layers if isinstance(layer, DenseBlock)]
    assert [b.units for b in blocks] == [256, 128]
    assert not any(isinstance(layer, ConvBlock) for layer in model.layers)


def test_outputs_probabilities_from_uint8_pixels():
    model = build_model((28, 28, 1), 10)
    x = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28, 1), dtype="uint8")
    p = keras.ops.convert_to_numpy(model(x))
    assert p.dtype == np.float32 and p.shape == (4, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_rescaling_happens_inside():
    model = build_model((4, 4, 1), 2, arch="mlp")
    rescale = model.get_layer("rescale")
    out = keras.ops.convert_to_numpy(rescale(np.full((1, 4, 4, 1), 255, "uint8")))
    np.testing.assert_allclose(out, 1.0)


def test_l2_total_loss_covers_every_kernel_and_nothing_else():
    lam = 0.3
    model = build_model((12, 12, 1), 3, RegConfig(l2=lam, batch_norm="before_activation"))
    kernels = [w for w in model.weights if w.path.endswith("kernel")]
    assert len(kernels) == 6  # 4 convolutions, 1 dense, 1 classifier
    assert len(model.losses) == 6
    expected = (
        lam / 2 * sum(np.sum(keras.ops.convert_to_numpy(k).astype("float64") ** 2) for k in kernels)
    )
    np.testing.assert_allclose(sum(float(v) for v in model.losses), expected, rtol=1e-5)


def test_no_penalty_without_l2():
    assert build_model((12, 12, 1), 3, RegConfig(dropout=0.2)).losses == []


def test_trains_and_penalty_enters_the_loss():
    x = np.random.default_rng(0).integers(0, 256, size=(32, 8, 8, 1), dtype="uint8")
    y = np.arange(32) % 2
    plain = build_model((8, 8, 1), 2, arch="mlp")
    reg = build_model((8, 8, 1), 2, RegConfig(l2=1.0), arch="mlp")
    reg.set_weights(plain.get_weights())
    for m in (plain, reg):
        m.compile("sgd", "sparse_categorical_crossentropy")
    gap = reg.evaluate(x, y, verbose=0) - plain.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(gap, sum(float(v) for v in reg.losses), rtol=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"arch": "resnet"}, "`arch`: expected one of cnn, mlp. Received: arch='resnet'"),
        ({"num_classes": 1}, "`num_classes`: expected an int >= 2. Received: num_classes=1"),
        ({"input_shape": (28, 28)}, "`input_shape`: expected 3 positive ints"),
        ({"reg": "l2"}, "`reg`: expected a kregs.RegConfig or its to_dict()"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    args = {"input_shape": (28, 28, 1), "num_classes": 10, **kwargs}
    with pytest.raises(ValueError) as err:
        build_model(**args)
    assert message in str(err.value)


def test_public_api():
    for name in ["L2Penalty", "RegConfig", "build_model", "GeneralizationGap", "ConfigError"]:
        assert hasattr(kregs, name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        kregs.nope  # noqa: B018


def test_dtype_policy_reaches_every_layer_but_the_softmax():
    model = build_model(
        (8, 8, 1),
        3,
        RegConfig(dropout=0.1, batch_norm="before_activation"),
        dtype_policy="mixed_float16",
    )
    block = model.get_layer("conv1_1")
    assert {layer.dtype_policy.name for layer in block.steps} == {"mixed_float16"}
    assert block.steps[0].compute_dtype == "float16" and block.steps[0].kernel.dtype == "float32"
    x = np.zeros((2, 8, 8, 1), "uint8")
    assert keras.ops.convert_to_numpy(model(x)).dtype == np.float32
    assert model.get_layer("probabilities").dtype_policy.name == "float32"
    assert keras.config.dtype_policy().name == "float32"  # nothing global changed
