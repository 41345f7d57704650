"""Named budgets for `kregs tune` and `kregs study`: smoke, quick, paper."""

import dataclasses

from kregs.config import resolve_preset


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much work a run does.

    Attributes:
        algorithm: str, the KerasTuner algorithm.
        max_trials: int, trials at most (Hyperband: a cap on its brackets).
        epochs: int, epochs per trial at most (Hyperband: `max_epochs`).
        batch_size: int.
        limit: int or None, training images used (stratified subset).
        patience: int, early-stopping patience on val_loss.
        space: str, the HyperModel's search space.
    """

    algorithm: str = "hyperband"
    max_trials: int = 20
    epochs: int = 10
    batch_size: int = 64
    limit: int | None = None
    patience: int = 5
    space: str = "default"


PRESETS = {
    # No preset: a full search on the whole data set.
    None: Budget(),
    # Seconds: proves the machinery end to end on a small subset.
    "smoke": Budget(
        algorithm="random", max_trials=3, epochs=3, batch_size=64, limit=3000, patience=2
    ),
    # Minutes on a CPU: a few short trials on the whole training set.
    "quick": Budget(algorithm="hyperband", max_trials=6, epochs=3, batch_size=128, patience=3),
    # The study's protocol: its grid, batch 64, up to 50 epochs, patience 5.
    "paper": Budget(
        algorithm="grid", max_trials=40, epochs=50, batch_size=64, patience=5, space="paper"
    ),
}


def resolve(preset=None, **overrides):
    """Returns the `Budget` of `preset` with every non-None override applied.

    Args:
        preset: str or None, `"smoke"`, `"quick"` or `"paper"`.
        **overrides: `Budget` fields; None means "the preset's value".

    Returns:
        A `Budget`.
    """
    return resolve_preset(PRESETS, preset, **overrides)
