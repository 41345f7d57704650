"""summary.md: the budget, the top trials and the best model's test accuracy."""

import json

from kregs.tuner.trials_csv import format_value


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
            f"| {rank} | {r['trial_id']} | {r['config']} | {format_value(r.get('l2'))} "
            f"| {format_value(r.get('dropout'))} | {format_value(r.get('batch_norm'))} "
            f"| {format_value(r.get('learning_rate'))} | {r['best_val_accuracy']:.4f} "
            f"| {r['best_val_loss']:.4f} | {r['generalization_gap']:+.4f} | {r['epochs']} "
            f"| {r['seconds']:.1f} |"
        )
    return "\n".join(lines)


def _budget_lines(record, replicas):
    lines = [
        f"- algorithm: {record['algorithm']}, space: {record['space']}, arch: {record['arch']}",
        f"- budget: max {record['max_trials']} trials, up to {record['epochs']} epochs, "
        f"batch {record['batch_size']}, early-stopping patience {record['patience']}, "
        f"training images: {record['limit'] or 'all'}",
        f"- seed: {record['seed']}",
    ]
    if replicas > 1:
        lines.append(
            f"- strategy: {replicas} replicas per trial, global batch "
            f"{replicas * record['batch_size']} ({record['batch_size']} per replica)"
        )
    return lines


def summary_markdown(record, rows, best, test, replicas=1):
    """The text of summary.md.

    Args:
        record: dict, the run's configuration (run.json).
        rows: list of trials.csv rows.
        best: dict or None, `{"trial_id", "config", "hyperparameters"}` of the best trial.
        test: dict or None, `{"accuracy", "loss", "images"}` of the best model on the test set.
        replicas: int, model replicas per trial.
    """
    statuses = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(statuses.items()))
    lines = [
        f"# kregs tune: {record['dataset']}",
        "",
        *_budget_lines(record, replicas),
        f"- trials: {len(rows)} ({counts or 'none'})",
        "",
        "## Top 5 by validation accuracy",
        "",
        "Each trial's numbers are those of its best epoch: the one early stopping restored "
        "(lowest validation loss); gap is training minus validation accuracy there.",
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
