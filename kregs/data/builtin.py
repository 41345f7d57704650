"""MNIST, Fashion-MNIST and CIFAR-10: the built-in data sets, from local files or TFDS.

`read_builtin` looks for the data in this order (`info.source` says where it was found):

1. `data_dir`, when given: the official IDX `.gz` files, Keras' `mnist.npz`,
   or `cifar-10-batches-py/` (in the folder itself or in the sub-folder Keras
   uses, so `data_dir="~/.keras/datasets"` works too);
2. the Debian package's folder (`apt-get install dataset-fashion-mnist` puts
   Fashion-MNIST in `/usr/share/datasets/fashion-mnist/`);
3. the Keras cache, `$KERAS_HOME/datasets` or `~/.keras/datasets`;
4. TensorFlow Datasets (`tfds.load`), which downloads when online.

The test set is returned whole and untouched (`kregs.data.Dataset` splits the rest).
"""

import dataclasses
import logging
import os
import socket

import numpy as np

from kregs.data import formats
from kregs.data.splits import DatasetInfo
from kregs.errors import DataError, DataNotFoundError, invalid_value

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class _Spec:
    name: str
    image_shape: tuple
    class_names: tuple
    keras_cache: str  # file or folder name under ~/.keras/datasets
    download_host: str  # where TFDS downloads this data set from
    idx: bool  # distributed as IDX files


DATASETS = {
    "mnist": _Spec(
        "mnist",
        (28, 28, 1),
        tuple(str(d) for d in range(10)),
        "mnist.npz",
        "storage.googleapis.com",
        idx=True,
    ),
    "fashion_mnist": _Spec(
        "fashion_mnist",
        (28, 28, 1),
        (
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        "fashion-mnist",
        "fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        idx=True,
    ),
    "cifar10": _Spec(
        "cifar10",
        (32, 32, 3),
        (
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        "cifar-10-batches-py",
        "www.cs.toronto.edu",
        idx=False,
    ),
}

# Debian's packaged copies of the data sets (only Fashion-MNIST is packaged).
DEBIAN_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}
# Data sets whose labels a left-right mirror keeps (clothes, objects); not digits.
MIRROR_SAFE = ("fashion_mnist", "cifar10")

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_builtin(name, data_dir=None, download=True):
    """The training and test images of a built-in data set, from the first place that has them.

    Args:
        name: str, `"mnist"`, `"fashion_mnist"` or `"cifar10"`.
        data_dir: str or None, a folder holding the data set's files; when
            given, nothing else is searched.
        download: bool, let TFDS download the data when no local copy exists.

    Returns:
        `(train, test, source)`: two `(images, labels)` pairs (uint8 `N x H x W x C`,
        int64 labels) and `"<kind>:<location>"`.

    Raises:
        ConfigError: unknown name.
        DataNotFoundError: no copy found, and TFDS could not get one.
        DataError: a file is truncated, corrupt or not of the data set's shape.
    """
    spec = _spec(name)
    train, test, source = _load_raw(spec, data_dir, download)
    logger.info("loaded %s from %s", spec.name, source)
    return train, test, source


def builtin_spec(name):
    """`(image_shape, class_names)` of a built-in data set."""
    spec = _spec(name)
    return spec.image_shape, spec.class_names


def check_dataset(name, argument="dataset"):
    """Returns `name` if it is one of `DATASETS`, else raises `ConfigError`."""
    if name not in DATASETS:
        raise invalid_value(argument, name, f"one of {', '.join(DATASETS)}")
    return name


def _spec(name):
    return DATASETS[check_dataset(name, "name")]


def _keras_cache_dir():
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "datasets")


def _load_raw(spec, data_dir, download):
    """Returns `(train, test, source)` from the first place that has the data."""
    if data_dir is not None:
        data_dir = os.path.expanduser(str(data_dir))
        found = _read_local(spec, data_dir)
        if found is None:
            raise _not_in_data_dir(spec, data_dir)
        return (*found[:2], f"data_dir:{found[2]}")
    places = []
    if spec.name in DEBIAN_DIRS:
        places.append(("debian", DEBIAN_DIRS[spec.name]))
    places.append(("keras-cache", _keras_cache_dir()))
    for kind, folder in places:
        found = _read_local(spec, folder)
        if found is not None:
            return (*found[:2], f"{kind}:{found[2]}")
    return (*_load_tfds(spec, download), f"tfds:{spec.name}")


def _expected_files(spec):
    if spec.name == "cifar10":
        return "cifar-10-batches-py/ (data_batch_1..5, test_batch)"
    names = ", ".join(IDX_FILES["train"] + IDX_FILES["test"])
    return f"{names}, or mnist.npz" if spec.name == "mnist" else names


def check_local(name, data_dir):
    """Checks, without reading them, that `data_dir` holds the data set's files (what
    `load_dataset(name, data_dir)` refuses first, found before a command starts processes).

    Args:
        name: str, `"mnist"`, `"fashion_mnist"` or `"cifar10"`.
        data_dir: str, the folder given as `--data-dir`.

    Raises:
        ConfigError: unknown name.
        DataNotFoundError: no files of the data set there.
        DataError: some of its IDX files there, not all.
    """
    spec = _spec(name)
    data_dir = os.path.expanduser(str(data_dir))
    if _locate(spec, data_dir) is None:
        raise _not_in_data_dir(spec, data_dir)


def _not_in_data_dir(spec, data_dir):
    return DataNotFoundError(
        f"no {spec.name} files in --data-dir {data_dir}: expected {_expected_files(spec)}"
    )


def _locate(spec, folder):
    """Where in `folder` the data set's files are, as `(format, path)`, or None.

    Raises `DataError` for IDX files of which some are missing: a bad copy is
    never skipped silently.
    """
    if not os.path.isdir(folder):
        return None
    if spec.idx:
        for candidate in (folder, os.path.join(folder, spec.keras_cache)):
            names = [os.path.join(candidate, f) for f in IDX_FILES["train"] + IDX_FILES["test"]]
            present = [os.path.exists(p) for p in names]
            if all(present):
                return "idx", candidate
            if any(present):
                missing = [
                    os.path.basename(p) for p, ok in zip(names, present, strict=True) if not ok
                ]
                raise DataError(f"{candidate}: incomplete {spec.name} files, missing {missing}")
    if spec.name == "mnist":
        npz = os.path.join(folder, "mnist.npz")
        if os.path.exists(npz):
            return "npz", npz
    if spec.name == "cifar10":
        for candidate in (os.path.join(folder, spec.keras_cache), folder):
            if os.path.exists(os.path.join(candidate, formats.CIFAR_TRAIN_BATCHES[0])):
                return "cifar", candidate
    return None


def _read_local(spec, folder):
    """`(train, test, path_read)` from `folder`, or None; a broken file raises `DataError`."""
    found = _locate(spec, folder)
    if found is None:
        return None
    kind, path = found
    classes = len(spec.class_names)
    if kind == "idx":
        names = [os.path.join(path, f) for f in IDX_FILES["train"] + IDX_FILES["test"]]
        train = formats.read_idx_pair(names[0], names[1], spec.image_shape)
        test = formats.read_idx_pair(names[2], names[3], spec.image_shape)
        formats.check_labels(train[1], classes, names[1])
        formats.check_labels(test[1], classes, names[3])
        return train, test, path
    if kind == "npz":
        train, test = formats.read_mnist_npz(path, spec.image_shape)
    else:
        train, test = formats.read_cifar_dir(path)
    formats.check_labels(train[1], classes, f"{path} (training labels)")
    formats.check_labels(test[1], classes, f"{path} (test labels)")
    return train, test, path


def _host_reachable(host, timeout=3.0):
    """Whether `host` resolves and accepts a TCP connection on port 443 or 80."""
    for port in (443, 80):
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            return True
        except OSError:
            continue
    return False


def _not_found(spec, reason):
    debian = (
        "install the Debian package (apt-get install dataset-fashion-mnist), "
        if spec.name in DEBIAN_DIRS
        else ""
    )
    return DataNotFoundError(
        f"{spec.name} not found offline and TFDS could not download it ({reason}). "
        f"To get it: {debian}go online so TFDS can download it, or pass data_dir (--data-dir) "
        f"with {_expected_files(spec)}."
    )


def _load_tfds(spec, download):
    from kregs.run.device import tensorflow_available

    builder_dir = os.path.join(
        os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets"), spec.name
    )
    if not os.path.isdir(builder_dir):
        if not download:
            raise _not_found(spec, "downloads are switched off")
        # Fail in seconds, not after TFDS' minutes of retries, when offline.
        if not _host_reachable(spec.download_host):
            raise _not_found(spec, f"cannot reach {spec.download_host}")
    if not tensorflow_available():  # JAX or PyTorch without TensorFlow: TFDS cannot read
        raise _not_found(spec, "TFDS downloads need TensorFlow, which is not installed here")
    import tensorflow_datasets as tfds

    # What a failed download raises: OSError (connections; requests' and
    # urllib's errors derive from it) and TFDS' DownloadError. Anything else
    # is a bug and keeps its traceback.
    download_errors = (OSError, tfds.download.DownloadError)
    try:
        train, test = tfds.load(spec.name, split=["train", "test"], as_supervised=True)
    except download_errors as err:
        raise _not_found(spec, f"tfds.load failed: {type(err).__name__}: {err}") from err
    return _tfds_to_numpy(tfds, train, spec), _tfds_to_numpy(tfds, test, spec)


def _tfds_to_numpy(tfds, split, spec):
    xs, ys = [], []
    for x, y in tfds.as_numpy(split.batch(4096)):
        xs.append(x)
        ys.append(y)
    x, y = np.concatenate(xs), np.concatenate(ys).astype(np.int64)
    if x.dtype != np.uint8 or x.shape[1:] != spec.image_shape:
        raise DataError(
            f"tfds:{spec.name}: images have shape {x.shape[1:]} and dtype {x.dtype}, "
            f"expected uint8 {spec.image_shape}"
        )
    return x, y


def builtin_info(name, source=""):
    """The `DatasetInfo` of a built-in data set without loading it (`source`: where its
    files were found, empty before)."""
    shape, class_names = builtin_spec(name)
    return DatasetInfo(name, shape, len(class_names), class_names, source)
