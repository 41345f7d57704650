"""The data a run trains on: any source, one `Dataset`; the splits it loads into.

- `Dataset`: the built-in MNIST, Fashion-MNIST and CIFAR-10 (`builtin`: local
  files, Debian's package, the Keras cache or TFDS), any TFDS image
  classification data set (`tfds:NAME`), a folder of images (`folder`: bigger
  than memory, streamed), an `.npz` file, numpy arrays, `tf.data` pipelines.
- `Splits`, `DatasetInfo`, `ImageFiles`: what `Dataset.load` returns (`splits`).
- `pipeline`: the input pipeline that feeds them to a model (`kregs.data.batches`).

No TensorFlow is imported here (reading TFDS or streaming files imports it).
"""

from kregs.data.batches import array_batches, pipeline
from kregs.data.builtin import DATASETS, MIRROR_SAFE, builtin_info, check_local
from kregs.data.dataset import (
    Dataset,
    Options,
    default_max_memory,
    parse_image_size,
    parse_size,
)
from kregs.data.splits import (
    DatasetInfo,
    ImageFiles,
    Splits,
    concat,
    stratified_sample,
    take,
)

__all__ = [
    "DATASETS",
    "MIRROR_SAFE",
    "Dataset",
    "DatasetInfo",
    "ImageFiles",
    "Options",
    "Splits",
    "array_batches",
    "check_local",
    "concat",
    "dataset_info",
    "default_max_memory",
    "load_dataset",
    "parse_image_size",
    "parse_size",
    "pipeline",
    "stratified_sample",
    "take",
]


def load_dataset(name, data_dir=None, validation_split=0.1, limit=None, seed=0, download=True):
    """A built-in data set (or `tfds:NAME`), loaded and split: `Dataset.from_name(...).load(...)`.

    Example:
    >>> ds = load_dataset("fashion_mnist", limit=6000)
    >>> ds.info.source
    'debian:/usr/share/datasets/fashion-mnist'
    """
    return Dataset.from_name(name, data_dir=data_dir).load(
        validation_split=validation_split, limit=limit, seed=seed, download=download
    )


def dataset_info(name):
    """The `DatasetInfo` of a built-in data set without loading it (`source` is empty)."""
    return builtin_info(name)
