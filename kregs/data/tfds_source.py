"""Any TFDS image classification data set (`tfds:NAME`), and `tf.data` pipelines, read into memory.

Both need TensorFlow. Their images are gathered into uint8 arrays once (they must
fit in the memory budget: for data bigger than memory, point kregs at image files,
which it streams); images of several sizes are resized to `image_size` as a folder's
are (`kregs.data.folder.decode`).
"""

import collections

import numpy as np

from kregs.errors import ConfigError, DataError, DataNotFoundError

# Where most TFDS data sets download from; unreachable: fail in seconds, not minutes.
TFDS_HOST = "storage.googleapis.com"


def read_tfds(name, data_dir=None, download=True, image_size=None, color_mode=None):
    """`(train, test, class_names, notes)` of a TFDS image classification data set.

    Args:
        name: str, the TFDS name (e.g. `"beans"`, `"tf_flowers"`, `"mnist:3.0.1"`).
        data_dir: str or None, TFDS' `data_dir`.
        download: bool, let TFDS download and prepare it when it is not there yet.
        image_size: `(H, W)` or None (needed when its images differ in size).
        color_mode: "grayscale", "rgb" or None (its own).

    Returns:
        `train` and `test` (`(images, labels)`; `test` None where it has no test
        split), `class_names` (tuple) and `notes` (tuple of str).

    Raises:
        ConfigError: no TFDS data set of that name.
        DataNotFoundError: not prepared here and cannot be downloaded.
        DataError: not an image classification data set.
    """
    import tensorflow_datasets as tfds

    from kregs.data.builtin import _host_reachable

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ConfigError(
            f"no TFDS data set named {name!r} (tfds.list_builders() lists them)"
        ) from None
    features = builder.info.features
    keys = builder.info.supervised_keys
    if not keys or not isinstance(features[keys[1]], tfds.features.ClassLabel):
        raise DataError(
            f"tfds:{name} is not an image classification data set (its supervised keys: "
            f"{keys}); kregs needs (image, class label) pairs"
        )
    prepared = builder.is_prepared() if hasattr(builder, "is_prepared") else False
    if not prepared and not (download and _host_reachable(TFDS_HOST)):
        where = f"in {data_dir}" if data_dir else "in TFDS' data_dir"
        raise DataNotFoundError(
            f"tfds:{name} is not prepared {where} and "
            + ("downloads are off" if not download else f"{TFDS_HOST} cannot be reached")
            + "; go online (TFDS downloads it), or give --data-dir where it was prepared"
        )
    known = list(builder.info.splits.keys()) or ["train", "test"]  # (not prepared yet)
    if "train" not in known:
        raise DataError(f"tfds:{name} has no train split (it has {', '.join(known)})")
    wanted = [s for s in ("train", "test") if s in known]
    try:
        loaded = tfds.load(
            name, split=wanted, data_dir=data_dir, as_supervised=True, download=download
        )
    except (OSError, tfds.download.DownloadError) as err:
        raise DataNotFoundError(
            f"tfds:{name}: tfds.load failed ({type(err).__name__}: {err})"
        ) from None
    splits = dict(zip(wanted, loaded, strict=True))
    class_names = tuple(features[keys[1]].names)
    train = dataset_arrays(splits["train"], f"tfds:{name} train", image_size, color_mode)
    test = None
    if "test" in splits:
        test = dataset_arrays(splits["test"], f"tfds:{name} test", image_size, color_mode)
    return train, test, class_names, ()


def dataset_arrays(dataset, what, image_size=None, color_mode=None):
    """The `(image, label)` elements of a `tf.data.Dataset` as `(uint8 images, int64 labels)`.

    Batched datasets are unbatched first. Images of several sizes need
    `image_size`; `color_mode` converts them to 1 or 3 channels.

    Raises:
        DataError: elements that are not `(image, integer label)` pairs, or images
            of several sizes without `image_size`.
    """

    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise DataError(f"{what}: elements are {spec}; expected (image, label) pairs")
    if spec[0].shape.rank == 4:  # batched
        dataset = dataset.unbatch()
    elif spec[0].shape.rank not in (2, 3):
        raise DataError(f"{what}: images of shape {spec[0].shape}; expected H x W (x C)")
    images, labels = [], []
    for x, y in dataset.as_numpy_iterator():
        images.append(x if x.ndim == 3 else x[..., None])
        labels.append(y)
    if not images:
        raise DataError(f"{what}: no elements")
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{what}: labels of shape {labels.shape[1:]} and dtype {labels.dtype}; "
            "expected one integer class per image"
        )
    return _same_size(images, what, image_size, color_mode), labels.astype(np.int64)


def _same_size(images, what, image_size, color_mode):
    from PIL import Image

    from kregs.data.arrays import images_uint8

    sizes = collections.Counter(x.shape[:2] for x in images)
    channels = max(x.shape[-1] for x in images)
    if color_mode is not None:
        channels = 1 if color_mode == "grayscale" else 3
    if image_size is None and len(sizes) > 1:
        listed = ", ".join(f"{h}x{w} ({n})" for (h, w), n in sizes.most_common(3))
        raise DataError(
            f"{what}: images of {len(sizes)} sizes ({listed}, height x width); give "
            "--image-size HxW (image_size=(H, W)): every image is resized to it"
        )
    height, width = image_size or next(iter(sizes))
    if (
        len(sizes) == 1
        and (height, width) == next(iter(sizes))
        and all(x.shape[-1] == channels for x in images)
    ):
        return images_uint8(np.stack(images), what)[0]
    out = np.empty((len(images), height, width, channels), np.uint8)
    for i, x in enumerate(images):
        x = images_uint8(x[None], what)[0][0]
        img = Image.fromarray(x[..., 0] if x.shape[-1] == 1 else x)
        img = img.convert("L" if channels == 1 else "RGB")
        if img.size != (width, height):
            img = img.resize((width, height), Image.Resampling.BILINEAR)
        out[i] = np.asarray(img, np.uint8).reshape(height, width, channels)
    return out
