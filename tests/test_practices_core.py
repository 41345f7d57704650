"""Today's regularizers, their backend-independent parts: label smoothing's loss, the
accuracy of mixed labels, mixing without tf.data, stochastic depth's layer, RandAugment
and AugMix (also run under JAX: the Makefile's JAX leg)."""

import keras
import numpy as np
import pytest

from kregs import RegConfig, build_model
from kregs import data as kdata
from kregs.layers import ResidualDrop
from kregs.losses import Accuracy, CrossEntropy
from kregs.mixing import mixed_batches
from kregs.run.train import compile_model

MODERN = RegConfig(
    batch_norm="before_activation",
    label_smoothing=0.1,
    mix="cutmix",
    weight_averaging="ema",
    augment="randaugment",
)


def _class_images(n, side=8, classes=4):
    """Images whose every pixel is 40 * (label + 1): a mix shows its proportions."""
    y = np.arange(n) % classes
    x = np.broadcast_to((40 * (y + 1)).astype("uint8")[:, None, None, None], (n, side, side, 1))
    return np.ascontiguousarray(x), y


def _probabilities(n, classes, seed=0):
    logits = np.random.default_rng(seed).normal(size=(n, classes))
    return (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype("float32")


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_label_smoothing_is_the_smoothed_cross_entropy_from_integer_labels(smoothing):
    p = _probabilities(16, 5)
    y = np.arange(16) % 5
    targets = (1 - smoothing) * np.eye(5)[y] + smoothing / 5
    expected = np.mean(-np.sum(targets * np.log(p), axis=1))
    got = float(CrossEntropy(smoothing)(y, p))
    assert got == pytest.approx(expected, rel=1e-5)
    keras_value = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)(np.eye(5)[y], p)
    assert got == pytest.approx(float(keras_value), rel=1e-5)
    if smoothing == 0:
        sparse = keras.losses.SparseCategoricalCrossentropy()(y, p)
        assert got == pytest.approx(float(sparse), rel=1e-5)


def test_soft_labels_and_the_accuracy_of_either_kind():
    p = _probabilities(8, 3, seed=1)
    soft = np.array([[0.7, 0.3, 0.0]] * 8, dtype="float32")
    expected = np.mean(-np.sum(soft * np.log(p), axis=1))
    assert float(CrossEntropy()(soft, p)) == pytest.approx(expected, rel=1e-5)
    y = p.argmax(axis=1)
    y[:2] = (y[:2] + 1) % 3  # two wrong
    metric = Accuracy()
    metric.update_state(y, p)
    assert float(metric.result()) == pytest.approx(6 / 8)
    metric.reset_state()
    metric.update_state(np.eye(3)[y] * 0.6 + 0.1, p)  # soft: the larger part is the label
    assert float(metric.result()) == pytest.approx(6 / 8)
    again = CrossEntropy.from_config(CrossEntropy(0.2).get_config())
    assert again.label_smoothing == 0.2


def test_compile_follows_the_configuration():
    plain = compile_model(build_model((8, 8, 1), 3, arch="mlp"), 1e-3)
    assert plain.loss == "sparse_categorical_crossentropy"
    model = compile_model(build_model((8, 8, 1), 3, MODERN, arch="mlp"), 1e-3, reg=MODERN)
    assert isinstance(model.loss, CrossEntropy) and model.loss.label_smoothing == 0.1
    assert model.optimizer.use_ema and model.optimizer.ema_momentum == 0.99
    decayed = RegConfig(weight_decay=0.01)
    opt = compile_model(build_model((8, 8, 1), 3, arch="mlp"), 1e-3, reg=decayed).optimizer
    assert isinstance(opt, keras.optimizers.AdamW) and not opt.use_ema


def test_mixing_on_backends_without_tf_data_gives_the_same_kind_of_batches():
    x, y = _class_images(32, side=8)
    batches = mixed_batches(kdata.array_batches(x, y, 16, training=True, seed=0), "mixup", 1.0, 4)
    images, labels = batches[0]
    assert len(batches) == 2 and images.dtype == np.uint8 and labels.shape == (16, 4)
    np.testing.assert_allclose(
        images.mean(axis=(1, 2, 3)), labels @ (40.0 * np.arange(1, 5)), atol=0.51
    )


def test_a_residual_drop_keeps_or_skips_each_images_branch_scaled():
    keras.utils.set_random_seed(0)
    layer = ResidualDrop(0.3)
    shortcut = np.ones((4000, 3), "float32")
    branch = np.full((4000, 3), 2.0, "float32")
    out = keras.ops.convert_to_numpy(layer([shortcut, branch], training=True))
    kept = np.isclose(out, 1 + 2 / 0.7).all(axis=1)
    skipped = np.isclose(out, 1.0).all(axis=1)
    assert (kept | skipped).all()
    assert skipped.mean() == pytest.approx(0.3, abs=0.03)
    assert out.mean() == pytest.approx(3.0, abs=0.05)  # the expectation is the plain sum
    np.testing.assert_array_equal(layer([shortcut, branch]), shortcut + branch)
    again = ResidualDrop.from_config(layer.get_config())
    assert (again.rate, again.branch) == (0.3, 1)


@pytest.mark.parametrize("augment", ["randaugment", "flip+augmix"])
def test_randaugment_and_augmix_act_in_training_only(augment):
    keras.utils.set_random_seed(0)
    model = build_model((12, 12, 1), 3, RegConfig(augment=augment))
    x = np.random.default_rng(0).integers(0, 256, (16, 12, 12, 1)).astype("uint8")
    inference = model(x, training=False)
    np.testing.assert_array_equal(inference, model.predict(x, verbose=0))
    assert not np.allclose(model(x, training=True), inference, atol=1e-4)
