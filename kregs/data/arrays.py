"""Images and labels given as arrays (`Dataset.from_arrays`, `.npz` files), checked at the door.

Models take uint8 pixels. uint8 images are used as they are; float images are
accepted in [0, 1] or [0, 255] (`pixel_range`, "auto" reads which from the values
and says so) and converted to uint8, the scaling recorded. Labels are integers
0..K-1, one per image.
"""

import hashlib
import zipfile

import numpy as np

from kregs.errors import DataError, invalid_value

PIXEL_RANGES = ("auto", "0-1", "0-255")
NPZ_REQUIRED = ("x_train", "y_train")
NPZ_OPTIONAL = ("x_test", "y_test", "class_names")


def images_uint8(x, what, pixel_range="auto"):
    """`(images, pixels)`: `x` as uint8 `N x H x W x C`, and how its pixels were read.

    Args:
        x: array-like `N x H x W` or `N x H x W x C` (C 1 or 3) of uint8, integer
            or float pixels.
        what: str, the array's name in messages (e.g. `"data.npz: x_train"`).
        pixel_range: "auto", "0-1" or "0-255": the range of float pixels.

    Returns:
        `(uint8 array, str)`, e.g. `"float in [0, 1], x255 to uint8"`.

    Raises:
        DataError: not images, NaN or infinite pixels, values outside the range.
    """
    if pixel_range not in PIXEL_RANGES:
        raise invalid_value("pixel_range", pixel_range, f"one of {', '.join(PIXEL_RANGES)}")
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or min(x.shape[1:3], default=0) < 1:
        raise DataError(
            f"{what}: shape {x.shape}; expected images N x H x W, or N x H x W x C with "
            "C 1 (grayscale) or 3 (RGB)"
        )
    if x.dtype == np.uint8:
        return x, "uint8"
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{what}: dtype {x.dtype}; expected uint8, integer or float pixels")
    if np.issubdtype(x.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            raise DataError(f"{what}: {bad} pixels are NaN or infinite")
    low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if np.issubdtype(x.dtype, np.integer):
        if low < 0 or high > 255:
            raise DataError(f"{what}: integer pixels in [{low:g}, {high:g}]; expected 0..255")
        return x.astype(np.uint8), f"{x.dtype} 0..255"
    if pixel_range == "auto":
        pixel_range = "0-1" if low >= 0 and high <= 1 else "0-255"
    top = 1.0 if pixel_range == "0-1" else 255.0
    if low < 0 or high > top:
        raise DataError(
            f"{what}: float pixels in [{low:g}, {high:g}]; expected [0, 1] or [0, 255]"
            + ("" if pixel_range == "auto" else f" (pixel_range {pixel_range})")
        )
    scaled = np.rint(x * (255.0 / top)).astype(np.uint8)
    pixels = f"float in [0, {top:g}]" + (", x255 to uint8" if top == 1 else ", rounded to uint8")
    return scaled, pixels


def labels_int(y, what, images):
    """`y` as int64 `N`: one integer label per image.

    Raises:
        DataError: not one label per image, or labels that are not integers.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(
            f"{what}: shape {y.shape}; expected one integer label per image (not one-hot)"
        )
    if len(y) != images:
        raise DataError(f"{what}: {len(y)} labels for {images} images")
    if y.dtype == bool or not (
        np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)
    ):
        raise DataError(f"{what}: dtype {y.dtype}; expected integer labels 0..K-1")
    if np.issubdtype(y.dtype, np.floating):
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            first = int(np.flatnonzero(~whole)[0])
            raise DataError(
                f"{what}: label {float(y[first]):g} at index {first} is not an integer "
                "(labels are the classes' numbers 0..K-1)"
            )
    return y.astype(np.int64)


def class_count(labels, class_names, what):
    """The number of classes: `len(class_names)`, or the largest label + 1."""
    from kregs.data.formats import check_labels

    joined = np.concatenate([np.asarray(y) for y in labels])
    if class_names is not None:
        k = len(class_names)
    else:
        k = int(joined.max()) + 1 if len(joined) else 0
        _check_numbered(joined, k, what)
    check_labels(joined, max(k, 1), what)
    if k < 2:
        raise DataError(f"{what}: labels of one class only; a classifier needs at least two")
    return k


def _check_numbered(labels, k, what):
    """Without class names, labels are the classes' numbers 0..K-1: refuses labels that
    leave numbers below the largest one unused (a stray 200 among 0..9)."""
    if len(labels) == 0 or labels.min() < 0:
        return  # (check_labels names a negative label)
    unused = np.setdiff1d(np.arange(k), labels)
    if unused.size:
        largest = int(np.flatnonzero(labels == k - 1)[0])
        raise DataError(
            f"{what}: label {k - 1} at index {largest} is the largest, but {unused.size} of "
            f"the numbers 0..{k - 1} label no image (e.g. {int(unused[0])}); without "
            "class_names, labels are the classes' numbers 0..K-1: give class_names, or fix "
            "the labels"
        )


def read_npz(path):
    """The arrays of a `.npz` in `keras.datasets`' layout, as a dict (`class_names` as str).

    Raises:
        DataError: not a readable `.npz`, or `x_train`/`y_train` missing, or only one
            of `x_test` and `y_test`.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            found = set(data.files)
            missing = [k for k in NPZ_REQUIRED if k not in found]
            if missing or (("x_test" in found) != ("y_test" in found)):
                missing += [
                    k
                    for k in ("x_test", "y_test")
                    if k not in found and found & {"x_test", "y_test"}
                ]
                raise DataError(
                    f"{path}: missing {', '.join(missing)}; it holds {', '.join(sorted(found))}"
                    f" (expected {', '.join(NPZ_REQUIRED)}, and x_test with y_test, as "
                    "keras.datasets writes them)"
                )
            arrays = {k: data[k] for k in (*NPZ_REQUIRED, *NPZ_OPTIONAL) if k in found}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise DataError(f"{path}: not a readable .npz file ({err})") from None
    if "class_names" in arrays:
        arrays["class_names"] = tuple(str(c) for c in arrays["class_names"].tolist())
    return arrays


def arrays_hash(loaded):
    digest = hashlib.sha256()
    for key in ("x", "y", "x_test", "y_test"):
        value = loaded.get(key)
        if value is not None:
            digest.update(np.ascontiguousarray(value).tobytes())
    digest.update(repr(loaded["class_names"]).encode())
    return digest.hexdigest()[:16]


def checked_arrays(x, y, x_test, y_test, class_names, what, options):
    """The arrays of `from_arrays`/`from_npz`, checked and converted to uint8."""
    if (x_test is None) != (y_test is None):
        raise DataError(f"{what}: x_test and y_test go together (one of them is missing)")
    x, pixels = images_uint8(x, f"{what}: x_train", options.pixel_range)
    y = labels_int(y, f"{what}: y_train", len(x))
    if x_test is not None:
        x_test, _ = images_uint8(x_test, f"{what}: x_test", options.pixel_range)
        y_test = labels_int(y_test, f"{what}: y_test", len(x_test))
        if x_test.shape[1:] != x.shape[1:]:
            raise DataError(
                f"{what}: test images of shape {x_test.shape[1:]}, training images of "
                f"{x.shape[1:]}: they must be the same (H, W, C)"
            )
    labels = [y] if y_test is None else [y, y_test]
    k = class_count(labels, class_names, f"{what}: labels")
    if class_names is not None and len(set(map(str, class_names))) != len(class_names):
        raise DataError(f"{what}: class_names repeat a name: {list(class_names)}")
    names = (
        tuple(str(c) for c in class_names)
        if class_names is not None
        else tuple(str(i) for i in range(k))
    )
    return {
        "x": x,
        "y": y,
        "x_test": x_test,
        "y_test": y_test,
        "class_names": names,
        "pixels": pixels,
        "source": f"arrays:{what}",
    }


def from_npz(path, options):
    found = read_npz(path)
    loaded = checked_arrays(
        found["x_train"],
        found["y_train"],
        found.get("x_test"),
        found.get("y_test"),
        found.get("class_names"),
        path,
        options,
    )
    loaded["source"] = f"npz:{path}"
    return loaded
