"""How much a `kregs tune` search does: `SearchBudget`, and its presets.

No TensorFlow here, so the command line can offer these choices at once.
"""

import dataclasses

from kregs.checks import check_positive_int
from kregs.dimensions import SPACE_NAMES
from kregs.errors import invalid_value
from kregs.run.budget import TrainingBudget, parse_duration
from kregs.tuner.folds import check_folds
from kregs.tuner.stopping import STOPS

ALGORITHMS = ("hyperband", "bayesian", "random", "grid")
PRUNINGS = ("none", "median", "asha")  # kregs.tuner.pruning
REFIT_STARTS = ("trial", "scratch")  # kregs.tuner.refit
# Algorithms that do not take pruning, and why.
UNPRUNED = {
    "hyperband": "which stops trials by its own rule (successive halving)",
    "bayesian": "whose model of the scores reads completed trials only",
}
SPACES = SPACE_NAMES
PRESET_NAMES = ("smoke", "quick", "paper")


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
        folds: "auto", 0 or an int >= 2: after the search, its control and best
            configurations are trained on that many folds of every training image and
            compared across them (`kregs.tuner.folds`); "auto": 5 where the validation
            split holds fewer than 2,000 images, else none.
        stop: "auto" or "never": with "auto" the search ends once it stops finding
            anything better (`kregs.tuner.stopping`), its time left to the refit.
    """

    # The defaults are `kregs tune`'s without a preset (SEARCH_PRESETS[None]).
    epochs: int = 15
    batch_size: int = 128
    patience: int = 4
    algorithm: str = "random"
    max_trials: int = 30
    space: str = "extended"
    trial_images: int | None = 20000
    refit: bool = True
    refit_from: str = "trial"
    baseline: bool = True
    pruning: str = "median"
    time_budget: float | None = 2400.0
    folds: object = "auto"
    stop: str = "auto"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "folds", check_folds(self.folds))
        if self.stop not in STOPS:
            raise invalid_value("stop", self.stop, f"one of {', '.join(STOPS)}")
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


SEARCH_PRESETS = {
    # No preset (the defaults above): 40 minutes for the control and as many configurations
    # as fit (30 at most), up to 15 epochs each on 20,000 images (long enough for the
    # unregularized control to over-fit), trials behind the median pruned, then the refit
    # on all 60,000. The extended space: why, BENCHMARKS.md ("Figures behind the defaults").
    None: SearchBudget(),
    # Seconds: proves the machinery end to end on a small subset.
    "smoke": SearchBudget(
        max_trials=3,
        epochs=3,
        batch_size=64,
        limit=3000,
        patience=2,
        space="default",
        trial_images=None,
        pruning="none",
        time_budget=None,
        refit=False,
        stop="never",
    ),
    # Ten minutes on a CPU: the control, the well-tried recipe and as many configurations
    # of the extended space as fit (20 at most), up to 10 epochs each on 10,000 images
    # (the unregularized model over-fits within them) in batches of 64 (the recipe's),
    # trials behind the median pruned, then the refit.
    "quick": SearchBudget(
        max_trials=20,
        epochs=10,
        batch_size=64,
        patience=3,
        trial_images=10000,
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
        trial_images=None,
        pruning="none",
        time_budget=None,
        refit_from="scratch",
        stop="never",
    ),
}
