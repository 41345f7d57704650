"""Beyond the study's three knobs: dropout placement and kind, decoupled weight decay,
augmentation; the extended search space; the search explained."""

import json
import os
import struct

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf
from _helpers import run_python
from click.testing import CliRunner

from kregs import RegConfig, build_model
from kregs.checks import AUGMENTATIONS
from kregs.cli.main import main
from kregs.deploy.savedmodel import export_for_serving
from kregs.errors import ConfigError
from kregs.layers import ConvBlock, DenseBlock
from kregs.run.train import compile_model
from kregs.tuner import TuneConfig, explain
from kregs.tuner.config import Fixed
from kregs.tuner.hypermodel import RegularizationHyperModel
from kregs.tuner.space import SearchSpace

EVERYTHING = RegConfig(
    l2=1e-4,
    weight_decay=0.05,
    dropout=0.3,
    dropout_placement="stages",
    dropout_kind="spatial",
    batch_norm="before_activation",
    augment="flip+shift+erase",
)


def _images(n=8, side=12, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, 1)).astype("uint8")


# --- RegConfig -------------------------------------------------------------------------------


def test_names_say_every_technique_and_the_study_names_stay():
    assert EVERYTHING.name == "l2+wd+dropout+bn+aug"
    assert RegConfig(l2=1e-4, dropout=0.2, batch_norm="before_activation").name == "l2+dropout+bn"
    assert RegConfig(weight_decay=0.01).name == "wd"
    assert RegConfig(augment="shift").name == "aug"


def test_a_dict_written_before_the_new_fields_still_loads():
    old = {"l2": 0.01, "dropout": 0.3, "batch_norm": "none"}
    reg = RegConfig.from_dict(old)
    assert (reg.weight_decay, reg.dropout_placement, reg.dropout_kind, reg.augment) == (
        0.0,
        "blocks",
        "elementwise",
        "none",
    )
    assert RegConfig.from_dict(EVERYTHING.to_dict()) == EVERYTHING


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"weight_decay": -0.1},
            "`weight_decay`: expected a finite float >= 0. Received: weight_decay=-0.1",
        ),
        ({"dropout_placement": "middle"}, "`dropout_placement`: expected one of blocks, stages"),
        ({"dropout_kind": "channel"}, "`dropout_kind`: expected one of elementwise, spatial"),
        ({"augment": "rotate"}, "`augment`: expected one of none, shift, shift+erase"),
    ],
)
def test_bad_values_name_the_value_and_what_was_expected(kwargs, message):
    with pytest.raises(ConfigError, match="Invalid value for argument ") as err:
        RegConfig(**kwargs)
    assert message in str(err.value)


# --- where dropout goes ----------------------------------------------------------------------


def _dropout_layers(model):
    """(where, class name) of every dropout layer, blocks' included."""
    found = []
    for layer in model.layers:
        steps = getattr(layer, "steps", [layer])
        found += [
            (layer.name, type(s).__name__) for s in steps if isinstance(s, keras.layers.Dropout)
        ]
    return found


@pytest.mark.parametrize(
    "placement, kind, expected",
    [
        (
            "blocks",
            "elementwise",
            [(n, "BernoulliDropout") for n in ("conv1_1", "conv1_2", "conv2_1", "conv2_2")]
            + [("dense1", "BernoulliDropout")],
        ),
        (
            "blocks",
            "spatial",
            [(n, "SpatialDropout2D") for n in ("conv1_1", "conv1_2", "conv2_1", "conv2_2")]
            + [("dense1", "BernoulliDropout")],
        ),
        (
            "stages",
            "spatial",
            [
                ("dropout1", "SpatialDropout2D"),
                ("dropout2", "SpatialDropout2D"),
                ("dense1", "BernoulliDropout"),
            ],
        ),
        ("head", "spatial", [("dense1", "BernoulliDropout")]),  # the kind is the convolutions'
    ],
)
def test_dropout_goes_where_the_placement_says(placement, kind, expected):
    reg = RegConfig(dropout=0.3, dropout_placement=placement, dropout_kind=kind)
    model = build_model((12, 12, 1), 3, reg)
    assert _dropout_layers(model) == expected
    if placement == "stages":  # right after each pooling stage
        names = [layer.name for layer in model.layers]
        assert names.index("dropout1") == names.index("pool1") + 1
        assert names.index("dropout2") == names.index("pool2") + 1


def test_the_mlp_is_all_head():
    model = build_model((8, 8, 1), 3, RegConfig(dropout=0.3, dropout_placement="head"), arch="mlp")
    assert [name for name, _ in _dropout_layers(model)] == ["dense1", "dense2"]


def test_spatial_dropout_drops_whole_feature_maps_and_scales_the_rest():
    block = ConvBlock(16, reg=RegConfig(dropout=0.5, dropout_kind="spatial"), activation="linear")
    x = keras.ops.ones((4, 6, 6, 3))
    block(x)  # builds it
    y = keras.ops.convert_to_numpy(block(x, training=True))
    plain = keras.ops.convert_to_numpy(block(x, training=False))
    per_map = y.reshape(4, 36, 16)
    dropped = np.all(per_map == 0, axis=1)  # (4, 16): a map is dropped whole or kept whole
    assert 0 < dropped.sum() < dropped.size
    kept = ~dropped
    ratio = per_map.transpose(0, 2, 1)[kept] / plain.reshape(4, 36, 16).transpose(0, 2, 1)[kept]
    np.testing.assert_allclose(ratio, 2.0, rtol=1e-5)  # survivors scaled by 1 / (1 - 0.5)


# --- decoupled weight decay ------------------------------------------------------------------


def test_one_adamw_step_is_the_decay_then_adams_step_on_the_loss_alone():
    """w1 = w0 * (1 - lr * wd) - Adam's first step; biases, gamma and beta are not decayed."""
    lr, wd, b1, b2, eps = 0.01, 5.0, 0.9, 0.999, 1e-7
    keras.utils.set_random_seed(0)
    reg = RegConfig(weight_decay=wd, batch_norm="before_activation")
    model = compile_model(build_model((8, 8, 1), 3, reg, arch="mlp"), lr, weight_decay=wd)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    x, y = _images(16, 8), np.arange(16) % 3
    before = [v.numpy() for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
    grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
    model.train_on_batch(x, y)
    decayed = []
    for v, w, g in zip(model.trainable_variables, before, grads, strict=True):
        decays = v.name not in ("bias", "gamma", "beta")
        decayed.append(decays)
        adam = lr * np.sqrt(1 - b2) / (1 - b1) * (1 - b1) * g / (np.sqrt((1 - b2) * g**2) + eps)
        expected = w * (1 - lr * wd * decays) - adam
        np.testing.assert_allclose(v.numpy(), expected, atol=2e-5, err_msg=v.path)
        if decays:  # the decay is visible: 5% of each weight, far above the tolerance
            assert np.abs(w * lr * wd).max() > 100 * 2e-5
    assert decayed.count(True) == 3 and decayed.count(False) == 5  # 3 kernels; 2 BN, 1 bias


def test_no_decay_is_plain_adam():
    model = compile_model(build_model((8, 8, 1), 3, arch="mlp"), 1e-3)
    assert type(model.optimizer) is keras.optimizers.Adam


# --- augmentation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "augment, layers",
    [
        ("none", []),
        ("shift", ["shift"]),
        ("shift+erase", ["shift", "erase"]),
        ("flip+shift", ["flip", "shift"]),
        ("flip+shift+erase", ["flip", "shift", "erase"]),
    ],
)
def test_augmentation_acts_in_training_only(augment, layers):
    keras.utils.set_random_seed(0)
    model = build_model((12, 12, 1), 3, RegConfig(augment=augment))
    names = [layer.name for layer in model.layers]
    assert names[1 : 1 + len(layers)] == layers and names[1 + len(layers)] == "rescale"
    x = _images(16)
    inference = model(x, training=False)
    np.testing.assert_array_equal(inference, model.predict(x, verbose=0))
    if layers:
        assert not np.allclose(model(x, training=True), inference, atol=1e-4)
        augmented = x.astype("float32")
        for layer in model.layers[1 : 1 + len(layers)]:
            np.testing.assert_array_equal(layer(augmented, training=False), augmented)


def test_every_new_option_survives_keras_saving_and_a_saved_model_without_kregs(tmp_path):
    keras.utils.set_random_seed(0)
    model = compile_model(build_model((12, 12, 1), 3, EVERYTHING), 1e-3, weight_decay=0.05)
    x = _images(32)
    model.fit(x, np.arange(32) % 3, batch_size=16, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    blocks = [layer for layer in loaded.layers if isinstance(layer, (ConvBlock, DenseBlock))]
    assert blocks[-1].reg == EVERYTHING
    path = export_for_serving(model, str(tmp_path / "export" / "m"), ["a", "b", "c"])
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, json, numpy as np, tensorflow as tf\n"
        f"m = tf.saved_model.load({path!r})\n"
        "sig = m.signatures['serving_default']\n"
        "out = sig(images=tf.constant(np.load('x.npy')))\n"
        "np.save('p.npy', out['probabilities'].numpy())\n"
        "np.save('c.npy', out['class_ids'].numpy())\n"
        "inputs = {k: (v.dtype.name, v.shape.as_list())\n"
        "          for k, v in sig.structured_input_signature[1].items()}\n"
        "print(json.dumps([inputs, sorted(sig.structured_outputs),\n"
        "    sorted(k for k in sys.modules if k.split('.')[0] == 'kregs')]))\n"
    )
    proc = run_python(code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    inputs, outputs, kregs_modules = json.loads(proc.stdout.strip().splitlines()[-1])
    assert inputs == {"images": ["uint8", [None, 12, 12, 1]]}
    assert outputs == ["class_ids", "probabilities"] and kregs_modules == []
    expected = model.predict(x, verbose=0)  # the model in inference mode
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected, atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), expected.argmax(axis=1))


# --- the extended space ----------------------------------------------------------------------


def _sample(hypermodel, trials=40, seed=0):
    """The RegConfigs a random search draws (the space grows as configurations declare it)."""
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective="val_accuracy", max_trials=trials, seed=seed
    )
    configs = []
    for i in range(trials):
        values = oracle.populate_space(str(i))["values"]
        hp = oracle.get_space()
        hp.values.update(values or {})
        configs.append(hypermodel.reg_config(hp))
        oracle.update_space(hp)
    return configs


def test_the_extended_space_searches_every_new_dimension():
    hypermodel = RegularizationHyperModel(
        (28, 28, 1), 10, space=SearchSpace("extended", flips=True)
    )
    configs = _sample(hypermodel, trials=100)
    assert {c.uses_l2 for c in configs} == {True, False}
    assert {c.uses_weight_decay for c in configs} == {True, False}
    assert not any(c.uses_l2 and c.uses_weight_decay for c in configs)  # one penalty at most
    with_dropout = [c for c in configs if c.uses_dropout]
    assert {c.dropout_placement for c in with_dropout} == {"blocks", "stages", "head"}
    assert {c.dropout_kind for c in with_dropout if c.dropout_placement != "head"} == {
        "elementwise",
        "spatial",
    }
    assert {c.augment for c in configs} == set(AUGMENTATIONS)
    assert {c.mix for c in configs} == {"none", "mixup", "cutmix"}
    assert all(0.1 <= c.mix_alpha <= 1.0 for c in configs)
    assert {c.weight_averaging for c in configs} == {"none", "ema"}
    smoothing = [c.label_smoothing for c in configs if c.uses("label_smoothing")]
    assert smoothing and all(0.05 <= s <= 0.3 for s in smoothing)
    assert len(smoothing) < len(configs)
    assert not any(c.uses("stochastic_depth") for c in configs)  # the CNN has no residuals
    decays = [c.weight_decay for c in configs if c.uses_weight_decay]
    assert all(1e-3 <= d <= 0.5 for d in decays)


def test_without_flips_the_space_never_mirrors_and_refuses_a_fixed_flip():
    hypermodel = RegularizationHyperModel((28, 28, 1), 10, space="extended")
    assert not any(c.flips for c in _sample(hypermodel))
    with pytest.raises(ConfigError, match="`augment`: expected no flips"):
        SearchSpace("extended", Fixed(augment="flip+shift"))


def test_the_extended_control_switches_everything_off():
    hypermodel = RegularizationHyperModel(
        (28, 28, 1), 10, space=SearchSpace("extended", flips=True)
    )
    values = hypermodel.baseline_values()
    assert values == {
        "penalty": "none",
        "use_dropout": False,
        "batch_norm": "none",
        "augment": "none",
        "use_label_smoothing": False,
        "mix": "none",
        "weight_averaging": "none",
    }
    hp = keras_tuner.HyperParameters()
    hypermodel.reg_config(hp)  # declares the space
    hp.values.update(values)
    assert hypermodel.reg_config(hp) == RegConfig()


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--weight-decay", "-1"], "Error: Invalid value for '--weight-decay': -1.0 is not in"),
        (["--dropout-placement", "middle"], "Error: Invalid value for '--dropout-placement'"),
        (["--dropout-kind", "channel"], "Error: Invalid value for '--dropout-kind'"),
        (
            ["--space", "extended", "--dataset", "mnist", "--augment", "flip+shift"],
            "Error: Invalid value for argument `augment`: expected no flips for mnist",
        ),
        (
            ["--space", "default", "--augment", "shift"],
            "Error: Invalid value for argument `augment`: expected a search space with this "
            "dimension (the default space has none; it is in: extended)",
        ),
    ],
)
def test_bad_values_are_one_line_and_exit_2(args, message, tmp_path):
    result = CliRunner().invoke(
        main, ["tune", "--folds", "0", *args, "--output", str(tmp_path / "r")]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output


def test_tune_config_takes_the_fixed_extended_values():
    config = TuneConfig.create(
        "fashion_mnist", space="extended", weight_decay=0.01, augment="flip+shift"
    )
    assert (config.fixed.get("weight_decay"), config.fixed.get("augment")) == (0.01, "flip+shift")
    # run.json names only the extended dimensions fixed: older records stay the same
    assert config.record()["fixed"] == {
        "l2": None,
        "dropout": None,
        "batch_norm": None,
        "learning_rate": None,
        "weight_decay": 0.01,
        "augment": "flip+shift",
    }
    assert TuneConfig.from_record(config.record()).fixed == config.fixed


# --- the search explained --------------------------------------------------------------------


def _rows(n=12, seed=0):
    """Trials whose accuracy depends on batch_norm only (plus a little noise)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        bn = ["none", "before_activation"][i % 2]
        rows.append(
            {
                "trial_id": str(i),
                "status": "COMPLETED",
                "config": "bn" if bn != "none" else "none",
                "l2": float(10 ** rng.uniform(-6, -2)),
                "dropout": float(rng.uniform(0.1, 0.7)),
                "batch_norm": bn,
                "learning_rate": 1e-3,
                "best_val_accuracy": 0.80 + 0.08 * (bn != "none") + rng.normal(0, 0.003),
                "generalization_gap": float(rng.uniform(0, 0.1)),
            }
        )
    return rows


def test_importance_ranks_the_hyperparameter_that_decides_first():
    ranked = explain.importance(_rows())
    assert [name for name, _, _ in ranked][0] == "batch_norm"
    assert {name for name, _, _ in ranked} == {"l2", "dropout", "batch_norm"}  # lr is fixed
    assert ranked[0][1] > 5 * max(mean for _, mean, _ in ranked[1:])
    assert explain.importance(_rows(5)) is None  # too few trials


def test_pareto_front_keeps_exactly_the_undominated_trials():
    rows = [
        {
            "trial_id": t,
            "status": "COMPLETED",
            "config": "x",
            "best_val_accuracy": a,
            "generalization_gap": g,
        }
        for t, a, g in [
            ("0", 0.90, 0.05),
            ("1", 0.91, 0.08),
            ("2", 0.89, 0.06),
            ("3", 0.88, 0.01),
            ("4", 0.91, 0.09),
        ]
    ]
    assert explain.pareto_front(rows) == ["1", "0", "3"]  # 2 and 4 are beaten on both


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_plots_and_summary_sections(tmp_path):
    rows = _rows()
    ranked = explain.importance(rows)
    paths = explain.write_plots(str(tmp_path), rows, ranked, chosen_id="1")
    assert [os.path.basename(p) for p in paths] == ["importance.png", "tradeoff.png"]
    for path in paths:
        width, height = _png_size(path)
        assert width >= 400 and height >= 200 and os.path.getsize(path) > 10_000
    text = "\n".join(explain.markdown(rows, ranked))
    assert "## What mattered" in text and "| batch_norm |" in text
    front = explain.pareto_front(rows)
    assert text.count("\n| ") - len(ranked) - 2 == len(front)  # one row per front trial
    # A search with too few trials for importance leaves no earlier run's importance.png.
    again = explain.write_plots(str(tmp_path), rows[:3], explain.importance(rows[:3]), None)
    assert [os.path.basename(p) for p in again] == ["tradeoff.png"]
    assert sorted(os.listdir(tmp_path / "plots")) == ["tradeoff.png"]


# --- the study -------------------------------------------------------------------------------


def test_the_study_takes_the_dropout_layout_and_records_it_only_when_given():
    from kregs.study.config import StudyConfig
    from kregs.study.protocol import configurations

    plain = StudyConfig.create("fashion_mnist", preset="smoke")
    assert plain.record()["values"] == {
        "l2": 1e-4,
        "dropout": 0.25,
        "batch_norm": "before_activation",
    }
    assert "dropout_placement" not in plain.record()["sources"]  # older studies continue
    config = StudyConfig.create(
        "fashion_mnist", preset="smoke", dropout_placement="head", dropout_kind="spatial"
    )
    assert config.record()["values"]["dropout_placement"] == "head"
    configs = configurations(config.values)
    assert configs["l2+dropout+bn"].dropout_placement == "head"
    assert configs["l2+dropout+bn"].dropout_kind == "spatial"
    assert configs["bn"] == RegConfig(batch_norm="before_activation", **config.values.layout())
    result = CliRunner().invoke(main, ["study", "--dropout-placement", "middle"])
    assert result.exit_code == 2
    assert "Invalid value for '--dropout-placement'" in result.output.strip().splitlines()[-1]
