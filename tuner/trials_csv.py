"""trials.csv: one row per ended trial, rebuilt from KerasTuner's state and kregs' records."""

import csv
import io
import re

from kregs.config import DIMENSIONS
from kregs.run.files import write_atomic
from kregs.verdicts import unpack, wilson

# Every field of RegConfig, then the learning rate.
HP_COLUMNS = (*(d.name for d in DIMENSIONS), "learning_rate")
# Read from kregs_trial.json; "best" is the epoch early stopping restored.
RESULT_COLUMNS = (
    "best_epoch",
    "best_val_accuracy",
    "val_accuracy_low",  # its 95% interval over the validation images (Wilson's)
    "val_accuracy_high",
    "val_images",
    "best_val_loss",
    "final_train_accuracy",
    "generalization_gap",
    "epochs",
    "seconds",
    "seconds_per_epoch",
    "pruned_epoch",
    "rss_mb",
    "peak_rss_mb",
)


def failure_reason(message):
    """The last line of KerasTuner's traceback text, `"ErrorType: what happened"`.

    The exception's module path is left out.

    Example:
    >>> failure_reason("Traceback ...\\nkeras_tuner.errors.FailedTrialError: diverged")
    'FailedTrialError: diverged'
    """
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return re.sub(r"^(?:[A-Za-z_][\w]*\.)+(?=[A-Za-z_]\w*(?:Error|Exception)?:)", "", lines[-1])


# Lines of a TensorFlow error that say where, not what (the node, the graph, a frame).
_WHERE = ("Graph execution error", "Detected at node", "File ", "[[", "Traceback")


def error_reason(err):
    """`"ErrorType: what happened"` of an exception, in one line.

    TensorFlow's errors begin with where the graph failed and end with the
    node's name; the line that says what happened is in between.

    Example:
    >>> error_reason(ValueError("Graph execution error:\\n\\nReceived a label value of 200"))
    'ValueError: Received a label value of 200'
    """
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    what = [line for line in lines if not line.startswith(_WHERE)]
    text = (what or lines or [""])[0]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def effective_values(hypermodel, trial):
    """The configuration a trial actually trained: RegConfig name and the values in force."""
    hp = trial.hyperparameters.copy()
    reg = hypermodel.reg_config(hp)
    return {"config": reg.name, **reg.to_dict(), "learning_rate": hypermodel.learning_rate(hp)}


def trial_row(trial, effective, extras):
    """One trials.csv row for a KerasTuner `Trial`.

    Args:
        trial: the KerasTuner `Trial`.
        effective: dict from `effective_values`.
        extras: dict, the trial's kregs_trial.json, or None.

    Returns:
        dict: `trial_id`, `status` (KerasTuner's, or PRUNED), the hyperparameters as sampled, the
        values in force, `RESULT_COLUMNS`, `tuner_id` (who ran it) and `error`.
    """
    extras = extras or {}
    # KerasTuner's STOPPED: a trial the pruner stopped (kregs.tuner.pruning).
    status = "PRUNED" if trial.status == "STOPPED" else trial.status
    row = {"trial_id": trial.trial_id, "status": status}
    row.update(trial.hyperparameters.values)
    row.update(effective)
    row.update({k: extras.get(k) for k in RESULT_COLUMNS})
    if extras.get("val_correct") and trial.status == "COMPLETED":
        n = extras["val_images"]
        right = int(unpack(extras["val_correct"], n).sum())
        row["val_accuracy_low"], row["val_accuracy_high"] = wilson(right, n)
    row["tuner_id"] = extras.get("tuner_id")
    row["error"] = (
        (extras.get("error") or failure_reason(trial.message))
        if trial.status != "COMPLETED"
        else ""
    )
    return row


def columns(rows):
    """Fixed columns first, then any other hyperparameter (e.g. Hyperband's), sorted."""
    fixed = ["trial_id", "status", "config", *HP_COLUMNS]
    tail = [*RESULT_COLUMNS, "error"]
    other = sorted({k for row in rows for k in row} - set(fixed) - set(tail) - {"tuner_id"})
    return fixed + other + tail


def format_value(value):
    """A cell of trials.csv: 6 significant digits for floats, empty for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def trial_order(row):
    """The sort key of a row: its trial's number (KerasTuner pads ids to `max_trials`' width,
    so after a resume with more trials "03" and "10" stand side by side)."""
    return int(row["trial_id"])


def write_trials_csv(path, rows):
    """Writes every trial, one row each, in trial order, atomically."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=trial_order):
        writer.writerow({k: format_value(row.get(k)) for k in writer.fieldnames})
    write_atomic(path, out.getvalue())
