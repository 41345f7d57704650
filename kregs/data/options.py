"""How a `Dataset` is read (`Options`), and the sizes the command line gives."""

import dataclasses
import re

from kregs.checks import check_split
from kregs.data import arrays as arrays_module
from kregs.data.images import COLOR_MODES
from kregs.errors import invalid_value

# The share of the machine's available memory decoded images may take before a folder is
# streamed from its files (`max_memory`); the rest is the model's, the framework's and
# everything else's.
MEMORY_SHARE = 0.4


@dataclasses.dataclass(frozen=True)
class Options:
    """How a source is read: every field is recorded in run.json (see `Dataset.record`).

    Attributes:
        image_size: `(H, W)` or None: images are resized to it (needed where they
            differ in size).
        color_mode: "grayscale", "rgb" or None (inferred: gray when every image is).
        test_split: float in (0, 1): the share held out as the test split where
            the source has no test split.
        skip_bad_images: bool, leave out (and count) images that cannot be
            decoded, instead of refusing the folder.
        pixel_range: "auto", "0-1" or "0-255": the range of float pixels.
        flips: bool, a left-right mirror keeps the labels (so the search may flip).
        data_dir: str or None: where the built-in data set's files are, or TFDS' data_dir.
    """

    image_size: tuple | None = None
    color_mode: str | None = None
    test_split: float = 0.1
    skip_bad_images: bool = False
    pixel_range: str = "auto"
    flips: bool = False
    data_dir: str | None = None

    def __post_init__(self):
        if self.image_size is not None:
            size = parse_image_size(self.image_size)
            object.__setattr__(self, "image_size", size)
        if self.color_mode not in (None, *COLOR_MODES):
            raise invalid_value("color_mode", self.color_mode, "grayscale or rgb")
        if check_split(self.test_split, "test_split") == 0:
            raise invalid_value("test_split", self.test_split, "a float in (0, 1)")
        if self.pixel_range not in arrays_module.PIXEL_RANGES:
            raise invalid_value(
                "pixel_range", self.pixel_range, f"one of {', '.join(arrays_module.PIXEL_RANGES)}"
            )

    def to_dict(self):
        out = dataclasses.asdict(self)
        out["image_size"] = list(self.image_size) if self.image_size else None
        return out


# The `Options` a command line gives (`--image-size`, ...): every field but `data_dir`,
# which names where a built-in data set is.
READ_OPTIONS = tuple(f.name for f in dataclasses.fields(Options) if f.name != "data_dir")


def pop_read_options(options):
    """The `READ_OPTIONS` in the dict `options`, popped from it (values None: not given)."""
    return {name: options.pop(name, None) for name in READ_OPTIONS}


def parse_image_size(value):
    """`(H, W)` from `"HxW"`, `(H, W)` or `[H, W]`; ints >= 1."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", value)
        value = (int(match.group(1)), int(match.group(2))) if match else None
    try:
        height, width = (int(v) for v in value)
    except (TypeError, ValueError):
        raise invalid_value("image_size", value, "HxW, e.g. 64x64") from None
    if min(height, width) < 1:
        raise invalid_value("image_size", value, "HxW with sides >= 1")
    return height, width


def parse_size(text):
    """Bytes from `"2G"`, `"512M"`, `"1.5GiB"` or a plain number of bytes."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?)(?:I?B)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise invalid_value("max_memory", text, "a size such as 2G or 512M")
    factor = 1024 ** " KMGT".index(match.group(2).upper() or " ")
    size = int(float(match.group(1)) * factor)
    if size < 1:
        raise invalid_value("max_memory", text, "a size > 0")
    return size


def default_max_memory():
    """`MEMORY_SHARE` of the memory available now, in bytes."""
    import psutil

    return int(psutil.virtual_memory().available * MEMORY_SHARE)
