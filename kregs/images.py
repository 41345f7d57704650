"""Reading images for prediction, converted to a model's input when that is safe.

Safe conversions: grayscale <-> RGB, palette -> RGB, an alpha channel that is
fully opaque, and resizing to the model's size when the aspect ratio is the
same (within 2%). Anything else (transparency, another aspect ratio, 16-bit
or float pixels) is refused with a `DataError` naming the file.
"""

import os

import numpy as np

from kregs.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# The largest image read for prediction, in pixels (4096 x 4096: 16 MiB decoded in 8-bit
# grayscale, 48 MiB in RGB). Larger files are refused before they are decoded.
MAX_PIXELS = 4096 * 4096


def read_image(path, shape, max_pixels=MAX_PIXELS):
    """Reads a PNG or JPEG file as a uint8 array of `shape` `(H, W, C)`.

    The image's size is read from its header first: an image of more than
    `max_pixels` pixels is refused before it is decoded (a decompression bomb
    cannot fill the memory).

    Args:
        path: str, the image file.
        shape: tuple `(H, W, C)`, C 1 or 3: the model's input.
        max_pixels: int, the most pixels an image may have. Default `MAX_PIXELS`.

    Returns:
        `np.ndarray`, uint8, of `shape`.

    Raises:
        DataError: too large, cannot be decoded, or converting it is not safe.
    """
    import warnings

    from PIL import Image, UnidentifiedImageError

    height, width, channels = shape
    try:
        with warnings.catch_warnings():
            # kregs' own limit (below) speaks first; PIL's own error still stops a file
            # of more than twice its limit when it is opened.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                pixels = img.size[0] * img.size[1]
                if pixels > max_pixels:
                    raise DataError(
                        f"{path}: {img.size[0]}x{img.size[1]} pixels, more than --max-pixels "
                        f"{max_pixels}; refused before decoding"
                    )
                img.load()
    except Image.DecompressionBombError as err:
        raise DataError(f"{path}: refused as a decompression bomb ({err})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{path}: cannot decode image ({err})") from None
    if img.mode in ("I;16", "I;16B", "I", "F"):
        raise DataError(f"{path}: {img.mode} pixels (16-bit or float) are not 8-bit images")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        alpha = np.asarray(img.getchannel("A"))
        if alpha.min() < 255:
            raise DataError(f"{path}: has transparent pixels; flatten it onto a background first")
        img = img.convert("RGB" if img.mode == "RGBA" else "L")
    img = img.convert("L" if channels == 1 else "RGB")
    if img.size != (width, height):
        ratio, target = img.size[0] / img.size[1], width / height
        if abs(ratio / target - 1) > 0.02:
            raise DataError(
                f"{path}: {img.size[0]}x{img.size[1]} pixels cannot become {width}x{height} "
                "without distortion (different aspect ratio)"
            )
        img = img.resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8).reshape(shape)


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

    `labels` name each image: the file name, or `file.npy[i]` for a batch.
    `max_pixels` limits each image file (see `read_image`).
    """
    images, labels = [], []
    for path in paths:
        suffix = os.path.splitext(path)[1].lower()
        if suffix == ".npy":
            batch = read_batch(path, shape)
            images.append(batch)
            labels += [f"{path}[{i}]" for i in range(len(batch))]
        elif suffix in IMAGE_SUFFIXES:
            images.append(read_image(path, shape, max_pixels)[None])
            labels.append(path)
        else:
            raise DataError(f"{path}: unknown input type; expected .png, .jpg, .jpeg or .npy")
    return np.concatenate(images), labels
