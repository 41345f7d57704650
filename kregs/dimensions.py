"""The regularization dimensions: what each `RegConfig` field is, how it is checked and searched.

Every field of `kregs.RegConfig` is declared with `dimension(...)`, which
attaches a `Dimension` to it: its check, its command-line help, the value that
switches the technique off, and how each search space searches it. Everything
else that lists the dimensions derives from `RegConfig`'s fields
(`dimensions()`): the search space (`kregs.tuner.space`), the fixed values of a
search (`kregs.tuner.config.Fixed`), the options of `kregs tune` and `kregs
study`, the columns of trials.csv and study.csv, summary.md, the ablation's
removals and the importance of each hyperparameter. A new dimension is one
field of `RegConfig` and its search range.

No TensorFlow, Keras or KerasTuner here.
"""

import dataclasses

from kregs.checks import check_choice, check_dropout, check_lambda

SPACE_NAMES = ("default", "extended", "paper")


@dataclasses.dataclass(frozen=True)
class FloatRange:
    """A float searched over `[low, high]`.

    Attributes:
        low, high: float, the range.
        default: float, the value of the search's first configurations.
        log: bool, sampled on a log scale.
        step: float, the grid step (a factor on a log scale), used only where
            the algorithm needs a grid.
        toggle: bool, a boolean `use_<name>` hyperparameter first decides
            whether the technique is on (its `off` value when not).
        group: str or None, a choice among several dimensions (e.g. `"penalty"`:
            none, l2 or weight decay); the group's hyperparameter is named after it.
        start_on: bool, with `toggle`: whether the search's first configurations
            use the technique (the `use_<name>` hyperparameter's default).
    """

    low: float
    high: float
    default: float
    log: bool = False
    step: float | None = None
    toggle: bool = True
    group: str | None = None
    start_on: bool = True


@dataclasses.dataclass(frozen=True)
class Choices:
    """One of `values` (floats or strings), `default` first."""

    values: tuple
    default: object


@dataclasses.dataclass(frozen=True)
class Need:
    """A condition on another dimension: `parent` is on (`values` None) or one of `values`."""

    parent: str
    values: tuple | None = None

    def holds(self, value, parent_dimension):
        if self.values is None:
            return value != parent_dimension.off
        return value in self.values


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One regularization dimension: a field of `RegConfig`.

    Attributes:
        name: str, the field's name (also its hyperparameter's and CSV column's).
        default: the field's default.
        check: callable(value, name) -> the normalised value (raises `ConfigError`).
        help: str, what it is, as a noun phrase ("the L2 lambda (0 switches L2
            off)"): the command line's help says "Fix <help> ...".
        choices: tuple, the allowed values of a choice (empty for a number).
        bounds: `(low, high, high_open)` of a number (`high` None: no upper bound).
        off: the value that switches the technique off, or None where the field
            only says how another technique works (dropout's placement).
        short: str, its part of `RegConfig.name` (e.g. `"wd"`).
        label: str, its name in prose (e.g. `"weight decay"`).
        search: dict, space name -> `FloatRange` or `Choices`; a space not
            listed keeps the field at its default (or the value fixed).
        needs: tuple of `Need`: the field matters only when they hold (else it
            takes its default and is not searched).
        archs: tuple of str, the built-in architectures where it is searched
            (empty: all).
        requires: str or None, a flag of the search space that must be set for it to
            be searched (`"finetune"`: L2-SP needs a model's pre-trained weights;
            `"residual"`: stochastic depth needs residual connections).
    """

    name: str
    default: object
    check: object
    help: str
    choices: tuple = ()
    bounds: tuple = (0, None, False)
    off: object = None
    short: str = ""
    label: str = ""
    search: dict = dataclasses.field(default_factory=dict)
    needs: tuple = ()
    archs: tuple = ()
    requires: str | None = None

    @property
    def technique(self):
        """Whether the field switches a technique on or off (it has an `off` value)."""
        return self.off is not None

    @property
    def numeric(self):
        return not self.choices

    def searched_in(self, space):
        return space in self.search

    def validate(self, value):
        return self.check(value, self.name)

    def parse(self, text):
        """The value of a CSV cell (trials.csv, study.csv); empty or absent: the default."""
        if text in (None, ""):
            return self.default
        return float(text) if self.numeric else text


def dimension(default, check, help, **kwargs):  # noqa: A002 - `help` as click names it
    """A `RegConfig` field with its `Dimension` (its name is set by `dimensions()`)."""
    kw_only = kwargs.pop("kw_only", False)
    info = Dimension("", default, check, help, **kwargs)
    return dataclasses.field(default=default, metadata={"dimension": info}, kw_only=kw_only)


def choice_check(choices):
    """The check of a choice among `choices`."""

    def check(value, name):
        return check_choice(value, choices, name)

    return check


def lambda_check(value, name):
    """A number >= 0 (a penalty's strength): `bounds=(0, None, False)`."""
    return check_lambda(value, name)


def alpha_check(value, name):
    """A number in (0, 1] (a Beta distribution's parameter, as Keras' CutMix takes it)."""
    from kregs.errors import ConfigError, invalid_value

    try:
        checked = check_lambda(value, name)
    except ConfigError:
        checked = 0.0
    if not 0 < checked <= 1:
        raise invalid_value(name, value, "a float in (0, 1]")
    return checked


def rate_check(value, name):
    """A rate in [0, 1) (dropout's): `bounds=(0, 1, True)`."""
    return check_dropout(value, name)


RATE_BOUNDS = (0, 1, True)


def dimensions(cls):
    """The `Dimension` of every field of the dataclass `cls` (e.g. `RegConfig`), in order."""
    return tuple(
        dataclasses.replace(f.metadata["dimension"], name=f.name)
        for f in dataclasses.fields(cls)
        if "dimension" in f.metadata
    )
