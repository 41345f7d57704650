"""The formats a model is deployed in, and how each is written.

Every format keeps the SavedModel's contract: uint8 images `[batch, H, W, C]` in
(input `images`), float32 probabilities `[batch, classes]` out (output
`probabilities`), the class names beside the model file (`class_names.txt`).
The LiteRT, ONNX and OpenVINO files are written by Keras' own `model.export`
(`kregs.deploy.convert`); each runtime is an optional extra. Each format's versions
live in a folder of their own beside the SavedModel's (`folder_name`), one version
number for one model across formats (`next_version`). No TensorFlow here.
"""

import dataclasses
import importlib.util
import json
import os
import re

from kregs.deploy.precision import PRECISIONS
from kregs.errors import ConfigError, invalid_value

QUANTIZATIONS = ("none", "dynamic", "int8")
CALIBRATION_IMAGES = 300  # validation images that calibrate int8 (never test images)
MAX_DROP = 0.5  # points of test accuracy an artifact may lose against the Keras model
METADATA_FILE = "kregs.json"  # what was exported (a SavedModel's is in assets/)
CLASS_NAMES_FILE = "class_names.txt"  # one class name per line, in id order


@dataclasses.dataclass(frozen=True)
class Format:
    """A deployment format.

    Attributes:
        name: str, as `--format` takes it.
        label: str, as tables show it.
        files: tuple of str, the model's files in an artifact folder (the first
            is the one `kregs predict` is given).
        extra: str or None, the pip extra that installs what writes and runs it.
        modules: tuple of str, the modules that extra installs.
    """

    name: str
    label: str
    files: tuple
    extra: str | None
    modules: tuple

    @property
    def file(self):
        return self.files[0]


FORMATS = {
    f.name: f
    for f in (
        Format("savedmodel", "SavedModel", ("saved_model.pb", "variables"), None, ("tensorflow",)),
        Format("litert", "LiteRT", ("model.tflite",), "litert", ("ai_edge_litert",)),
        Format("onnx", "ONNX", ("model.onnx",), "onnx", ("tf2onnx", "onnx", "onnxruntime")),
        Format("openvino", "OpenVINO", ("model.xml", "model.bin"), "openvino", ("openvino",)),
    )
}


@dataclasses.dataclass(frozen=True)
class DeployOptions:
    """What `kregs.deploy.deploy` writes and when it refuses an artifact; each field is named
    as the command line's option (`--export-format`, `--quantize`, ...).

    Args:
        export_formats: sequence of str, keys of `FORMATS` (each checked installed here).
        quantize: str, LiteRT's quantization: "none", "dynamic" (int8 weights) or
            "int8" (full-integer, calibrated on validation images).
        export_precision: str, "float32" (a model trained in bfloat16 or float16 is
            exported as a float32 copy) or "trained" (as it computes).
        max_accuracy_drop: float >= 0, points of test accuracy an artifact may lose
            against the Keras model before it is refused.
        accept_accuracy_drop: bool, keep an artifact that loses more.

    Example:
    >>> DeployOptions(export_formats=("savedmodel", "litert"), quantize="int8").export_formats
    ('savedmodel', 'litert')
    """

    export_formats: tuple = ("savedmodel",)
    quantize: str = "none"
    export_precision: str = "float32"
    max_accuracy_drop: float = MAX_DROP
    accept_accuracy_drop: bool = False

    def __post_init__(self):
        given = self.export_formats
        formats = (given,) if isinstance(given, str) else given
        object.__setattr__(self, "export_formats", tuple(dict.fromkeys(formats)))
        if not self.export_formats:
            raise invalid_value(
                "export_formats", self.export_formats, f"at least one of {', '.join(FORMATS)}"
            )
        for name in self.export_formats:
            require(name)
        check_quantize(self.quantize, self.export_formats)
        if self.export_precision not in PRECISIONS:
            raise invalid_value(
                "export_precision", self.export_precision, f"one of {', '.join(PRECISIONS)}"
            )
        drop = self.max_accuracy_drop
        if isinstance(drop, bool) or not isinstance(drop, (int, float)) or not drop >= 0:
            raise invalid_value("max_accuracy_drop", drop, "a number of points >= 0")

    @classmethod
    def create(cls, **options):
        """From the command line's options (a None value takes the default); the names of
        kregs 0.1 (`formats`, `precision`, `max_drop`, `accept_drop`) still work, with a
        `DeprecationWarning`."""
        options = renamed(options, RENAMED, "DeployOptions")
        return cls(**{k: v for k, v in options.items() if v is not None})

    def to_dict(self):
        return {**dataclasses.asdict(self), "export_formats": list(self.export_formats)}


# kregs 0.1's names of the fields (kept for one release).
RENAMED = {
    "formats": "export_formats",
    "precision": "export_precision",
    "max_drop": "max_accuracy_drop",
    "accept_drop": "accept_accuracy_drop",
}
FIELDS = tuple(f.name for f in dataclasses.fields(DeployOptions))


def renamed(options, names, where):
    """`options` with the old names in `names` replaced by the new ones, each with a
    `DeprecationWarning` naming both (removed in kregs 0.3)."""
    import warnings

    out = dict(options)
    for old, new in names.items():
        if old in out:
            warnings.warn(
                f"{where}: `{old}` is now `{new}` (the old name goes in kregs 0.3)",
                DeprecationWarning,
                stacklevel=3,
            )
            value = out.pop(old)
            out.setdefault(new, value)
    return out


def require(name):
    """Checks that format `name` can be written and run here, without importing its runtime.

    Raises:
        ConfigError: an unknown format, or its extra is not installed (naming it).

    Example:
    >>> require("onnx")  # doctest: +SKIP
    ConfigError: --format onnx needs its extra: pip install "kregs[onnx]" (...)
    """
    if name not in FORMATS:
        raise invalid_value("format", name, f"one of {', '.join(FORMATS)}")
    fmt = FORMATS[name]
    missing = [m for m in fmt.modules if not _installed(m)]
    if missing:
        how = f'pip install "kregs[{fmt.extra}]"' if fmt.extra else "pip install tensorflow"
        raise ConfigError(
            f"--format {name} needs its extra: {how} ({', '.join(missing)} not installed here)"
        )
    return fmt


def _installed(module):
    """Whether `module` can be imported here (found without importing it)."""
    return importlib.util.find_spec(module) is not None


def check_quantize(quantize, formats):
    """Checks `--quantize`: a known value, and only with LiteRT (the one format it applies to)."""
    if quantize not in QUANTIZATIONS:
        raise invalid_value("quantize", quantize, f"one of {', '.join(QUANTIZATIONS)}")
    if quantize != "none" and "litert" not in formats:
        raise ConfigError(f"--quantize {quantize} is for --format litert (LiteRT's quantization)")
    return quantize


def folder_name(name, fmt, quantize="none"):
    """The folder of format `fmt`'s versions beside the SavedModel's (`export/<name>/`).

    Example:
    >>> folder_name("fashion_mnist", "litert", "int8")
    'fashion_mnist-litert-int8'
    """
    if fmt == "savedmodel":
        return name
    return f"{name}-{fmt}" + ("" if fmt != "litert" or quantize == "none" else f"-{quantize}")


def artifact_files(fmt):
    """Patterns of the files format `fmt` writes in a version folder (for `--overwrite`)."""
    if fmt == "savedmodel":
        return export_files("export/*/[0-9]*")
    return tuple(
        f"export/*-{fmt}*/[0-9]*/{f}"
        for f in (*FORMATS[fmt].files, CLASS_NAMES_FILE, METADATA_FILE)
    )


def export_files(version_dir):
    """Patterns of the files an export writes in `version_dir` (see `kregs.run.files.matches`).

    Example:
    >>> "export/*/[0-9]*/saved_model.pb" in export_files("export/*/[0-9]*")
    True
    """
    return tuple(
        f"{version_dir}/{name}"
        for name in (
            "saved_model.pb",
            "fingerprint.pb",
            "variables/variables.*",
            f"assets/{METADATA_FILE}",
            f"assets/{CLASS_NAMES_FILE}",
        )
    )


def versions(model_dir):
    """The version numbers (ints, sorted) of the SavedModels in `model_dir`."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(d) for d in os.listdir(model_dir) if re.fullmatch(r"\d+", d))


def latest_export(model_dir):
    """Returns `(version, metadata)` of the newest export in `model_dir`, or `(None, None)`."""
    found = versions(model_dir)
    if not found:
        return None, None
    path = os.path.join(model_dir, str(found[-1]), "assets", METADATA_FILE)
    try:
        with open(path) as f:
            return found[-1], json.load(f)
    except (OSError, ValueError):
        return found[-1], {}


def next_version(export_dir, name):
    """1 + the highest version of `name` in any format under `export_dir` (1 for none)."""
    others = "|".join(f for f in FORMATS if f != "savedmodel")
    quantized = "|".join(q for q in QUANTIZATIONS if q != "none")
    pattern = re.compile(rf"^{re.escape(name)}(-({others})(-({quantized}))?)?$")
    found = [0]
    if os.path.isdir(export_dir):
        for entry in os.listdir(export_dir):
            folder = os.path.join(export_dir, entry)
            if pattern.match(entry) and os.path.isdir(folder):
                found += [int(v) for v in os.listdir(folder) if v.isdigit()]
    return max(found) + 1
