"""How much a run trains: what the budgets of `kregs tune` (`kregs.tuner.budget`) and
`kregs study` (`kregs.study.budget`) share, durations, and the rule of every preset.

One validation for every budget: a budget that exists is one a run can use.
No TensorFlow here, so the command line can offer these choices at once.
"""

import dataclasses
import math
import re

from kregs.checks import check_positive_int
from kregs.errors import invalid_value

_UNITS = {"s": 1, "m": 60, "h": 3600}
DEFAULT_LEARNING_RATE = 1e-3


def parse_duration(text):
    """Seconds in a duration such as "90s", "10m", "1h" or "1h30m" (a bare number: seconds).

    Raises:
        ConfigError: not a positive duration, naming the value.

    Example:
    >>> parse_duration("1h30m")
    5400.0
    """
    value = str(text).strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smh]?)", value)
    if not value or "".join(n + u for n, u in parts) != value.replace(" ", ""):
        parts = []
    if len(parts) > 1 and not all(u for _, u in parts):  # "1h30": 30 what?
        bare = next(n for n, u in parts if not u)
        raise invalid_value(
            "time_budget", text, f"a unit after every number ({bare} has none: 1h30m, not 1h30)"
        )
    seconds = sum(float(n) * _UNITS[u or "s"] for n, u in parts)
    if not parts or seconds <= 0:
        raise invalid_value("time_budget", text, "a duration such as 90s, 10m, 1h or 1h30m")
    return seconds


def duration_text(seconds):
    """`seconds` as `parse_duration` reads it back: "40m", "1h30m", "90s".

    Example:
    >>> duration_text(5400)
    '1h30m'
    """
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return "".join(parts) or "0s"


@dataclasses.dataclass(frozen=True)
class TrainingBudget:
    """What every run trains for: the part of a budget that tune and study share.

    Attributes:
        epochs: int >= 1, epochs per model at most.
        batch_size: int >= 1.
        limit: int >= 1 or None, training images used (a stratified subset,
            taken before the validation split); None means all.
        patience: int >= 1, early-stopping patience on val_loss (best weights restored).
        steps: int >= 1 or None, optimizer steps per model at most, in place of
            `epochs`: a small data set then trains as many epochs as its models need
            (`epochs_for`). None: `epochs`.
        min_steps: int >= 0, optimizer steps a model trains before an epoch may be the
            best one (early stopping neither restores nor stops before: `start_epoch`):
            a model whose BN statistics have not settled is never the one kept.
    """

    epochs: int = 10
    batch_size: int = 64
    limit: int | None = None
    patience: int = 5
    steps: int | None = None
    min_steps: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience"):
            check_positive_int(getattr(self, name), name)
        if self.limit is not None:
            check_positive_int(self.limit, "limit")
        if self.steps is not None:
            check_positive_int(self.steps, "steps")
        if (
            isinstance(self.min_steps, bool)
            or not isinstance(self.min_steps, int)
            or (self.min_steps < 0)
        ):
            raise invalid_value("min_steps", self.min_steps, "an int >= 0")

    def epochs_for(self, steps_per_epoch):
        """The epochs a model trains at most on data of `steps_per_epoch` steps an epoch.

        Example:
        >>> TrainingBudget(steps=355).epochs_for(71), TrainingBudget(steps=355).epochs_for(11)
        (5, 33)
        """
        if self.steps is None:
            return self.epochs
        return max(1, math.ceil(self.steps / max(1, steps_per_epoch)))

    def start_epoch(self, steps_per_epoch):
        """The first epoch (0-based) that may be the best: `min_steps` trained by its end."""
        first = math.ceil(self.min_steps / max(1, steps_per_epoch)) - 1
        return max(0, min(first, self.epochs_for(steps_per_epoch) - 1))

    def to_dict(self):
        """The fields as a plain JSON-serializable dict."""
        return dataclasses.asdict(self)


def resolve(presets, preset=None, **overrides):
    """Returns `presets[preset]` with every non-None override applied, validated.

    The one rule of every preset: an option given explicitly wins over the
    preset's value; None means "the preset's value".

    Args:
        presets: dict, preset name (or None) -> budget, e.g. `SEARCH_PRESETS`.
        preset: str or None, a key of `presets`.
        **overrides: fields of the budget.

    Returns:
        A new budget of the preset's class.

    Raises:
        ConfigError: an unknown preset or an invalid value.

    Example:
    >>> resolve(SEARCH_PRESETS, "quick", epochs=5).epochs
    5
    """
    if preset not in presets:
        names = ", ".join(p for p in presets if p is not None)
        raise invalid_value("preset", preset, f"one of {names}")
    base = presets[preset]
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = set(given) - {f.name for f in dataclasses.fields(base)}
    if unknown:
        raise TypeError(f"unknown budget fields: {sorted(unknown)}")
    return dataclasses.replace(base, **given)
