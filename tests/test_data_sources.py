"""Your own data: image folders, .npz files, arrays, tf.data and tfds:NAME, one `Dataset`."""

import numpy as np
import pytest
from _helpers import _pixels, make_folder, read_csv
from click.testing import CliRunner
from PIL import Image

from kregs.cli.main import main
from kregs.data import Dataset, ImageFiles, pipeline
from kregs.errors import ConfigError, DataError
from kregs.tuner import TuneConfig


def _kregs(args):
    return CliRunner().invoke(main, args, prog_name="kregs")


def _one_line(result):
    """The error, alone on standard error (a run's first line may precede it on stdout)."""
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output[-3000:]
    return lines[0]


# --- folders --------------------------------------------------------------------------------


def test_a_folder_of_class_folders_loads_with_sorted_class_names_and_a_test_split(tmp_path):
    root = make_folder(tmp_path / "pets", classes=("dogs", "cats", "owls"))
    (tmp_path / "pets" / "cats" / "notes.txt").write_text("not an image")
    splits = Dataset.from_directory(root).load(validation_split=0.2, seed=0)
    info = splits.info
    assert info.class_names == ("cats", "dogs", "owls") and info.num_classes == 3
    assert info.input_shape == (12, 10, 1)  # all the same size: as is; all gray: grayscale
    assert info.held_out == 0.1 and not info.streamed
    assert splits.counts() == {"train": [21, 22, 22], "validation": [6, 5, 5], "test": [3, 3, 3]}
    assert info.notes == ("ignored 1 file that is not an image (.txt 1)",)
    x, y = splits.train
    assert x.dtype == np.uint8 and x.shape == (65, 12, 10, 1)
    # the pixels are the files': dogs were written darkest, then cats, then owls
    assert x[y == 1].mean() < x[y == 0].mean() < x[y == 2].mean()
    # the test images are the same whatever the run's seed
    other = Dataset.from_directory(root).load(validation_split=0.2, seed=5)
    np.testing.assert_array_equal(other.test[0], splits.test[0])


def test_train_and_test_folders_are_used_as_they_are(tmp_path):
    root = make_folder(tmp_path / "d", split=True, mode="RGB", suffix=".jpg")
    splits = Dataset.from_directory(root).load(validation_split=0.1, seed=0)
    assert splits.info.held_out is None and splits.info.input_shape == (12, 10, 3)
    assert splits.counts()["test"] == [6, 6, 6]
    assert sum(splits.counts()["train"]) + sum(splits.counts()["validation"]) == 90


def test_mixed_sizes_need_image_size_and_are_resized_to_it(tmp_path):
    root = make_folder(tmp_path / "d")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "d" / "cats" / "big.png")
    with pytest.raises(DataError, match=r"images of 2 sizes \(10x12 \(90\), 20x20 \(1\), width x"):
        Dataset.from_directory(root).load()
    splits = Dataset.from_directory(root, image_size="8x8", color_mode="rgb").load()
    assert splits.info.input_shape == (8, 8, 3) and splits.train[0].shape[1:] == (8, 8, 3)


def test_a_folder_bigger_than_the_memory_budget_streams_the_same_pixels(tmp_path):
    root = make_folder(tmp_path / "d", per_class=10)
    memory = Dataset.from_directory(root).load(validation_split=0.2, seed=0)
    streamed = Dataset.from_directory(root).load(validation_split=0.2, seed=0, max_memory=1000)
    assert streamed.info.streamed and isinstance(streamed.train[0], ImageFiles)
    np.testing.assert_array_equal(streamed.train[1], memory.train[1])
    np.testing.assert_array_equal(streamed.train[0].decode(), memory.train[0])
    batches = list(pipeline(*streamed.validation, 4, training=False))
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), memory.validation[0])


# --- arrays, npz, tf.data, TFDS -------------------------------------------------------------


def _arrays(n=60, size=(8, 8), seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = np.stack([_pixels(label, size, 1, rng) for label in y])
    return x, y


def test_float_arrays_are_scaled_to_uint8_and_the_scaling_is_said(tmp_path):
    x, y = _arrays()
    unit = Dataset.from_arrays(x / 255.0, y, class_names=["a", "b", "c"]).load(seed=0)
    assert unit.info.pixels == "float in [0, 1], x255 to uint8"
    byte = Dataset.from_arrays(x.astype(np.float32), y).load(seed=0)
    assert byte.info.pixels == "float in [0, 255], rounded to uint8"
    np.testing.assert_array_equal(unit.train[0], byte.train[0])
    assert unit.info.class_names == ("a", "b", "c") and byte.info.class_names == ("0", "1", "2")


def test_an_npz_in_keras_layout_with_its_own_test_split(tmp_path):
    x, y = _arrays()
    np.savez(
        tmp_path / "d.npz",
        x_train=x,
        y_train=y,
        x_test=x[:9],
        y_test=y[:9],
        class_names=np.array(["low", "mid", "high"]),
    )
    splits = Dataset.from_path(tmp_path / "d.npz").load(validation_split=0.2)
    assert splits.info.source == f"npz:{tmp_path / 'd.npz'}" and splits.info.held_out is None
    assert splits.info.class_names == ("low", "mid", "high") and len(splits.test[1]) == 9
    assert splits.info.input_shape == (8, 8, 1)


@pytest.mark.tensorflow
def test_tf_data_pipelines_are_read_once(tmp_path):
    import tensorflow as tf

    x, y = _arrays()
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(7)
    splits = Dataset.from_tf_dataset(train, class_names=["a", "b", "c"]).load(seed=0)
    assert splits.info.source == "tf.data:tf.data" and splits.info.input_shape == (8, 8, 1)
    assert sum(map(sum, splits.counts().values())) == 60


@pytest.mark.tensorflow
def test_any_tfds_image_classification_data_set_with_mock_data(monkeypatch):
    import tensorflow_datasets as tfds

    from kregs.data import builtin

    monkeypatch.setattr(builtin, "_host_reachable", lambda host, timeout=3.0: True)
    with tfds.testing.mock_data(num_examples=200):
        splits = Dataset.from_name("tfds:mnist").load(validation_split=0.2)
    assert splits.info.source == "tfds:mnist" and splits.info.name == "tfds_mnist"
    assert splits.info.input_shape == (28, 28, 1) and splits.info.num_classes == 10
    assert len(splits.test[1]) == 200 and splits.train[0].dtype == np.uint8


def test_an_unknown_tfds_name_is_one_line():
    with pytest.raises(ConfigError, match="no TFDS data set named 'no_such_set'"):
        Dataset.from_name("tfds:no_such_set").load()


# --- the run records where its data came from -----------------------------------------------


def test_run_json_names_the_folder_and_a_changed_folder_is_another_run_or_worker(tmp_path):
    from kregs.run.folder import RunFolder, changed_keys
    from kregs.tuner.config import RESUMABLE

    root = make_folder(tmp_path / "d", per_class=10)
    before = TuneConfig.create(data=root, image_size="8x8").record()
    assert before["dataset"]["kind"] == "folder" and before["dataset"]["image_size"] == [8, 8]
    make_folder(tmp_path / "d", classes=("cats",), per_class=11)  # one more image
    after = TuneConfig.create(data=root, image_size="8x8").record()
    assert changed_keys(before, after) == ["dataset"]  # a resume, or a worker, is refused
    folder = RunFolder(tmp_path, "run.json", resumable=RESUMABLE)
    folder.write_record(before)  # the chief's
    with pytest.raises(ConfigError) as refused:  # a worker whose copy of the folder differs
        folder.check_same(after)
    assert str(refused.value) == (
        "this worker's options differ from the chief's run (dataset.fingerprint: chief "
        f"{before['dataset']['fingerprint']!r}, worker {after['dataset']['fingerprint']!r} "
        "(other files))"
    )


def test_data_and_dataset_together_are_refused_in_one_line(tmp_path):
    root = make_folder(tmp_path / "d", per_class=5)
    result = _kregs(["tune", "--folds", "0", "--data", root, "--dataset", "mnist"])
    assert result.exit_code == 2
    assert _one_line(result) == (
        f"Error: --data {root} and --dataset mnist name two data sets; give one "
        "(see kregs tune --help)"
    )
    result = _kregs(["tune", "--folds", "0", "--dataset", "mnist", "--image-size", "8x8"])
    assert result.exit_code == 2 and "--image-size is for your own data" in _one_line(result)


# --- bad data: one line, exit status 2, nothing trains --------------------------------------


def _tune(data, out, *extra):
    return _kregs(
        [
            "tune",
            "--folds",
            "0",
            "--data",
            str(data),
            "--arch",
            "mlp",
            "--max-trials",
            "1",
            "--epochs",
            "1",
            "--no-refit",
            "--quiet",
            "--recycle-after",
            "0",
            "--output",
            str(out),
            *extra,
        ]
    )


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BAD_FOLDERS = {
    "empty": (lambda root: root.mkdir(), "no class folders (expected one subfolder of images"),
    "no images": (
        lambda root: (
            (root / "cats").mkdir(parents=True) or (root / "cats" / "a.txt").write_text("x")
        ),
        "no images in its class folders (cats); kregs reads .bmp, .gif, .jpeg, .jpg, .png; "
        "ignored 1 file that is not an image (.txt 1)",
    ),
    "one class": (
        lambda root: make_folder(root, classes=("cats",)),
        "images of one class only ('cats'): a classifier needs at least two classes",
    ),
    "a class too small": (
        lambda root: (
            make_folder(root, per_class=30)
            and make_folder(root, classes=("bats",), per_class=1, seed=1)
        ),
        "class 'bats' has 1 image: too few for a test split of 0.1 (none is left for its "
        "test split",
    ),
    "mixed sizes": (
        lambda root: make_folder(root) and make_folder(root, classes=("cats",), size=(9, 9)),
        "images of 2 sizes (10x12 (60), 9x9 (30), width x height); give --image-size HxW",
    ),
    "corrupt images": (
        lambda root: (
            make_folder(root) and [_truncate(root / "cats" / f"00{i}.png") for i in range(3)]
        ),
        "cats/000.png: cannot be decoded (",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_a_bad_folder_is_one_line_and_nothing_trains(case, tmp_path):
    make, message = BAD_FOLDERS[case]
    make(tmp_path / "d")
    result = _tune(tmp_path / "d", tmp_path / "run")
    assert result.exit_code == 2, result.output[-3000:]
    line = _one_line(result)
    assert line.startswith("Error: ") and message in line, line
    if case == "corrupt images":
        assert "and 2 others, of 90 images in" in line and "--skip-bad-images" in line
    assert not (tmp_path / "run").exists()


def test_skip_bad_images_leaves_them_out_and_says_so(tmp_path):
    root = make_folder(tmp_path / "d", per_class=80)
    _truncate(tmp_path / "d" / "cats" / "000.png")
    result = _tune(root, tmp_path / "run", "--skip-bad-images")
    assert result.exit_code == 0, result.output[-3000:]
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "- left out 1 image that cannot be decoded (--skip-bad-images), e.g. " in summary
    assert "| total | 193 | 22 | 24 |" in summary  # 239 images
    # The export carries the folder names; predict says them.
    export = tmp_path / "run" / "export" / "d" / "1"
    names = (export / "assets" / "class_names.txt").read_text().split()
    assert names == ["cats", "dogs", "owls"]
    image = tmp_path / "d" / "owls" / "001.png"
    predicted = _kregs(["predict", str(export), str(image)])
    assert predicted.exit_code == 0, predicted.output
    label, rest = predicted.stdout.strip().split(": ")
    assert label == str(image) and rest.split()[0] in names


BAD_ARRAYS = {
    "missing keys": (
        dict(x_train=np.zeros((4, 8, 8), np.uint8)),
        "missing y_train; it holds x_train (expected x_train, y_train, and x_test with y_test",
    ),
    "length mismatch": (
        dict(x_train=np.zeros((6, 8, 8), np.uint8), y_train=np.arange(5) % 2),
        "y_train: 5 labels for 6 images",
    ),
    "labels outside the classes": (
        dict(
            x_train=np.zeros((6, 8, 8), np.uint8),
            y_train=np.array([0, 1, 2, 0, 1, 7]),
            class_names=np.array(["a", "b", "c"]),
        ),
        "labels: label 7 at index 5 is outside 0..2 (1 such labels of 6)",
    ),
    "labels not integers": (
        dict(x_train=np.zeros((6, 8, 8), np.uint8), y_train=np.array([0, 1, 0.5, 0, 1, 1])),
        "y_train: label 0.5 at index 2 is not an integer",
    ),
    "NaN pixels": (
        dict(x_train=np.full((6, 8, 8), np.nan), y_train=np.arange(6) % 2),
        "x_train: 384 pixels are NaN or infinite",
    ),
    "pixels out of range": (
        dict(x_train=np.full((6, 8, 8), 300.0), y_train=np.arange(6) % 2),
        "x_train: float pixels in [300, 300]; expected [0, 1] or [0, 255]",
    ),
    "test shape": (
        dict(
            x_train=np.zeros((6, 8, 8), np.uint8),
            y_train=np.arange(6) % 2,
            x_test=np.zeros((2, 9, 9), np.uint8),
            y_test=np.arange(2),
        ),
        "test images of shape (9, 9, 1), training images of (8, 8, 1): they must be the same",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ARRAYS))
def test_a_bad_npz_is_one_line_and_nothing_trains(case, tmp_path):
    arrays, message = BAD_ARRAYS[case]
    path = _npz(tmp_path / "d.npz", **arrays)
    result = _tune(path, tmp_path / "run")
    assert result.exit_code == 2, result.output[-3000:]
    line = _one_line(result)
    assert line.startswith(f"Error: {path}") and message in line, line
    assert not (tmp_path / "run").exists()


def test_a_study_on_your_own_folder(tmp_path):
    root = make_folder(tmp_path / "d", per_class=40)
    result = _kregs(
        [
            "study",
            "--data",
            root,
            "--arch",
            "mlp",
            "--seeds",
            "1",
            "--epochs",
            "1",
            "--validation-split",
            "0.25",
            "--sweep",
            "dropout=0,0.5",
            "--quiet",
            "--output",
            str(tmp_path / "s"),
        ]
    )
    assert result.exit_code == 0, result.output[-3000:]
    assert result.output.startswith("kregs study: d (preset: none, 1 seeds, 2 configurations")
    md = (tmp_path / "s" / "study.md").read_text()
    assert "d" in md and len(read_csv(tmp_path / "s" / "study.csv")) == 2
