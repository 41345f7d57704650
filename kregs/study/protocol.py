"""The study's budgets and the L2 / dropout / BN values its configurations use."""

import dataclasses
import json
import os

from kregs.checks import check_batch_norm, check_dropout, check_lambda, check_positive_int
from kregs.config import CONFIG_NAMES, RegConfig, resolve_preset
from kregs.errors import ConfigError, invalid_value

# For kregs' CNN (see kregs.build_model) trained with Adam: a lambda of 1e-4
# (the study's convention, loss + lambda/2 ||w||^2, over every kernel) and a drop
# rate of 0.25 after every block, values in the usual range for small CNNs. The
# study's own best values (lambda 0.1, dropout 0.5) were picked for its network
# and optimizer; `kregs study --l2 0.1 --dropout 0.5` uses them.
DEFAULT_L2 = 1e-4
DEFAULT_DROPOUT = 0.25
DEFAULT_BATCH_NORM = "before_activation"
DEFAULT_LEARNING_RATE = 1e-3


@dataclasses.dataclass(frozen=True)
class StudyBudget:
    """How much each of the study's runs trains.

    Attributes:
        epochs: int, epochs per run at most.
        batch_size: int.
        limit: int or None, training images used (stratified subset, before the
            validation split).
        test_limit: int or None, test images used (stratified subset); None
            means the whole test set.
        patience: int, early-stopping patience on val_loss (best weights restored).
        learning_rate: float, Adam's learning rate, fixed as in the study.
    """

    epochs: int = 30
    batch_size: int = 64
    limit: int | None = None
    test_limit: int | None = None
    patience: int = 5
    learning_rate: float = DEFAULT_LEARNING_RATE


STUDY_PRESETS = {
    # No preset: the study's protocol with a shorter epoch cap.
    None: StudyBudget(),
    # Seconds per run: proves the machinery end to end.
    "smoke": StudyBudget(epochs=2, batch_size=64, limit=1000, test_limit=2000, patience=2),
    # About a minute per run on a CPU: 24 runs in well under an hour on 2 cores.
    "quick": StudyBudget(epochs=5, batch_size=128, limit=10000, patience=3),
    # The study's protocol: batch 64, up to 50 epochs, patience 5, all the data.
    "paper": StudyBudget(epochs=50, batch_size=64, patience=5),
}


def resolve_budget(preset=None, **overrides):
    """Returns the `StudyBudget` of `preset` with every non-None override applied.

    Args:
        preset: str or None, `"smoke"`, `"quick"` or `"paper"`.
        **overrides: `StudyBudget` fields; None means "the preset's value".

    Returns:
        A validated `StudyBudget`.
    """
    budget = resolve_preset(STUDY_PRESETS, preset, **overrides)
    for name in ("epochs", "batch_size", "patience"):
        check_positive_int(getattr(budget, name), name)
    for name in ("limit", "test_limit"):
        if getattr(budget, name) is not None:
            check_positive_int(getattr(budget, name), name)
    lr = budget.learning_rate
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < 1:
        raise invalid_value("learning_rate", lr, "a float in (0, 1)")
    return budget


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
        dict with `l2`, `dropout`, `batch_norm` and `sources` (name -> where from).

    Example:
    >>> resolve_values(l2=0.01)["sources"]["l2"]
    '--l2'
    """
    given = {"l2": l2, "dropout": dropout, "batch_norm": batch_norm}
    if l2 is not None and (check_lambda(l2, "l2") == 0):
        raise invalid_value("l2", l2, "a lambda > 0 (the 'none' configuration already has no L2)")
    if dropout is not None and check_dropout(dropout) == 0:
        raise invalid_value("dropout", dropout, "a rate in (0, 1)")
    if batch_norm is not None and check_batch_norm(batch_norm) == "none":
        raise invalid_value("batch_norm", batch_norm, "before_activation or after_activation")
    from_trials = _best_from_run(from_run) if from_run is not None else {}
    defaults = {"l2": DEFAULT_L2, "dropout": DEFAULT_DROPOUT, "batch_norm": DEFAULT_BATCH_NORM}
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
    values["l2"] = float(values["l2"])
    values["dropout"] = float(values["dropout"])
    RegConfig(**values)
    return {**values, "sources": sources}


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
    with open(run_file) as f:
        dataset = json.load(f).get("dataset")
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
        name: RegConfig.from_name(name, values["l2"], values["dropout"], values["batch_norm"])
        for name in names
    }
