"""The run's records: `trials.csv` and `summary.md`, rebuilt from KerasTuner's own state."""

import csv
import io
import json
import math

from kregs.files import (  # noqa: F401 (re-exported)
    default_output,
    read_json,
    write_atomic,
    write_json,
)

HP_COLUMNS = ("l2", "dropout", "batch_norm", "learning_rate")
RESULT_COLUMNS = (
    "best_val_accuracy",
    "best_val_loss",
    "final_train_accuracy",
    "generalization_gap",
    "epochs",
    "seconds",
    "seconds_per_epoch",
    "rss_mb",
    "peak_rss_mb",
)
EXTRAS_FILE = "kregs_trial.json"  # per trial, beside KerasTuner's trial.json


def trial_extras(history, seconds, memory, objective="val_accuracy"):
    """Summarises one trial's Keras history into the numbers trials.csv reports.

    Args:
        history: dict, `History.history` (lists per metric).
        seconds: float, wall time of the trial.
        memory: dict with `rss_mb` (resident memory now) and `peak_rss_mb`.
        objective: str, the metric whose best epoch is the trial's result.

    Returns:
        dict with the `RESULT_COLUMNS` and `diverged_epoch` (1-based, or None).
    """
    loss = history.get("loss", [])
    diverged = next((i + 1 for i, v in enumerate(loss) if not math.isfinite(v)), None)
    val_acc = history.get(objective, [])
    best = max(range(len(val_acc)), key=lambda i: val_acc[i]) if val_acc else None
    train_acc = history.get("accuracy", [])

    def at(name, i):
        values = history.get(name, [])
        return float(values[i]) if i is not None and i < len(values) else None

    return {
        "best_val_accuracy": at(objective, best),
        "best_val_loss": min(history["val_loss"]) if history.get("val_loss") else None,
        "final_train_accuracy": float(train_acc[-1]) if train_acc else None,
        "generalization_gap": (
            at("accuracy", best) - at(objective, best)
            if at("accuracy", best) is not None and best is not None
            else None
        ),
        "epochs": len(loss),
        "seconds": round(seconds, 2),
        "seconds_per_epoch": _steady_epoch_seconds(history.get("epoch_seconds", [])),
        "rss_mb": round(memory["rss_mb"], 1),
        "peak_rss_mb": round(memory["peak_rss_mb"], 1),
        "diverged_epoch": diverged,
    }


def _steady_epoch_seconds(times):
    """Median epoch time, leaving out the first epoch (tracing, compilation) when there are more."""
    times = sorted(times[1:] if len(times) > 1 else times)
    if not times:
        return None
    mid = len(times) // 2
    median = times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2
    return round(median, 3)


def failure_reason(message):
    """The last line of KerasTuner's traceback text: `"ErrorType: what happened"`."""
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def trial_row(trial, effective, extras):
    """One trials.csv row for a KerasTuner `Trial`.

    Args:
        trial: the `keras_tuner.engine.trial.Trial`.
        effective: dict with `config` (the RegConfig name) and the values in
            force of `HP_COLUMNS` (0 for a technique switched off, fixed values too).
        extras: dict from `trial_extras`, or None.
    """
    row = {"trial_id": trial.trial_id, "status": trial.status}
    row.update(trial.hyperparameters.values)
    row.update(effective)
    row.update({k: (extras or {}).get(k) for k in RESULT_COLUMNS})
    row["error"] = failure_reason(trial.message) if trial.status != "COMPLETED" else ""
    return row


def columns(rows):
    """Fixed columns first, then any other hyperparameter (e.g. Hyperband's), sorted."""
    fixed = ["trial_id", "status", "config", *HP_COLUMNS]
    tail = [*RESULT_COLUMNS, "error"]
    other = sorted({k for row in rows for k in row} - set(fixed) - set(tail))
    return fixed + other + tail


def _fmt(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_trials_csv(path, rows):
    """Writes every trial, one row each, in trial order."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r["trial_id"]):
        writer.writerow({k: _fmt(row.get(k)) for k in writer.fieldnames})
    write_atomic(path, out.getvalue())


def top_table(rows, k=5):
    """A markdown table of the `k` completed trials with the best validation accuracy."""
    done = [r for r in rows if r["status"] == "COMPLETED" and r["best_val_accuracy"] is not None]
    done.sort(key=lambda r: -r["best_val_accuracy"])
    lines = [
        "| rank | trial | config | l2 | dropout | batch_norm | learning_rate | val_accuracy "
        "| val_loss | gap | epochs | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rank, r in enumerate(done[:k], start=1):
        lines.append(
            f"| {rank} | {r['trial_id']} | {r['config']} | {_fmt(r.get('l2'))} "
            f"| {_fmt(r.get('dropout'))} | {_fmt(r.get('batch_norm'))} "
            f"| {_fmt(r.get('learning_rate'))} | {r['best_val_accuracy']:.4f} "
            f"| {r['best_val_loss']:.4f} | {r['generalization_gap']:+.4f} | {r['epochs']} "
            f"| {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def summary_markdown(run, rows, best, test):
    """The text of summary.md.

    Args:
        run: dict, the run's configuration (run.json).
        rows: list of trials.csv rows.
        best: dict or None, `{"trial_id", "config", "hyperparameters"}` of the best trial.
        test: dict or None, `{"accuracy", "loss", "images"}` of the best model on the test set.
    """
    statuses = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(statuses.items()))
    lines = [
        f"# kregs tune: {run['dataset']}",
        "",
        f"- algorithm: {run['algorithm']}, space: {run['space']}, arch: {run['arch']}",
        f"- budget: max {run['max_trials']} trials, up to {run['epochs']} epochs, "
        f"batch {run['batch_size']}, early-stopping patience {run['patience']}, "
        f"training images: {run['limit'] or 'all'}",
        f"- seed: {run['seed']}",
        *(
            [
                f"- strategy: {run['replicas']} replicas per trial, global batch "
                f"{run['replicas'] * run['batch_size']} ({run['batch_size']} per replica)"
            ]
            if run.get("replicas", 1) > 1
            else []
        ),
        f"- trials: {len(rows)} ({counts or 'none'})",
        "",
        "## Top 5 by validation accuracy",
        "",
        top_table(rows),
        "",
    ]
    if best is not None:
        lines += [
            "## Best model",
            "",
            f"- trial {best['trial_id']}: {best['config']}",
            f"- hyperparameters: `{json.dumps(best['hyperparameters'], sort_keys=True)}`",
        ]
        if test is not None:
            lines.append(
                f"- test accuracy: {test['accuracy']:.4f} (loss {test['loss']:.4f}, "
                f"{test['images']} test images, measured once after the search)"
            )
        lines.append("")
    return "\n".join(lines)
