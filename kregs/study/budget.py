"""How much each run of `kregs study` trains: `StudyBudget`, and its presets.

No TensorFlow here, so the command line can offer these choices at once.
"""

import dataclasses

from kregs.checks import check_learning_rate, check_positive_int
from kregs.run.budget import DEFAULT_LEARNING_RATE, TrainingBudget

STUDY_PRESET_NAMES = ("smoke", "quick", "overfit", "paper")


@dataclasses.dataclass(frozen=True)
class StudyBudget(TrainingBudget):
    """How much each run of `kregs study` trains.

    The presets size a run in optimizer steps (`steps`), not epochs, and keep no epoch
    before `min_steps` steps as the best (`TrainingBudget`).

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


# The presets in optimizer steps (`steps`): on Fashion-MNIST the epochs below; a smaller data
# set trains as many more epochs as its models need to take as many steps (a folder of 1,347
# digits, 11 steps an epoch at batch 128: 33 epochs at most in `quick`). No epoch before
# `min_steps` steps is kept as the best (BN's statistics settle first).
STUDY_PRESETS = {
    # No preset: the study's protocol with a shorter cap (30 epochs of 54,000 images).
    None: StudyBudget(steps=25320, min_steps=100),
    # Seconds per run: proves the machinery end to end (2 epochs of 900 images).
    "smoke": StudyBudget(
        epochs=2, steps=30, batch_size=64, limit=1000, test_limit=2000, patience=2, min_steps=20
    ),
    # About a minute per run on a CPU: 24 runs in well under an hour on 2 cores (5 epochs of
    # 9,000 images).
    "quick": StudyBudget(
        epochs=5, steps=355, batch_size=128, limit=10000, patience=3, min_steps=100
    ),
    # The over-fitting regime on a CPU: 5,400 training images, up to 40 epochs, patience 5
    # (why 5,400: BENCHMARKS.md, "Figures behind the defaults").
    "overfit": StudyBudget(
        epochs=40, steps=1720, batch_size=128, limit=6000, patience=5, min_steps=100
    ),
    # The study's protocol: batch 64, up to 50 epochs, patience 5, all the data.
    "paper": StudyBudget(epochs=50, steps=42200, batch_size=64, patience=5, min_steps=100),
}
