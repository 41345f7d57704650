"""What a fault probe found with users' own data and models: each case as it failed, now
answered (one line and exit 2, or the right result)."""

import inspect
import os
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from _helpers import make_folder
from click.testing import CliRunner
from PIL import Image

import kregs
from kregs import RegConfig
from kregs.cli.main import main
from kregs.data import Dataset
from kregs.data.folder import list_images
from kregs.data.images import decode, decode_all, read_inputs
from kregs.errors import ConfigError, DataError

ENV = dict(os.environ, PYTHONUNBUFFERED="1")


def _kregs(args):
    return CliRunner().invoke(main, args, prog_name="kregs")


def _last_line(result):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert "Traceback" not in result.output, result.output[-3000:]
    return lines[-1]


# --- 1. links in a data folder ---------------------------------------------------------------


def test_a_link_loop_in_a_data_folder_is_not_followed_and_said(tmp_path):
    root = Path(make_folder(tmp_path / "data", classes=("a", "b"), per_class=60))
    os.symlink("..", root / "a" / "loop")  # it listed 29,520 paths, b's images labelled a
    listing = list_images(str(root))
    assert len(listing.paths) == 120
    assert np.bincount(listing.labels).tolist() == [60, 60]
    assert listing.notes() == [
        "did not follow 1 link to a folder listed already, above it or of another class "
        f"(e.g. {root / 'a' / 'loop'})"
    ]


def test_a_link_to_another_class_is_not_followed(tmp_path):
    root = Path(make_folder(tmp_path / "data", classes=("a", "b"), per_class=10))
    os.symlink(root / "b", root / "a" / "more")
    listing = list_images(str(root))
    assert np.bincount(listing.labels).tolist() == [10, 10]


def test_a_file_in_two_classes_or_two_splits_is_refused(tmp_path):
    root = Path(make_folder(tmp_path / "data", classes=("a", "b"), per_class=10))
    first = sorted(os.listdir(root / "a"))[0]
    os.symlink(root / "a" / first, root / "b" / "copy.png")
    with pytest.raises(DataError) as err:
        list_images(str(root))
    assert str(err.value) == (
        f"{root / 'b' / 'copy.png'}: the same file as {root / 'a' / first}, in classes 'a' and "
        "'b': an image has one class and one split; remove the link or the copy"
    )
    split = Path(make_folder(tmp_path / "split", classes=("a", "b"), per_class=10, split=True))
    name = sorted(os.listdir(split / "train" / "a"))[0]
    os.symlink(split / "train" / "a" / name, split / "test" / "a" / "same.png")
    with pytest.raises(DataError, match="in train/ and test/"):
        list_images(str(split))


# --- 2. a model with its own dropout and BN --------------------------------------------------


def _own_model():
    x = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(4, 3, name="conv")(x)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.Dropout(0.3)(h)
    h = keras.layers.Conv2D(4, 3, activation="relu", name="conv_b")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(8, activation="relu")(h)
    h = keras.layers.Dropout(0.5)(h)
    return keras.Model(x, keras.layers.Dense(3, activation="softmax")(h))


def _kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def test_regularize_never_stacks_a_second_dropout_and_is_idempotent():
    model = _own_model()
    reg = RegConfig(l2=1e-4, dropout=0.2, batch_norm="before_activation")
    once = kregs.regularize(model, reg)
    # one new dropout (after conv_b, which had none), none after the model's own two
    assert _kinds(once).count("Dropout") == 3
    drops = [layer.rate for layer in once.layers if isinstance(layer, keras.layers.Dropout)]
    assert sorted(drops) == [0.2, 0.3, 0.5]
    twice = kregs.regularize(once, reg)  # it failed on a name clash (conv_b_dropout twice)
    assert _kinds(twice) == _kinds(once)
    assert [w.shape for w in twice.get_weights()] == [w.shape for w in once.get_weights()]
    x = np.random.default_rng(0).random((2, 12, 12, 1)).astype("float32")
    np.testing.assert_allclose(twice(x), once(x), atol=1e-6)
    head = RegConfig(dropout=0.2, dropout_placement="head")  # its Dense already has one
    assert _kinds(kregs.regularize(model, head)).count("Dropout") == 2


def test_the_control_of_a_model_with_its_own_regularization_is_the_model_as_given():
    from kregs.usermodel import adapt

    model, said = _own_model(), []
    control = adapt(model, (12, 12, 1), 3, RegConfig(), say=said.append)
    inner = control.layers[-1]
    assert _kinds(inner).count("Dropout") == 2 and _kinds(inner).count("BatchNormalization") == 1
    assert said[0] == (
        "the model has regularization of its own (2 dropout layers, 1 normalization layer): "
        "kregs keeps it, adds no dropout or BN where it has one, and the control is the "
        "model as given"
    )


def test_a_run_that_finished_nothing_does_not_refuse_the_corrected_command(tmp_path):
    from kregs.run.folder import RunFolder

    folder = RunFolder(tmp_path / "run", "run.json", owned=("x.txt",), work=("trials.csv",))
    with folder.session({"kregs_version": "0", "model": "broken"}) as run:
        run.write_record({"kregs_version": "0", "model": "broken"})
        (tmp_path / "run" / "x.txt").write_text("half")  # then the model failed to build
    with folder.session({"kregs_version": "0", "model": "fixed"}) as run:
        assert not (tmp_path / "run" / "x.txt").exists()  # what it wrote went
        run.write_record({"kregs_version": "0", "model": "fixed"})
        (tmp_path / "run" / "trials.csv").write_text("trial_id\n0\n")
    with pytest.raises(ConfigError, match="holds a run with another configuration"):
        with folder.session({"kregs_version": "0", "model": "other"}):
            pass


# --- 3. one decoder for training, predict, compare -------------------------------------------


def _write(path, array, mode=None):
    Image.fromarray(array, mode).save(path)
    return str(path)


def test_every_kind_of_image_decodes_the_same_with_or_without_tensorflow(tmp_path):
    rng = np.random.default_rng(0)
    files = [
        _write(tmp_path / "rgba.png", rng.integers(0, 256, (20, 40, 4), np.uint8), "RGBA"),
        _write(tmp_path / "wide.png", rng.integers(0, 65536, (20, 40), np.uint16)),
        _write(tmp_path / "rgb.bmp", rng.integers(0, 256, (20, 40, 3), np.uint8)),
        _write(tmp_path / "gray.gif", rng.integers(0, 256, (20, 40), np.uint8)),
        _write(tmp_path / "gray.png", rng.integers(0, 256, (16, 16), np.uint8)),
    ]
    for shape in ((16, 16, 1), (16, 16, 3), (30, 50, 1)):
        images, bad = decode_all(files, shape)  # TensorFlow's ops: training's decoder
        assert bad == {}
        for path, image in zip(files, images, strict=True):
            np.testing.assert_array_equal(decode(path, shape), image, err_msg=f"{path} {shape}")


def test_predict_takes_the_images_the_model_was_trained_on(tmp_path):
    """Trained with --image-size 16x16 on 40x20 images, predict refused them ("cannot become
    16x16 without distortion") and resized others with Lanczos, not training's bilinear."""
    rng = np.random.default_rng(1)
    path = _write(tmp_path / "wide.png", rng.integers(0, 256, (20, 40), np.uint8))
    images, labels = read_inputs([path], (16, 16, 1))
    trained, _ = decode_all([path], (16, 16, 1))
    np.testing.assert_array_equal(images, trained)
    assert labels == [path]


def test_an_export_records_how_its_inputs_are_made(tmp_path):
    from kregs.data import DatasetInfo
    from kregs.deploy.predictor import Predictor
    from kregs.tuner.best import export

    model = kregs.build_model((8, 8, 1), 2, arch="mlp")
    info = DatasetInfo("toy", (8, 8, 1), 2, ("a", "b"), "arrays:toy")
    path, _ = export(model, {"trial_id": "0"}, info, str(tmp_path))
    inputs = Predictor(path).metadata["inputs"]
    assert inputs["image_size"] == [8, 8] and inputs["color_mode"] == "grayscale"
    assert inputs["resize"] == "bilinear, half-pixel centres, no antialiasing, rounded to uint8"


# --- 4. a longer time budget reaches a finished run's refit ----------------------------------


def test_a_refit_is_reused_only_where_the_new_budget_plans_no_more():
    from kregs.tuner.refit import _finished

    done = {
        "trial_id": "3",
        "planned_epochs": 6,
        "start": "trial",
        "trial_weights": "w",
        "time_budget": 60.0,
        "epochs": 1,
    }
    wanted = {**{k: done[k] for k in ("trial_id", "planned_epochs", "start", "trial_weights")}}
    assert _finished(done, {**wanted, "time_budget": 60.0}, epochs=1)  # the same command
    assert not _finished(done, {**wanted, "time_budget": 600.0}, epochs=5)  # a longer one
    assert _finished(done, {**wanted, "time_budget": 70.0}, epochs=1)  # no more epochs fit
    assert not _finished(done, {**wanted, "time_budget": 60.0, "trial_weights": "v"}, epochs=1)


def test_a_refit_epoch_writes_the_time_spent(tmp_path):
    from kregs.tuner.clock import TimeBudget
    from kregs.tuner.refit import saving

    ticks = iter(range(0, 1000, 10))
    clock = TimeBudget(600, 5, record=(str(tmp_path / "time.json"), 1.0), clock=lambda: next(ticks))
    saving(keras, clock).on_epoch_end(0)
    assert (tmp_path / "time.json").exists()


# --- 5. what a retrained trial's model was derived to is derived again -------------------------


def test_a_retrained_trial_is_tested_and_exported_again(tmp_path):
    from kregs.data import DatasetInfo
    from kregs.deploy.formats import latest_export
    from kregs.tuner.best import export_once, test_once

    info = DatasetInfo("toy", (8, 8, 1), 2, ("a", "b"), "arrays:toy")
    x, y = np.zeros((4, 8, 8, 1), np.uint8), np.array([0, 1, 0, 1])
    first = kregs.build_model((8, 8, 1), 2, arch="mlp")
    again = keras.models.clone_model(first)  # trial 0 trained again: other weights
    for model in (first, again):
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    summary = {"trial_id": "0"}
    assert export_once(first, summary, info, str(tmp_path))[0].endswith("/1")
    assert export_once(first, summary, info, str(tmp_path))[0].endswith("/1")  # the same
    assert export_once(again, summary, info, str(tmp_path))[0].endswith("/2")
    assert latest_export(str(tmp_path / "export" / "toy"))[0] == 2
    kept = test_once(first, "0", (x, y), 4, str(tmp_path))
    assert test_once(again, "0", (x, y), 4, str(tmp_path))["weights"] != kept["weights"]


# --- 6. export options are honoured or refused -----------------------------------------------


def test_export_options_without_a_format_apply_to_the_savedmodel():
    from kregs.tuner import TuneConfig

    config = TuneConfig.create(preset="smoke", export_precision="trained")
    assert config.deployment.export_formats == ("savedmodel",)
    assert config.deployment.export_precision == "trained"
    dropped = TuneConfig.create(preset="smoke", max_accuracy_drop=0.1)
    assert dropped.deployment.max_accuracy_drop == 0.1
    with pytest.raises(ConfigError, match="none without --export-format litert"):
        TuneConfig.create(preset="smoke", quantize="int8")


def test_a_trained_precision_export_is_the_model_as_it_trained():
    from kregs.data import builtin_info
    from kregs.deploy.precision import model_to_export
    from kregs.tuner import TuneConfig
    from kregs.tuner.search import make_hypermodel

    config = TuneConfig.create(preset="smoke", arch="mlp")
    hypermodel = make_hypermodel(config, builtin_info("mnist"), precision="bfloat16")
    import keras_tuner

    model = hypermodel.build(keras_tuner.HyperParameters())
    exported, precision = model_to_export(model, "trained")
    assert exported is model and precision == "mixed_bfloat16"
    assert model_to_export(model, "float32")[1] == "float32"


# --- 7. a user's build function that fails, or returns what kregs cannot rewrite ---------------


BUILD_FUNCTIONS = """
import keras


class Sub(keras.Model):
    def __init__(self, n):
        super().__init__()
        self.flat = keras.layers.Flatten()
        self.dense = keras.layers.Dense(n, activation="softmax")

    def call(self, x):
        return self.dense(self.flat(x))


def subclassed(input_shape, num_classes):
    return Sub(num_classes)


def failing(input_shape, num_classes):
    raise RuntimeError("my bug")
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(BUILD_FUNCTIONS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_models", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    "function, message",
    [
        (
            "subclassed",
            "Error: Sub is a subclassed model: its layers' connections are in Python code kregs "
            "cannot rewrite; give kregs a build function instead (one that accepts `reg` places "
            "the regularizers itself) (see kregs tune --help)",
        ),
        (
            "failing",
            "Error: --model my_models:failing: the function raised RuntimeError: my bug "
            "(see kregs tune --help)",
        ),
    ],
)
def test_a_build_function_kregs_cannot_use_is_one_line(user_module, tmp_path, function, message):
    data = make_folder(tmp_path / "data", classes=("a", "b"), per_class=120, size=(8, 8))
    args = [
        "tune",
        "--data",
        str(data),
        "--model",
        f"my_models:{function}",
        "--preset",
        "smoke",
        "--recycle-after",
        "0",
        "--output",
        str(tmp_path / "run"),
    ]
    result = _kregs(args)
    assert result.exit_code == 2
    assert _last_line(result) == message
    assert not (tmp_path / "run").exists()


def test_no_tensorflow_log_line_before_a_model_error(user_module, tmp_path):
    """Six TensorFlow start-up lines came before the one line (the user's module imports it)."""
    data = make_folder(tmp_path / "data", classes=("a", "b"), per_class=120, size=(8, 8))
    env = {**ENV, "PYTHONPATH": str(user_module)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kregs",
            "tune",
            "--data",
            str(data),
            "--model",
            "my_models:failing",
            "--preset",
            "smoke",
            "--output",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "Error: --model my_models:failing: the function raised RuntimeError: my bug "
        "(see kregs tune --help)"
    ]


# --- 8. what kregs writes, others can read -----------------------------------------------------


def test_files_and_folders_kregs_writes_get_the_umask_modes(tmp_path):
    from kregs.run.files import UMASK, new_folder, write_json

    write_json(tmp_path / "run.json", {"a": 1})
    assert stat.S_IMODE(os.stat(tmp_path / "run.json").st_mode) == 0o666 & ~UMASK
    with new_folder(str(tmp_path), "export") as folder:
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o777 & ~UMASK
    assert UMASK == 0o022  # (the test runs with the usual umask: 0644 files, 0755 folders)


# --- 9. smaller -------------------------------------------------------------------------------


def test_a_duration_with_a_bare_number_after_a_unit_is_refused():
    result = _kregs(["tune", "--preset", "smoke", "--time-budget", "1h30"])
    assert result.exit_code == 2
    assert _last_line(result) == (
        "Error: Invalid value for argument `time_budget`: expected a unit after every number "
        "(30 has none: 1h30m, not 1h30). Received: time_budget='1h30' (see kregs tune --help)"
    )


def test_a_test_split_without_a_class_is_refused(tmp_path):
    root = Path(make_folder(tmp_path / "data", classes=("a", "b"), per_class=30, split=True))
    for name in os.listdir(root / "test" / "b"):
        os.unlink(root / "test" / "b" / name)
    with pytest.raises(DataError) as err:
        Dataset.from_directory(root).load()
    assert str(err.value).startswith(
        f"folder:{root}: its test split has no images of class 'b': every class needs test "
        "images to measure the model on it"
    )


def test_a_stray_label_without_class_names_is_named(tmp_path):
    x, y = np.zeros((100, 8, 8), np.uint8), np.arange(100) % 10
    y[7] = 200
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
    with pytest.raises(DataError) as err:
        Dataset.from_npz(tmp_path / "d.npz")
    assert str(err.value) == (
        f"{tmp_path / 'd.npz'}: labels: label 200 at index 7 is the largest, but 190 of the "
        "numbers 0..200 label no image (e.g. 10); without class_names, labels are the "
        "classes' numbers 0..K-1: give class_names, or fix the labels"
    )


def test_a_corrupt_keras_file_is_said_to_be_one(tmp_path):
    from kregs.usermodel import ModelSource

    (tmp_path / "m.keras").write_bytes(b"PK\x03\x04 cut here")
    with pytest.raises(ConfigError) as err:
        ModelSource.create(str(tmp_path / "m.keras")).base()
    assert str(err.value) == (
        f"--model {tmp_path / 'm.keras'}: not a .keras archive (a zip file): truncated, "
        "corrupt, or saved in another format; save the model again with model.save('model.keras')"
    )


def test_a_full_disk_in_tensorflow_names_the_file():
    from kregs.run.files import full_disk

    err = RuntimeError(
        "{{function_node __wrapped__SaveV2}} /runs/x/export/m/.tmp-export-1/variables/"
        "variables_temp/part-00000; No space left on device [Op:SaveV2]"
    )
    assert str(full_disk(err, "/runs/x")) == (
        "no space left on device while writing /runs/x/export/m/.tmp-export-1/variables/"
        "variables_temp/part-00000; free space and run the same command to resume"
    )


def test_a_large_training_image_gives_no_pillow_warning(tmp_path):
    from kregs.data.images import headers

    path = tmp_path / "large.png"
    Image.new("L", (9500, 9500)).save(path)  # past Pillow's 89-megapixel warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sizes, _, bad = headers([str(path)])
    assert sizes == [(9500, 9500)] and bad == {}


# --- 10. which Add is a residual connection ----------------------------------------------------


def test_only_an_add_of_a_block_and_its_shortcut_is_a_residual():
    from kregs.graph import read_graph

    a, b = keras.Input((4,)), keras.Input((4,))
    deep = keras.layers.Dense(4)(keras.layers.Dense(4)(b))
    towers = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Add()([a, deep])))
    assert read_graph(towers).residuals == {}  # two inputs at two depths: not a residual
    x = keras.Input((8, 8, 4))
    one = keras.layers.Conv2D(4, 3, padding="same")(x)
    two = keras.layers.Conv2D(4, 3, padding="same")(keras.layers.Conv2D(4, 3, padding="same")(x))
    three = keras.layers.Add(name="three")([x, one, two])  # ignored before
    model = keras.Model(x, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(three)))
    assert {k.name: v for k, v in read_graph(model).residuals.items()} == {"three": ((1, 2), 2)}
    dropped = kregs.regularize(model, RegConfig(stochastic_depth=0.2))
    layer = dropped.get_layer("three")
    assert type(layer).__name__ == "ResidualDrop" and layer.branch == [1, 2]
    probe = np.random.default_rng(0).random((2, 8, 8, 4)).astype("float32")
    np.testing.assert_allclose(dropped(probe), model(probe), atol=1e-5)  # inference: the sum


def test_regularize_has_no_private_argument():
    assert "_nested" not in inspect.signature(kregs.regularize).parameters


# --- 11. options the source has no use for; an edited build function ---------------------------


def test_a_built_in_data_set_refuses_options_it_has_no_use_for():
    with pytest.raises(ConfigError, match="no image_size for the built-in mnist"):
        Dataset.from_name("mnist", image_size=(8, 8))
    with pytest.raises(ConfigError, match="no flips for the built-in mnist"):
        Dataset.from_name("mnist", flips=True)


def test_a_build_function_is_fingerprinted_by_its_source(user_module):
    from kregs.usermodel import ModelSource

    before = ModelSource.create("my_models:failing").fingerprint
    with open(user_module / "my_models.py", "a") as f:
        f.write("\n# edited\n")
    sys.modules.pop("my_models")
    assert before is not None
    assert ModelSource.create("my_models:failing").fingerprint != before
