"""The SavedModel for TF Serving: `<base>/<model-name>/<version>/`, written atomically."""

import json
import logging
import os

from kregs.deploy.formats import CLASS_NAMES_FILE, METADATA_FILE, next_version
from kregs.deploy.precision import model_to_export
from kregs.errors import ConfigError
from kregs.run.files import new_folder

logger = logging.getLogger(__name__)


def write_serving_model(model, path, class_names):
    """Writes `model` as a SavedModel with TF Serving signatures, at `path`.

    Signatures (what TF Serving clients and `tf.saved_model.load` see):

    - `serving_default`: input `images`, uint8 `[batch, H, W, C]` raw pixels
      (the model rescales them); outputs `probabilities`, float32
      `[batch, classes]`, and `class_ids`, int32 `[batch]` (the argmax).
    - `class_names`: no input; output `class_names`, string `[classes]`.

    The class names are also written to `assets/class_names.txt`, one per line.

    Args:
        model: a `keras.Model` taking uint8 images (e.g. `kregs.build_model`).
        path: str, the folder to write (must not exist or be empty).
        class_names: sequence of str, in class-id order.
    """
    import keras
    import tensorflow as tf

    height, width, channels = model.input_shape[1:]
    classes = model.output_shape[-1]
    if len(class_names) != classes:
        raise ConfigError(f"{len(class_names)} class names for a model of {classes} classes")
    names = tf.constant(list(class_names), dtype=tf.string)
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(images):
        probabilities = tf.cast(model(images, training=False), tf.float32)
        class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"probabilities": probabilities, "class_ids": class_ids}

    def class_names_fn():
        return {"class_names": tf.identity(names)}

    archive.add_endpoint(
        "serving_default",
        serve,
        input_signature=[tf.TensorSpec([None, height, width, channels], tf.uint8, name="images")],
    )
    archive.add_endpoint("class_names", class_names_fn, input_signature=[])
    archive.write_out(path, verbose=False)
    with open(os.path.join(path, "assets", CLASS_NAMES_FILE), "w") as f:
        f.write("\n".join(class_names) + "\n")


def export_for_serving(model, model_dir, class_names, metadata=None, precision="float32"):
    """Writes `model` as a SavedModel in the next version folder of `model_dir`.

    TF Serving loads `<model_dir>/<version>/` and serves the highest version.
    The SavedModel (see `write_serving_model` for its signatures) is written to
    a temporary folder beside the target and renamed into place, so a crash
    never leaves a half-written version where a server would load it; an
    existing version is never overwritten. The next version is also above
    those of the model's other formats beside it (`kregs.deploy`): one number,
    one model.

    Args:
        model: a built `keras.Model` taking uint8 images.
        model_dir: str, `<base>/<model-name>`.
        class_names: sequence of str, in class-id order.
        metadata: dict, JSON-serializable, stored as `assets/kregs.json`.
        precision: str, "float32" (a model trained in bfloat16 or float16 is
            exported as a float32 copy: `kregs.deploy.formats.float32_model`) or
            "trained" (as it computes).

    Returns:
        str, the path of the new version folder.

    Example:
    >>> export_for_serving(model, "runs/x/export/fashion_mnist", info.class_names)
    'runs/x/export/fashion_mnist/1'
    """
    model, used = model_to_export(model, precision)
    os.makedirs(model_dir, exist_ok=True)
    with new_folder(model_dir, "export") as tmp:
        write_serving_model(model, tmp, class_names)
        with open(os.path.join(tmp, "assets", METADATA_FILE), "w") as f:
            json.dump({**(metadata or {}), "precision": used}, f, indent=2, sort_keys=True)
        while True:
            version = next_version(os.path.dirname(model_dir), os.path.basename(model_dir))
            target = os.path.join(model_dir, str(version))
            try:
                os.rename(tmp, target)  # atomic; fails if target exists (non-empty)
                break
            except OSError:
                if not os.path.exists(target):
                    raise
    logger.info("exported %s", target)
    return target
