"""Reading a `Dataset`'s images: `(train, test, info)` for each kind of source."""

import logging
import os

import numpy as np

from kregs.data import folder as folder_module
from kregs.data.builtin import read_builtin
from kregs.data.splits import DatasetInfo, ImageFiles
from kregs.errors import DataError
from kregs.run.device import tensorflow_available

logger = logging.getLogger(__name__)


def read(dataset, max_memory, download=True):
    """`(train, test, info)` of `dataset`; `test` None where the source has no test split.

    A folder whose decoded images would take more than `max_memory` bytes keeps
    them as `ImageFiles` (decoded batch by batch while training).
    """
    kind, options = dataset.kind, dataset.options
    if kind == "builtin":
        train, test, source = read_builtin(dataset.name, options.data_dir, download)
        from kregs.data.dataset import builtin_info

        return train, test, builtin_info(dataset.name, source)
    if kind == "tfds":
        return _tfds(dataset, max_memory, download)
    if kind == "folder":
        return read_folder(dataset.location, options, max_memory)
    loaded = dataset._arrays
    train = (loaded["x"], loaded["y"])
    test = (loaded["x_test"], loaded["y_test"]) if loaded["x_test"] is not None else None
    info = DatasetInfo(
        dataset.name,
        tuple(loaded["x"].shape[1:]),
        len(loaded["class_names"]),
        loaded["class_names"],
        loaded["source"],
        pixels=loaded["pixels"],
    )
    return train, test, info


def _tfds(dataset, max_memory, download):
    from kregs.data.tfds_source import read_tfds

    options = dataset.options
    train, test, class_names, notes = read_tfds(
        dataset.location, options.data_dir, download, options.image_size, options.color_mode
    )
    size = train[0].nbytes + (test[0].nbytes if test is not None else 0)
    if size > max_memory:
        logger.warning(
            "tfds:%s takes %.0f MiB, more than --max-memory (%.0f MiB): TFDS data sets are read "
            "into memory",
            dataset.location,
            size / 2**20,
            max_memory / 2**20,
        )
    info = DatasetInfo(
        dataset.name,
        tuple(train[0].shape[1:]),
        len(class_names),
        class_names,
        f"tfds:{dataset.location}",
        notes=notes,
    )
    return train, test, info


def read_folder(root, options, max_memory):
    """`(train, test, info)` of a folder of images (see `kregs.data.folder`).

    Raises:
        DataError: an empty folder, one class, images that cannot be decoded
            (unless `skip_bad_images`), several sizes without `image_size`.
    """
    paths, labels, class_names, test, ignored = folder_module.list_images(root)
    all_paths = paths if test is None else np.concatenate([paths, test[0]])
    sizes, modes, bad = folder_module.headers(all_paths)
    mode = options.color_mode or folder_module.color_mode(modes)
    height, width = folder_module.common_size(root, sizes, options.image_size)
    shape = (height, width, 1 if mode == "grayscale" else 3)
    total = len(all_paths)
    streamed = total * int(np.prod(shape)) > max_memory
    readable = np.array([p not in bad for p in all_paths])
    if streamed:  # every file decoded once, so that a bad one is found now, not while training
        if not tensorflow_available():
            raise DataError(
                f"{root}: its images take {total * int(np.prod(shape)) / 2**20:.0f} MiB decoded, "
                "more than --max-memory; streaming them needs TensorFlow (tf.data), not "
                "installed here: raise --max-memory, or install tensorflow"
            )
        _, found = folder_module.decode_all(all_paths[readable], shape, keep=False)
        _release_freed_memory()  # what decoding them once left in the heap
        images = None
    else:
        images = np.zeros((total, *shape), np.uint8)
        images[readable], found = folder_module.decode_files(all_paths[readable], shape)
    bad.update(found)
    if bad and not options.skip_bad_images:
        raise folder_module.bad_images_error(root, bad, total)
    keep = np.array([p not in bad for p in all_paths])
    notes = []
    if ignored:
        notes.append(folder_module._ignored_text(ignored).lstrip("; "))
    if bad:
        notes.append(
            f"left out {len(bad)} image{'s' if len(bad) != 1 else ''} that cannot be decoded "
            f"(--skip-bad-images), e.g. {sorted(bad)[0]}"
        )
        logger.warning(notes[-1])
    n_train = len(paths)
    if streamed:  # (paths as bytes: a quarter of numpy's str, for many files)
        pixels = ImageFiles(np.array([os.fsencode(p) for p in all_paths]), shape)
    else:
        pixels = images
    train = (pixels[np.flatnonzero(keep[:n_train])], labels[keep[:n_train]])
    test_pair = None
    if test is not None:
        index = n_train + np.flatnonzero(keep[n_train:])
        test_pair = (pixels[index], test[1][keep[n_train:]])
    info = DatasetInfo(
        folder_name(root),
        shape,
        len(class_names),
        class_names,
        f"folder:{root}",
        pixels=f"{mode} images",
        streamed=streamed,
        notes=tuple(notes),
    )
    if len(train[1]) == 0:
        raise DataError(f"{root}: no training image left")
    return train, test_pair, info


def folder_name(root):
    from kregs.data.dataset import _safe_name

    return _safe_name(os.path.basename(root))


def _release_freed_memory():
    """Gives the heap's freed memory back to the system (glibc's `malloc_trim`; Linux)."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
