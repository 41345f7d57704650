"""`Predictor`: class probabilities from an exported SavedModel or a `.keras` file."""

import json
import os

import numpy as np

from kregs.errors import DataError
from kregs.export import CLASS_NAMES_FILE, versions


class Predictor:
    """Runs a kregs model on uint8 images, from a SavedModel folder or a `.keras` file.

    Args:
        path: str, one of: a SavedModel version folder (`export/<name>/<version>`),
            a model folder holding versions (the highest is used, as TF Serving
            does), or a `.keras` file (class names are read from the JSON file
            beside it when there is one, as `kregs tune` writes in `best/`).

    Attributes:
        input_shape: tuple `(H, W, C)`.
        class_names: list of str, in class-id order.
        source: str, the file or folder loaded.

    Example:
    >>> predictor = Predictor("runs/quick/export/fashion_mnist")
    >>> predictor.predict(images)  # (N, classes) probabilities
    """

    def __init__(self, path):
        path = os.path.expanduser(str(path))
        if path.endswith(".keras") and os.path.isfile(path):
            self._load_keras(path)
        elif os.path.isdir(path):
            found = versions(path)
            if not os.path.exists(os.path.join(path, "saved_model.pb")) and found:
                path = os.path.join(path, str(found[-1]))
            if not os.path.exists(os.path.join(path, "saved_model.pb")):
                raise DataError(
                    f"{path}: not a SavedModel folder (no saved_model.pb) and holds no "
                    "numbered versions"
                )
            self._load_saved_model(path)
        else:
            raise DataError(f"{path}: neither a SavedModel folder nor a .keras file")
        self.source = path

    def _load_saved_model(self, path):
        from kregs.run.device import tensorflow_available

        if not tensorflow_available():
            raise DataError(
                f"{path}: a SavedModel needs TensorFlow to run, not installed here; "
                "give the run's .keras model (best/*.keras) instead"
            )
        import tensorflow as tf

        try:
            loaded = tf.saved_model.load(path)
        except (OSError, ValueError, RuntimeError, tf.errors.OpError) as err:
            raise DataError(f"{path}: cannot load SavedModel ({type(err).__name__})") from None
        if "serving_default" not in loaded.signatures:
            raise DataError(f"{path}: SavedModel has no serving_default signature")
        self._fn = loaded.signatures["serving_default"]
        spec = self._fn.structured_input_signature[1]
        if list(spec) != ["images"] or spec["images"].dtype != tf.uint8:
            raise DataError(
                f"{path}: serving_default does not take uint8 `images`; not a kregs export"
            )
        self.input_shape = tuple(spec["images"].shape[1:])
        self._saved = loaded  # keeps the variables alive
        self._keras = None
        names_file = os.path.join(path, "assets", CLASS_NAMES_FILE)
        self.class_names = self._read_names(names_file)

    def _load_keras(self, path):
        import keras

        import kregs.layers  # noqa: F401 - registers kregs' classes

        try:
            self._keras = keras.models.load_model(path, safe_mode=True)
        except (OSError, ValueError, TypeError) as err:
            raise DataError(f"{path}: cannot load .keras model ({err})") from None
        self.input_shape = tuple(self._keras.input_shape[1:])
        meta = os.path.splitext(path)[0] + ".json"
        names = None
        if os.path.exists(meta):
            with open(meta) as f:
                names = json.load(f).get("class_names")
        self.class_names = names or [str(i) for i in range(self._keras.output_shape[-1])]

    @staticmethod
    def _read_names(path):
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return [line.rstrip("\n") for line in f if line.strip()]

    def predict(self, images):
        """Returns class probabilities, float32 `(N, classes)`, of uint8 images `(N, H, W, C)`."""
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.shape[1:] != self.input_shape:
            raise DataError(
                f"images of shape {images.shape} and dtype {images.dtype}; the model takes "
                f"(N, {', '.join(map(str, self.input_shape))}) uint8"
            )
        if self._keras is not None:
            return np.asarray(self._keras.predict(images, verbose=0), dtype=np.float32)
        import tensorflow as tf

        probabilities = self._fn(images=tf.constant(images))["probabilities"].numpy()
        if self.class_names is None:
            self.class_names = [str(i) for i in range(probabilities.shape[-1])]
        return probabilities

    def top_k(self, images, k=1):
        """Returns, per image, the `k` most probable `(class_id, class_name, probability)`."""
        probabilities = self.predict(images)
        order = np.argsort(-probabilities, axis=1, kind="stable")[
            :, : min(k, probabilities.shape[1])
        ]
        return [
            [(int(c), self.class_names[c], float(p[c])) for c in row]
            for row, p in zip(order, probabilities, strict=True)
        ]
