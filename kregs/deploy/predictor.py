"""`Predictor`: class probabilities from an exported model: a SavedModel, a `.keras` file,
or a LiteRT, ONNX or OpenVINO artifact (`kregs.deploy`), each in its own runtime
(`kregs.deploy.runtimes`)."""

import json
import os

import numpy as np

from kregs.deploy.formats import CLASS_NAMES_FILE, METADATA_FILE, versions
from kregs.deploy.runtimes import artifact_format, open_artifact
from kregs.errors import DataError


class Predictor:
    """Runs a kregs model on uint8 images, from any format kregs exports.

    Args:
        path: str, one of: a SavedModel version folder (`export/<name>/<version>`);
            a LiteRT `.tflite`, ONNX `.onnx` or OpenVINO `.xml` file, or the
            version folder holding one (`export/<name>-litert/<version>`, ...);
            a folder holding versions of either (the highest is used, as TF
            Serving does); or a `.keras` file (class names are read from the JSON
            file beside it when there is one, as `kregs tune` writes in `best/`).
            An artifact's class names are its folder's `class_names.txt`.

    Attributes:
        input_shape: tuple `(H, W, C)`.
        class_names: list of str, in class-id order.
        source: str, the file or folder loaded.
        metadata: dict, what kregs recorded with the model (its `kregs.json`, or the
            JSON beside a `.keras` file): the class names, the trial, and how its
            inputs were made from image files (`preprocessing`); {} where none.

    Example:
    >>> predictor = Predictor("runs/quick/export/fashion_mnist")
    >>> predictor.predict(images)  # (N, classes) probabilities
    """

    def __init__(self, path):
        path = os.path.expanduser(str(path))
        self._keras = self._runtime = None
        if path.endswith(".keras") and os.path.isfile(path):
            self._load_keras(path)
        elif os.path.isdir(path) or artifact_format(path):
            found = versions(path) if os.path.isdir(path) else []
            if artifact_format(path) is None and found:
                path = os.path.join(path, str(found[-1]))
            fmt = artifact_format(path)
            if fmt is None:
                raise DataError(
                    f"{path}: not a SavedModel folder (no saved_model.pb), nor a LiteRT, ONNX "
                    "or OpenVINO model, and holds no numbered versions"
                )
            self._load_artifact(path, fmt)
        else:
            raise DataError(
                f"{path}: neither a SavedModel folder, a .keras file, nor a .tflite, .onnx or "
                "OpenVINO .xml model"
            )
        self.source = path
        self.probabilities = True  # until outputs say otherwise (`predict`)

    def _load_artifact(self, path, fmt):
        if fmt == "savedmodel":
            from kregs.run.device import tensorflow_available

            if not tensorflow_available():
                raise DataError(
                    f"{path}: a SavedModel needs TensorFlow to run, not installed here; "
                    "give the run's .keras model (best/*.keras) instead"
                )
        self._runtime = open_artifact(path)
        folder = path if os.path.isdir(path) else os.path.dirname(path)
        assets = os.path.join(folder, "assets") if fmt == "savedmodel" else folder
        self.input_shape = _image_shape(self._runtime.input_shape, path)
        self.class_names = self._read_names(os.path.join(assets, CLASS_NAMES_FILE))
        self.metadata = _read_json(os.path.join(assets, METADATA_FILE))

    def _load_keras(self, path):
        from kregs.usermodel import load_keras_file

        self._keras = load_keras_file(path, "model")
        self.input_shape = _image_shape(self._keras.input_shape, path)
        self.metadata = _read_json(os.path.splitext(path)[0] + ".json")
        names = self.metadata.get("class_names")
        self.class_names = names or [str(i) for i in range(self._keras.output_shape[-1])]

    @staticmethod
    def _read_names(path):
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return [line.rstrip("\n") for line in f if line.strip()]

    def predict(self, images):
        """Returns the model's outputs, float32 `(N, classes)`, for uint8 images `(N, H, W, C)`.

        For a kregs model they are class probabilities; `probabilities` says whether
        the last outputs were (each row in [0, 1], summing to 1), or scores (logits).
        """
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.shape[1:] != self.input_shape:
            raise DataError(
                f"images of shape {images.shape} and dtype {images.dtype}; the model takes "
                f"(N, {', '.join(map(str, self.input_shape))}) uint8"
            )
        if len(images) == 0:
            raise DataError("no images to classify (an empty batch)")
        if self._keras is not None:
            outputs = np.asarray(self._keras.predict(images, verbose=0), dtype=np.float32)
        else:
            outputs = np.asarray(self._runtime.predict(images), dtype=np.float32)
        if self.class_names is None:
            self.class_names = [str(i) for i in range(outputs.shape[-1])]
        if outputs.ndim != 2 or outputs.shape[-1] != len(self.class_names):
            raise DataError(
                f"{self.source}: outputs of shape {outputs.shape}, not one score per class "
                f"({len(self.class_names)} classes)"
            )
        self.probabilities = bool(
            np.all((outputs >= 0) & (outputs <= 1))
            # (an int8 LiteRT model's softmax is quantized in steps of 1/256: its rows
            # sum to 1 within a few hundredths)
            and np.allclose(outputs.sum(axis=-1), 1.0, atol=0.05)
        )
        return outputs

    def top_k(self, images, k=1):
        """Returns, per image, the `k` most probable `(class_id, class_name, probability)`
        (scores instead where the model's outputs are not probabilities: `probabilities`)."""
        probabilities = self.predict(images)
        order = np.argsort(-probabilities, axis=1, kind="stable")[
            :, : min(k, probabilities.shape[1])
        ]
        return [
            [(int(c), self.class_names[c], float(p[c])) for c in row]
            for row, p in zip(order, probabilities, strict=True)
        ]


def _image_shape(shape, path):
    """`(H, W, C)` of a model's input `shape` `(batch, H, W, C)`, or a `DataError` saying
    that kregs predict cannot feed it images."""
    dims = tuple(shape)[1:]
    if len(dims) != 3 or any(d is None or d < 0 for d in dims) or dims[-1] not in (1, 3):
        raise DataError(
            f"{path}: the model takes inputs of shape {tuple(shape)}; kregs predict feeds "
            "images of a fixed size, (batch, height, width, 1 or 3 channels)"
        )
    return tuple(int(d) for d in dims)


def _read_json(path):
    """The JSON object in `path`, or {} where there is none (or it is not readable)."""
    try:
        with open(path) as f:
            found = json.load(f)
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
