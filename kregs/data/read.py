"""Reading a `Dataset`'s images: `(train, test, info)` for each kind of source."""

import logging

from kregs.data.builtin import builtin_info, read_builtin
from kregs.data.folder import read_folder
from kregs.data.splits import DatasetInfo

logger = logging.getLogger(__name__)


def read(dataset, max_memory, download=True):
    """`(train, test, info)` of `dataset`; `test` None where the source has no test split.

    A folder whose decoded images would take more than `max_memory` bytes keeps
    them as `ImageFiles` (decoded batch by batch while training: `read_folder`).
    """
    kind, options = dataset.kind, dataset.options
    if kind == "builtin":
        train, test, source = read_builtin(dataset.name, options.data_dir, download)
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
