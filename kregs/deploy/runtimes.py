"""Each deployment format run in its own runtime: TensorFlow, LiteRT, ONNX Runtime, OpenVINO.

`open_artifact(path)` takes a model file (`.tflite`, `.onnx`, OpenVINO's `.xml`)
or a version folder holding one (or a SavedModel), and returns a runtime whose
`predict(images)` gives the float32 outputs of uint8 images: what a user's
deployment runs, not a Keras re-implementation of it.
"""

import os

import numpy as np

from kregs.deploy.formats import FORMATS
from kregs.errors import DataError

SUFFIXES = {".tflite": "litert", ".onnx": "onnx", ".xml": "openvino"}


def artifact_format(path):
    """The format of a model file or artifact folder, or None where it is none of them."""
    if os.path.isfile(path):
        return SUFFIXES.get(os.path.splitext(path)[1].lower())
    for name, fmt in FORMATS.items():
        if os.path.exists(os.path.join(path, fmt.file)):
            return name
    return None


def model_file(path, name):
    """The model file of format `name` at `path` (the file itself, or the one in the folder)."""
    return path if os.path.isfile(path) else os.path.join(path, FORMATS[name].file)


def open_artifact(path, threads=None):
    """A runtime for the deployed model at `path` (see `artifact_format`).

    Args:
        path: str, a model file or a version folder.
        threads: int or None, the runtime's threads (None: its default, every core).

    Raises:
        DataError: not a model file of these formats, or one its runtime cannot load.
        ConfigError: its runtime (an extra) is not installed.
    """
    from kregs.deploy.formats import require

    name = artifact_format(path)
    if name is None:
        raise DataError(f"{path}: not a SavedModel, .tflite, .onnx or OpenVINO .xml model")
    require(name)
    runtime = RUNTIMES[name](model_file(path, name), threads)
    shape = tuple(runtime.input_shape)
    if len(shape) != 4 or runtime.input_dtype != np.uint8:
        raise DataError(
            f"{path}: takes {runtime.input_dtype} {shape}, not uint8 images; not a kregs export"
        )
    return runtime


class Runtime:
    """A loaded model. Subclasses set `input_shape` (with the batch), `input_dtype`, and
    `computes_in` where the runtime picks its own precision (else None: the model's)."""

    format = None
    computes_in = None

    def __init__(self, path, threads=None):
        self.path = path
        self.threads = threads

    def predict(self, images):
        """float32 outputs `(N, classes)` of uint8 images `(N, H, W, C)`."""
        raise NotImplementedError

    def _failed(self, err):
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return DataError(f"{self.path}: cannot load it in {FORMATS[self.format].label} ({reason})")


class SavedModelRuntime(Runtime):
    """A SavedModel's `serving_default`, in TensorFlow."""

    format = "savedmodel"

    def __init__(self, path, threads=None):
        super().__init__(os.path.dirname(path), threads)
        import tensorflow as tf

        try:
            self._loaded = tf.saved_model.load(self.path)
            self._fn = self._loaded.signatures["serving_default"]
        except (OSError, ValueError, KeyError, RuntimeError, tf.errors.OpError) as err:
            raise self._failed(err) from None
        spec = self._fn.structured_input_signature[1].get("images")
        if spec is None:
            raise DataError(f"{self.path}: serving_default takes no `images`; not a kregs export")
        self.input_shape, self.input_dtype = tuple(spec.shape), spec.dtype.as_numpy_dtype

    def predict(self, images):
        import tensorflow as tf

        return self._fn(images=tf.constant(images))["probabilities"].numpy()


class LiteRTRuntime(Runtime):
    """A `.tflite` model in the LiteRT interpreter (`ai_edge_litert`)."""

    format = "litert"

    def __init__(self, path, threads=None):
        super().__init__(path, threads)
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._interpreter = Interpreter(model_path=path, num_threads=threads or os.cpu_count())
            self._runner = self._interpreter.get_signature_runner()
        except (ValueError, RuntimeError) as err:
            raise self._failed(err) from None
        detail = self._runner.get_input_details()["images"]
        self.input_shape = tuple(int(d) for d in detail["shape_signature"])
        self.input_dtype = detail["dtype"]

    def predict(self, images):
        return np.asarray(
            self._runner(images=np.ascontiguousarray(images))["probabilities"], dtype=np.float32
        )


class ONNXRuntime(Runtime):
    """An `.onnx` model in ONNX Runtime (CPU)."""

    format = "onnx"

    def __init__(self, path, threads=None):
        super().__init__(path, threads)
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        try:
            self._session = onnxruntime.InferenceSession(
                path, options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own unexported types
            raise self._failed(err) from None
        (inp,) = self._session.get_inputs()
        self._input = inp.name
        self.input_shape = tuple(d if isinstance(d, int) else -1 for d in inp.shape)
        self.input_dtype = np.uint8 if inp.type == "tensor(uint8)" else inp.type

    def predict(self, images):
        return self._session.run(["probabilities"], {self._input: images})[0]


class OpenVINORuntime(Runtime):
    """An OpenVINO IR (`.xml` + `.bin`), compiled for the CPU."""

    format = "openvino"

    def __init__(self, path, threads=None):
        super().__init__(path, threads)
        import openvino

        config = {"INFERENCE_NUM_THREADS": threads} if threads else {}
        try:
            self._compiled = openvino.Core().compile_model(path, "CPU", config)
        except RuntimeError as err:
            raise self._failed(err) from None
        port = self._compiled.input(0)
        self.input_shape = tuple(-1 if d.is_dynamic else d.get_length() for d in port.partial_shape)
        self.input_dtype = np.uint8 if port.element_type.to_dtype() == np.uint8 else None
        self._output = self._compiled.output("probabilities")
        # OpenVINO's CPU plugin computes in bfloat16 on CPUs with bfloat16 units (its
        # default INFERENCE_PRECISION_HINT): what a deployment gets, so what is measured.
        self.computes_in = _short(str(self._compiled.get_property("INFERENCE_PRECISION_HINT")))

    def predict(self, images):
        return np.asarray(self._compiled(images)[self._output], dtype=np.float32)


def _short(type_name):
    """`<Type: 'bfloat16'>` -> `bfloat16`."""
    return type_name.split("'")[1] if "'" in type_name else type_name


RUNTIMES = {r.format: r for r in (SavedModelRuntime, LiteRTRuntime, ONNXRuntime, OpenVINORuntime)}
