"""A folder of images, one subfolder per class, as Keras' `image_dataset_from_directory` reads.

    my_images/               or    my_images/
        cats/ a.jpg b.png ...          train/ cats/ ... dogs/ ...
        dogs/ ...                      test/  cats/ ... dogs/ ...

Class names are the subfolder names, sorted (label i is the i-th name); images in
deeper folders count for their class. Image files are JPEG, PNG, BMP and GIF (the
first frame); other files are ignored and counted. Every image is decoded the one way
`kregs.data.images` says, whether the folder is loaded into memory or streamed.

Links are followed, each folder once: a link to a folder already listed, to one of the
folders above it (a loop), or to another class's or split's folder inside the data is
not followed (and counted); a file that turns up in two classes or in both splits is
refused, naming both paths.
"""

import collections
import dataclasses
import hashlib
import os

import numpy as np

from kregs.data import images as image_files
from kregs.data.images import IMAGE_SUFFIXES
from kregs.data.splits import DatasetInfo, ImageFiles, safe_name
from kregs.errors import DataError


@dataclasses.dataclass
class Listing:
    """The image files of a folder (`list_images`).

    Attributes:
        paths, labels: the training images (numpy arrays, sorted by class then path).
        class_names: tuple of str, in label order.
        test: `(paths, labels)` of `test/`, or None.
        ignored: `Counter` of the suffixes of files that are not images.
        links: list of str, the links not followed (see the module's docstring).
    """

    paths: np.ndarray
    labels: np.ndarray
    class_names: tuple
    test: tuple | None
    ignored: collections.Counter
    links: list

    def notes(self):
        """What listing left out, one line each (summary.md's data section)."""
        notes = []
        if self.ignored:
            notes.append(ignored_text(self.ignored))
        if self.links:
            many = len(self.links) != 1
            notes.append(
                f"did not follow {len(self.links)} link{'s' if many else ''} to a folder "
                f"listed already, above it or of another class (e.g. {self.links[0]})"
            )
        return notes


def list_images(root):
    """The image files of an image folder, by class (see the module's docstring).

    Args:
        root: str, the folder (class subfolders, or `train/` and `test/` holding them).

    Returns:
        A `Listing`.

    Raises:
        DataError: no class folder, no image, one class only, a test class the
            training images lack, or a file in two classes or both splits.
    """
    if not os.path.isdir(root):
        raise DataError(f"{root}: not a folder")
    entries = sorted(e for e in os.listdir(root) if os.path.isdir(os.path.join(root, e)))
    # train/ (and test/) holding class folders: the split layout; else the classes themselves
    split = "train" in entries and _has_class_folders(os.path.join(root, "train"))
    train_root = os.path.join(root, "train") if split else root
    class_names = tuple(
        sorted(e for e in os.listdir(train_root) if os.path.isdir(os.path.join(train_root, e)))
    )
    if not class_names:
        raise DataError(
            f"{root}: no class folders (expected one subfolder of images per class, "
            "optionally inside train/ and test/)"
        )
    walker = _Walker(root)
    paths, labels = walker.files(train_root, class_names, "train")
    if len(paths) == 0:
        raise DataError(
            f"{root}: no images in its class folders ({', '.join(class_names)}); kregs reads "
            f"{', '.join(IMAGE_SUFFIXES)}"
            + (f"; {ignored_text(walker.ignored)}" if walker.ignored else "")
        )
    counts = np.bincount(labels, minlength=len(class_names))
    present = [name for name, n in zip(class_names, counts, strict=True) if n]
    if len(present) < 2:
        raise DataError(
            f"{root}: images of one class only ({present[0]!r}): a classifier needs at least "
            "two classes, one subfolder each"
        )
    test = None
    if split and "test" in entries:
        test = _test_files(walker, os.path.join(root, "test"), class_names)
    walker.check_once()
    return Listing(paths, labels, class_names, test, walker.ignored, walker.links)


def _test_files(walker, test_root, class_names):
    extra = sorted(
        e
        for e in os.listdir(test_root)
        if os.path.isdir(os.path.join(test_root, e)) and e not in class_names
    )
    if extra:
        raise DataError(
            f"{test_root}: classes the training images lack: {', '.join(extra)} "
            f"(train/ has {', '.join(class_names)})"
        )
    paths, labels = walker.files(test_root, class_names, "test")
    if len(paths) == 0:
        raise DataError(f"{test_root}: no images in its class folders")
    return paths, labels


def _has_class_folders(folder):
    return os.path.isdir(folder) and any(
        os.path.isdir(os.path.join(folder, e)) for e in os.listdir(folder)
    )


class _Walker:
    """Lists image files under class folders, following each real folder once."""

    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.visited = set()  # real paths of the folders listed
        self.owner = {}  # real path of a file -> (path, class, split): where it was found
        self.twice = []  # (path, earlier path, class, earlier class, split, earlier split)
        self.ignored = collections.Counter()
        self.links = []

    def files(self, split_root, class_names, split):
        paths, labels = [], []
        for label, name in enumerate(class_names):
            folder = os.path.join(split_root, name)
            if os.path.isdir(folder):
                for path in self._walk(folder):
                    if self._first(path, name, split):
                        paths.append(path)
                        labels.append(label)
        return np.asarray(paths, dtype=str), np.asarray(labels, dtype=np.int64)

    def _walk(self, folder):
        home = os.path.realpath(folder)
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            self.visited.add(os.path.realpath(dirpath))
            dirnames[:] = [d for d in sorted(dirnames) if self._enter(dirpath, d, home)]
            for filename in sorted(filenames):
                suffix = os.path.splitext(filename)[1].lower()
                if suffix in IMAGE_SUFFIXES:
                    yield os.path.join(dirpath, filename)
                elif not filename.startswith("."):
                    self.ignored[suffix or "(no suffix)"] += 1

    def _enter(self, dirpath, name, home):
        path = os.path.join(dirpath, name)
        if not os.path.islink(path):
            return True
        real = os.path.realpath(path)
        loop = real in self.visited or _within(os.path.realpath(dirpath), real)
        elsewhere = _within(real, self.root) and not _within(real, home)
        if loop or elsewhere:
            self.links.append(path)
            return False
        return True

    def _first(self, path, name, split):
        real = os.path.realpath(path)
        if real not in self.owner:
            self.owner[real] = (path, name, split)
            return True
        earlier = self.owner[real]
        if (earlier[1], earlier[2]) != (name, split):
            self.twice.append((path, earlier[0], name, earlier[1], split, earlier[2]))
        return False  # (the same file twice in one class: listed once)

    def check_once(self):
        """Refuses a file found in two classes or in both splits."""
        if not self.twice:
            return
        path, earlier, name, earlier_name, split, earlier_split = self.twice[0]
        where = (
            f"in classes {earlier_name!r} and {name!r}"
            if name != earlier_name
            else f"in {earlier_split}/ and {split}/"
        )
        more = f" ({len(self.twice) - 1} more such files)" if len(self.twice) > 1 else ""
        raise DataError(
            f"{path}: the same file as {earlier}, {where}{more}: an image has one class and "
            "one split; remove the link or the copy"
        )


def _within(path, folder):
    """Whether `path` is `folder` or inside it (both real paths)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def ignored_text(ignored):
    """`ignored N files that are not images (.txt 3, ...)`."""
    total = sum(ignored.values())
    kinds = ", ".join(f"{s} {n}" for s, n in ignored.most_common(4))
    what = "file that is not an image" if total == 1 else "files that are not images"
    return f"ignored {total} {what} ({kinds})"


def fingerprint(paths):
    """A short hash of the files' relative paths and sizes: the same folder gives the same one
    (workers of a distributed search, and a resumed run, check they read the same images)."""
    digest = hashlib.sha256()
    root = os.path.commonpath([os.path.dirname(p) for p in paths]) if len(paths) else ""
    for path in paths:
        digest.update(os.path.relpath(path, root).encode())
        digest.update(str(os.path.getsize(path)).encode())
    return digest.hexdigest()[:16]


def common_size(root, sizes, image_size):
    """The `(height, width)` every image gets: `image_size`, or the one size all images share.

    Raises:
        DataError: images of several sizes and no `image_size`.
    """
    if image_size is not None:
        return tuple(image_size)
    found = collections.Counter(s for s in sizes if s is not None)
    if len(found) == 1:
        width, height = next(iter(found))
        return height, width
    listed = ", ".join(f"{w}x{h} ({n})" for (w, h), n in found.most_common(3))
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    raise DataError(
        f"{root}: images of {len(found)} sizes ({listed}{more}, width x height); give "
        "--image-size HxW (image_size=(H, W)): every image is resized to it"
    )


def bad_images_error(root, bad, total):
    """The one line for images that cannot be read: the first named, the others counted."""
    first, why = next(iter(sorted(bad.items())))
    others = len(bad) - 1
    more = f" and {others} other{'s' if others != 1 else ''}" if others else ""
    return DataError(
        f"{first}: cannot be decoded ({why}){more}, of {total} images in {root}; "
        "fix or remove them, or pass --skip-bad-images to leave them out"
    )


def read_folder(root, options, max_memory):
    """`(train, test, info)` of a folder of images (see the module's docstring).

    A folder whose decoded images would take more than `max_memory` bytes keeps them
    as `ImageFiles` (decoded batch by batch while training).

    Raises:
        DataError: an empty folder, one class, images that cannot be decoded
            (unless `skip_bad_images`), several sizes without `image_size`.
    """
    from kregs.run.device import tensorflow_available

    listing = list_images(root)
    test = listing.test
    all_paths = listing.paths if test is None else np.concatenate([listing.paths, test[0]])
    sizes, modes, bad = image_files.headers(all_paths)
    mode = options.color_mode or image_files.color_mode(modes)
    height, width = common_size(root, sizes, options.image_size)
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
        _, found = image_files.decode_all(all_paths[readable], shape, keep=False)
        _release_freed_memory()  # what decoding them once left in the heap
        images = None
    else:
        images = np.zeros((total, *shape), np.uint8)
        images[readable], found = image_files.decode_files(all_paths[readable], shape)
    bad.update(found)
    if bad and not options.skip_bad_images:
        raise bad_images_error(root, bad, total)
    keep = np.array([p not in bad for p in all_paths])
    notes = listing.notes()
    if bad:
        notes.append(
            f"left out {len(bad)} image{'s' if len(bad) != 1 else ''} that cannot be decoded "
            f"(--skip-bad-images), e.g. {sorted(bad)[0]}"
        )
    n_train = len(listing.paths)
    if streamed:  # (paths as bytes: a quarter of numpy's str, for many files)
        pixels = ImageFiles(np.array([os.fsencode(p) for p in all_paths]), shape)
    else:
        pixels = images
    train = (pixels[np.flatnonzero(keep[:n_train])], listing.labels[keep[:n_train]])
    test_pair = None
    if test is not None:
        index = n_train + np.flatnonzero(keep[n_train:])
        test_pair = (pixels[index], test[1][keep[n_train:]])
    info = DatasetInfo(
        safe_name(os.path.basename(root)),
        shape,
        len(listing.class_names),
        listing.class_names,
        f"folder:{root}",
        pixels=f"{mode} images",
        streamed=streamed,
        notes=tuple(notes),
    )
    if len(train[1]) == 0:
        raise DataError(f"{root}: no training image left")
    return train, test_pair, info


def _release_freed_memory():
    """Gives the heap's freed memory back to the system (glibc's `malloc_trim`; Linux)."""
    import ctypes
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
