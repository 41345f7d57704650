import gzip
import os
import pickle

import numpy as np
import pytest
from _helpers import write_cifar_dir, write_idx, write_idx_dataset

from kregs.data import formats
from kregs.errors import DataError


def test_idx_round_trip(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "i.gz", x)
    np.testing.assert_array_equal(formats.read_idx(tmp_path / "i.gz", 2051), x)


def test_idx_pair_shapes_and_labels(tmp_path):
    arrays = write_idx_dataset(tmp_path, n_train=30, n_test=10)
    x, y = formats.read_idx_pair(
        tmp_path / "train-images-idx3-ubyte.gz",
        tmp_path / "train-labels-idx1-ubyte.gz",
        (28, 28, 1),
    )
    assert x.shape == (30, 28, 28, 1) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x[..., 0], arrays["train"][0])
    np.testing.assert_array_equal(y, arrays["train"][1])


def test_idx_wrong_magic(tmp_path):
    write_idx(tmp_path / "l.gz", np.zeros(5), magic=2051)  # a labels file with the images magic
    with pytest.raises(DataError, match=r"l.gz: wrong IDX magic number 2051, expected 2049"):
        formats.read_idx(tmp_path / "l.gz", 2049)


def test_idx_truncated_data(tmp_path):
    x = np.zeros((4, 28, 28), np.uint8)
    header = (2051).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in x.shape)
    with gzip.open(tmp_path / "t.gz", "wb") as f:
        f.write(header + x.tobytes()[:-100])
    with pytest.raises(
        DataError,
        match=r"t.gz: header announces shape \(4, 28, 28\) \(3136 bytes\) "
        r"but the file holds 3036 bytes",
    ):
        formats.read_idx(tmp_path / "t.gz", 2051)


def test_idx_truncated_gzip(tmp_path):
    write_idx(tmp_path / "i.gz", np.ones((50, 28, 28)))
    raw = (tmp_path / "i.gz").read_bytes()
    (tmp_path / "i.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"i.gz: truncated or corrupt gzip file"):
        formats.read_idx(tmp_path / "i.gz", 2051)


def test_idx_not_gzip(tmp_path):
    (tmp_path / "i.gz").write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match=r"i.gz: truncated or corrupt gzip file"):
        formats.read_idx(tmp_path / "i.gz", 2051)


def test_idx_count_mismatch(tmp_path):
    write_idx(tmp_path / "i.gz", np.zeros((5, 28, 28)))
    write_idx(tmp_path / "l.gz", np.zeros(4))
    with pytest.raises(DataError, match=r"i.gz holds 5 images but .*l.gz holds 4 labels"):
        formats.read_idx_pair(tmp_path / "i.gz", tmp_path / "l.gz", (28, 28, 1))


def test_idx_wrong_image_size(tmp_path):
    write_idx(tmp_path / "i.gz", np.zeros((5, 32, 32)))
    write_idx(tmp_path / "l.gz", np.zeros(5))
    with pytest.raises(DataError, match=r"i.gz: images are 32x32, expected 28x28"):
        formats.read_idx_pair(tmp_path / "i.gz", tmp_path / "l.gz", (28, 28, 1))


def _write_npz(path, **overrides):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "y_train": np.arange(30) % 10,
        "x_test": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "y_test": np.arange(10),
    }
    arrays.update(overrides)
    np.savez_compressed(path, **arrays)
    return arrays


def test_npz_round_trip(tmp_path):
    arrays = _write_npz(tmp_path / "mnist.npz")
    (x, y), (xt, yt) = formats.read_mnist_npz(tmp_path / "mnist.npz", (28, 28, 1))
    assert x.shape == (30, 28, 28, 1) and xt.shape == (10, 28, 28, 1)
    np.testing.assert_array_equal(x[..., 0], arrays["x_train"])
    np.testing.assert_array_equal(yt, arrays["y_test"])


def test_npz_errors(tmp_path):
    _write_npz(tmp_path / "a.npz", y_train=np.arange(29))
    with pytest.raises(DataError, match=r"a.npz: x_train holds 30 images but y_train 29 labels"):
        formats.read_mnist_npz(tmp_path / "a.npz", (28, 28, 1))
    _write_npz(tmp_path / "b.npz", x_test=np.zeros((10, 32, 32), np.uint8))
    with pytest.raises(DataError, match=r"b.npz: x_test has shape \(10, 32, 32\) and dtype uint8"):
        formats.read_mnist_npz(tmp_path / "b.npz", (28, 28, 1))
    np.savez(tmp_path / "c.npz", x_train=np.zeros(1))
    with pytest.raises(DataError, match=r"c.npz: missing arrays \['y_train', 'x_test', 'y_test'\]"):
        formats.read_mnist_npz(tmp_path / "c.npz", (28, 28, 1))
    raw = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "d.npz").write_bytes(raw[:100])
    with pytest.raises(DataError, match=r"d.npz: truncated or corrupt npz file"):
        formats.read_mnist_npz(tmp_path / "d.npz", (28, 28, 1))


def test_cifar_channels_first_becomes_channels_last(tmp_path):
    arrays = write_cifar_dir(tmp_path / "c", per_batch=10, n_test=5)
    (x, y), (xt, yt) = formats.read_cifar_dir(tmp_path / "c")
    assert x.shape == (50, 32, 32, 3) and xt.shape == (5, 32, 32, 3)
    data, labels = arrays["data_batch_1"]
    # Pixel (row 2, column 3) of channel c sits at c * 1024 + 2 * 32 + 3 in the flat row.
    for c in range(3):
        np.testing.assert_array_equal(x[:10, 2, 3, c], data[:, c * 1024 + 2 * 32 + 3])
    np.testing.assert_array_equal(y[:10], labels)


def test_cifar_errors(tmp_path):
    write_cifar_dir(tmp_path / "c", per_batch=10, n_test=5)
    path = tmp_path / "c" / "data_batch_2"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"data_batch_2: truncated or corrupt CIFAR batch"):
        formats.read_cifar_dir(tmp_path / "c")
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, f)
    with pytest.raises(DataError, match=r"data has shape \(4, 100\).*expected uint8 N x 3072"):
        formats.read_cifar_batch(path)
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3}, f)
    with pytest.raises(DataError, match=r"4 images but 3 labels"):
        formats.read_cifar_batch(path)


def test_cifar_refuses_pickles_that_run_code(tmp_path):
    path = tmp_path / "evil"
    with open(path, "wb") as f:
        pickle.dump({b"data": os.getcwd}, f)  # would resolve os.getcwd on load
    with pytest.raises(DataError, match=r"refusing to load"):
        formats.read_cifar_batch(path)
