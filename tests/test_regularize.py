"""`kregs.regularize`: a RegConfig applied to any Functional or Sequential model."""

import keras
import numpy as np
import pytest

from kregs import RegConfig, regularize
from kregs.errors import ConfigError
from kregs.regularizers import L2SP, L2Penalty

REG = RegConfig(l2=1e-3, dropout=0.3, batch_norm="before_activation")


def _images(n=4, shape=(16, 16, 3), seed=0):
    return np.random.default_rng(seed).random((n, *shape)).astype("float32")


def _residual():
    """A residual block (Add), a concatenation, fused and separate activations, a shared conv,
    a pooling stage, a hidden dense layer and a softmax classifier."""
    x = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(x)
    r = keras.layers.Conv2D(8, 3, padding="same", name="c2")(h)
    r = keras.layers.ReLU(name="r2")(r)
    h = keras.layers.Add(name="add")([h, r])
    h = keras.layers.MaxPooling2D(name="pool")(h)
    shared = keras.layers.Conv2D(8, 3, padding="same", name="shared")
    h = keras.layers.Concatenate(name="cat")([shared(h), shared(keras.layers.ReLU(name="r3")(h))])
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    h = keras.layers.Dense(16, activation="relu", name="hidden")(h)
    out = keras.layers.Dense(4, activation="softmax", name="classifier")(h)
    return keras.Model(x, out, name="residual")


def _sequential():
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="classifier"),
        ],
        name="seq",
    )


def _nested():
    inner = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, padding="same", name="inner_conv"),
            keras.layers.BatchNormalization(name="inner_bn"),
            keras.layers.ReLU(name="inner_relu"),
            keras.layers.SeparableConv2D(4, 3, padding="same", activation="relu", name="sep"),
        ],
        name="backbone",
    )
    x = keras.Input((8, 8, 1))
    h = keras.layers.GlobalAveragePooling2D(name="gap")(inner(x))
    return keras.Model(x, keras.layers.Dense(3, activation="softmax", name="classifier")(h))


def _layers(model):
    """Every layer, nested models' too, in order."""
    out = []
    for layer in model.layers:
        out += _layers(layer) if isinstance(layer, keras.Model) else [layer]
    return out


def _kinds(model, cls):
    return [layer.name for layer in _layers(model) if type(layer) is cls]


@pytest.mark.parametrize("make", [_residual, _sequential, _nested])
def test_the_identity_config_predicts_exactly_as_the_original(make):
    model = make()
    x = _images(shape=model.inputs[0].shape[1:])
    same = regularize(model, RegConfig())
    np.testing.assert_array_equal(same.predict(x, verbose=0), model.predict(x, verbose=0))
    assert same.losses == [] and same is not model


def test_one_penalty_per_kernel_none_on_biases_or_bn():
    model = _residual()
    reg = regularize(model, RegConfig(l2=0.01))
    kernels = [layer for layer in _layers(reg) if hasattr(layer, "kernel")]
    assert len(reg.losses) == len(kernels) == 5  # c1, c2, shared (once), hidden, classifier
    assert all(isinstance(k.kernel_regularizer, L2Penalty) for k in kernels)
    assert all(k.bias_regularizer is None for k in kernels)
    c1 = reg.get_layer("c1")
    expected = 0.01 / 2 * np.sum(keras.ops.convert_to_numpy(c1.kernel) ** 2)
    assert float(c1.kernel_regularizer(c1.kernel)) == pytest.approx(expected, rel=1e-5)
    nested = regularize(_nested(), RegConfig(l2=0.01))
    assert len(nested.losses) == 4  # inner conv, separable's depthwise and pointwise, classifier


def test_bn_before_the_activation_splits_a_fused_one_and_dropout_ends_each_block():
    reg = regularize(_residual(), REG)
    names = [layer.name for layer in _layers(reg)]
    assert (
        names.index("c1")
        < names.index("c1_bn")
        < names.index("c1_act")
        < names.index("c1_dropout")
        < names.index("add")
    )
    assert reg.get_layer("c1").get_config()["activation"] == "linear"
    # c2 is linear and a ReLU layer follows: BN between them, dropout after the ReLU
    assert names.index("c2_bn") < names.index("r2") < names.index("c2_dropout")
    assert _kinds(reg, keras.layers.BatchNormalization) == [
        "c1_bn",
        "c2_bn",
        "shared_bn",
        "hidden_bn",
    ]
    # the shared conv stays one layer, and so do its BN and dropout
    assert names.count("shared") == 1 and names.count("shared_bn") == 1
    # never after the classifier
    assert not [n for n in names if n.startswith("classifier_")]


def test_bn_after_the_activation_and_not_where_a_normalization_already_is():
    reg = regularize(_residual(), dataclasses_replace(REG, batch_norm="after_activation"))
    names = [layer.name for layer in _layers(reg)]
    assert names.index("r2") < names.index("c2_bn") < names.index("c2_dropout")
    assert reg.get_layer("c1").get_config()["activation"] == "relu"
    nested = regularize(_nested(), REG)
    assert _kinds(nested, keras.layers.BatchNormalization) == ["inner_bn", "sep_bn"]


def dataclasses_replace(reg, **changes):
    import dataclasses

    return dataclasses.replace(reg, **changes)


@pytest.mark.parametrize(
    "placement, kind, expected",
    [
        (
            "blocks",
            "spatial",
            {
                "c1_dropout": keras.layers.SpatialDropout2D,
                "c2_dropout": keras.layers.SpatialDropout2D,
                "shared_dropout": keras.layers.SpatialDropout2D,
                "hidden_dropout": keras.layers.Dropout,
            },
        ),
        (
            "stages",
            "elementwise",
            {
                "pool_dropout": keras.layers.Dropout,
                "gap_dropout": keras.layers.Dropout,
                "hidden_dropout": keras.layers.Dropout,
            },
        ),
        ("head", "elementwise", {"classifier_head": keras.layers.Dropout}),
    ],
)
def test_dropout_goes_where_the_placement_says(placement, kind, expected):
    reg = regularize(
        _residual(), RegConfig(dropout=0.3, dropout_placement=placement, dropout_kind=kind)
    )
    found = {layer.name: type(layer) for layer in _layers(reg) if "Dropout" in type(layer).__name__}
    assert found == expected


def test_the_weights_are_copied_and_the_original_is_untouched():
    model = _residual()
    before = [w.copy() for w in model.get_weights()]
    reg = regularize(model, REG)
    for name in ("c1", "c2", "shared", "hidden", "classifier"):
        for a, b in zip(
            model.get_layer(name).get_weights(), reg.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(a, b)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    assert model.losses == [] and model.get_layer("c1").get_config()["activation"] == "relu"
    assert model.get_layer("c1").output is not None  # (one call still: no node was added)


def test_excluded_layers_are_left_alone():
    reg = regularize(_residual(), REG, exclude=("c1", "hidden"))
    names = [layer.name for layer in _layers(reg)]
    assert "c1_bn" not in names and "hidden_dropout" not in names and "c2_bn" in names
    assert reg.get_layer("c1").kernel_regularizer is None


def test_keras_file_round_trip_with_augmentation(tmp_path):
    reg = regularize(_residual(), dataclasses_replace(REG, augment="shift+erase"))
    path = tmp_path / "m.keras"
    reg.save(path)
    back = keras.models.load_model(path)
    x = _images()
    np.testing.assert_allclose(back.predict(x, verbose=0), reg.predict(x, verbose=0), atol=1e-6)
    assert len(back.losses) == len(reg.losses) == 5


def test_l2sp_pulls_towards_the_starting_weights_and_survives_saving(tmp_path):
    start = np.arange(6, dtype="float32").reshape(2, 3)
    penalty = L2SP(0.5, start)
    assert float(penalty(keras.ops.convert_to_tensor(start))) == 0.0
    assert float(penalty(keras.ops.convert_to_tensor(start + 2.0))) == pytest.approx(0.5 / 2 * 24)
    back = L2SP.from_config(penalty.get_config())
    np.testing.assert_array_equal(back.start, start)


def test_a_subclassed_model_is_refused_in_one_line():
    class Mine(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ConfigError) as err:
        regularize(Mine(), REG)
    assert str(err.value) == (
        "Mine is a subclassed model: its layers' connections are in Python code kregs cannot "
        "rewrite; give kregs a build function instead (one that accepts `reg` places the "
        "regularizers itself)"
    )
