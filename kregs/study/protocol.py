"""The L2 / dropout / BN values the study's configurations use, and where each came from."""

import dataclasses

from kregs.checks import (
    DROPOUT_KINDS,
    DROPOUT_PLACEMENTS,
    check_batch_norm,
    check_choice,
    check_dropout,
    check_lambda,
)
from kregs.config import CONFIG_NAMES, RegConfig
from kregs.errors import invalid_value

# For kregs' CNN (see kregs.build_model) trained with Adam: a lambda of 1e-4
# (the study's convention, loss + lambda/2 ||w||^2, over every kernel) and a drop
# rate of 0.25 after every block, values in the usual range for small CNNs. The
# study's own best values (lambda 0.1, dropout 0.5) were picked for its network
# and optimizer; `kregs study --l2 0.1 --dropout 0.5` uses them.
DEFAULT_L2 = 1e-4
DEFAULT_DROPOUT = 0.25
DEFAULT_BATCH_NORM = "before_activation"
LAYOUT_DEFAULTS = {"dropout_placement": "blocks", "dropout_kind": "elementwise"}


@dataclasses.dataclass(frozen=True)
class StudyValues:
    """The values of the techniques in the configurations that use them.

    Attributes:
        l2: float > 0, the L2 lambda.
        dropout: float in (0, 1), the dropout rate.
        batch_norm: str, "before_activation" or "after_activation".
        dropout_placement: str, where dropout goes (see `kregs.RegConfig`).
        dropout_kind: str, what dropout drops in convolutions.
        sources: dict, name -> where the value came from ("--l2", "default", a run).
    """

    l2: float = DEFAULT_L2
    dropout: float = DEFAULT_DROPOUT
    batch_norm: str = DEFAULT_BATCH_NORM
    dropout_placement: str = LAYOUT_DEFAULTS["dropout_placement"]
    dropout_kind: str = LAYOUT_DEFAULTS["dropout_kind"]
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
        check_choice(self.dropout_placement, DROPOUT_PLACEMENTS, "dropout_placement")
        check_choice(self.dropout_kind, DROPOUT_KINDS, "dropout_kind")
        object.__setattr__(self, "l2", float(self.l2))
        object.__setattr__(self, "dropout", float(self.dropout))

    def layout(self):
        """Where dropout goes and its kind, as `RegConfig` fields."""
        return {"dropout_placement": self.dropout_placement, "dropout_kind": self.dropout_kind}

    def to_dict(self):
        """`{"l2", "dropout", "batch_norm"}` and the dropout layout where it is not the
        study's (dropout in every block, element-wise), without the sources.

        The layout is left out at its defaults so that a study written before it
        existed is continued, not refused as another protocol.
        """
        values = {"l2": self.l2, "dropout": self.dropout, "batch_norm": self.batch_norm}
        values.update({k: v for k, v in self.layout().items() if v != LAYOUT_DEFAULTS[k]})
        return values


def resolve_values(
    l2=None,
    dropout=None,
    batch_norm=None,
    values_from=None,
    dropout_placement=None,
    dropout_kind=None,
):
    """The L2 lambda, dropout rate and BN placement of the configurations, and their sources.

    An explicit value wins; else the finished `kregs tune` run in `values_from`
    gives it (the best completed trial, by validation accuracy, that used the
    technique); else the default for kregs' CNN.

    Args:
        l2: float > 0 or None.
        dropout: float in (0, 1) or None.
        batch_norm: `"before_activation"`, `"after_activation"` or None.
        values_from: str or None, the output folder of a finished `kregs tune`.
        dropout_placement: str or None (the study's: in every block).
        dropout_kind: str or None (the study's: element-wise).

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
    from_trials = _best_from_run(values_from) if values_from is not None else {}
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
                f" (no trial of {values_from} used it)" if values_from is not None else ""
            )
    for name, value in (("dropout_placement", dropout_placement), ("dropout_kind", dropout_kind)):
        values[name] = LAYOUT_DEFAULTS[name] if value is None else value
        if value is not None:  # (defaults unrecorded, as in `to_dict`)
            sources[name] = f"--{name.replace('_', '-')}"
    return StudyValues(**values, sources=sources)


def _best_from_run(run_dir):
    """From a tune run's trials.csv: per technique, its value in the best trial that used it."""
    from kregs.study.plan import completed_trials

    run, rows = completed_trials(run_dir, "values_from")
    dataset = run.get("dataset")
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
        name: RegConfig.from_name(
            name, values.l2, values.dropout, values.batch_norm, **values.layout()
        )
        for name in names
    }
