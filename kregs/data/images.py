"""The one way kregs turns an image file into a model's input: training, predict, compare.

Every image file kregs reads, whatever it is read for (a folder loaded into memory or
streamed while training, `kregs predict`, `kregs compare`, the int8 calibration of an
export), goes through the same steps, as Keras' `image_dataset_from_directory` does:

1. decoded to 8-bit RGB (JPEG, PNG, BMP, GIF's first frame): an alpha channel is
   dropped (not blended), a palette expanded, 16-bit pixels keep their high byte;
2. to grayscale where the model takes one channel: ITU-R 601 luma
   (0.2989 R + 0.587 G + 0.114 B), rounded;
3. resized to the model's height and width where it differs: bilinear, half-pixel
   centres, no antialiasing (`tf.image.resize(..., "bilinear")`), rounded to uint8.

With TensorFlow installed, TensorFlow's ops do it (`tf_decoder`, also inside `tf.data`);
without it (JAX or PyTorch alone), Pillow decodes and numpy does steps 2 and 3 with the
same arithmetic (`decode`): the same pixels (tests compare them). `PREPROCESSING`
records the steps in every export, so that a served model says how its inputs were made.
"""

import os
import warnings

import numpy as np

from kregs.errors import DataError

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
COLOR_MODES = ("grayscale", "rgb")
# The luma weights of TensorFlow's `rgb_to_grayscale`.
LUMA = (0.2989, 0.5870, 0.1140)
# What every export records of how its inputs are made from image files.
PREPROCESSING = {
    "decode": "8-bit RGB; alpha dropped, palette expanded, 16-bit pixels' high byte",
    "grayscale": "ITU-R 601 luma 0.2989 R + 0.587 G + 0.114 B, rounded (1-channel models)",
    "resize": "bilinear, half-pixel centres, no antialiasing, rounded to uint8",
    "pixels": "uint8 0-255 (the model scales them)",
}
# The largest image `read_image` decodes, in pixels (4096 x 4096: 16 MiB decoded in 8-bit
# grayscale, 48 MiB in RGB). Larger files are refused before they are decoded.
MAX_PIXELS = 4096 * 4096
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L")


def input_record(shape):
    """How a model of input `shape` `(H, W, C)` takes image files: its exports record it.

    Example:
    >>> input_record((28, 28, 1))["color_mode"]
    'grayscale'
    """
    height, width, channels = shape
    return {
        "image_size": [int(height), int(width)],
        "color_mode": "grayscale" if channels == 1 else "rgb",
        **PREPROCESSING,
    }


def _open(path):
    """Pillow's image, its own decompression-bomb warning silenced (kregs has its limits)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(os.fsdecode(path))


def headers(paths):
    """`(sizes, modes, bad)` from each image's header, read without decoding its pixels.

    `sizes` is a list of `(width, height)` (None for a bad file), `modes` Pillow's
    modes, `bad` `{path: reason}` of the files that cannot be read as images.
    Read one after the other (a header is a few hundred bytes; worker threads each
    kept memory of their own: 2 KiB a file).
    """
    from PIL import Image

    sizes, modes, bad = [], [], {}
    for path in paths:
        try:
            with _open(path) as img:
                sizes.append(img.size)
                modes.append(img.mode)
        except Exception as err:  # noqa: BLE001 - each file's reason is reported
            sizes.append(None)
            modes.append(None)
            bomb = isinstance(err, Image.DecompressionBombError)
            bad[str(path)] = ("refused as a decompression bomb: " if bomb else "") + reason(err)
    return sizes, modes, bad


def color_mode(modes):
    """`"grayscale"` when every image is gray, else `"rgb"` (the default `--color-mode`)."""
    return "grayscale" if all(m in _GRAY_MODES for m in modes if m) else "rgb"


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
        batch: int, files per step of the pipeline.

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
            bad[path] = reason(err)
    return images, bad


def decode(path, shape):
    """One image file as uint8 `shape` `(H, W, C)`, with Pillow and numpy (no TensorFlow):
    the same pixels as `tf_decoder` (see the module's docstring)."""
    with _open(path) as img:
        img.seek(0)  # a GIF: its first frame
        if img.mode in _WIDE_MODES:  # 16-bit gray: its high byte, as TensorFlow keeps
            gray = np.right_shift(np.asarray(img, dtype=np.uint32), 8).clip(0, 255)
            rgb = np.repeat(gray.astype(np.uint8)[..., None], 3, axis=-1)
        else:
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return to_shape(rgb, shape)


def to_shape(rgb, shape):
    """Steps 2 and 3 of the module's docstring in numpy: uint8 RGB `(h, w, 3)` -> `shape`."""
    height, width, channels = shape
    image = rgb.astype(np.float32)
    if channels == 1:
        luma = np.asarray(LUMA, np.float32)
        image = np.clip(np.rint(image @ luma), 0, 255)[..., None]
    if image.shape[:2] != (height, width):
        image = np.clip(np.rint(resize_bilinear(image, height, width)), 0, 255)
    return image.astype(np.uint8).reshape(shape)


def resize_bilinear(image, height, width):
    """`image` `(h, w, c)` float32 resized as TensorFlow's `resize_bilinear` with half-pixel
    centres (what `tf.image.resize(..., "bilinear")` runs without antialiasing)."""

    def axis(out, size):
        source = (np.arange(out, dtype=np.float32) + 0.5) * np.float32(size / out) - 0.5
        low = np.floor(source)
        lerp = (source - low).astype(np.float32)
        low = np.clip(low, 0, size - 1).astype(int)
        high = np.clip(np.ceil(source), 0, size - 1).astype(int)
        return low, high, lerp

    top, bottom, y = axis(height, image.shape[0])
    left, right, x = axis(width, image.shape[1])
    x = x[None, :, None]
    upper = image[top][:, left] + (image[top][:, right] - image[top][:, left]) * x
    lower = image[bottom][:, left] + (image[bottom][:, right] - image[bottom][:, left]) * x
    return upper + (lower - upper) * y[:, None, None]


def decode_files(paths, shape):
    """Image files as one uint8 array `N x H x W x C`: TensorFlow's decoders where it is
    installed, else Pillow and numpy; `(images, bad)` as `decode_all`."""
    from kregs.run.device import tensorflow_available

    if tensorflow_available():
        return decode_all(paths, shape)
    images, bad = np.zeros((len(paths), *shape), np.uint8), {}
    for i, path in enumerate(paths):
        try:
            images[i] = decode(path, shape)
        except Exception as err:  # noqa: BLE001 - each file's reason is reported
            bad[os.fsdecode(path)] = reason(err)
    return images, bad


def reason(err):
    """The first line of why a file could not be read (at most 120 characters)."""
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:120]


def read_image(path, shape, max_pixels=MAX_PIXELS):
    """One image file as the model's input, uint8 `shape` `(H, W, C)`, made as training
    made its images (the module's docstring).

    The image's size is read from its header first: an image of more than `max_pixels`
    pixels is refused before it is decoded (a decompression bomb cannot fill the memory).

    Raises:
        DataError: too large, or not an image kregs can decode.
    """
    return _read_files([str(path)], shape, max_pixels)[0]


def read_batch(path, shape):
    """Reads a `.npy` file of uint8 images: `(N, H, W, C)`, `(N, H, W)` when C is 1, or one image.

    Returns:
        `np.ndarray`, uint8, `(N, H, W, C)`.

    Raises:
        DataError: not a readable `.npy`, not uint8, or not the model's image shape.
    """
    try:
        batch = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{path}: cannot read .npy file ({err})") from None
    height, width, channels = shape
    expected = f"(N, {height}, {width}, {channels}) uint8"
    if batch.size == 0:
        raise DataError(f"{path}: holds no images (shape {batch.shape})")
    if batch.dtype != np.uint8:
        raise DataError(f"{path}: has dtype {batch.dtype}; the model takes {expected} pixels")
    if batch.shape == tuple(shape) or (channels == 1 and batch.shape == (height, width)):
        batch = batch[None]
    if batch.ndim == 3 and channels == 1:
        batch = batch[..., None]
    if batch.ndim != 4 or batch.shape[1:] != tuple(shape):
        raise DataError(f"{path}: has shape {batch.shape}; the model takes {expected}")
    return batch


def read_inputs(paths, shape, max_pixels=MAX_PIXELS):
    """Reads image files and `.npy` batches; returns `(images, labels)`.

    `labels` name each image: the file name, or `file.npy[i]` for a batch. Image files
    are checked against `max_pixels` first (`read_image`), then decoded together.
    """
    images, labels, files = [], [], []
    for path in paths:
        suffix = os.path.splitext(str(path))[1].lower()
        if suffix == ".npy":
            batch = read_batch(path, shape)
            images.append(batch)
            labels += [f"{path}[{i}]" for i in range(len(batch))]
        elif suffix in IMAGE_SUFFIXES:
            files.append(str(path))
            images.append(None)
            labels.append(str(path))
        else:
            raise DataError(
                f"{path}: unknown input type; expected {', '.join(IMAGE_SUFFIXES)} or .npy"
            )
    if files:
        decoded = iter(_read_files(files, shape, max_pixels))
        images = [next(decoded)[None] if part is None else part for part in images]
    return np.concatenate(images), labels


def _read_files(paths, shape, max_pixels):
    """Image files as the model's inputs, each checked against `max_pixels` first."""
    sizes, _, bad = headers(paths)
    for path, size in zip(paths, sizes, strict=True):
        if path in bad:
            raise DataError(f"{path}: cannot decode image ({bad[path]})")
        if size[0] * size[1] > max_pixels:
            raise DataError(
                f"{path}: {size[0]}x{size[1]} pixels, more than --max-pixels {max_pixels}; "
                "refused before decoding"
            )
    images, bad = decode_files(paths, tuple(shape))
    if bad:
        path, why = next(iter(bad.items()))
        raise DataError(f"{path}: cannot decode image ({why})")
    return images
