"""The L2 / dropout / BN values the study's configurations use, and where each came from."""

import dataclasses
import os

from kregs.checks import check_batch_norm, check_dropout, check_lambda
from kregs.config import CONFIG_NAMES, RegConfig
from kregs.errors import ConfigError, invalid_value
from kregs.run.files import read_json

# For kregs' CNN (see kregs.build_model) trained with Adam: a lambda of 1e-4
# (the study's convention, loss + lambda/2 ||w||^2, over every kernel) and a drop
# rate of 0.25 after every block, values in the usual range for small CNNs. The
# study's own best values (lambda 0.1, dropout 0.5) were picked for its network
# and optimizer; `kregs study --l2 0.1 --dropout 0.5` uses them.
DEFAULT_L2 = 1e-4
DEFAULT_DROPOUT = 0.25
DEFAULT_BATCH_NORM = "before_activation"


@dataclasses.dataclass(frozen=True)
class StudyValues:
    """The values of the techniques in the configurations that use them.

    Attributes:
        l2: float > 0, the L2 lambda.
        dropout: float in (0, 1), the dropout rate.
        batch_norm: str, "before_activation" or "after_activation".
        sources: dict, name -> where the value came from ("--l2", "default", a run).
    """

    l2: float = DEFAULT_L2
    dropout: float = DEFAULT_DROPOUT
    batch_norm: str = DEFAULT_BATCH_NORM
    sources: dict = dataclasses.field(
        default_factory=lambda: {"l2": "default", "dropout": "default", "batch_norm": "default"}
    )

    def __post_init__(self):
        if check_lambda(self.l2, "l2") == 0:
            raise invalid_value(
                "l2", self.l2, "a lambda > 0 (the 'none' configuration already has no L2)"
            )
        if check_dropout(self.dropout) == 0:
            raise invalid_value("dropout", self.dropout, "a rate in (0, 1)")
        if check_batch_norm(self.batch_norm) == "none":
            raise invalid_value(
                "batch_norm", self.batch_norm, "before_activation or after_activation"
            )
        object.__setattr__(self, "l2", float(self.l2))
        object.__setattr__(self, "dropout", float(self.dropout))

    def to_dict(self):
        """`{"l2", "dropout", "batch_norm"}`, without the sources."""
        return {"l2": self.l2, "dropout": self.dropout, "batch_norm": self.batch_norm}


def resolve_values(l2=None, dropout=None, batch_norm=None, from_run=None):
    """The L2 lambda, dropout rate and BN placement of the configurations, and their sources.

    An explicit value wins; else the finished `kregs tune` run in `from_run`
    gives it (the best completed trial, by validation accuracy, that used the
    technique); else the default for kregs' CNN.

    Args:
        l2: float > 0 or None.
        dropout: float in (0, 1) or None.
        batch_norm: `"before_activation"`, `"after_activation"` or None.
        from_run: str or None, the output folder of a finished `kregs tune`.

    Returns:
        A `StudyValues`.

    Example:
    >>> resolve_values(l2=0.01).sources["l2"]
    '--l2'
    """
    given = {"l2": l2, "dropout": dropout, "batch_norm": batch_norm}
    StudyValues(
        l2=DEFAULT_L2 if l2 is None else l2,
        dropout=DEFAULT_DROPOUT if dropout is None else dropout,
        batch_norm=DEFAULT_BATCH_NORM if batch_norm is None else batch_norm,
    )  # validates the explicit values before any file is read
    from_trials = _best_from_run(from_run) if from_run is not None else {}
    defaults = StudyValues().to_dict()
    values, sources = {}, {}
    for name in ("l2", "dropout", "batch_norm"):
        if given[name] is not None:
            values[name], sources[name] = given[name], f"--{name.replace('_', '-')}"
        elif name in from_trials:
            values[name], sources[name] = from_trials[name]
        else:
            values[name] = defaults[name]
            sources[name] = "default" + (
                f" (no trial of {from_run} used it)" if from_run is not None else ""
            )
    return StudyValues(**values, sources=sources)


def _best_from_run(run_dir):
    """From a tune run's trials.csv: per technique, its value in the best trial that used it."""
    import csv

    path = os.path.join(run_dir, "trials.csv")
    run_file = os.path.join(run_dir, "run.json")
    if not os.path.isfile(run_file) or not os.path.isfile(path):
        raise ConfigError(
            f"Invalid value for argument `from_run`: expected the output folder of a "
            f"`kregs tune` run (with run.json and trials.csv). Received: from_run={run_dir!r}"
        )
    dataset = read_json(run_file).get("dataset")
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "COMPLETED"]
    rows.sort(key=lambda r: -float(r["best_val_accuracy"] or "nan"))
    found = {}
    for name, used in (
        ("l2", lambda r: float(r["l2"] or 0) > 0),
        ("dropout", lambda r: float(r["dropout"] or 0) > 0),
        ("batch_norm", lambda r: r["batch_norm"] not in ("", "none")),
    ):
        best = next((r for r in rows if used(r)), None)
        if best is not None:
            value = best[name] if name == "batch_norm" else float(best[name])
            found[name] = (value, f"{run_dir} trial {best['trial_id']} ({dataset})")
    return found


def configurations(values, names=CONFIG_NAMES):
    """The `RegConfig` of each of the study's configuration names, in table order."""
    return {
        name: RegConfig.from_name(name, values.l2, values.dropout, values.batch_norm)
        for name in names
    }
