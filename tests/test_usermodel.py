"""Your own model in a search: a .keras file or a build function, fine-tuned or fresh."""

import json
import os
import sys

import keras
import keras_tuner
import numpy as np
import pytest
from _helpers import read_csv
from click.testing import CliRunner

from kregs import RegConfig
from kregs.cli.main import main
from kregs.errors import ConfigError
from kregs.regularizers import L2SP, L2Penalty
from kregs.run.files import file_hash
from kregs.tuner import RegularizationHyperModel, TuneConfig
from kregs.tuner.space import SearchSpace
from kregs.usermodel import ModelSource

MODULE = """
import keras


def small(input_shape, num_classes):
    x = keras.Input(input_shape)
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(x)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    h = keras.layers.Dense(16, activation="relu", name="hidden")(h)
    return keras.Model(x, keras.layers.Dense(num_classes, name="logits")(h))


def placed(input_shape, num_classes, reg):
    import kregs

    return kregs.build_model(input_shape, num_classes, reg, arch="mlp")
"""


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    """`mymodels` on the import path, with its two build functions."""
    folder = tmp_path_factory.mktemp("mod")
    (folder / "mymodels.py").write_text(MODULE)
    sys.path.insert(0, str(folder))
    yield str(folder)
    sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, module):
    """A model of 5 classes on 12 x 12 grayscale images, saved."""
    import mymodels

    path = tmp_path_factory.mktemp("pre") / "pre.keras"
    keras.utils.set_random_seed(0)
    mymodels.small((12, 12, 1), 5).save(path)
    return str(path)


def _images(n=8):
    return np.random.default_rng(0).integers(0, 256, (n, 12, 12, 1), dtype=np.uint8)


def test_a_pretrained_model_gets_a_new_classifier_l2sp_and_a_softmax(pretrained):
    source = ModelSource.create(pretrained, init="pretrained")
    assert source.finetune and source.record()["kind"] == "file"
    assert source.preview((12, 12, 1), 3) == [
        "the model's classifier 'logits' has 5 classes, the data 3: a new one (fresh weights) "
        "replaces it",
        "the model's float inputs get the pixels scaled to [0, 1]",
    ]
    model = source.build((12, 12, 1), 3, RegConfig(l2sp=0.1, l2=0.01))
    assert model.input.dtype == "uint8" and model.output.shape == (None, 3)
    inner = model.layers[-1]
    assert isinstance(inner.get_layer("conv").kernel_regularizer, L2SP)
    assert isinstance(inner.get_layer("hidden").kernel_regularizer, L2SP)
    assert isinstance(inner.get_layer("logits").kernel_regularizer, L2Penalty)  # the new one
    # kept weights: the conv starts where the saved model is, L2-SP's w0 is those weights
    saved = keras.models.load_model(pretrained)
    conv = inner.get_layer("conv")
    np.testing.assert_array_equal(conv.get_weights()[0], saved.get_layer("conv").get_weights()[0])
    np.testing.assert_array_equal(conv.kernel_regularizer.start, conv.get_weights()[0])
    assert float(conv.kernel_regularizer(conv.kernel)) == 0.0
    probabilities = model.predict(_images(), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_fresh_weights_are_a_new_initialization_and_offer_no_l2sp(pretrained):
    source = ModelSource.create(pretrained, init="fresh")
    assert not source.finetune
    conv = source.build((12, 12, 1), 5, RegConfig()).layers[-1].get_layer("conv")
    saved = keras.models.load_model(pretrained).get_layer("conv")
    assert not np.array_equal(conv.get_weights()[0], saved.get_weights()[0])
    hp = keras_tuner.HyperParameters()
    space = SearchSpace("extended", finetune=source.finetune)
    RegularizationHyperModel((12, 12, 1), 5, model=source, space=space).build(hp)
    assert "l2sp" not in {p.name for p in hp.space}
    with pytest.raises(ConfigError, match="`l2sp`: expected a model whose weights the trials"):
        TuneConfig.create("mnist", model=pretrained, init="fresh", space="extended", l2sp=0.1)


def test_the_extended_space_searches_l2sp_when_fine_tuning(pretrained):
    source = ModelSource.create(pretrained)
    space = SearchSpace("extended", finetune=True)
    hp = keras_tuner.HyperParameters()
    RegularizationHyperModel((12, 12, 1), 3, model=source, space=space).build(hp)
    penalty = next(p for p in hp.space if p.name == "penalty")
    assert penalty.values == ["none", "l2", "decay", "l2sp"]
    hp.values.update({"penalty": "l2sp", "l2sp": 0.05})
    assert space.reg_config(hp, "model").l2sp == 0.05


def test_a_model_of_another_input_shape_is_refused_in_one_line(pretrained):
    with pytest.raises(ConfigError) as err:
        ModelSource.create(pretrained).preview((28, 28, 3), 3)
    assert str(err.value) == (
        "the model takes inputs of shape (12, 12, 1), the data's images are 28x28x3: give "
        "--image-size and --color-mode to match it"
    )


def test_arch_and_model_together_are_refused(pretrained):
    result = CliRunner().invoke(
        main, ["tune", "--folds", "0", "--model", pretrained, "--arch", "mlp"], prog_name="kregs"
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: --arch mlp and --model name two models; give one (see kregs tune --help)"
    )


def test_tune_a_build_function_end_to_end(module, tmp_path):
    """`kregs tune --model module:function` on small data: a search, a refit, an export
    that takes uint8 images and gives probabilities of the data's classes."""
    rng = np.random.default_rng(0)
    y = np.arange(300) % 4
    x = (rng.integers(0, 40, (300, 12, 12)) + 50 * y[:, None, None]).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
    out = tmp_path / "run"
    args = [
        "tune",
        "--folds",
        "0",
        "--data",
        str(tmp_path / "d.npz"),
        "--model",
        "mymodels:small",
        "--space",
        "extended",
        "--algorithm",
        "random",
        "--max-trials",
        "2",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--quiet",
        "--recycle-after",
        "0",
        "--output",
        str(out),
    ]
    env = {"PYTHONPATH": module + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = CliRunner(env=env).invoke(main, args, prog_name="kregs")
    assert result.exit_code == 0, result.output[-3000:]
    assert "the model's output 'logits' gave scores: a softmax makes them probabilities" in (
        result.output
    )
    record = json.loads((out / "run.json").read_text())
    assert record["model"] == {
        "kind": "function",
        "location": "mymodels:small",
        "init": "pretrained",
        "input_range": None,
        "fingerprint": file_hash(os.path.join(module, "mymodels.py")),  # its source's
    }
    assert [r["status"] for r in read_csv(out / "trials.csv")] == ["COMPLETED", "COMPLETED"]
    summary = (out / "summary.md").read_text()
    assert "## Model" in summary and "- function: mymodels:small" in summary
    from kregs.deploy.predictor import Predictor

    predictor = Predictor(str(out / "export" / "d"))
    probabilities = predictor.predict(_images())
    assert predictor.probabilities and probabilities.shape == (8, 4)


def test_a_build_function_that_takes_reg_places_the_regularizers_itself(module):
    source = ModelSource.create("mymodels:placed")
    model = source.build((12, 12, 1), 3, RegConfig(l2=0.01, dropout=0.2))
    assert [type(layer).__name__ for layer in model.layers][-1] == "Dense"
    assert len(model.losses) == 3  # kregs' own MLP: two blocks and the classifier


def test_a_study_sweeps_l2sp_on_a_pretrained_model(pretrained, tmp_path):
    """`kregs study --model FILE.keras --sweep l2sp`: each value fine-tunes the saved weights."""
    rng = np.random.default_rng(1)
    y = np.arange(300) % 3  # 3 classes: the model's 5-class head is replaced
    x = (rng.integers(0, 40, (300, 12, 12)) + 60 * y[:, None, None]).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
    out = tmp_path / "study"
    args = [
        "study",
        "--data",
        str(tmp_path / "d.npz"),
        "--model",
        pretrained,
        "--sweep",
        "l2sp=0,0.1",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--output",
        str(out),
    ]
    result = CliRunner().invoke(main, args, prog_name="kregs")
    assert result.exit_code == 0, result.output[-3000:]
    rows = read_csv(out / "study.csv")
    assert sorted(float(r["l2sp"]) for r in rows) == [0.0, 0.1]
    assert all(0 <= float(r["test_accuracy"]) <= 1 for r in rows)
    assert json.loads((out / "study.json").read_text())["model"]["location"] == pretrained
