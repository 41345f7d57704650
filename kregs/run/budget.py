"""How much a run trains: the budgets of `kregs tune` and `kregs study`, and their presets.

One validation for every budget: a budget that exists is one a run can use.
No TensorFlow here, so the command line can offer these choices at once.
"""

import dataclasses
import re

from kregs.checks import check_learning_rate, check_positive_int
from kregs.dimensions import SPACE_NAMES
from kregs.errors import invalid_value

ALGORITHMS = ("hyperband", "bayesian", "random", "grid")
PRUNINGS = ("none", "median", "asha")  # kregs.tuner.pruning
REFIT_STARTS = ("trial", "scratch")  # kregs.tuner.refit
# Algorithms that do not take pruning, and why.
UNPRUNED = {
    "hyperband": "which stops trials by its own rule (successive halving)",
    "bayesian": "whose model of the scores reads completed trials only",
}
_UNITS = {"s": 1, "m": 60, "h": 3600}
SPACES = SPACE_NAMES
PRESET_NAMES = ("smoke", "quick", "paper")
STUDY_PRESET_NAMES = ("smoke", "quick", "overfit", "paper")
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
    seconds = sum(float(n) * _UNITS[u or "s"] for n, u in parts)
    if not parts or seconds <= 0:
        raise invalid_value("time_budget", text, "a duration such as 90s, 10m, 1h or 1h30m")
    return seconds


@dataclasses.dataclass(frozen=True)
class TrainingBudget:
    """What every run trains for: the part of a budget that tune and study share.

    Attributes:
        epochs: int >= 1, epochs per model at most.
        batch_size: int >= 1.
        limit: int >= 1 or None, training images used (a stratified subset,
            taken before the validation split); None means all.
        patience: int >= 1, early-stopping patience on val_loss (best weights restored).
    """

    epochs: int = 10
    batch_size: int = 64
    limit: int | None = None
    patience: int = 5

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience"):
            check_positive_int(getattr(self, name), name)
        if self.limit is not None:
            check_positive_int(self.limit, "limit")

    def to_dict(self):
        """The fields as a plain JSON-serializable dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SearchBudget(TrainingBudget):
    """How much a `kregs tune` search does.

    Attributes (besides `TrainingBudget`'s):
        algorithm: str, the KerasTuner algorithm, one of `ALGORITHMS`.
        max_trials: int >= 1, trials at most (Hyperband: a cap on its brackets;
            `epochs` is its `max_epochs`).
        space: str, the HyperModel's search space, one of `SPACES`.
        trial_images: int >= 1 or None, the training images each trial trains
            on (a stratified subset: the search's low fidelity); every trial is
            judged on the whole validation split. None: all.
        refit: bool, after the search, train the best configuration again on
            every training image (validation split included) for its best
            number of epochs; that model is tested and exported.
        refit_from: str, one of `REFIT_STARTS`: the refit starts from the best
            trial's trained weights ("trial": a head start worth the trial's
            epochs on its images) or from fresh initial weights ("scratch").
        baseline: bool, the first configuration the search tries is the
            unregularized model (no L2, no dropout, no BN): its control.
        pruning: str, one of `PRUNINGS`: stop a trial whose validation accuracy falls
            behind the earlier trials' at the same epoch (`kregs.tuner.pruning`).
            "none" with hyperband and bayesian (`UNPRUNED`).
        time_budget: float > 0 or None, seconds for the whole run (search, refit, test,
            export): no trial starts that cannot end in time, and the refit's epochs
            fit what is left (`kregs.tuner.clock`). None: no bound.
    """

    algorithm: str = "hyperband"
    max_trials: int = 20
    space: str = "default"
    trial_images: int | None = None
    refit: bool = True
    refit_from: str = "trial"
    baseline: bool = True
    pruning: str = "none"
    time_budget: float | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.pruning not in PRUNINGS:
            raise invalid_value("pruning", self.pruning, f"one of {', '.join(PRUNINGS)}")
        if self.pruning != "none" and self.algorithm in UNPRUNED:
            raise invalid_value(
                "pruning",
                self.pruning,
                f"none with --algorithm {self.algorithm}, {UNPRUNED[self.algorithm]}",
            )
        if self.time_budget is not None:
            if isinstance(self.time_budget, str):
                object.__setattr__(self, "time_budget", parse_duration(self.time_budget))
            if isinstance(self.time_budget, bool) or not (
                isinstance(self.time_budget, (int, float)) and self.time_budget > 0
            ):
                raise invalid_value("time_budget", self.time_budget, "seconds > 0, or None")
        if self.refit_from not in REFIT_STARTS:
            raise invalid_value("refit_from", self.refit_from, f"one of {', '.join(REFIT_STARTS)}")
        if self.algorithm not in ALGORITHMS:
            raise invalid_value("algorithm", self.algorithm, f"one of {', '.join(ALGORITHMS)}")
        if self.space not in SPACES:
            raise invalid_value("space", self.space, f"one of {', '.join(SPACES)}")
        check_positive_int(self.max_trials, "max_trials")
        if self.trial_images is not None:
            check_positive_int(self.trial_images, "trial_images")
        for name in ("refit", "baseline"):
            if not isinstance(getattr(self, name), bool):
                raise invalid_value(name, getattr(self, name), "True or False")


@dataclasses.dataclass(frozen=True)
class StudyBudget(TrainingBudget):
    """How much each run of `kregs study` trains.

    Attributes (besides `TrainingBudget`'s):
        test_limit: int >= 1 or None, test images used (a stratified subset);
            None means the whole test set.
        learning_rate: float in (0, 1), Adam's learning rate, fixed as in the study.
    """

    epochs: int = 30
    test_limit: int | None = None
    learning_rate: float = DEFAULT_LEARNING_RATE

    def __post_init__(self):
        super().__post_init__()
        if self.test_limit is not None:
            check_positive_int(self.test_limit, "test_limit")
        object.__setattr__(self, "learning_rate", check_learning_rate(self.learning_rate))


SEARCH_PRESETS = {
    # No preset: 40 minutes for the control and as many configurations as fit (30 at
    # most), up to 15 epochs each on 20,000 images (long enough for the unregularized
    # control to over-fit), trials behind the median pruned, then the refit on all
    # 60,000. The extended space: why, BENCHMARKS.md ("Figures behind the defaults").
    None: SearchBudget(
        algorithm="random",
        max_trials=30,
        epochs=15,
        batch_size=128,
        patience=4,
        trial_images=20000,
        space="extended",
        pruning="median",
        time_budget=2400.0,
    ),
    # Seconds: proves the machinery end to end on a small subset.
    "smoke": SearchBudget(
        algorithm="random",
        max_trials=3,
        epochs=3,
        batch_size=64,
        limit=3000,
        patience=2,
        refit=False,
    ),
    # Ten minutes on a CPU: the control, the well-tried recipe and as many configurations
    # of the extended space as fit (20 at most), up to 10 epochs each on 10,000 images
    # (the unregularized model over-fits within them) in batches of 64 (the recipe's),
    # trials behind the median pruned, then the refit.
    "quick": SearchBudget(
        algorithm="random",
        max_trials=20,
        epochs=10,
        batch_size=64,
        patience=3,
        trial_images=10000,
        space="extended",
        pruning="median",
        time_budget=600.0,
    ),
    # The study's protocol: its grid, batch 64, up to 50 epochs, patience 5; the refit
    # trains the best configuration again from scratch, as its trial did.
    "paper": SearchBudget(
        algorithm="grid",
        max_trials=40,
        epochs=50,
        batch_size=64,
        patience=5,
        space="paper",
        refit_from="scratch",
    ),
}

STUDY_PRESETS = {
    # No preset: the study's protocol with a shorter epoch cap.
    None: StudyBudget(),
    # Seconds per run: proves the machinery end to end.
    "smoke": StudyBudget(epochs=2, batch_size=64, limit=1000, test_limit=2000, patience=2),
    # About a minute per run on a CPU: 24 runs in well under an hour on 2 cores.
    "quick": StudyBudget(epochs=5, batch_size=128, limit=10000, patience=3),
    # The over-fitting regime on a CPU: 5,400 training images, up to 40 epochs, patience 5
    # (why 5,400: BENCHMARKS.md, "Figures behind the defaults").
    "overfit": StudyBudget(epochs=40, batch_size=128, limit=6000, patience=5),
    # The study's protocol: batch 64, up to 50 epochs, patience 5, all the data.
    "paper": StudyBudget(epochs=50, batch_size=64, patience=5),
}


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
