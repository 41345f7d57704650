"""`Dataset`: the data a run trains on, from wherever it comes; `load` splits it.

One object for every source: the built-in data sets, any TFDS image
classification data set, a folder of images, an `.npz` file, numpy arrays and
`tf.data` pipelines. It is cheap to make (no pixels are read), checks what it can
at once, and says where it came from (`record`: run.json, so a resumed run or a
worker of a distributed search is refused on other data). `load` reads the
images, holds out a test split where the source has none (stratified, always the
same images: `kregs.data.splits.TEST_SEED`), then a stratified validation split.
"""

import dataclasses
import os

import numpy as np

from kregs.checks import check_positive_int, check_seed, check_split
from kregs.data import arrays as arrays_module
from kregs.data import folder as folder_module
from kregs.data.builtin import DATASETS, MIRROR_SAFE, check_local
from kregs.data.options import (
    Options,
    default_max_memory,
    parse_image_size,
    parse_size,
    pop_read_options,
)
from kregs.data.read import read
from kregs.data.splits import (
    TEST_SEED,
    ImageFiles,
    Splits,
    check_every_class,
    hold_out,
    safe_name,
    stratified_sample,
    take,
)
from kregs.errors import ConfigError, DataError, DataNotFoundError, invalid_value
from kregs.run.files import file_hash

KINDS = ("builtin", "tfds", "folder", "npz", "arrays")


class Dataset:
    """The data a run trains on, from wherever it comes.

    Make one with a constructor (`from_name`, `from_directory`, `from_npz`,
    `from_arrays`, `from_tf_dataset`, or `from_path` for a folder or `.npz`);
    give it to `kregs.tuner.TuneConfig` (`dataset=`) or `kregs study`'s config;
    `load` reads and splits it.

    Attributes:
        kind: str, one of `KINDS`.
        name: str, a short name (the run's default folder, the export's model name).
        options: `Options`.
        flips: bool, whether a left-right mirror keeps the labels.

    Example:
    >>> ds = Dataset.from_directory("my_images", image_size=(64, 64))
    >>> splits = ds.load(validation_split=0.1, seed=0)
    >>> splits.info.class_names
    ('cats', 'dogs')
    """

    def __init__(self, kind, location, name, options=None, arrays=None, fingerprint=None):
        self.kind = kind
        self.location = location
        self.name = name
        self.options = options or Options()
        self._arrays = arrays
        self.fingerprint = fingerprint

    @property
    def flips(self):
        return self.name in MIRROR_SAFE if self.kind == "builtin" else self.options.flips

    def __repr__(self):
        return f"Dataset({self.kind}: {self.location})"

    def __eq__(self, other):
        return isinstance(other, Dataset) and self.record() == other.record()

    def __hash__(self):
        return hash(repr(self.record()))

    # --- constructors -------------------------------------------------------------------

    @classmethod
    def from_name(cls, name, data_dir=None, **options):
        """A built-in data set (`"mnist"`, `"fashion_mnist"`, `"cifar10"`) or `"tfds:NAME"`.

        Args:
            name: str.
            data_dir: str or None: the built-in's files (IDX, npz, CIFAR batches), or
                TFDS' data_dir for `tfds:NAME`.
            **options: `Options` fields (for TFDS: `image_size`, `color_mode`,
                `test_split`, `flips`).
        """
        if isinstance(name, str) and name.startswith("tfds:") and len(name) > 5:
            return cls("tfds", name[5:], safe_name(name), Options(data_dir=data_dir, **options))
        if name not in DATASETS:
            raise invalid_value(
                "dataset",
                name,
                f"one of {', '.join(DATASETS)}, or tfds:NAME (any TFDS "
                "image classification data set)",
            )
        given = sorted(k for k, v in options.items() if v is not None)
        if given:  # the built-in data sets are read as they are
            raise invalid_value(
                given[0],
                options[given[0]],
                f"no {given[0]} for the built-in {name}: it is "
                "for your own data (from_directory, from_npz, ...) or a TFDS data set",
            )
        return cls("builtin", name, name, Options(data_dir=data_dir))

    @classmethod
    def from_directory(cls, path, **options):
        """A folder of class subfolders of images (see `kregs.data.folder`).

        Args:
            path: str, the folder.
            **options: `Options` fields: `image_size`, `color_mode`, `test_split`,
                `skip_bad_images`, `flips`.
        """
        path = os.path.abspath(os.path.expanduser(str(path)))
        if not os.path.isdir(path):
            raise DataNotFoundError(f"{path}: no such folder")
        listing = folder_module.list_images(path)
        return cls(
            "folder",
            path,
            safe_name(os.path.basename(path)),
            Options(**options),
            fingerprint=folder_module.fingerprint(listing.paths),
        )

    @classmethod
    def from_npz(cls, path, **options):
        """An `.npz` file in `keras.datasets`' layout: `x_train`, `y_train`, optionally
        `x_test` and `y_test`, and `class_names`; uint8 or float images `N x H x W (x C)`."""
        path = os.path.abspath(os.path.expanduser(str(path)))
        if not os.path.isfile(path):
            raise DataNotFoundError(f"{path}: no such file")
        options = Options(**options)
        loaded = arrays_module.from_npz(path, options)
        return cls(
            "npz",
            path,
            safe_name(os.path.splitext(os.path.basename(path))[0]),
            options,
            arrays=loaded,
            fingerprint=file_hash(path),
        )

    @classmethod
    def from_path(cls, path, **options):
        """A folder (`from_directory`) or an `.npz` file (`from_npz`): `kregs tune --data`."""
        path = os.path.expanduser(str(path))
        if os.path.isdir(path):
            return cls.from_directory(path, **options)
        if os.path.isfile(path) and path.endswith(".npz"):
            return cls.from_npz(path, **options)
        if os.path.exists(path):
            raise DataError(f"{path}: neither a folder of images nor an .npz file")
        raise DataNotFoundError(f"{path}: no such folder or file")

    @classmethod
    def from_arrays(
        cls, x, y, x_test=None, y_test=None, class_names=None, name="arrays", **options
    ):
        """Images and labels in memory (numpy or anything `np.asarray` takes).

        Args:
            x, y: training images `N x H x W (x C)` (uint8, or float in [0, 1] or
                [0, 255]) and integer labels 0..K-1.
            x_test, y_test: the test split, or None (then `test_split` is held out).
            class_names: sequence of K str, or None (`"0"`, `"1"`, ...).
            name: str, the data's name.
            **options: `Options` fields: `pixel_range`, `test_split`, `flips`.
        """
        options = Options(**options)
        loaded = arrays_module.checked_arrays(x, y, x_test, y_test, class_names, name, options)
        return cls(
            "arrays",
            name,
            safe_name(name),
            options,
            arrays=loaded,
            fingerprint=arrays_module.arrays_hash(loaded),
        )

    @classmethod
    def from_tf_dataset(cls, train, test=None, class_names=None, name="tf.data", **options):
        """`tf.data.Dataset`s of `(image, label)` elements (batched or not), read into memory once.

        Their images must fit in memory; for more, give kregs the image files
        (`from_directory`), which it streams.
        """
        from kregs.data.tfds_source import dataset_arrays

        options = Options(**options)
        size, mode = options.image_size, options.color_mode
        x, y = dataset_arrays(train, f"{name} train", size, mode)
        x_test, y_test = (
            dataset_arrays(test, f"{name} test", size, mode) if test is not None else (None, None)
        )
        dataset = cls.from_arrays(x, y, x_test, y_test, class_names, name, **options.to_dict())
        dataset._arrays["source"] = f"tf.data:{name}"
        return dataset

    # --- what a run records ---------------------------------------------------------------

    def record(self):
        """Where the data comes from, as run.json holds it (a built-in: its name alone)."""
        if self.kind == "builtin":
            return self.name
        return {
            "kind": self.kind,
            "location": self.location,
            "fingerprint": self.fingerprint,
            **{k: v for k, v in self.options.to_dict().items() if k != "data_dir"},
        }

    @classmethod
    def from_record(cls, record, data_dir=None):
        """The `Dataset` a run.json record names, as recorded (its files are not read again).

        A built-in or TFDS data set can be loaded from it; a folder or an `.npz`
        too (`load` reads the files at the recorded path); arrays cannot (they are
        not saved with a run): `load` says so.
        """
        if isinstance(record, str):
            return cls.from_name(record, data_dir=data_dir)
        options = {k: record[k] for k in Options.__dataclass_fields__ if k in record}
        if record["kind"] == "tfds":
            return cls.from_name(f"tfds:{record['location']}", data_dir=data_dir, **options)
        location = record["location"]
        name = (
            os.path.splitext(os.path.basename(location))[0]
            if record["kind"] != "arrays"
            else (location)
        )
        return cls(
            record["kind"],
            location,
            safe_name(name),
            Options(**options),
            fingerprint=record.get("fingerprint"),
        )

    def check_at_the_door(self):
        """What `load` would refuse first, found without reading pixels (a built-in's files)."""
        if self.kind == "builtin" and self.options.data_dir is not None:
            check_local(self.name, self.options.data_dir)

    # --- reading ----------------------------------------------------------------------------

    def load(self, validation_split=0.1, limit=None, seed=0, max_memory=None, download=True):
        """Reads the images and splits them: held-out test (where none is given), validation.

        Args:
            validation_split: float in [0, 1), the share of the (limited)
                training images held out for validation. Default 0.1.
            limit: int or None, keep at most this many training images (a
                stratified, seeded subset, taken before the validation split).
            seed: int >= 0, seeds the subset and the validation split.
            max_memory: int or None, bytes the decoded images may take; a folder
                above it is streamed from its files. None: `default_max_memory()`.
            download: bool, let TFDS download a data set that is not here.

        Returns:
            `kregs.data.splits.Splits`.

        Raises:
            DataNotFoundError, DataError: the data cannot be found or read.
        """
        check_split(validation_split)
        if limit is not None:
            check_positive_int(limit, "limit")
        check_seed(seed)
        if self.kind in ("arrays", "npz") and self._arrays is None:
            if self.kind == "npz":
                self._arrays = arrays_module.from_npz(self.location, self.options)
            else:
                raise DataError(
                    f"the arrays of {self.name!r} are not saved with a run: give the same "
                    "Dataset.from_arrays(...) again"
                )
        train, test, info = read(self, max_memory or default_max_memory(), download)
        held = None
        if test is None:
            train, test = hold_out(train, self.options.test_split, np.random.default_rng(TEST_SEED))
            held = self.options.test_split
            if self.kind != "builtin":
                check_every_class(
                    {"training": train[1], "test": test[1]},
                    info.class_names,
                    f"a test split of {held:g}",
                )
        elif self.kind != "builtin":
            _check_test_classes(train[1], test[1], info.class_names, info.source)
        rng = np.random.default_rng(seed)
        if limit is not None and limit < len(train[1]):  # (at most: a preset's 3,000 of 200)
            keep = stratified_sample(train[1], limit, rng)
            train = (take(train[0], keep), train[1][keep])
        train, validation = hold_out(train, validation_split, rng)
        if self.kind != "builtin" and limit is None and validation_split > 0:
            check_every_class(
                {"training": train[1], "validation": validation[1], "test": test[1]},
                info.class_names,
                f"a validation split of {validation_split:g}"
                + (f" and a test split of {held:g}" if held else ""),
            )
        info = dataclasses.replace(info, held_out=held)
        return Splits(train, validation, test, info)


def _check_test_classes(train, test, class_names, source):
    """Refuses a test split given with the data that lacks a class the training images
    have: the model could not be measured on it (its accuracy would be over the others)."""
    trained = np.bincount(np.asarray(train, np.int64), minlength=len(class_names))
    tested = np.bincount(np.asarray(test, np.int64), minlength=len(class_names))
    missing = [name for name, t, n in zip(class_names, trained, tested, strict=True) if t and not n]
    if missing:
        more = f" (nor of {len(missing) - 1} other classes)" if len(missing) > 1 else ""
        raise DataError(
            f"{source}: its test split has no images of class {missing[0]!r}{more}: every "
            "class needs test images to measure the model on it; add some, or leave the test "
            "split out so that kregs holds one out"
        )


def dataset_from_options(dataset=None, data=None, data_dir=None, **options):
    """The `Dataset` that `kregs tune` and `kregs study` options describe.

    Args:
        dataset: str or None, `--dataset`: a built-in name or `tfds:NAME`.
        data: str or None, `--data`: a folder of images or an `.npz` file.
        data_dir: str or None, `--data-dir`: the built-in's files, or TFDS' data_dir.
        **options: `Options` fields given (None: not given).

    Raises:
        ConfigError: `--data` with `--dataset` or `--data-dir`, or options the source
            has no use for.
    """
    given = {k: v for k, v in options.items() if v is not None}
    if data is not None:
        if dataset is not None:
            raise ConfigError(f"--data {data} and --dataset {dataset} name two data sets; give one")
        if data_dir is not None:
            raise ConfigError("--data-dir is where a built-in or TFDS data set is; not with --data")
        return Dataset.from_path(data, **given)
    name = dataset or "fashion_mnist"
    if not name.startswith("tfds:"):
        useless = sorted(given)
        if useless:
            flag = "--" + useless[0].replace("_", "-")
            raise ConfigError(
                f"{flag} is for your own data (--data) or a TFDS data set, not {name}"
            )
        given = {}
    return Dataset.from_name(name, data_dir=data_dir, **given)


__all__ = [
    "Dataset",
    "ImageFiles",
    "Options",
    "dataset_from_options",
    "default_max_memory",
    "parse_image_size",
    "parse_size",
    "pop_read_options",
]
