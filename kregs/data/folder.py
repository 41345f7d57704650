"""A folder of images, one subfolder per class, as Keras' `image_dataset_from_directory` reads.

    my_images/               or    my_images/
        cats/ a.jpg b.png ...          train/ cats/ ... dogs/ ...
        dogs/ ...                      test/  cats/ ... dogs/ ...

Class names are the subfolder names, sorted (label i is the i-th name); images in
deeper folders count for their class. Image files are JPEG, PNG, BMP and GIF (the
first frame); other files are ignored and counted. Every image is decoded the same
way whether the data set is loaded into memory or streamed from the files, as
Keras' `image_dataset_from_directory` does: TensorFlow's decoders, to RGB (an alpha
channel dropped) then to gray where the images are read in grayscale, resized
bilinearly to the common size where it differs. Without TensorFlow (JAX or
PyTorch alone), Pillow decodes them, the same way up to rounding.
"""

import collections
import hashlib
import os

import numpy as np

from kregs.errors import DataError

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
COLOR_MODES = ("grayscale", "rgb")
SPLIT_FOLDERS = ("train", "test")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def list_images(root):
    """`(paths, labels, class_names, test, ignored)` of an image folder.

    Args:
        root: str, the folder (class subfolders, or `train/` and `test/` holding them).

    Returns:
        `paths` and `labels` of the training images (numpy arrays, sorted by class
        then path); `class_names` (tuple); `test`: `(paths, labels)` of `test/` or
        None; `ignored`: `Counter` of the suffixes of files that are not images.

    Raises:
        DataError: no class folder, no image, one class only, or a test class
            the training images lack.
    """
    if not os.path.isdir(root):
        raise DataError(f"{root}: not a folder")
    entries = sorted(e for e in os.listdir(root) if os.path.isdir(os.path.join(root, e)))
    # train/ (and test/) holding class folders: the split layout; else the classes themselves
    split = "train" in entries and _has_class_folders(os.path.join(root, "train"))
    ignored = collections.Counter()
    train_root = os.path.join(root, "train") if split else root
    class_names = tuple(
        sorted(e for e in os.listdir(train_root) if os.path.isdir(os.path.join(train_root, e)))
    )
    if not class_names:
        raise DataError(
            f"{root}: no class folders (expected one subfolder of images per class, "
            "optionally inside train/ and test/)"
        )
    paths, labels = _files(train_root, class_names, ignored)
    if len(paths) == 0:
        raise DataError(
            f"{root}: no images in its class folders ({', '.join(class_names)}); kregs reads "
            f"{', '.join(IMAGE_SUFFIXES)}" + _ignored_text(ignored)
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
        test_root = os.path.join(root, "test")
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
        test = _files(test_root, class_names, ignored)
        if len(test[0]) == 0:
            raise DataError(f"{test_root}: no images in its class folders")
    return paths, labels, class_names, test, ignored


def _has_class_folders(folder):
    return os.path.isdir(folder) and any(
        os.path.isdir(os.path.join(folder, e)) for e in os.listdir(folder)
    )


def _files(root, class_names, ignored):
    paths, labels = [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            dirnames.sort()
            for filename in sorted(filenames):
                suffix = os.path.splitext(filename)[1].lower()
                if suffix in IMAGE_SUFFIXES:
                    paths.append(os.path.join(dirpath, filename))
                    labels.append(label)
                elif not filename.startswith("."):
                    ignored[suffix or "(no suffix)"] += 1
    return np.asarray(paths, dtype=str), np.asarray(labels, dtype=np.int64)


def _ignored_text(ignored):
    if not ignored:
        return ""
    total = sum(ignored.values())
    kinds = ", ".join(f"{s} {n}" for s, n in ignored.most_common(4))
    what = "file that is not an image" if total == 1 else "files that are not images"
    return f"; ignored {total} {what} ({kinds})"


def fingerprint(paths):
    """A short hash of the files' relative paths and sizes: the same folder gives the same one
    (workers of a distributed search, and a resumed run, check they read the same images)."""
    digest = hashlib.sha256()
    root = os.path.commonpath([os.path.dirname(p) for p in paths]) if len(paths) else ""
    for path in paths:
        digest.update(os.path.relpath(path, root).encode())
        digest.update(str(os.path.getsize(path)).encode())
    return digest.hexdigest()[:16]


def headers(paths):
    """`(sizes, modes, bad)` from each image's header, read without decoding its pixels.

    `sizes` is a list of `(width, height)` (None for a bad file), `modes` PIL's
    modes, `bad` `{path: reason}` of the files that cannot be read as images.
    Read one after the other (a header is a few hundred bytes; worker threads each
    kept memory of their own: 2 KiB a file).
    """
    from PIL import Image

    sizes, modes, bad = [], [], {}
    for path in paths:
        try:
            with Image.open(path) as img:
                sizes.append(img.size)
                modes.append(img.mode)
        except Exception as err:  # noqa: BLE001 - each file's reason is reported
            sizes.append(None)
            modes.append(None)
            bad[str(path)] = _reason(err)
    return sizes, modes, bad


def color_mode(modes):
    """`"grayscale"` when every image is gray, else `"rgb"` (the default `--color-mode`)."""
    return "grayscale" if all(m in _GRAY_MODES for m in modes if m) else "rgb"


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


def tf_decoder(shape):
    """A TensorFlow function: an image file's path -> uint8 `shape` `(H, W, C)` (see the
    module's docstring); it fails on a file it cannot decode."""
    import tensorflow as tf

    height, width, channels = shape

    def decode_file(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image.set_shape((None, None, 3))
        if channels == 1:
            gray = tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))
            image = tf.cast(tf.clip_by_value(tf.round(gray), 0, 255), tf.uint8)
        size = tf.shape(image)[:2]

        def resized():
            scaled = tf.image.resize(tf.cast(image, tf.float32), (height, width), "bilinear")
            return tf.cast(tf.clip_by_value(tf.round(scaled), 0, 255), tf.uint8)

        same = tf.logical_and(tf.equal(size[0], height), tf.equal(size[1], width))
        image = tf.cond(same, lambda: image, resized)
        image.set_shape(shape)
        return image

    return decode_file


def decode_threads():
    """Files decoded at once in an input pipeline: twice the cores (tf.data's AUTOTUNE
    started lower and decoded at half the speed, measured on this project's 2 cores)."""
    return 2 * (os.cpu_count() or 1)


def decode_all(paths, shape, keep=True, batch=64):
    """Decodes every file with TensorFlow (parallel); `(images, bad)`.

    Args:
        paths: sequence of paths.
        shape: `(H, W, C)`.
        keep: bool, return the pixels (False: only check that every file decodes).

    Returns:
        `(images, bad)`: uint8 `N x H x W x C` (zeros where a file is bad) or None,
        and `{path: reason}` of the files that failed.
    """
    import tensorflow as tf

    decode_file = tf_decoder(shape)
    paths = np.asarray(paths)
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))
    ds = ds.map(lambda i, p: (i, decode_file(p)), num_parallel_calls=decode_threads())
    ds = ds.ignore_errors().batch(batch).prefetch(1)
    images = np.zeros((len(paths), *shape), np.uint8) if keep else None
    seen = np.zeros(len(paths), bool)
    for index, decoded in ds.as_numpy_iterator():
        seen[index] = True
        if keep:
            images[index] = decoded
    bad = {}
    for i in np.flatnonzero(~seen):
        path = os.fsdecode(paths[i])
        try:  # Pillow says why, where it can
            decode(path, shape)
            bad[path] = "TensorFlow cannot decode it"
        except Exception as err:  # noqa: BLE001 - each file's reason is reported
            bad[path] = _reason(err)
    return images, bad


def decode(path, shape):
    """One image file as uint8 `shape` `(H, W, C)` with Pillow (TensorFlow absent)."""
    from PIL import Image

    height, width, channels = shape
    with Image.open(os.fsdecode(path)) as img:
        img.seek(0)  # a GIF: its first frame
        img = img.convert("L" if channels == 1 else "RGB")
        if img.size != (width, height):
            img = img.resize((width, height), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8).reshape(shape)


def decode_files(paths, shape):
    """Image files as one uint8 array `N x H x W x C`: TensorFlow's decoders where it is
    installed, else Pillow's; `(images, bad)` as `decode_all`."""
    from kregs.run.device import tensorflow_available

    if tensorflow_available():
        return decode_all(paths, shape)
    images, bad = np.zeros((len(paths), *shape), np.uint8), {}
    for i, path in enumerate(paths):
        try:
            images[i] = decode(path, shape)
        except Exception as err:  # noqa: BLE001 - each file's reason is reported
            bad[os.fsdecode(path)] = _reason(err)
    return images, bad


def _reason(err):
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:120]


def bad_images_error(root, bad, total):
    """The one line for images that cannot be read: the first named, the others counted."""
    first, reason = next(iter(sorted(bad.items())))
    others = len(bad) - 1
    more = f" and {others} other{'s' if others != 1 else ''}" if others else ""
    return DataError(
        f"{first}: cannot be decoded ({reason}){more}, of {total} images in {root}; "
        "fix or remove them, or pass --skip-bad-images to leave them out"
    )
