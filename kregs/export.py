"""Exports a model for TF Serving: `<base>/<model-name>/<version>/`, atomically."""

import json
import logging
import os
import re
import shutil
import tempfile

logger = logging.getLogger(__name__)

METADATA_FILE = "kregs.json"  # in assets/: what was exported, for `latest_export`


def _versions(model_dir):
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(d) for d in os.listdir(model_dir) if re.fullmatch(r"\d+", d))


def latest_export(model_dir):
    """Returns `(version, metadata)` of the newest export in `model_dir`, or `(None, None)`."""
    versions = _versions(model_dir)
    if not versions:
        return None, None
    path = os.path.join(model_dir, str(versions[-1]), "assets", METADATA_FILE)
    try:
        with open(path) as f:
            return versions[-1], json.load(f)
    except (OSError, ValueError):
        return versions[-1], {}


def export_for_serving(model, model_dir, metadata=None):
    """Writes `model` as a SavedModel in the next version folder of `model_dir`.

    TF Serving loads `<model_dir>/<version>/` and serves the highest version.
    The SavedModel is written to a temporary folder beside the target and
    renamed into place, so a crash never leaves a half-written version where a
    server would load it; an existing version is never overwritten.

    Args:
        model: a built `keras.Model`.
        model_dir: str, `<base>/<model-name>`.
        metadata: dict, JSON-serializable, stored as `assets/kregs.json`.

    Returns:
        str, the path of the new version folder.

    Example:
    >>> export_for_serving(model, "runs/x/export/fashion_mnist")
    'runs/x/export/fashion_mnist/1'
    """
    os.makedirs(model_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-export-", dir=model_dir)
    try:
        model.export(tmp, format="tf_saved_model", verbose=False)
        os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
        with open(os.path.join(tmp, "assets", METADATA_FILE), "w") as f:
            json.dump(metadata or {}, f, indent=2, sort_keys=True)
        while True:
            version = (_versions(model_dir) or [0])[-1] + 1
            target = os.path.join(model_dir, str(version))
            try:
                os.rename(tmp, target)  # atomic; fails if target exists (non-empty)
                break
            except OSError:
                if not os.path.exists(target):
                    raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("exported %s", target)
    return target
