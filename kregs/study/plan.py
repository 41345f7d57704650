"""What a study trains: the study's eight configurations, a sweep of one value, or an ablation.

A study is a list of named `RegConfig`s, each trained once per seed. Three
kinds exist, each with its own report:

- the **configurations** (the default): none, l2, dropout, bn and their
  combinations, with the values of `kregs.study.protocol.StudyValues`;
- a **sweep** (`Sweep`): one base configuration plus one value varied over a
  grid (the L2 lambda, the dropout rate, the decoupled weight decay); several
  sweeps in one study share the base (each grid's 0 is the base itself);
- an **ablation** (`Ablation`): the best configuration of a `kregs tune` run and
  that configuration minus each regularizer it uses, one at a time.

No TensorFlow here.
"""

import dataclasses
import math

from kregs.checks import check_choice
from kregs.config import BY_NAME, CONFIG_NAMES, DIMENSIONS, TECHNIQUES, RegConfig
from kregs.errors import ConfigError, invalid_value
from kregs.study.protocol import completed_trials, configurations

KINDS = ("configurations", "sweep", "ablation")

# The values a sweep of each parameter tries when none are given: the study's own
# grid, a fine log range around the usual values, and 0 (the base alone).
SWEEP_GRIDS = {
    "l2": (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1.0, 10.0),
    "dropout": (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8),
    "weight_decay": (0.0, 1e-3, 0.01, 0.03, 0.1, 0.3, 1.0),
    # L2-SP's alpha, towards a model's pre-trained weights (`--model` with `--init pretrained`)
    "l2sp": (0.0, 1e-4, 1e-3, 0.01, 0.1, 1.0),
    # Label smoothing up to airbench's 0.2 and past it; MixUp and CutMix at mix_alpha.
    "label_smoothing": (0.0, 0.05, 0.1, 0.2, 0.3),
    "mix": ("none", "mixup", "cutmix"),
}
SWEEPABLE = tuple(SWEEP_GRIDS)
# What the study tried and what it chose. Its dropout p is the probability of
# *keeping* a unit, so its grid p in {0.2, 0.5, 0.7} is the drop rates {0.8, 0.5, 0.3}.
PAPER_GRIDS = {"l2": (0.01, 0.1, 1.0, 10.0), "dropout": (0.3, 0.5, 0.8)}
PAPER_CHOICE = {"l2": 0.1, "dropout": 0.5}
LABELS = {
    "l2": "L2 lambda",
    "dropout": "dropout rate",
    "weight_decay": "weight decay",
    "l2sp": "L2-SP alpha",
    "label_smoothing": "label smoothing",
    "mix": "mixing",
}


def value_text(value):
    """A swept value as the study writes it: `0.001` (`:g`) or a choice's name."""
    return value if isinstance(value, str) else f"{value:g}"


@dataclasses.dataclass(frozen=True)
class Sweep:
    """One value varied over a grid, everything else fixed.

    Args:
        parameter: str, one of `SWEEPABLE` (a `RegConfig` field).
        values: tuple of floats, the grid (sorted, duplicates removed; 0 is the
            base configuration itself). Default: `SWEEP_GRIDS[parameter]`.
        base: str, one of the study's configuration names that does not use the
            swept technique (e.g. "none" or "bn"): what every value is added to.

    Example:
    >>> sweep = Sweep("l2", (0, 0.1, 0.01))
    >>> sweep.values, sweep.label(0.1), sweep.label(0)
    ((0.0, 0.01, 0.1), 'l2=0.1', 'none')
    """

    parameter: str
    values: tuple = ()
    base: str = "none"

    def __post_init__(self):
        check_choice(self.parameter, SWEEPABLE, "sweep")
        check_choice(self.base, CONFIG_NAMES, "base")
        technique = BY_NAME[self.parameter].short
        if technique in self.base.split("+"):
            raise invalid_value(
                "base", self.base, f"a configuration without {technique} (the sweep adds it)"
            )
        values = self.values or SWEEP_GRIDS[self.parameter]
        for value in values:  # validated as the configuration would be
            RegConfig(**{self.parameter: value})
        dim = BY_NAME[self.parameter]
        if dim.numeric:
            values = tuple(sorted({float(v) for v in values}))
        else:  # the choices' order, the base's value ("none") first
            values = tuple(c for c in dim.choices if c in set(values) | {dim.off})
        if len(values) < 2:
            raise invalid_value(f"sweep {self.parameter}", values, "at least two values")
        object.__setattr__(self, "values", values)

    @property
    def off(self):
        """The value that is the base alone (0, or "none" for a choice)."""
        return BY_NAME[self.parameter].off

    def label(self, value):
        """The configuration's name in the study: the base for 0 (or "none"), else
        `parameter=value`."""
        return self.base if value == self.off else f"{self.parameter}={value_text(value)}"

    def to_dict(self):
        return {"parameter": self.parameter, "values": list(self.values), "base": self.base}


def parse_sweep(text, base="none"):
    """A `Sweep` from the command line's `PARAM` or `PARAM=V1,V2,...`.

    Example:
    >>> parse_sweep("dropout=0,0.5").values
    (0.0, 0.5)
    """
    name, _, given = text.partition("=")
    name = name.strip().replace("-", "_")
    check_choice(name, SWEEPABLE, "sweep")
    values = ()
    if given:
        parts = [v.strip() for v in given.split(",") if v.strip()]
        if not BY_NAME[name].numeric:
            return Sweep(name, tuple(parts), base)
        try:
            values = tuple(float(v) for v in parts)
        except ValueError:
            raise invalid_value("sweep", text, f"{name}=V1,V2,... with numbers") from None
    return Sweep(name, values, base)


@dataclasses.dataclass(frozen=True)
class Ablation:
    """The best configuration of a `kregs tune` run, and its learning rate.

    Attributes:
        run: str, the run's output folder.
        trial: str, the id of its best completed trial (by validation accuracy).
        reg: `RegConfig`, that trial's configuration.
        learning_rate: float, that trial's learning rate.
        dataset: str, the data set the run searched.
        arch: str, its architecture.
        model: dict or None, its model's record (run.json), where it searched your model.
    """

    run: str
    trial: str
    reg: RegConfig
    learning_rate: float
    dataset: str
    arch: str
    model: dict | None = None

    def configurations(self):
        """`{"best": reg, "without L2": ..., ...}`: one removal per regularizer in use."""
        configs = {"best": self.reg}
        for dim in TECHNIQUES:
            if self.reg.uses(dim.name):
                configs[f"without {dim.label}"] = dataclasses.replace(
                    self.reg, **{dim.name: dim.off}
                )
        return configs

    def to_dict(self):
        return {
            "run": self.run,
            "trial": self.trial,
            "config": self.reg.to_dict(),
            "learning_rate": self.learning_rate,
        }


def ablation_from_run(run_dir):
    """The `Ablation` of a finished `kregs tune` run: its best completed trial.

    Args:
        run_dir: str, the run's output folder (run.json and trials.csv).

    Returns:
        An `Ablation`.

    Raises:
        ConfigError: not a run, no completed trial, or a best trial without
            regularization (nothing to remove).
    """
    run, rows = completed_trials(run_dir, "from_run")
    rows = [r for r in rows if math.isfinite(_number(r.get("best_val_accuracy"), math.nan))]
    if not rows:
        raise ConfigError(f"{run_dir}: no completed trial to take a configuration from")
    best = max(rows, key=lambda r: float(r["best_val_accuracy"]))
    reg = _reg_config(best)
    if reg.name == "none":
        raise ConfigError(
            f"{run_dir}: its best trial ({best['trial_id']}) uses no regularization: "
            f"there is nothing to ablate"
        )
    return Ablation(
        run_dir,
        best["trial_id"],
        reg,
        _number(best.get("learning_rate"), 1e-3),
        run.get("dataset", "fashion_mnist"),
        run.get("arch", "cnn"),
        run.get("model"),
    )


def _reg_config(row):
    """The `RegConfig` of a trials.csv row; a column an older run lacks takes its default."""
    return RegConfig(**{d.name: d.parse(row.get(d.name)) for d in DIMENSIONS})


def _number(text, default):
    try:
        return float(text) if text not in (None, "") else default
    except ValueError:
        return default


def sweep_configurations(sweeps, values):
    """`{label: RegConfig}` of one or more sweeps sharing their base (its label first).

    Args:
        sweeps: sequence of `Sweep` (one base for all).
        values: `kregs.study.protocol.StudyValues`, the values of the base's techniques.
    """
    bases = {s.base for s in sweeps}
    if len(bases) != 1:
        raise invalid_value("base", sorted(bases), "one base configuration for every sweep")
    base = sweeps[0].base
    base_reg = configurations(values, (base,))[base]
    configs = {base: base_reg}
    for sweep in sweeps:
        for value in sweep.values:
            if value != sweep.off:
                configs[sweep.label(value)] = dataclasses.replace(
                    base_reg, **{sweep.parameter: value}
                )
    return configs
