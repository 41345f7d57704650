"""summary.md: the budget, the top trials, the control, the best model's test accuracy."""

import json

from kregs.config import BY_NAME, DIMENSIONS
from kregs.run.metrics import at_chance
from kregs.tuner import explain
from kregs.tuner.clock import REFIT_RESERVE
from kregs.tuner.trials_csv import format_value
from kregs.tuner.verdicts import ranked, search_rows
from kregs.verdicts import wilson


def top_table(rows, k=5):
    """A markdown table of the `k` completed trials with the best validation accuracy (and
    its 95% interval over the validation images)."""
    done = ranked(rows)
    lines = [
        "| rank | trial | config | l2 | dropout | batch_norm | learning_rate | val_accuracy "
        "[95% interval] | val_loss | gap | epochs | seconds | also |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rank, r in enumerate(done[:k], start=1):
        lines.append(
            f"| {rank} | {r['trial_id']} | {r['config']} | {format_value(r.get('l2'))} "
            f"| {format_value(r.get('dropout'))} | {format_value(r.get('batch_norm'))} "
            f"| {format_value(r.get('learning_rate'))} | {r['best_val_accuracy']:.4f}"
            f"{_interval(r)} "
            f"| {r['best_val_loss']:.4f} | {r['generalization_gap']:+.4f} | {r['epochs']} "
            f"| {r['seconds']:.1f} | {extended_values(r)} |"
        )
    return "\n".join(lines)


def _interval(row):
    low, high = row.get("val_accuracy_low"), row.get("val_accuracy_high")
    return "" if low is None else f" [{low:.4f}, {high:.4f}]"


# The dimensions with a column of their own in the top table; the others go to "also".
TABLE_DIMENSIONS = ("l2", "dropout", "batch_norm")


def extended_values(row):
    """The values of a trials.csv row, beyond the table's columns, that are not the defaults
    (and had an effect: no dropout, no placement).

    Example:
    >>> extended_values({"weight_decay": 0.01, "dropout": 0.3, "dropout_placement": "head"})
    'weight_decay 0.01, dropout_placement head'
    """
    parts = []
    for dim in DIMENSIONS:
        value = row.get(dim.name, dim.default)
        if dim.name in TABLE_DIMENSIONS or value in (None, dim.default):
            continue
        if all(need.holds(row.get(need.parent), BY_NAME[need.parent]) for need in dim.needs):
            parts.append(f"{dim.name} {format_value(value)}")
    return ", ".join(parts)


def failed_lines(rows, num_classes):
    """The trials at chance while right on most of their training images, named: a model
    that did not learn what it was measured on (`kregs.run.metrics.at_chance`)."""
    failed = [
        (r, why)
        for r in search_rows(rows)
        if r["status"] == "COMPLETED"
        and (why := at_chance(r["best_val_accuracy"], r["final_train_accuracy"], num_classes))
    ]
    return [f"- failed: trial {r['trial_id']} ({r['config']}), {why}" for r, why in failed]


def control_lines(record, verdicts):
    """summary.md's "Does regularization pay?": the control against the best regularized
    configuration, with its interval and what the interval covers."""
    entry = (verdicts or {}).get("regularization")
    if entry is None:
        return []
    control = (
        "The control is your model as given, tried first: kregs adds no penalty, dropout, BN "
        "or augmentation to it, and keeps any regularization of its own (see Model)."
        if record.get("model")
        else "The control is the unregularized model (no penalty, no dropout, no BN, no "
        "augmentation), tried first."
    )
    lines = ["## Does regularization pay?", "", control, "", f"- {entry['text']}"]
    if entry.get("note"):
        lines.append(f"- {entry['note']}")
    if "runner_up" in verdicts:
        lines.append(f"- {verdicts['runner_up']['text']}")
    return [*lines, "", *fold_lines(verdicts.get("folds"))]


def fold_lines(cross):
    """summary.md's cross-validation table: each configuration's accuracy on each fold."""
    if not cross:
        return []
    k = cross["k"]
    lines = [
        f"### Cross-validation ({k} folds of every training image)",
        "",
        "| trial | config | " + " | ".join(f"fold {f}" for f in range(k)) + " | mean | |",
        "|---|---|" + "---|" * (k + 2),
    ]
    for trial_id, c in cross["configs"].items():
        cells = [f"{c['folds'][str(f)]:.4f}" if str(f) in c["folds"] else "" for f in range(k)]
        mean = "" if c["mean"] is None else f"{c['mean']:.4f}"
        why = cross["pruned"].get(trial_id)
        mark = "the winner" if trial_id == cross["winner"] else (f"stopped: {why}" if why else "")
        lines.append(
            f"| {trial_id} | {c['config']} | " + " | ".join(cells) + f" | {mean} | {mark} |"
        )
    return [*lines, "", "The winner (best mean) is the configuration refit and exported.", ""]


def _device_line(device):
    mixed = " (mixed: float32 weights, statistics, softmax and loss)"
    return (
        f"- precision: {device.precision}{mixed if device.precision != 'float32' else ''}; "
        f"XLA {'on' if device.jit_compile else 'off'}; {device.threads} TensorFlow threads"
        + ("; oneDNN kernels" if device.onednn and not device.gpus else "")
        + (f"; {device.gpus} GPU{'s' if device.gpus != 1 else ''}" if device.gpus else "")
    )


def data_lines(info):
    """The data section of summary.md: where the images came from, their size, the splits.

    Args:
        info: dict, run.json's `data_info` (`DatasetInfo.to_dict()` and `counts`).
    """
    if not info:
        return []
    h, w, c = info["input_shape"]
    lines = [
        "## Data",
        "",
        f"- source: {info['source']}",
        f"- images: {h}x{w}, {c} channel{'s' if c != 1 else ''}; pixels: {info['pixels']}"
        + ("; streamed from the files (bigger than --max-memory)" if info.get("streamed") else ""),
        f"- classes: {info['num_classes']}",
    ]
    if info.get("held_out"):
        lines.append(
            f"- test split: {info['held_out']:g} of the training images, held out (stratified, "
            "the same images in every run): the data has no test split of its own"
        )
    lines += [f"- {note}" for note in info.get("notes", [])]
    counts = info.get("counts")
    if counts:
        names = info["class_names"]
        lines += ["", "| class | " + " | ".join(counts) + " |", "|---|" + "---|" * len(counts)]
        for i, name in enumerate(names):
            lines.append(f"| {name} | " + " | ".join(str(counts[s][i]) for s in counts) + " |")
        lines.append("| total | " + " | ".join(str(sum(v)) for v in counts.values()) + " |")
    return [*lines, ""]


def model_lines(record):
    """The model section of summary.md: your model (where it came from, what was adapted)."""
    model = record.get("model")
    if not model:
        return []
    weights = (
        "every trial starts from its weights (fine-tuning)"
        if model.get("init", "pretrained") == "pretrained"
        else "every trial starts from a new initialization"
    )
    lines = ["## Model", "", f"- {model['kind']}: {model['location']}; {weights}"]
    lines += [f"- {note}" for note in record.get("notes", [])]
    return [*lines, ""]


def refit_start_note(refit):
    """Where the refit's weights started: its trial's trained ones, or fresh ones."""
    if refit.get("start") == "trial":
        return f", starting from trial {refit['trial_id']}'s trained weights"
    return ", from fresh initial weights"


def _budget_lines(record, replicas):
    lines = [
        f"- algorithm: {record['algorithm']}, space: {record['space']}, arch: {record['arch']}",
        f"- budget: max {record['max_trials']} trials, up to {record['epochs']} epochs, "
        f"batch {record['batch_size']}, early-stopping patience {record['patience']}, "
        f"training images: {record['limit'] or 'all'}"
        + (f" ({record['trial_images']} per trial)" if record.get("trial_images") else ""),
        f"- learning rate: warm-up and cosine decay over each trial's epoch budget; "
        f"control first: {'yes' if record.get('baseline') else 'no'}; "
        f"refit: {refit_line(record)}",
        f"- seed: {record['seed']}",
        f"- pruning: {record.get('pruning') or 'none'}; time budget: "
        + (duration(record["time_budget"]) if record.get("time_budget") else "none")
        + f"; folds: {record.get('folds', 0)}; stop: {record.get('stop', 'never')}",
    ]
    if replicas > 1:
        lines.append(
            f"- strategy: {replicas} replicas per trial, global batch "
            f"{replicas * record['batch_size']} ({record['batch_size']} per replica)"
        )
    return lines


def duration(seconds):
    """`seconds` as minutes and seconds, e.g. "10m 0s" (under a minute: "42s").

    Example:
    >>> duration(600)
    '10m 0s'
    """
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m {rest}s" if minutes else f"{rest}s"


# What to do when a time budget held the control alone (summary.md and `kregs tune`).
ONLY_THE_CONTROL = (
    "no regularized configuration fitted in the time budget, only the control: run the same "
    "command with a longer --time-budget to go on (its trials are kept), or start afresh "
    "with fewer --trial-images"
)


def held_only_the_control(timing, rows):
    """Whether a time budget stopped the search with the control as its only trial (then
    `ONLY_THE_CONTROL` says what to do): summary.md and `kregs tune` ask this one rule.

    Args:
        timing: dict or None, how the time was spent (`TimeBudget.report`).
        rows: list of trials.csv rows.
    """
    refused = ((timing or {}).get("clock") or {}).get("refused")
    return bool(timing and timing.get("budget") and refused and rows) and all(
        r["config"] == "none" for r in rows
    )


def time_lines(timing, rows):
    """summary.md's "Time" section: the budget, and how the run's time was spent."""
    if not timing:
        return []
    pruned = [r for r in rows if r["status"] == "PRUNED"]
    folds = len(rows) - len(search_rows(rows))
    lines = ["## Time", ""]
    if timing.get("budget"):
        clock = timing.get("clock") or {}
        lines.append(
            f"- budget: {duration(timing['budget'])} for the search, the refit, the test "
            "and the export"
            + (
                f" ({duration(clock['spent_before'])} spent before a resume)"
                if clock.get("spent_before")
                else ""
            )
        )
        if clock.get("stop_reason"):
            lines.append(
                f"- the search stopped at {duration(clock['search_ended'])} (--stop auto): "
                f"{clock['stop_reason']}; the time left went to the "
                + ("folds and the refit" if folds else "refit")
            )
        elif clock.get("refused"):
            lines.append(
                f"- the search stopped at {duration(clock['search_ended'])}: after one more "
                f"trial the refit would not have had its epochs ({REFIT_RESERVE:g}x the best "
                "trial's, once the recipe and any control have run) before the deadline"
            )
            if held_only_the_control(timing, rows):
                lines.append(f"- {ONLY_THE_CONTROL}")
    if timing.get("search") is not None:
        lines.append(
            f"- search: {duration(timing['search'])} ({len(rows) - folds} trials"
            + (f"), then {folds} fold trials (" if folds else ", ")
            + f"{duration(timing['trials'])} training them all)"
        )
    if pruned:
        epochs = ", ".join(str(r["pruned_epoch"]) for r in pruned)
        lines.append(
            f"- pruning ({timing.get('pruning')}): {len(pruned)} trials stopped early, after "
            f"epochs {epochs}"
        )
    if timing.get("refit") is not None:
        lines.append(f"- refit: {duration(timing['refit'])}")
    lines.append(f"- whole run: {duration(timing['total'])} (to this summary)")
    return [*lines, ""]


def summary_markdown(
    record,
    rows,
    best,
    test,
    replicas=1,
    device=None,
    refit=None,
    importance=None,
    deployed=None,
    timing=None,
    verdicts=None,
):
    """The text of summary.md.

    Args:
        record: dict, the run's configuration (run.json).
        rows: list of trials.csv rows.
        best: dict or None, `{"trial_id", "config", "hyperparameters"}` of the best trial.
        test: dict or None, `{"accuracy", "loss", "images"}` of the best model on the test set.
        replicas: int, model replicas per trial.
        device: the `kregs.run.device.Device` the trials ran on, or None.
        refit: dict or None, the refit's record (`kregs.tuner.refit.refit`).
        importance: `kregs.tuner.explain.importance(rows)`, or None.
        deployed: `kregs.deploy.DeployResult` or None (`--export-format`).
        timing: dict or None, how the time was spent (`Search.timing`).
        verdicts: dict or None, the run's comparisons (`kregs.tuner.verdicts.comparisons`).
    """
    statuses = {}
    for r in search_rows(rows):
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(statuses.items()))
    folds = len(rows) - len(search_rows(rows))
    info = record.get("data_info") or {}
    lines = [
        f"# kregs tune: {info.get('name', record['dataset'])}",
        "",
        *_budget_lines(record, replicas),
        *([_device_line(device)] if device is not None else []),
        f"- trials: {len(rows) - folds} ({counts or 'none'})"
        + (f", and {folds} fold trials (cross-validation)" if folds else ""),
        *failed_lines(rows, info.get("num_classes", 0)),
        "",
        *data_lines(info),
        *model_lines(record),
        "## Top 5 by validation accuracy",
        "",
        "Each trial's numbers are those of its best epoch: the one early stopping restored "
        "(lowest validation loss); gap is training minus validation accuracy there.",
        "",
        top_table(rows),
        "",
    ]
    lines += control_lines(record, verdicts)
    lines += best_lines(best, test, refit, verdicts)
    if deployed is not None:
        from kregs.deploy import report_section

        lines += [*report_section(deployed), ""]
    lines += [*time_lines(timing, rows), *explain.markdown(search_rows(rows), importance), ""]
    return "\n".join(lines)


def best_lines(best, test, refit, verdicts=None):
    """summary.md's "Best model": its trial, test accuracy, and the refit's against it."""
    if best is None:
        return []
    lines = [
        "## Best model",
        "",
        f"- trial {best['trial_id']}: {best['config']}",
        f"- hyperparameters: `{json.dumps(best['hyperparameters'], sort_keys=True)}`",
    ]
    if test is not None:
        low, high = wilson(round(test["accuracy"] * test["images"]), test["images"])
        lines.append(
            f"- test accuracy: {test['accuracy']:.4f} [95% interval {low:.4f}, {high:.4f}] "
            f"(loss {test['loss']:.4f}, {test['images']} test images, measured once after "
            "the search)"
        )
    if refit is not None:
        t = refit["test"]
        lines.append(
            f"- refit on {refit['images']} images (training and validation) for "
            f"{refit['epochs']} epochs{refit_epochs_note(refit)}"
            f"{refit_start_note(refit)} ({refit['seconds']:.0f} s): test accuracy "
            f"{t['accuracy']:.4f} (loss {t['loss']:.4f}); this is the model exported"
        )
    if (verdicts or {}).get("refit"):
        lines.append(f"- {verdicts['refit']['text']}")
    return [*lines, ""]


def refit_epochs_note(refit):
    """Why the refit trained the epochs it did, where they are not the best trial's."""
    planned = refit.get("planned_epochs", refit["epochs"])
    first = refit.get("first_plan", refit["epochs"])
    if first != refit["epochs"]:  # re-planned from its own pace (`kregs.tuner.refit.paced`)
        return (
            f" (the best trial's {planned}; {first} planned for the time left, "
            f"{refit['epochs']} once its own pace was known)"
        )
    if planned != refit["epochs"]:
        return f" (the best trial's {planned}; the time budget gave it {refit['epochs']})"
    return ""


def refit_line(record):
    """The budget's refit: none, or where it starts from."""
    if not record.get("refit"):
        return "no"
    return (
        "from the best trial's weights" if record.get("refit_from") == "trial" else "from scratch"
    )
