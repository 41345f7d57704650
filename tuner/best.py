"""The best models of a search: best/, the one test measurement, and the SavedModel export."""

import logging
import os

from kregs import __version__
from kregs.data.images import input_record
from kregs.deploy.formats import latest_export
from kregs.deploy.savedmodel import export_for_serving
from kregs.errors import RunFailedError, StateError
from kregs.run.files import new_folder, read_json, replace_folder, weights_hash, write_json
from kregs.run.train import evaluate
from kregs.tuner import folds
from kregs.tuner.folds import is_fold_trial

logger = logging.getLogger(__name__)

BEST_DIR = "best"
BEST_FILES = ("rank*-trial*.keras", "rank*-trial*.json")
TEST_FILE = "test_result.json"


def best_completed(oracle, k):
    """The `k` best completed trials of the search, best first (never a failed or
    unfinished one, nor a fold of the cross-validation). Where the run cross-validated
    its leading configurations (`kregs.tuner.folds`), those come first, by their mean
    over folds: that is the score it compared them on.
    """
    search = [t for t in oracle.get_best_trials(len(oracle.trials)) if t.status == "COMPLETED"]
    search = [t for t in search if not is_fold_trial(t)]
    planned = getattr(oracle, "cross_validation", None)
    cross = folds.result(oracle, planned.folder, planned.name_of) if planned else None
    if cross:
        means = {t: c["mean"] for t, c in cross["configs"].items() if c["mean"] is not None}
        search.sort(key=lambda t: (t.trial_id not in means, -means.get(t.trial_id, 0.0)))
    return search[:k]


def load_trial_model(tuner, trial):
    """The model of a completed trial, from its checkpoint (`tuner.load_model`).

    Raises:
        StateError: the checkpoint is missing, truncated or not the trial's model, naming
            the file and what to do.
    """
    from kregs import compat

    try:
        return tuner.load_model(trial)
    except (OSError, ValueError, KeyError, TypeError) as err:
        path = compat.checkpoint_path(tuner, trial.trial_id)
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StateError(
            f"{path} is unreadable or corrupt ({reason}); delete the folder "
            f"{os.path.dirname(path)} and run the same command: a new trial runs in its place"
        ) from None


def trial_summary(hypermodel, trial):
    """`trial_id`, RegConfig name and hyperparameters of a trial, as best/ and exports record."""
    return {
        "trial_id": trial.trial_id,
        "config": hypermodel.reg_config(trial.hyperparameters.copy()).name,
        "hyperparameters": trial.hyperparameters.values,
    }


def save_best(tuner, hypermodel, trials, output, class_names):
    """Writes best/: each trial's model as `rank<r>-trial<id>.keras` and its summary as JSON.

    The folder is written beside best/ under a unique temporary name and put in
    its place in one step (`kregs.run.files.replace_folder`), so best/ is always one
    whole set; files a user put there stay.

    Returns:
        The rank-1 model (a `keras.Model`).
    """
    best_model = None
    with new_folder(output, BEST_DIR) as tmp_dir:
        for rank, trial in enumerate(trials, start=1):
            model = load_trial_model(tuner, trial)
            stem = os.path.join(tmp_dir, f"rank{rank}-trial{trial.trial_id}")
            model.save(stem + ".keras")
            write_json(
                stem + ".json",
                {
                    "rank": rank,
                    **trial_summary(hypermodel, trial),
                    "val_accuracy": trial.score,
                    "class_names": list(class_names),
                },
            )
            if rank == 1:
                best_model = model
        replace_folder(tmp_dir, os.path.join(output, BEST_DIR), owned=BEST_FILES)
    return best_model


def test_once(model, trial_id, test, batch_size, output):
    """The best model's test accuracy, measured once per best model (kept in test_result.json:
    measured again where the best trial, or its weights, changed: a trial trained again).

    Args:
        model: the best trial's model.
        trial_id: str, its trial.
        test: `(images, labels)`, the test set.
        batch_size: int.
        output: str, the run folder.

    Returns:
        dict with `trial_id`, `accuracy`, `loss`, `images`.
    """
    path = os.path.join(output, TEST_FILE)
    result = read_json(path)
    weights = weights_hash(model)
    if result is None or (result.get("trial_id"), result.get("weights")) != (trial_id, weights):
        result = {"trial_id": trial_id, "weights": weights, **evaluate(model, *test, batch_size)}
        write_json(path, result)
    return result


def export(model, summary, info, output, deployment=None, data=None, **extra):
    """Exports `model` as the next version of `<output>/export/<dataset>/` and, where
    `deployment` names other formats, as the same version in each (`kregs.deploy`).

    Args:
        model, summary, info, output: the model, its trial summary, the data's
            `DatasetInfo`, the run folder.
        deployment: `kregs.deploy.DeployOptions` or None (the SavedModel alone, unchecked).
        data: the run's `Splits` (its test images check every format; its validation
            images calibrate int8), needed with `deployment`.
        **extra: recorded in each format's kregs.json.

    Returns:
        `(savedmodel_folder, deploy_result)`: the SavedModel's version folder (None
        where `deployment` writes none) and the `DeployResult` (None without one).
    """
    metadata = {
        **summary,
        "dataset": info.name,
        "class_names": list(info.class_names),
        "kregs_version": __version__,
        "weights": weights_hash(model),
        "inputs": input_record(info.input_shape),
        **extra,
    }
    formats = deployment.export_formats if deployment is not None else ("savedmodel",)
    precision = deployment.export_precision if deployment is not None else "float32"
    path = version = None
    if "savedmodel" in formats:
        path = export_for_serving(
            model, os.path.join(output, "export", info.name), info.class_names, metadata, precision
        )
        version = int(os.path.basename(path))
    if deployment is None:
        return path, None
    return path, _deploy(model, info, output, deployment, data, version, metadata)


def _deploy(model, info, output, deployment, data, version, metadata):
    """The other formats of `deployment` as `version`, checked on `data`'s test images."""
    from kregs.deploy import deploy

    return deploy(
        model,
        os.path.join(output, "export"),
        info.name,
        info.class_names,
        deployment,
        version=version,
        test=data.test if data else None,
        calibration=data.validation[0] if data else None,
        metadata=metadata,
    )


def export_once(model, summary, info, output, deployment=None, data=None, **extra):
    """Exports `model` unless the newest export already is this model (the same weights:
    a retrained trial or refit is exported again, as a new version); the other formats of
    `deployment` are written as that version where they are missing."""
    model_dir = os.path.join(output, "export", info.name)
    version, meta = latest_export(model_dir)
    if version is None or (meta or {}).get("weights") != weights_hash(model):
        return export(model, summary, info, output, deployment, data, **extra)
    path = os.path.join(model_dir, str(version))
    if deployment is None:
        return path, None
    return path, _deploy(model, info, output, deployment, data, version, meta)


def finish(tuner, hypermodel, ds, output, keep_best, batch_size, refit=None, deployment=None):
    """Writes best/, measures the best model on the test set once, refits it, exports.

    Args:
        tuner, hypermodel: the search's.
        ds: the run's `kregs.data.Dataset`.
        output: str, the run folder.
        keep_best: int, models kept in best/.
        batch_size: int, for the test measurement.
        refit: callable(trial, model) -> `(model, record)` or None, given the best trial
            and its trained model: the model exported is then the refit one (see
            `kregs.tuner.refit`), else the search's best.
        deployment: `kregs.deploy.DeployOptions` or None: the formats written beside
            the SavedModel (each checked on the test images), or the SavedModel alone.

    Returns:
        `(best, test, export_path, refit_record, deployed)`: the best trial's summary,
        its test result, the SavedModel's version folder (None where the backend is
        not TensorFlow: see `can_export`), the refit's record or None, the
        `kregs.deploy.DeployResult` or None.

    Raises:
        RunFailedError: no trial completed.
    """
    trials = best_completed(tuner.oracle, keep_best)
    if not trials:
        raise RunFailedError(f"no trial completed; the reasons are in {output}/trials.csv")
    model = save_best(tuner, hypermodel, trials, output, ds.info.class_names)
    best = trial_summary(hypermodel, trials[0])
    test = test_once(model, best["trial_id"], ds.test, batch_size, output)
    record = None
    if refit is not None:
        model, record = refit(trials[0], model)
        extra = {"refit": True, "refit_epochs": record["epochs"]}
        final_test = record["test"]["accuracy"]
    else:
        extra, final_test = {}, test["accuracy"]
    path = deployed = None
    if can_export():
        path, deployed = export_once(
            model, best, ds.info, output, deployment, ds, test_accuracy=final_test, **extra
        )
    else:
        logger.info("no SavedModel: %s", export_missing(output))
    return best, test, path, record, deployed


def can_export():
    """Whether this process can write the SavedModel: its Keras backend is TensorFlow.

    A model trained under JAX or PyTorch is exported by `kregs export RUN` (which
    loads the saved model under TensorFlow) on a machine with TensorFlow.
    """
    from kregs.run.device import backend

    return backend() == "tensorflow"


def export_missing(output):
    """The one line that says why a run has no SavedModel and how to write it."""
    from kregs.run.device import backend, tensorflow_available

    where = "here" if tensorflow_available() else "on a machine with TensorFlow"
    return (
        f"a SavedModel needs TensorFlow (this run trained with {backend()}): "
        f"`kregs export {output}` {where} writes it from the saved model"
    )
