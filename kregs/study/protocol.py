"""The L2 / dropout / BN values the study's configurations use, and where each came from."""

import csv
import dataclasses
import os

from kregs.config import BY_NAME, CONFIG_NAMES, DIMENSIONS, RegConfig
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
# The study's three techniques: their value is the one the configurations that use them
# take. Every other field of RegConfig is common to all configurations (default: its own).
TECHNIQUES = ("l2", "dropout", "batch_norm")
COMMON = tuple(d.name for d in DIMENSIONS if d.name not in TECHNIQUES)


@dataclasses.dataclass(frozen=True)
class StudyValues:
    """The values of the techniques in the configurations that use them.

    Attributes:
        l2: float > 0, the L2 lambda.
        dropout: float in (0, 1), the dropout rate.
        batch_norm: str, "before_activation" or "after_activation".
        common: dict, other `RegConfig` fields every configuration takes (e.g.
            `{"dropout_placement": "head"}`); the rest keep their defaults.
        sources: dict, name -> where the value came from ("--l2", "default", a run).
    """

    l2: float = DEFAULT_L2
    dropout: float = DEFAULT_DROPOUT
    batch_norm: str = DEFAULT_BATCH_NORM
    common: dict = dataclasses.field(default_factory=dict)
    sources: dict = dataclasses.field(
        default_factory=lambda: {"l2": "default", "dropout": "default", "batch_norm": "default"}
    )

    def __post_init__(self):
        for name in TECHNIQUES:
            dim = BY_NAME[name]
            value = dim.validate(getattr(self, name))
            if value == dim.off:
                raise invalid_value(
                    name,
                    getattr(self, name),
                    f"a value that switches {dim.label} on "
                    "(the configurations without it already have it off)",
                )
            object.__setattr__(self, name, value)
        unknown = sorted(set(self.common) - set(COMMON))
        if unknown:
            raise invalid_value("common", unknown, f"fields among {', '.join(COMMON)}")
        object.__setattr__(
            self,
            "common",
            {n: BY_NAME[n].validate(self.common[n]) for n in COMMON if n in self.common},
        )

    def layout(self):
        """The common fields every configuration takes, as `RegConfig` keyword arguments."""
        return dict(self.common)

    def to_dict(self):
        """The three values, and the common fields where they are not `RegConfig`'s defaults,
        without the sources.

        A default is left out so that a study written before that field existed is
        continued, not refused as another protocol.
        """
        values = {name: getattr(self, name) for name in TECHNIQUES}
        values.update({k: v for k, v in self.common.items() if v != BY_NAME[k].default})
        return values


def resolve_values(values_from=None, **given):
    """The values of the configurations, and their sources.

    An explicit value wins; else the finished `kregs tune` run in `values_from`
    gives it (the best completed trial, by validation accuracy, that used the
    technique); else the default for kregs' CNN.

    Args:
        values_from: str or None, the output folder of a finished `kregs tune`.
        **given: `RegConfig` field -> value or None: `l2` (> 0), `dropout` (in
            (0, 1)) and `batch_norm` (not "none") for the configurations that use
            them, any other field for every configuration.

    Returns:
        A `StudyValues`.

    Example:
    >>> resolve_values(l2=0.01).sources["l2"]
    '--l2'
    """
    unknown = sorted(set(given) - {d.name for d in DIMENSIONS})
    if unknown:
        raise TypeError(f"unknown fields: {unknown}")
    defaults = StudyValues()
    explicit = {n: v for n, v in given.items() if v is not None}
    StudyValues(  # validates the explicit values before any file is read
        **{n: explicit.get(n, getattr(defaults, n)) for n in TECHNIQUES},
        common={n: v for n, v in explicit.items() if n in COMMON},
    )
    from_trials = _best_from_run(values_from) if values_from is not None else {}
    values, sources = {}, {}
    for name in TECHNIQUES:
        if name in explicit:
            values[name], sources[name] = explicit[name], f"--{name.replace('_', '-')}"
        elif name in from_trials:
            values[name], sources[name] = from_trials[name]
        else:
            values[name] = getattr(defaults, name)
            sources[name] = "default" + (
                f" (no trial of {values_from} used it)" if values_from is not None else ""
            )
    common = {n: v for n, v in explicit.items() if n in COMMON}
    # (defaults unrecorded, as in `to_dict`)
    sources.update({n: f"--{n.replace('_', '-')}" for n in common})
    return StudyValues(**values, common=common, sources=sources)


def _best_from_run(run_dir):
    """From a tune run's trials.csv: per technique, its value in the best trial that used it."""
    run, rows = completed_trials(run_dir, "values_from")
    dataset = run.get("dataset")
    if isinstance(dataset, dict):  # your own data: its kind and where it is
        dataset = f"{dataset.get('kind')}:{dataset.get('location')}"
    rows.sort(key=lambda r: -float(r["best_val_accuracy"] or "nan"))
    found = {}
    for name in TECHNIQUES:
        dim = BY_NAME[name]
        best = next((r for r in rows if dim.parse(r.get(name)) != dim.off), None)
        if best is not None:
            found[name] = (dim.parse(best[name]), f"{run_dir} trial {best['trial_id']} ({dataset})")
    return found


def configurations(values, names=CONFIG_NAMES):
    """The `RegConfig` of each of the study's configuration names, in table order."""
    return {
        name: RegConfig.from_name(
            name, values.l2, values.dropout, values.batch_norm, **values.common
        )
        for name in names
    }


def completed_trials(run_dir, argument):
    """`(run.json's record, trials.csv's completed rows)` of a finished `kregs tune` run.

    Args:
        run_dir: str, the run's output folder.
        argument: str, the option that named it (for the error).

    Raises:
        ConfigError: the folder is not a `kregs tune` run.
    """
    run_file = os.path.join(run_dir, "run.json")
    path = os.path.join(run_dir, "trials.csv")
    if not os.path.isfile(run_file) or not os.path.isfile(path):
        raise ConfigError(
            f"Invalid value for argument `{argument}`: expected the output folder of a "
            f"`kregs tune` run (with run.json and trials.csv). Received: {argument}={run_dir!r}"
        )
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("status") == "COMPLETED"]
    return read_json(run_file), rows
