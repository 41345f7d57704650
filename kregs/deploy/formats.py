"""The formats a model is deployed in, and how each is written.

Every format keeps the SavedModel's contract: uint8 images `[batch, H, W, C]` in
(input `images`), float32 probabilities `[batch, classes]` out (output
`probabilities`), the class names beside the model file (`class_names.txt`).
The LiteRT, ONNX and OpenVINO files are written by Keras' own `model.export`
(`format="litert"`, `"onnx"`, `"openvino"`); each runtime is an optional extra.
"""

import dataclasses
import importlib.util
import logging
import os

from kregs.errors import ConfigError, invalid_value

logger = logging.getLogger(__name__)

QUANTIZATIONS = ("none", "dynamic", "int8")
PRECISIONS = ("float32", "trained")
CALIBRATION_IMAGES = 300  # validation images that calibrate int8 (never test images)
REDUCED = ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16")


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
    """What `kregs.deploy.deploy` writes and when it refuses an artifact.

    Args:
        formats: sequence of str, keys of `FORMATS` (each checked installed here).
        quantize: str, LiteRT's quantization: "none", "dynamic" (int8 weights) or
            "int8" (full-integer, calibrated on validation images).
        precision: str, "float32" (a model trained in bfloat16 or float16 is
            exported as a float32 copy) or "trained" (as it computes).
        max_drop: float >= 0, points of test accuracy an artifact may lose
            against the Keras model before it is refused.
        accept_drop: bool, keep an artifact that loses more.

    Example:
    >>> DeployOptions(formats=("savedmodel", "litert"), quantize="int8").formats
    ('savedmodel', 'litert')
    """

    formats: tuple = ("savedmodel",)
    quantize: str = "none"
    precision: str = "float32"
    max_drop: float = 0.5
    accept_drop: bool = False

    def __post_init__(self):
        formats = (self.formats,) if isinstance(self.formats, str) else self.formats
        object.__setattr__(self, "formats", tuple(dict.fromkeys(formats)))
        if not self.formats:
            raise invalid_value("formats", self.formats, f"at least one of {', '.join(FORMATS)}")
        for name in self.formats:
            require(name)
        check_quantize(self.quantize, self.formats)
        if self.precision not in PRECISIONS:
            raise invalid_value("precision", self.precision, f"one of {', '.join(PRECISIONS)}")
        if not isinstance(self.max_drop, (int, float)) or not self.max_drop >= 0:
            raise invalid_value("max_drop", self.max_drop, "a number of points >= 0")

    @classmethod
    def from_options(cls, formats, **options):
        """From the command line's option names (`quantize`, `export_precision`,
        `max_accuracy_drop`, `accept_accuracy_drop`); a None value takes the default."""
        given = {OPTION_FIELDS[k]: v for k, v in options.items() if v is not None}
        return cls(formats=formats, **given)

    def to_dict(self):
        return {**dataclasses.asdict(self), "formats": list(self.formats)}


# The command line's names (`kregs export`, `kregs tune --export-format`) of the fields.
OPTION_FIELDS = {
    "quantize": "quantize",
    "export_precision": "precision",
    "max_accuracy_drop": "max_drop",
    "accept_accuracy_drop": "accept_drop",
}


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
    from kregs.export import CLASS_NAMES_FILE, METADATA_FILE, export_files

    if fmt == "savedmodel":
        return export_files("export/*/[0-9]*")
    return tuple(
        f"export/*-{fmt}*/[0-9]*/{f}"
        for f in (*FORMATS[fmt].files, CLASS_NAMES_FILE, METADATA_FILE)
    )


def model_to_export(model, precision):
    """`(model, precision)`: for "float32", `float32_model(model)`; for "trained", the
    model as it computes."""
    return float32_model(model) if precision == "float32" else (model, "trained")


def float32_model(model):
    """`model` computing in float32: a copy of a model trained in bfloat16 or float16.

    Layers with a reduced-precision policy are cloned (`keras.models.clone_model`,
    nested models too) with the float32 policy and given the same weights (their
    variables are float32 already); other layers keep theirs. A model that cannot
    be cloned is returned as it is, and said in the log.

    Returns:
        `(model, precision)`: the model to export and the name of its precision.
    """
    import keras

    policies = {_policy(layer) for layer in _all_layers(model)}
    reduced = sorted(policies & set(REDUCED))
    if not reduced:
        return model, "float32"

    def clone(layer):
        config = layer.get_config()
        if _policy(layer) in REDUCED:
            config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    try:
        copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
        copy.set_weights(model.get_weights())
    except (ValueError, TypeError, NotImplementedError) as err:
        logger.warning("exported as trained (%s): cannot make a float32 copy (%s)", reduced, err)
        return model, reduced[0]
    return copy, "float32"


def _policy(layer):
    policy = getattr(layer, "dtype_policy", None)
    return getattr(policy, "name", None)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _deployed(model):
    """`model` with its output named `probabilities` (and its input `images`, uint8)."""
    import keras

    return keras.Model(model.inputs, {"probabilities": model.outputs[0]})


def _input_spec(model):
    import keras

    return [keras.InputSpec(shape=(None, *model.input_shape[1:]), dtype="uint8", name="images")]


def write_artifact(model, fmt, folder, class_names, quantize="none", calibration=None):
    """Writes `model` in format `fmt` into the (new, empty) folder `folder`.

    Args:
        model: a `keras.Model` taking uint8 images and giving probabilities.
        fmt: str, a key of `FORMATS`.
        folder: str, an existing empty folder.
        class_names: sequence of str, in class-id order (written beside the model).
        quantize: str, LiteRT only: "none", "dynamic" (int8 weights) or "int8"
            (full-integer, calibrated on `calibration`).
        calibration: uint8 images `(N, H, W, C)`, for int8.

    Returns:
        str, the path of the model file (`FORMATS[fmt].file`).
    """
    from kregs.export import CLASS_NAMES_FILE, write_serving_model

    if fmt == "savedmodel":
        write_serving_model(model, folder, class_names)
        return os.path.join(folder, "saved_model.pb")
    path = os.path.join(folder, FORMATS[fmt].file)
    options = _litert_options(quantize, calibration) if fmt == "litert" else {}
    _deployed(model).export(
        path, format=fmt, input_signature=_input_spec(model), verbose=False, **options
    )
    if fmt == "onnx":
        _name_batch_axis(path)
    with open(os.path.join(folder, CLASS_NAMES_FILE), "w") as f:
        f.write("\n".join(class_names) + "\n")
    return path


def _litert_options(quantize, calibration):
    """The TFLite converter's settings for a quantization (Keras passes them through)."""
    import tensorflow as tf

    if quantize == "none":
        return {}
    options = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if quantize == "int8":
        if calibration is None or not len(calibration):
            raise ConfigError("int8 quantization needs calibration images (none given)")

        def representative():
            for i in range(len(calibration)):
                yield [calibration[i : i + 1]]

        options.update(
            representative_dataset=representative,
            target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            inference_output_type=tf.float32,
        )
    return options


def _name_batch_axis(path):
    """Names the ONNX graph's batch axis `batch` (tf2onnx leaves `unk__N`)."""
    import onnx

    graph = onnx.load(path)
    for value in (*graph.graph.input, *graph.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_param = "batch"
    onnx.save(graph, path)
