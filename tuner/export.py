"""`export_run`: a finished run's best model (or one trial's) exported again, as a new version.

The model is rebuilt from the run's record (run.json) and the trial's hyperparameters,
in the precision the run trained in, and its checkpoint loaded through KerasTuner (or
the run's refit model taken); `kregs.tuner.best.export` writes it.
"""

import glob
import os

from kregs.errors import ConfigError, invalid_value
from kregs.run.files import read_json, writing_to
from kregs.tuner import folds
from kregs.tuner.best import best_completed, export, load_trial_model, trial_summary
from kregs.tuner.config import RUN_FILE, TuneConfig
from kregs.tuner.refit import MODEL_FILE, RECORD_FILE, REFIT_DIR


def pick_trial(oracle, run_dir, trial_id=None):
    """The trial `kregs export` exports: the best completed one, or trial `trial_id`."""
    if trial_id is None:
        trials = best_completed(oracle, 1)
        if not trials:
            raise ConfigError(f"{run_dir} has no completed trial to export")
        return trials[0]
    trial = oracle.trials.get(str(trial_id))
    if trial is None or trial.status != "COMPLETED":
        done = sorted(
            (t.trial_id for t in oracle.trials.values() if t.status == "COMPLETED"), key=int
        )
        raise invalid_value("trial", trial_id, f"a completed trial of this run ({', '.join(done)})")
    return trial


def export_run(run_dir, trial_id=None, deployment=None, data_dir=None, check=True):
    """Exports the best model (or trial `trial_id`) of a finished run as a new version.

    The model is rebuilt from the run's configuration (run.json) and the
    trial's hyperparameters, its checkpoint is loaded through KerasTuner (or the
    run's refit model is taken), and it is written in each format of
    `deployment` as the next version (`kregs.deploy`): the SavedModel in
    `<run_dir>/export/<dataset>/<version>/`, the others beside it. With `check`,
    the run's data is loaded as the run split it: each format is checked on
    its test images, int8 is calibrated on its validation images.

    Args:
        run_dir: str, the output folder of `tune`.
        trial_id: str or None, a completed trial's id; None means the best trial.
        deployment: `kregs.deploy.DeployOptions` or None (the SavedModel).
        data_dir: str or None, where the run's built-in data set's files are.
        check: bool, check each format on the test images (False: no data needed).

    Returns:
        `kregs.deploy.DeployResult` (`written`: `{format: folder}`, `rows`, `refused`).

    Raises:
        ConfigError: not a run, no such completed trial, or the run folder cannot be
            written (read-only, no permission).
        DiskFullError: the disk filled up (the earlier versions are intact).
    """
    from kregs.deploy import DeployOptions

    deployment = deployment or DeployOptions()
    if not check and deployment.quantize == "int8":
        raise ConfigError("int8 is calibrated on the run's validation images: drop --no-check")
    with writing_to(os.path.abspath(run_dir)):
        return _export_run(run_dir, trial_id, deployment, data_dir, check)


def _export_run(run_dir, trial_id, deployment, data_dir, check):
    from kregs import data
    from kregs.tuner.search import make_hypermodel
    from kregs.tuner.tuners import make_tuner

    run_dir = os.path.abspath(run_dir)
    record = read_json(os.path.join(run_dir, RUN_FILE))
    if record is None:
        raise ConfigError(f"{run_dir} is not a kregs run (no {RUN_FILE})")
    config = TuneConfig.from_record(record, output=run_dir, data_dir=data_dir)
    info = (
        data.DatasetInfo.from_dict(record["data_info"])
        if "data_info" in record
        else data.builtin_info(config.dataset.name)
    )
    hypermodel = make_hypermodel(config, info, precision=record.get("precision"))
    budget = config.budget
    tuner = make_tuner(
        budget.algorithm, hypermodel, run_dir, budget.max_trials, budget.epochs, seed=config.seed
    )
    tuner.oracle.cross_validation = folds.CrossValidation(run_dir, 0, lambda t: "")  # (its ranking)
    trial = pick_trial(tuner.oracle, run_dir, trial_id)
    summary = trial_summary(hypermodel, trial)
    refitted = _refit_model(run_dir, trial) if trial_id is None else None
    extra = {}
    if refitted is not None:  # the model a run exports: the best configuration, refit
        model, refit_record = refitted
        extra = {
            "test_accuracy": refit_record["test"]["accuracy"],
            "refit": True,
            "refit_epochs": refit_record["epochs"],
        }
    else:
        model = load_trial_model(tuner, trial)
    ds = config.load_data() if check else None
    _, result = export(model, summary, info, run_dir, deployment, ds, **extra)
    _update_summary(run_dir, result)
    return result


def _update_summary(run_dir, result):
    """summary.md's `## Deploy` section, now on `result` (where the run has a summary.md)."""
    from kregs.deploy import replace_section, report_section
    from kregs.run.files import write_atomic

    path = os.path.join(run_dir, "summary.md")
    if os.path.exists(path):
        with open(path) as f:
            write_atomic(path, replace_section(f.read(), report_section(result)))


def _refit_model(run_dir, trial):
    """`(model, record)` of the run's refit of `trial`, or None where there is none."""
    import keras

    folder = os.path.join(run_dir, REFIT_DIR)
    record = read_json(os.path.join(folder, RECORD_FILE))
    if not record or record.get("trial_id") != trial.trial_id:
        return None
    return keras.models.load_model(os.path.join(folder, MODEL_FILE)), record


def run_model_and_test(run_dir, data_dir=None):
    """`(model path, test images, test labels)` of a finished run: the model it exported
    (its newest SavedModel, else its best `.keras`), and its test split as the run made it.

    Raises:
        ConfigError: not a run, or a run with no model yet.
    """
    from kregs.deploy.formats import versions

    run_dir = os.path.abspath(run_dir)
    record = read_json(os.path.join(run_dir, RUN_FILE))
    if record is None:
        raise ConfigError(f"{run_dir} is not a kregs run (no {RUN_FILE})")
    config = TuneConfig.from_record(record, output=run_dir, data_dir=data_dir)
    name = record.get("data_info", {}).get("name") or config.dataset.name
    model_dir = os.path.join(run_dir, "export", name)
    best = sorted(glob.glob(os.path.join(run_dir, "best", "rank1-trial*.keras")))
    if versions(model_dir):
        model = model_dir
    elif best:
        model = best[0]
    else:
        raise ConfigError(f"{run_dir} has no model yet (no export/, no best/): let it finish")
    test = config.load_data().test
    return model, test[0], test[1]
