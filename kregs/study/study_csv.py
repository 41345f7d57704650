"""study.csv: one row per configuration and seed, every number at full precision."""

import csv
import io

from kregs.config import DIMENSIONS
from kregs.run.files import write_atomic

FILE = "study.csv"
COLUMNS = (
    "config",
    "seed",
    *(d.name for d in DIMENSIONS),  # every field of RegConfig
    "test_accuracy",
    "test_loss",
    "best_val_accuracy",
    "final_train_accuracy",
    "generalization_gap",
    "epochs",
    "best_epoch",
    "seconds_per_epoch",
    "train_seconds",
    "train_cpu_seconds",  # this process's CPU seconds while it trained (every core)
    "seconds_to_best",
    "train_images",
    "test_images",
    "diverged",
    "failed",  # why a run is kept out of the means (`kregs.run.metrics.at_chance`), or empty
)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # full precision: study.md's statistics recompute exactly from it
    return str(value)


def write_csv(path, rows):
    """Writes study.csv: one row per configuration and seed, in run order, atomically."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
    write_atomic(path, out.getvalue())
