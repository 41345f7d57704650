"""What a loaded data set is: its training, validation and test splits, and what they hold.

A split is `(images, labels)`: images as a uint8 numpy array `N x H x W x C`, or
as `ImageFiles` (paths decoded batch by batch: a folder bigger than memory);
labels as int64 `N`. Both kinds index and concatenate the same way
(`take`, `concat`), so the search, the refit and the study never ask which.
"""

import dataclasses
import re

import numpy as np

from kregs.errors import DataError

# The test split held out of a data set that has none is drawn with this seed, whatever
# the run's: every run and study on the same files tests on the same images.
TEST_SEED = 0


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a loaded data set is and where it came from.

    Attributes:
        name: str, a short name (the built-in's, a folder's or file's name, `tfds:NAME`).
        input_shape: tuple `(H, W, C)` of the images the model takes (uint8 pixels).
        num_classes: int.
        class_names: tuple of str, in label order.
        source: str, `"<kind>:<location>"` with kind one of `data_dir`, `debian`,
            `keras-cache`, `tfds`, `folder`, `npz`, `arrays`, `tf.data`.
        pixels: str, how the pixels were read, e.g. `"uint8"` or `"float in [0, 1],
            x255 to uint8"` (never guessed silently: this says what was done).
        streamed: bool, the images stay files, decoded batch by batch.
        held_out: float or None, the share of the training images held out as
            the test split, where the source had no test split.
        notes: tuple of str, what loading noticed (ignored files, images left out).
    """

    name: str
    input_shape: tuple
    num_classes: int
    class_names: tuple
    source: str
    pixels: str = "uint8"
    streamed: bool = False
    held_out: float | None = None
    notes: tuple = ()

    def to_dict(self):
        """The fields as plain JSON (run.json records them)."""
        record = dataclasses.asdict(self)
        record["input_shape"] = list(self.input_shape)
        record["class_names"] = list(self.class_names)
        record["notes"] = list(self.notes)
        return record

    @classmethod
    def from_dict(cls, record):
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in record.items() if k in fields}
        values["input_shape"] = tuple(values["input_shape"])
        values["class_names"] = tuple(values["class_names"])
        values["notes"] = tuple(values.get("notes", ()))
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class ImageFiles:
    """Images kept as files and decoded when a batch needs them (`kregs.data.batches.pipeline`).

    Attributes:
        paths: numpy array of file paths (str or bytes), one per image.
        shape: tuple `(H, W, C)`, what every image decodes to (resized where it
            differs, converted to 1 or 3 channels).
    """

    paths: np.ndarray
    shape: tuple

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        return ImageFiles(np.asarray(self.paths)[index], self.shape)

    @property
    def nbytes(self):
        """The bytes the images take once decoded."""
        return len(self) * int(np.prod(self.shape))

    def decode(self):
        """The images as a uint8 array `N x H x W x C` (for a few: the whole is too big)."""
        from kregs.data.images import decode_files

        return decode_files(self.paths, self.shape)[0]


def take(images, index):
    """`images[index]` for an array or `ImageFiles` alike."""
    return images[index]


def concat(a, b):
    """Two splits' images one after the other (arrays, or `ImageFiles` of one shape)."""
    if isinstance(a, ImageFiles):
        return ImageFiles(np.concatenate([a.paths, b.paths]), a.shape)
    return np.concatenate([a, b])


@dataclasses.dataclass(frozen=True)
class Splits:
    """Train, validation and test splits as `(images, labels)` pairs, and their `DatasetInfo`.

    Images are uint8 `N x H x W x C` arrays or `ImageFiles`, labels int64 `N`.
    """

    train: tuple
    validation: tuple
    test: tuple
    info: DatasetInfo

    def counts(self):
        """`{split: [images of class 0, 1, ...]}`: how many images of each class each split has."""
        k = self.info.num_classes
        return {
            name: np.bincount(np.asarray(pair[1], dtype=np.int64), minlength=k).tolist()
            for name, pair in (
                ("train", self.train),
                ("validation", self.validation),
                ("test", self.test),
            )
        }


def stratified_sample(labels, n, rng):
    """Picks `n` indices with each class in the same proportion as in `labels`.

    Per-class quotas are `n * share` rounded by largest remainder, so they sum
    to exactly `n`; within a class the indices are drawn uniformly by `rng`.

    Args:
        labels: int array of shape `N`.
        n: int in [0, N].
        rng: `np.random.Generator`.

    Returns:
        Sorted int array of `n` distinct indices.
    """
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n / len(labels)
    quotas = np.floor(exact).astype(int)
    short = n - quotas.sum()
    quotas[np.argsort(-(exact - quotas), kind="stable")[:short]] += 1
    picked = [
        rng.permutation(np.flatnonzero(labels == c))[:q]
        for c, q in zip(classes, quotas, strict=True)
    ]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, int)


def hold_out(pair, share, rng):
    """Splits `(images, labels)` into the rest and a stratified `share` of it.

    Returns:
        `(rest, held)`, each an `(images, labels)` pair.
    """
    images, labels = pair
    held = stratified_sample(labels, int(round(share * len(labels))), rng)
    mask = np.zeros(len(labels), bool)
    mask[held] = True
    return (take(images, ~mask), labels[~mask]), (take(images, mask), labels[mask])


def check_every_class(splits, class_names, what):
    """Refuses splits in which a class has no image: it could not be learned or measured.

    Args:
        splits: dict, split name -> labels.
        class_names: sequence of str.
        what: str, what made the splits (named in the message).

    Raises:
        DataError: naming the first class missing from a split and its image count.
    """
    total = np.bincount(
        np.concatenate([np.asarray(y, np.int64) for y in splits.values()]),
        minlength=len(class_names),
    )
    for name, labels in splits.items():
        present = np.bincount(np.asarray(labels, np.int64), minlength=len(class_names))
        for c in np.flatnonzero(present == 0):
            raise DataError(
                f"class {class_names[c]!r} has {total[c]} image{'s' if total[c] != 1 else ''}: "
                f"too few for {what} (none is left for its {name} split; every class needs "
                f"images in the {', '.join(splits)} splits); add images of it, or remove it"
            )


def safe_name(text):
    """`text` as a short name for folders and exports: letters, digits, `_.-` (64 at most)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("._") or "data"
    return name[:64]
