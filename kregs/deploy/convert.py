"""Writing a model in a deployment format: the SavedModel, or Keras' own `model.export`
(`format="litert"`, `"onnx"`, `"openvino"`), LiteRT's quantizations included."""

import os

from kregs.deploy.formats import CLASS_NAMES_FILE, FORMATS
from kregs.deploy.savedmodel import write_serving_model
from kregs.errors import ConfigError


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
