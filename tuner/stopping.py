"""`--stop auto`: a search that stops when it has stopped finding anything better.

A time budget lets a search run to its end even when the best configuration was found
many trials ago. With `--stop auto` the oracle hands out no new trial once the last
`PATIENCE` trials of the search (after its first configurations) all fell short of the
best trial's validation noise: none came within the 95% interval of the best validation
accuracy (Wilson's, over the validation images). What improvement is still to be expected
is then smaller than what the validation split can tell apart; the time left goes to the
refit (and to the folds of a cross-validation). Optuna's `Terminator` (Makarova et al.
2022) weighs the same two quantities with a Gaussian-process bound on the regret, which
has little to stand on with the handful of trials a CPU runs; this rule is measured
against `--stop never` in `bench/stopping.py`. No TensorFlow here.
"""

from kregs.verdicts import wilson

STOPS = ("auto", "never")
PATIENCE = 6  # trials in a row that did not come within the best's interval


def why_stop(ended, validation_images, first_trials=0, patience=PATIENCE):
    """Why the search should stop now, or None.

    Args:
        ended: list of `(trial id, validation accuracy or None)`, the search's trials in
            the order they ended (None: pruned or failed, short of everything).
        validation_images: int, the images each accuracy was measured on.
        first_trials: int, the first configurations (the control, the recipe): the rule
            waits for `patience` trials after them.
        patience: int.

    Example:
    >>> ended = [("0", 0.90), ("1", 0.92), ("2", 0.85), ("3", 0.86), ("4", 0.88),
    ...          ("5", None), ("6", 0.87), ("7", 0.89)]
    >>> why_stop(ended, 6000, first_trials=2)
    "none of the last 6 trials came within trial 1's validation accuracy 0.9200 and its 95% \
interval [0.9129, 0.9266] (6,000 images)"
    """
    scores = [s for _, s in ended]
    found = [(i, s) for i, s in enumerate(scores) if s is not None]
    if len(ended) < first_trials + patience or not found:
        return None
    best_index, best = max(found, key=lambda pair: pair[1])
    if best_index >= len(ended) - patience:
        return None  # the best is one of them: still finding
    low, high = wilson(round(best * validation_images), validation_images)
    if any(s is not None and s >= low for s in scores[-patience:]):
        return None
    return (
        f"none of the last {patience} trials came within trial {ended[best_index][0]}'s "
        f"validation accuracy {best:.4f} and its 95% interval [{low:.4f}, {high:.4f}] "
        f"({validation_images:,} images)"
    )
