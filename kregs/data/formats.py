"""Readers for the on-disk formats of MNIST, Fashion-MNIST and CIFAR-10.

Numpy only (no TensorFlow), strict: a file that is truncated, corrupt or of
the wrong shape raises `kregs.DataError` naming the file and the problem,
never returns garbage.

- IDX (`*-idx3-ubyte.gz` images, `*-idx1-ubyte.gz` labels), gzip-compressed:
  a big-endian header (magic 2051 for images, 2049 for labels, then one
  uint32 per dimension) followed by uint8 data.
- Keras' `mnist.npz`: arrays `x_train`, `y_train`, `x_test`, `y_test`.
- CIFAR-10's `cifar-10-batches-py/`: pickled dicts with `data` (N x 3072
  uint8, channels first) and `labels`.
"""

import gzip
import os
import pickle
import zipfile
import zlib

import numpy as np

from kregs.errors import DataError

IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049


def _read_gzip(path):
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(f"{path}: truncated or corrupt gzip file ({err})") from None


def read_idx(path, expected_magic):
    """Reads one gzip-compressed IDX file into a uint8 array.

    Args:
        path: str, the `.gz` file.
        expected_magic: int, 2051 (images, 3 dimensions) or 2049 (labels, 1).

    Returns:
        `np.ndarray` of dtype uint8 and the shape the header gives.

    Raises:
        DataError: corrupt gzip, wrong magic number, or fewer/more bytes than
            the header promises.
    """
    raw = _read_gzip(path)
    if len(raw) < 4:
        raise DataError(f"{path}: file too short for an IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        kind = "images" if expected_magic == IDX_IMAGES_MAGIC else "labels"
        raise DataError(
            f"{path}: wrong IDX magic number {magic}, expected {expected_magic} ({kind})"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: IDX header truncated")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape))
    actual = len(raw) - header
    if actual != expected:
        raise DataError(
            f"{path}: header announces shape {shape} ({expected} bytes) "
            f"but the file holds {actual} bytes of data"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_pair(images_path, labels_path, image_shape):
    """Reads an IDX images file and its labels file, checking they belong together.

    Args:
        images_path: str, the `*-idx3-ubyte.gz` file.
        labels_path: str, the `*-idx1-ubyte.gz` file.
        image_shape: tuple `(H, W, C)` the data set's images must have.

    Returns:
        `(images, labels)`: uint8 `N x H x W x C` and int64 `N`.
    """
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if images.shape[1:] != tuple(image_shape[:2]):
        raise DataError(
            f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, "
            f"expected {image_shape[0]}x{image_shape[1]}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    return images.reshape((len(images), *image_shape)), labels.astype(np.int64)


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_mnist_npz(path, image_shape):
    """Reads Keras' `mnist.npz`.

    Returns:
        `((x_train, y_train), (x_test, y_test))`, images uint8 `N x H x W x C`.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in NPZ_KEYS if k not in data.files]
            if missing:
                raise DataError(f"{path}: missing arrays {missing}, expected {list(NPZ_KEYS)}")
            arrays = {k: data[k] for k in NPZ_KEYS}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise DataError(f"{path}: truncated or corrupt npz file ({err})") from None
    out = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        _check_images(path, x, image_shape, f"x_{split}")
        if len(x) != len(y):
            raise DataError(
                f"{path}: x_{split} holds {len(x)} images but y_{split} {len(y)} labels"
            )
        out.append((x.reshape((len(x), *image_shape)), y.astype(np.int64)))
    return tuple(out)


def _check_images(path, x, image_shape, what):
    if x.dtype != np.uint8 or x.ndim not in (3, 4) or x.shape[1:3] != tuple(image_shape[:2]):
        raise DataError(
            f"{path}: {what} has shape {x.shape} and dtype {x.dtype}, expected uint8 "
            f"images of {image_shape[0]}x{image_shape[1]}"
        )


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays, nothing that can run code."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path):
    """Reads one CIFAR-10 python batch.

    Returns:
        `(images, labels)`: uint8 `N x 32 x 32 x 3` (channels last) and int64 `N`.
    """
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise DataError(f"{path}: truncated or corrupt CIFAR batch ({err})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (no 'data' and 'labels' entries)")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(
            f"{path}: data has shape {data.shape} and dtype {data.dtype}, "
            "expected uint8 N x 3072 (32x32 pixels, 3 channels)"
        )
    if len(data) != len(labels):
        raise DataError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"


def read_cifar_dir(folder):
    """Reads `cifar-10-batches-py/`: the five training batches and the test batch.

    Returns:
        `((x_train, y_train), (x_test, y_test))`.
    """
    train = [read_cifar_batch(os.path.join(folder, name)) for name in CIFAR_TRAIN_BATCHES]
    test = read_cifar_batch(os.path.join(folder, CIFAR_TEST_BATCH))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train), test


def check_labels(labels, classes, where):
    """Refuses labels outside `0..classes-1` (a training step would fail on them later,
    naming only a TensorFlow node).

    Raises:
        DataError: naming `where`, the first bad label and how many there are.
    """
    labels = np.asarray(labels)
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{where}: label {int(labels[first])} at index {first} is outside 0..{classes - 1} "
            f"({int(bad.sum())} such labels of {len(labels)}); the file is damaged or not "
            "this data set's"
        )
