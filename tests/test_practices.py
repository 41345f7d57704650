"""Today's regularizers: label smoothing, MixUp/CutMix, RandAugment/AugMix, EMA, stochastic
depth."""

import json

import keras
import numpy as np
import pytest
from _helpers import read_csv, run_python
from click.testing import CliRunner

from kregs import RegConfig, build_model, regularize
from kregs import data as kdata
from kregs.callbacks import GeneralizationGap
from kregs.cli.main import main
from kregs.deploy.savedmodel import export_for_serving
from kregs.errors import ConfigError
from kregs.layers import ResidualDrop
from kregs.mixing import mixed_batches
from kregs.run.train import compile_model, fit_for, training_callbacks
from kregs.study import plan
from kregs.tuner import TuneConfig, tune

MODERN = RegConfig(
    batch_norm="before_activation",
    label_smoothing=0.1,
    mix="cutmix",
    mix_alpha=0.5,
    weight_averaging="ema",
    augment="randaugment",
)


# --- label smoothing and soft labels ---------------------------------------------------------


# --- MixUp and CutMix ------------------------------------------------------------------------


def _class_images(n=64, side=32, classes=4):
    """Images whose every pixel is 40 * (label + 1): a mix shows its proportions."""
    y = np.arange(n) % classes
    x = np.broadcast_to((40 * (y + 1)).astype("uint8")[:, None, None, None], (n, side, side, 1))
    return np.ascontiguousarray(x), y


@pytest.mark.parametrize("mix", ["mixup", "cutmix"])
def test_mixed_images_and_labels_are_mixed_in_the_same_proportion(mix):
    x, y = _class_images()
    batches = mixed_batches(kdata.pipeline(x, y, 32, training=True, seed=0), mix, 1.0, 4, seed=0)
    mixed = 0
    for images, labels in batches:
        images, labels = images.numpy(), labels.numpy()
        assert images.dtype == np.uint8 and labels.shape == (32, 4)
        np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-5)
        assert ((labels > 1e-6).sum(axis=1) <= 2).all()  # two images at most
        values = 40.0 * np.arange(1, 5)
        if mix == "mixup":  # every pixel blends the two images in the labels' proportion
            np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), labels @ values, atol=0.51)
        else:  # each pixel comes from one image; the label share is the pasted area
            for image, label in zip(images, labels, strict=True):
                present = set(np.unique(image))
                assert present <= {40 * (c + 1) for c in np.nonzero(label > 1e-6)[0]}
                for c in np.nonzero(label > 1e-6)[0]:
                    share = np.mean(image == 40 * (c + 1))
                    # Keras' label weight is the box's area, its mask the pixels inside it
                    side = image.shape[0]
                    assert share == pytest.approx(label[c], abs=(2 * side + 1) / side**2)
        mixed += int((labels.max(axis=1) < 0.999).sum())
    assert mixed > 16  # most images are mixed


def test_under_mixing_the_gap_is_measured_on_unmixed_training_images():
    keras.utils.set_random_seed(0)
    x, y = _class_images(128, side=8, classes=2)
    reg = RegConfig(mix="mixup")
    model = compile_model(build_model((8, 8, 1), 2, reg, arch="mlp"), 1e-2, reg=reg)
    kwargs = {
        "x": kdata.pipeline(x, y, 32, training=True, seed=0),
        "validation_data": kdata.pipeline(x, y, 32, training=False),
        "epochs": 3,
        "callbacks": training_callbacks(3),
        "verbose": 0,
    }
    history = model.fit(**fit_for(reg, kwargs, 2, seed=0)).history
    gap = next(c for c in fit_for(reg, kwargs, 2)["callbacks"] if isinstance(c, GeneralizationGap))
    assert gap.reference is not None
    # the training images are the validation images here: unmixed, the gap is 0
    np.testing.assert_allclose(history["unmixed_accuracy"], history["val_accuracy"], atol=1e-6)
    np.testing.assert_allclose(history["generalization_gap"], 0.0, atol=1e-6)
    # ...where Keras' running accuracy on the mixed images would have given another figure
    assert not np.allclose(history["accuracy"], history["val_accuracy"], atol=1e-3)


# --- weight averaging ------------------------------------------------------------------------


def _train(reg, epochs=3):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (96, 6, 6, 1)).astype("uint8")
    y = (x.mean(axis=(1, 2, 3)) > 127).astype("int64")
    model = compile_model(build_model((6, 6, 1), 2, reg, arch="mlp"), 3e-3, reg=reg)
    kwargs = {
        "x": kdata.pipeline(x[:64], y[:64], 16, training=True, seed=0),
        "validation_data": kdata.pipeline(x[64:], y[64:], 16, training=False),
        "epochs": epochs,
        "callbacks": training_callbacks(epochs),
        "verbose": 0,
    }
    history = model.fit(**fit_for(reg, kwargs, 2)).history
    return model, history, (x[64:], y[64:])


def test_the_averaged_weights_are_validated_kept_and_differ_from_the_raw_ones():
    model, history, (xv, yv) = _train(RegConfig(weight_averaging="ema"))
    best = int(np.argmin(history["val_loss"]))
    kept = model.evaluate(xv, yv, verbose=0)[0]
    assert kept == pytest.approx(history["val_loss"][best], rel=1e-4)  # validated = kept
    _, raw, _ = _train(RegConfig())
    assert not np.allclose(history["val_loss"], raw["val_loss"])  # the average is another model


def test_without_validation_training_ends_on_the_averaged_weights():
    """The refit's case (no validation, no best epoch): the model left is the average."""

    class LastRaw(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.raw = [w.copy() for w in self.model.get_weights()]

    keras.utils.set_random_seed(0)
    x, y = _class_images(64, side=8, classes=2)
    for reg, averaged in ((RegConfig(weight_averaging="ema"), True), (RegConfig(), False)):
        model = compile_model(build_model((8, 8, 1), 2, reg, arch="mlp"), 1e-2, reg=reg)
        last = LastRaw()
        kwargs = {
            "x": kdata.pipeline(x, y, 16, True, 0),
            "epochs": 2,
            "callbacks": [last],
            "verbose": 0,
        }
        model.fit(**fit_for(reg, kwargs, 2))
        same = all(np.array_equal(a, b) for a, b in zip(model.get_weights(), last.raw, strict=True))
        assert same is not averaged


# --- RandAugment and AugMix ------------------------------------------------------------------


def test_digits_are_never_flipped_by_the_new_augmentations(tmp_path):
    with pytest.raises(ConfigError, match="no flips for mnist"):
        TuneConfig.create("mnist", augment="flip+randaugment", output=str(tmp_path / "r"))


# --- stochastic depth ------------------------------------------------------------------------


def _resnet(blocks=4):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    for i in range(blocks):
        y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
        y = keras.layers.Conv2D(4, 3, padding="same")(y)
        pair = [y, x] if i % 2 else [x, y]  # the branch first or second
        x = keras.layers.Add(name=f"add{i}")(pair)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x), name="resnet")


def test_stochastic_depth_drops_whole_branches_at_rates_linear_in_depth():
    model = _resnet()
    rewritten = regularize(model, RegConfig(stochastic_depth=0.4))
    drops = {layer.name: layer for layer in rewritten.layers if isinstance(layer, ResidualDrop)}
    assert sorted(drops) == ["add0", "add1", "add2", "add3"]
    assert [drops[f"add{i}"].rate for i in range(4)] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert [drops[f"add{i}"].branch for i in range(4)] == [1, 0, 1, 0]
    x = np.random.default_rng(0).random((6, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(rewritten(x), model(x), atol=1e-6)  # inference: unchanged
    assert not np.allclose(rewritten(x, training=True), model(x), atol=1e-4)


def test_stochastic_depth_reaches_a_nested_residual_model():
    inputs = keras.Input((8, 8, 1))
    outer = keras.Model(inputs, _resnet(2)(inputs), name="outer")  # no Add of its own
    rewritten = regularize(outer, RegConfig(stochastic_depth=0.2))
    inner = next(layer for layer in rewritten.layers if isinstance(layer, keras.Model))
    rates = [layer.rate for layer in inner.layers if isinstance(layer, ResidualDrop)]
    assert rates == pytest.approx([0.1, 0.2])


def test_stochastic_depth_survives_keras_saving(tmp_path):
    rewritten = regularize(_resnet(2), RegConfig(stochastic_depth=0.2))
    rewritten.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(1).random((3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(loaded(x), rewritten(x), atol=1e-6)
    assert [type(layer).__name__ for layer in loaded.layers].count("ResidualDrop") == 2


def test_stochastic_depth_without_residual_connections_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="has no residual connection"):
        regularize(build_model((8, 8, 1), 3), RegConfig(stochastic_depth=0.1))
    result = CliRunner().invoke(
        main,
        [
            "tune",
            "--folds",
            "0",
            "--dataset",
            "mnist",
            "--stochastic-depth",
            "0.1",
            "--output",
            str(tmp_path / "r"),
        ],
        prog_name="kregs",
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: Invalid value for argument `stochastic_depth`: expected a model with residual "
        "connections (--model): the built-in cnn has none. Received: stochastic_depth=0.1 "
        "(see kregs tune --help)"
    ]


# --- serving ---------------------------------------------------------------------------------


def test_none_of_them_changes_the_served_signature_or_inference(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _class_images(64, side=12, classes=3)
    reg = MODERN
    model = compile_model(build_model((12, 12, 1), 3, reg), 1e-3, reg=reg)
    kwargs = {"x": kdata.pipeline(x, y, 32, True, 0), "epochs": 1, "verbose": 0}
    model.fit(**fit_for(reg, kwargs, 3))
    paths = {
        "modern": export_for_serving(model, str(tmp_path / "export" / "modern"), ["a", "b", "c"]),
        "plain": export_for_serving(
            build_model((12, 12, 1), 3), str(tmp_path / "export" / "plain"), ["a", "b", "c"]
        ),
    }
    np.save(tmp_path / "x.npy", x)
    code = (
        "import json, numpy as np, tensorflow as tf\n"
        f"paths = {paths!r}\n"
        "out = {}\n"
        "for name, path in paths.items():\n"
        "    sig = tf.saved_model.load(path).signatures['serving_default']\n"
        "    inputs = {k: (v.dtype.name, v.shape.as_list())\n"
        "              for k, v in sig.structured_input_signature[1].items()}\n"
        "    outputs = {k: (v.dtype.name, v.shape.as_list())\n"
        "               for k, v in sig.structured_outputs.items()}\n"
        "    out[name] = [inputs, outputs]\n"
        "    if name == 'modern':\n"
        "        probs = sig(images=tf.constant(np.load('x.npy')))['probabilities']\n"
        "        np.save('p.npy', probs.numpy())\n"
        "print(json.dumps(out))\n"
    )
    proc = run_python(code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    signatures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert signatures["modern"] == signatures["plain"]
    assert signatures["modern"][0] == {"images": ["uint8", [None, 12, 12, 1]]}
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict(x, verbose=0), atol=1e-5)


# --- the search and the study ----------------------------------------------------------------


def test_a_search_with_every_new_dimension_fixed_refits_and_records_them(tiny_mnist, tmp_path):
    fixed = dict(
        label_smoothing=0.1,
        mix="mixup",
        mix_alpha=0.4,
        weight_averaging="ema",
        augment="randaugment",
        batch_norm="none",
    )
    config = TuneConfig.create(
        "mnist",
        data_dir=tiny_mnist,
        folds=0,
        output=str(tmp_path / "run"),
        arch="mlp",
        algorithm="random",
        max_trials=1,
        epochs=2,
        batch_size=32,
        patience=2,
        keep_best=1,
        refit=True,
        baseline=False,
        **fixed,
    )
    result = tune(config)
    rows = read_csv(tmp_path / "run" / "trials.csv")
    assert len(rows) == 1 and rows[0]["status"] == "COMPLETED"
    for name, value in fixed.items():
        assert rows[0][name] == str(value)
    # Without the control, the first trial is the recipe (weight decay, dropout) and the fixed.
    assert rows[0]["config"] == "wd+dropout+aug+ls+mix+ema"
    extras = json.loads(
        next((tmp_path / "run").glob("keras_tuner/trial_*/kregs_trial.json")).read_text()
    )
    assert "unmixed_accuracy" in extras["history"]
    assert result.refit is not None and (tmp_path / "run" / "refit" / "model.keras").exists()


def test_the_study_sweeps_label_smoothing_and_mixing():
    sweep = plan.parse_sweep("mix")
    assert sweep.values == ("none", "mixup", "cutmix")
    assert [sweep.label(v) for v in sweep.values] == ["none", "mix=mixup", "mix=cutmix"]
    assert plan.parse_sweep("mix=cutmix", base="bn").values == ("none", "cutmix")
    smoothing = plan.parse_sweep("label_smoothing")
    assert smoothing.values == (0.0, 0.05, 0.1, 0.2, 0.3)
    with pytest.raises(ConfigError, match="`mix`: expected one of none, mixup, cutmix"):
        plan.parse_sweep("mix=blend")


def test_a_mix_sweep_study_runs_end_to_end(tiny_mnist, tmp_path):
    out = tmp_path / "sweep"
    result = CliRunner().invoke(
        main,
        [
            "study",
            "--dataset",
            "mnist",
            "--data-dir",
            tiny_mnist,
            "--arch",
            "mlp",
            "--seeds",
            "1",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--sweep",
            "mix",
            "--sweep",
            "label_smoothing=0,0.2",
            "--output",
            str(out),
            "--quiet",
        ],
        prog_name="kregs",
    )
    assert result.exit_code == 0, result.output
    rows = read_csv(out / "study.csv")
    assert [r["config"] for r in rows] == [
        "none",
        "mix=mixup",
        "mix=cutmix",
        "label_smoothing=0.2",
    ]
    assert [r["mix"] for r in rows] == ["none", "mixup", "cutmix", "none"]
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "sweep-label_smoothing.png",
        "sweep-mix.png",
    ]
    md = (out / "study.md").read_text()
    assert "| mixup | 1 |" in md and "| cutmix | 1 |" in md
