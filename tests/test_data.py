import os

import numpy as np
import pytest
from _helpers import write_cifar_dir, write_idx_dataset

from kregs import data
from kregs.data import builtin, formats
from kregs.errors import ConfigError, DataError, DataNotFoundError

DEBIAN = "/usr/share/datasets/fashion-mnist"


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No Debian copy, an empty Keras cache, an empty TFDS folder, no network."""
    monkeypatch.setattr(builtin, "DEBIAN_DIRS", {"fashion_mnist": str(tmp_path / "no-debian")})
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setattr(builtin, "_host_reachable", lambda host, timeout=3.0: False)
    return tmp_path


def test_real_fashion_mnist_from_debian_package(fashion_mnist):
    ds = data.load_dataset("fashion_mnist", validation_split=0.0)
    assert ds.info.source == f"debian:{DEBIAN}"
    (x, y), (xt, yt) = ds.train, ds.test
    assert x.shape == (60000, 28, 28, 1) and x.dtype == np.uint8
    assert xt.shape == (10000, 28, 28, 1) and len(ds.validation[0]) == 0
    assert np.bincount(y).tolist() == [6000] * 10
    _, official = formats.read_idx_pair(
        f"{DEBIAN}/t10k-images-idx3-ubyte.gz", f"{DEBIAN}/t10k-labels-idx1-ubyte.gz", (28, 28, 1)
    )
    np.testing.assert_array_equal(yt, official)
    assert ds.info.class_names[0] == "T-shirt/top" and ds.info.class_names[9] == "Ankle boot"
    assert ds.info.num_classes == 10 and ds.info.input_shape == (28, 28, 1)


def test_real_fashion_mnist_default_split_is_stratified(fashion_mnist):
    ds = data.load_dataset("fashion_mnist")
    assert np.bincount(ds.train[1]).tolist() == [5400] * 10
    assert np.bincount(ds.validation[1]).tolist() == [600] * 10


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError) as err:
        data.load_dataset("imagenet")
    assert str(err.value) == (
        "Invalid value for argument `dataset`: expected one of mnist, fashion_mnist, cifar10, "
        "or tfds:NAME (any TFDS image classification data set). Received: dataset='imagenet'"
    )


def test_data_dir_idx(tmp_path):
    arrays = write_idx_dataset(tmp_path, n_train=40, n_test=10)
    ds = data.load_dataset("mnist", data_dir=str(tmp_path), validation_split=0.0)
    assert ds.info.source == f"data_dir:{tmp_path}"
    np.testing.assert_array_equal(ds.train[0][..., 0], arrays["train"][0])
    np.testing.assert_array_equal(ds.test[1], arrays["t10k"][1])


def test_data_dir_keras_layout_for_fashion_mnist(tmp_path):
    write_idx_dataset(tmp_path / "fashion-mnist", n_train=40, n_test=10)
    ds = data.load_dataset("fashion_mnist", data_dir=str(tmp_path))
    assert ds.info.source == f"data_dir:{tmp_path / 'fashion-mnist'}"


def test_data_dir_npz(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    np.savez(
        tmp_path / "mnist.npz",
        x_train=x,
        y_train=np.arange(50) % 10,
        x_test=x[:5],
        y_test=np.arange(5),
    )
    ds = data.load_dataset("mnist", data_dir=str(tmp_path), validation_split=0.2)
    assert ds.info.source == f"data_dir:{tmp_path / 'mnist.npz'}"
    assert len(ds.train[0]) == 40 and len(ds.validation[0]) == 10 and len(ds.test[0]) == 5


@pytest.mark.parametrize("given", ["parent", "folder"])
def test_data_dir_cifar(tmp_path, given):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_dir(folder, per_batch=20, n_test=10)
    ds = data.load_dataset("cifar10", data_dir=str(tmp_path if given == "parent" else folder))
    assert ds.info.source == f"data_dir:{folder}"
    assert ds.train[0].shape == (90, 32, 32, 3) and ds.validation[0].shape == (10, 32, 32, 3)
    assert ds.info.class_names[0] == "airplane"


def test_data_dir_without_data_names_the_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match=f"no cifar10 files in --data-dir {tmp_path}"):
        data.load_dataset("cifar10", data_dir=str(tmp_path))


def test_incomplete_idx_set_is_an_error(tmp_path):
    write_idx_dataset(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match=r"incomplete mnist files, missing \['t10k-labels"):
        data.load_dataset("mnist", data_dir=str(tmp_path))


def test_corrupt_file_in_debian_folder_is_an_error_not_a_fallback(offline, monkeypatch):
    folder = offline / "debian"
    write_idx_dataset(folder)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"garbage")
    monkeypatch.setattr(builtin, "DEBIAN_DIRS", {"fashion_mnist": str(folder)})
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: truncated or corrupt gzip"):
        data.load_dataset("fashion_mnist")


def test_debian_folder_comes_before_keras_cache(offline, monkeypatch):
    write_idx_dataset(offline / "debian")
    write_idx_dataset(offline / "keras" / "datasets" / "fashion-mnist")
    monkeypatch.setattr(builtin, "DEBIAN_DIRS", {"fashion_mnist": str(offline / "debian")})
    assert data.load_dataset("fashion_mnist").info.source == f"debian:{offline / 'debian'}"


def test_keras_cache(offline):
    write_idx_dataset(offline / "keras" / "datasets" / "fashion-mnist")
    source = data.load_dataset("fashion_mnist").info.source
    assert source == f"keras-cache:{offline / 'keras' / 'datasets' / 'fashion-mnist'}"
    write_cifar_dir(offline / "keras" / "datasets" / "cifar-10-batches-py", per_batch=10)
    source = data.load_dataset("cifar10").info.source
    assert source == f"keras-cache:{offline / 'keras' / 'datasets' / 'cifar-10-batches-py'}"


@pytest.mark.tensorflow  # TFDS reads its data with TensorFlow
@pytest.mark.parametrize("name, shape", [("fashion_mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_tfds_path_with_mock_data(offline, monkeypatch, name, shape):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(builtin, "_host_reachable", lambda host, timeout=3.0: True)
    with tfds.testing.mock_data(num_examples=40):
        ds = data.load_dataset(name, validation_split=0.25)
    assert ds.info.source == f"tfds:{name}"
    assert ds.train[0].shape == (30, *shape) and ds.train[0].dtype == np.uint8
    assert ds.validation[0].shape == (10, *shape) and ds.test[0].shape == (40, *shape)
    assert ds.train[1].dtype == np.int64 and ds.train[1].max() < 10


def test_not_found_offline_says_how_to_get_it(offline):
    with pytest.raises(DataNotFoundError) as err:
        data.load_dataset("fashion_mnist")
    message = str(err.value)
    assert "fashion_mnist not found offline" in message
    assert "cannot reach fashion-mnist.s3-website.eu-central-1.amazonaws.com" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "go online so TFDS can download it" in message and "--data-dir" in message
    assert isinstance(err.value, FileNotFoundError)


def test_not_found_when_downloads_are_off(offline, monkeypatch):
    monkeypatch.setattr(builtin, "_host_reachable", lambda host, timeout=3.0: True)
    with pytest.raises(
        DataNotFoundError, match="mnist not found offline .*downloads are switched off"
    ):
        data.load_dataset("mnist", download=False)


@pytest.mark.tensorflow
def test_tfds_failure_becomes_not_found(offline, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(builtin, "_host_reachable", lambda host, timeout=3.0: True)

    def fail(*args, **kwargs):
        raise ConnectionError("Max retries exceeded")

    monkeypatch.setattr(tfds, "load", fail)
    with pytest.raises(DataNotFoundError, match=r"ConnectionError: Max retries exceeded"):
        data.load_dataset("cifar10")


def test_without_tensorflow_a_missing_data_set_says_where_to_put_it(offline, monkeypatch):
    from kregs.run import device

    monkeypatch.setattr(builtin, "_host_reachable", lambda host, timeout=3.0: True)
    monkeypatch.setattr(device, "tensorflow_available", lambda: False)
    with pytest.raises(DataNotFoundError) as err:
        data.load_dataset("fashion_mnist")
    message = str(err.value)
    assert "TFDS downloads need TensorFlow, which is not installed here" in message
    assert "--data-dir" in message


def test_host_reachable_is_false_for_an_unresolvable_host():
    assert builtin._host_reachable("no-such-host.invalid", timeout=1.0) is False


@pytest.fixture
def small(tmp_path):
    write_idx_dataset(tmp_path, n_train=200, n_test=30)
    return str(tmp_path)


def test_split_sizes_and_stratification(small):
    ds = data.load_dataset("mnist", data_dir=small, validation_split=0.1, seed=3)
    assert np.bincount(ds.train[1]).tolist() == [18] * 10
    assert np.bincount(ds.validation[1]).tolist() == [2] * 10
    assert len(ds.test[1]) == 30


def test_split_is_disjoint_and_complete(small):
    raw = data.load_dataset("mnist", data_dir=small, validation_split=0.0).train[0]
    ds = data.load_dataset("mnist", data_dir=small, validation_split=0.3)
    rows = {r.tobytes() for r in ds.train[0]} | {r.tobytes() for r in ds.validation[0]}
    assert len(rows) == 200 and rows == {r.tobytes() for r in raw}


def test_same_seed_same_split_other_seed_other_split(small):
    a = data.load_dataset("mnist", data_dir=small, seed=1, limit=100)
    b = data.load_dataset("mnist", data_dir=small, seed=1, limit=100)
    c = data.load_dataset("mnist", data_dir=small, seed=2, limit=100)
    np.testing.assert_array_equal(a.validation[0], b.validation[0])
    np.testing.assert_array_equal(a.train[0], b.train[0])
    assert not np.array_equal(a.validation[0], c.validation[0])


def test_limit_is_stratified_and_taken_before_the_split(small):
    ds = data.load_dataset("mnist", data_dir=small, limit=100, validation_split=0.2)
    assert np.bincount(ds.train[1]).tolist() == [8] * 10
    assert np.bincount(ds.validation[1]).tolist() == [2] * 10
    assert len(ds.test[1]) == 30  # the test set is never limited


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"validation_split": 1.0}, "`validation_split`: expected a float in [0, 1)"),
        ({"validation_split": -0.1}, "`validation_split`: expected a float in [0, 1)"),
        ({"limit": 0}, "`limit`: expected an int >= 1"),
        ({"seed": "x"}, "`seed`: expected an int"),
    ],
)
def test_bad_arguments(small, kwargs, message):
    with pytest.raises(ConfigError) as err:
        data.load_dataset("mnist", data_dir=small, **kwargs)
    assert message in str(err.value)


def test_stratified_sample_quotas_sum_exactly():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    idx = data.stratified_sample(labels, 11, np.random.default_rng(0))
    assert len(idx) == 11 and len(set(idx)) == 11
    assert np.bincount(labels[idx]).tolist() == [6, 3, 2]  # 5.5, 3.3, 2.2 -> largest remainder


def _batches(ds):
    """One epoch of batches as numpy, as Keras' fit reads them (tf.data, or a PyDataset
    under JAX and PyTorch)."""
    if hasattr(ds, "on_epoch_end"):
        batches = [ds[i] for i in range(len(ds))]
        ds.on_epoch_end()
        return [(np.asarray(x), np.asarray(y)) for x, y in batches]
    return [(x.numpy(), y.numpy()) for x, y in ds]


@pytest.mark.parametrize("make", [data.pipeline, data.array_batches])
def test_pipeline_training_shuffles_every_example_once_per_epoch(make):
    # data.pipeline is the backend's (tf.data under TensorFlow); array_batches is the
    # numpy one of JAX and PyTorch, tested here under every backend.
    x = np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1)
    y = np.arange(100)
    ds = make(x, y, batch_size=32, training=True, seed=0)
    epoch1, epoch2 = _batches(ds), _batches(ds)
    assert [len(b[1]) for b in epoch1] == [32, 32, 32, 4]
    seen1 = np.concatenate([b[1] for b in epoch1])
    seen2 = np.concatenate([b[1] for b in epoch2])
    assert sorted(seen1) == list(range(100)) and sorted(seen2) == list(range(100))
    assert not np.array_equal(seen1, y) and not np.array_equal(seen1, seen2)
    for bx, by in epoch1:  # images stay with their labels
        np.testing.assert_array_equal(bx.reshape(-1), by)
    again = np.concatenate([b[1] for b in _batches(make(x, y, 32, True, seed=0))])
    np.testing.assert_array_equal(again, seen1)
    other = np.concatenate([b[1] for b in _batches(make(x, y, 32, True, seed=1))])
    assert not np.array_equal(other, seen1)


@pytest.mark.parametrize("make", [data.pipeline, data.array_batches])
def test_pipeline_evaluation_keeps_order(make):
    x = np.zeros((10, 2, 2, 1), np.uint8)
    ds = make(x, np.arange(10), batch_size=4, training=False)
    for _ in range(2):
        batches = _batches(ds)
        assert [len(b[1]) for b in batches] == [4, 4, 2]
        np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), np.arange(10))


def test_pipeline_rejects_mismatched_arrays():
    with pytest.raises(ConfigError, match="as many labels as images"):
        data.pipeline(np.zeros((3, 2, 2, 1)), np.zeros(4), 2, True)


def test_check_local_finds_the_files_without_reading_them(tmp_path):
    with pytest.raises(DataNotFoundError, match=rf"no mnist files in --data-dir {tmp_path}: "):
        data.check_local("mnist", str(tmp_path))
    names = builtin.IDX_FILES["train"] + builtin.IDX_FILES["test"]
    (tmp_path / names[0]).write_bytes(b"")
    with pytest.raises(DataError, match=r"incomplete mnist files, missing \['train-labels"):
        data.check_local("mnist", str(tmp_path))
    for name in names[1:]:
        (tmp_path / name).write_bytes(b"")  # empty: reading them would fail
    data.check_local("mnist", str(tmp_path))
    with pytest.raises(DataError):
        data.load_dataset("mnist", data_dir=str(tmp_path))
