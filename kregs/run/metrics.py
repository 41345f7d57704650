"""One Keras history -> one row of numbers, with one definition of the best epoch.

**The best epoch** of a training run is the first epoch with the lowest
finite validation loss (a NaN loss never counts). kregs trains every model with
`kregs.callbacks.BestEpoch`, which restores exactly that epoch's weights at the
end of training (a tuning trial adds one itself if its callbacks lack it), so
the model that is kept, tested and exported is that epoch's. Every number "at
the best epoch" in trials.csv and study.csv is read there.
"""

import math
import statistics

HISTORY_KEYS = ("accuracy", "val_accuracy", "loss", "val_loss", "epoch_seconds")
# Training accuracy on unmixed images, where MixUp/CutMix mix the training batches
# (`kregs.GeneralizationGap`): then the training accuracy of every record.
UNMIXED = "unmixed_accuracy"


def train_accuracy(history):
    """The training-accuracy series of a history: on unmixed images where the training
    batches were mixed (`unmixed_accuracy`), else Keras' `accuracy`."""
    return history.get(UNMIXED) or history.get("accuracy", [])


def best_epoch(history):
    """The 0-based index of the best epoch (whose weights `BestEpoch` restored), or None.

    An epoch is the new best only when its loss is finite and strictly lower
    than the best so far: ties keep the earlier epoch; None without a finite
    val_loss. Epochs a history marks as no candidates (`best_candidate` 0: before
    `BestEpoch`'s `start_from_epoch`) are passed over.

    Example:
    >>> best_epoch({"val_loss": [0.5, 0.3, 0.3, 0.4]})
    1
    """
    best = None
    candidate = history.get("best_candidate")  # (epochs before BestEpoch's start_from_epoch)
    for i, value in enumerate(history.get("val_loss", [])):
        if candidate is not None and i < len(candidate) and not candidate[i]:
            continue
        if math.isfinite(value) and (best is None or value < history["val_loss"][best]):
            best = i
    return best


def steady_epoch_seconds(times):
    """Median epoch time, leaving out the first epoch (tracing, compilation) when there are more.

    Example:
    >>> steady_epoch_seconds([9.0, 2.0, 4.0])
    3.0
    """
    times = list(times[1:] if len(times) > 1 else times)
    return round(statistics.median(times), 3) if times else None


def diverged_epoch(history):
    """The first epoch (1-based) whose training loss is not finite, or None."""
    return next(
        (i + 1 for i, v in enumerate(history.get("loss", [])) if not math.isfinite(v)), None
    )


def history_row(history):
    """The numbers of one training run, read off its Keras history.

    Args:
        history: dict, `History.history` (a list per metric), with the
            `accuracy`, `loss`, `val_accuracy`, `val_loss` and (from
            `kregs.EpochTime`) `epoch_seconds` series.

    Returns:
        dict with
        - `best_epoch`: 1-based, the epoch early stopping restored (see above);
        - `best_val_accuracy`, `best_val_loss`: validation accuracy and loss there;
        - `best_train_accuracy`: training accuracy there (measured by Keras
          during the epoch, with dropout on; on unmixed images after the epoch
          where MixUp/CutMix mixed them: `train_accuracy`);
        - `generalization_gap`: `best_train_accuracy - best_val_accuracy`;
        - `final_train_accuracy`: training accuracy of the last epoch run;
        - `epochs`: epochs run; `seconds_per_epoch`: `steady_epoch_seconds`;
        - `diverged_epoch`: see `diverged_epoch`.
        A value that the history cannot give is None.

    Example:
    >>> row = history_row({"val_loss": [0.4, 0.3], "val_accuracy": [0.8, 0.75],
    ...                    "accuracy": [0.7, 1.0], "loss": [0.6, 0.2]})
    >>> row["best_epoch"], row["generalization_gap"]
    (2, 0.25)
    """
    best = best_epoch(history)

    def at(name, i):
        values = history.get(name, [])
        return float(values[i]) if i is not None and i < len(values) else None

    accuracy = train_accuracy(history)
    train = float(accuracy[best]) if best is not None and best < len(accuracy) else None
    val = at("val_accuracy", best)
    loss = history.get("loss", [])
    return {
        "best_epoch": best + 1 if best is not None else None,
        "best_val_accuracy": val,
        "best_val_loss": at("val_loss", best),
        "best_train_accuracy": train,
        "generalization_gap": train - val if train is not None and val is not None else None,
        "final_train_accuracy": float(accuracy[-1]) if accuracy else None,
        "epochs": len(loss),
        "seconds_per_epoch": steady_epoch_seconds(history.get("epoch_seconds", [])),
        "diverged_epoch": diverged_epoch(history),
    }


def curves(history):
    """The per-epoch series kept in a run's record (for learning curves), as floats;
    with `best_candidate` where early stopping passed over its first epochs, so that
    `best_epoch` of the record names the epoch that was restored."""
    keys = HISTORY_KEYS + tuple(k for k in (UNMIXED, "best_candidate") if history.get(k))
    return {k: [float(v) for v in history.get(k, [])] for k in keys}


def at_chance(accuracy, train_accuracy, num_classes):
    """Why a run failed, or "": a model at chance on held-out images (within half of
    chance again) while right on most of its training images (at least half, and three
    times chance) did not learn what it was measured on (BN's statistics restored before
    they settled, a model that diverged after its best epoch): such a run is named and
    kept out of the means, not averaged into a verdict.

    Example:
    >>> at_chance(0.0967, 0.91, 10)
    'at chance (9.67% with 10 classes) while right on 91.0% of its training images'
    """
    if accuracy is None or train_accuracy is None or num_classes < 2:
        return ""
    chance = 1 / num_classes
    if accuracy <= 1.5 * chance and train_accuracy >= max(0.5, 3 * chance):
        return (
            f"at chance ({100 * accuracy:.2f}% with {num_classes} classes) while right on "
            f"{100 * train_accuracy:.1f}% of its training images"
        )
    return ""
