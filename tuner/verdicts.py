"""What `kregs tune` compares, each comparison with its uncertainty (`kregs.verdicts`).

- **regularization**: the control (trial 0: no regularization, or your model as given)
  against the best regularized configuration. On the validation images of one split
  (paired, per image), or across folds where the run cross-validated them
  (`kregs.tuner.folds`: the corrected resampled t-test, which also covers training).
- **runner-up**: the best trial against the second best, on the validation images (or
  across folds, where the run cross-validated: the winner is then the best mean).
- **refit**: the refit model against the search's best model, on the test images.

Each is a dict (run.json's `verdicts`) with its `text` (summary.md and the command line).
No TensorFlow here.
"""

from kregs.verdicts import IMAGES_SCOPE, paired, unpack

FOLD = "cv/fold"  # the hyperparameter that marks a fold trial (`kregs.tuner.folds`)


def search_rows(rows):
    """The rows of the search's own trials (not the folds of a cross-validation)."""
    return [r for r in rows if r.get(FOLD) in (None, "")]


def ranked(rows):
    """The search's completed trials, best validation accuracy first."""
    done = [
        r
        for r in search_rows(rows)
        if r["status"] == "COMPLETED" and r["best_val_accuracy"] is not None
    ]
    return sorted(done, key=lambda r: -r["best_val_accuracy"])


def control_and_best(rows):
    """`(control row, best regularized row)` of the search; either None where missing."""
    done = ranked(rows)
    plain = sorted((r for r in done if r["config"] == "none"), key=lambda r: int(r["trial_id"]))
    control = plain[0] if plain else None
    best = next((r for r in done if r["config"] != "none"), None)
    return control, best


def describe(row):
    """`trial 3 (l2+dropout+bn, val_acc 0.9214)`."""
    return f"trial {row['trial_id']} ({row['config']}, val_acc {row['best_val_accuracy']:.4f})"


def comparisons(rows, outcomes, test=None, refit=None, cross=None, images=None):
    """The run's comparisons (see the module's docstring), those it has the data for.

    Args:
        rows: list of trials.csv rows.
        outcomes: dict trial id -> bool array, each trial's per-image validation outcomes.
        test: dict or None, the search's best model on the test set (`correct` in it).
        refit: dict or None, the refit's record (`test.correct` in it).
        cross: dict or None, the cross-validation's result
            (`kregs.tuner.folds.CrossValidation.result`).
        images: int or None, the run's training images (training and validation), for
            the advice to cross-validate.

    Returns:
        dict name -> dict (the comparison's fields, `what`, `text`, `note`).
    """
    found = {}
    control, best = control_and_best(rows)
    if cross and cross.get("regularization"):
        found["regularization"] = cross["regularization"]
    elif control and best and control["trial_id"] in outcomes and best["trial_id"] in outcomes:
        result = paired(outcomes[control["trial_id"]], outcomes[best["trial_id"]])
        what = f"regularization, {describe(best)} against the control, {describe(control)}"
        found["regularization"] = _entry(
            result, what, "validation images", _advice(result.n, images)
        )
    done = ranked(rows)
    if cross and cross.get("runner_up"):
        found["runner_up"] = cross["runner_up"]
    elif len(done) >= 2 and all(r["trial_id"] in outcomes for r in done[:2]):
        result = paired(outcomes[done[1]["trial_id"]], outcomes[done[0]["trial_id"]])
        what = f"the best, {describe(done[0])}, against the runner-up, {describe(done[1])}"
        found["runner_up"] = _entry(result, what, "validation images")
    if test and refit and test.get("correct") and refit["test"].get("correct"):
        n = test["images"]
        result = paired(unpack(test["correct"], n), unpack(refit["test"]["correct"], n))
        what = "the refit against the search's model"
        found["refit"] = _entry(result, what, "test images")
    return found


def _entry(result, what, images, note=""):
    return {**result.to_dict(), "what": what, "text": result.text(what, images), "note": note}


def _advice(validation, images):
    """What the interval leaves out, and what would cover it."""
    scope = IMAGES_SCOPE[0].upper() + IMAGES_SCOPE[1:]
    if images and validation < 2000:
        return (
            f"{scope}; --folds 5 would train the control and the best configurations on "
            f"all {images:,} training images, fold by fold, and cover training too."
        )
    return f"{scope}; more seeds (kregs study) would cover training too."
