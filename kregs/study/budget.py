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
