"""study.md of an ablation: a tune run's best configuration, minus each of its regularizers."""

import numpy as np

from kregs.config import RegConfig
from kregs.study import stats
from kregs.study.study_md import column, mean, pct, points, protocol_lines
from kregs.verdicts import paired, unpack

BEST = "best"
EARNED = {
    stats.CONFIRMED: "earned its place",
    stats.CONTRADICTED: "costs accuracy: the model is better without it",
}


def removals(rows):
    """The labels of the removals present in `rows`, in run order."""
    seen = []
    for row in rows:
        if row["config"] != BEST and row["config"] not in seen:
            seen.append(row["config"])
    return seen


def verdicts(rows):
    """`{removal label: Difference}`: best minus the configuration without one regularizer."""
    best = column(rows, BEST, "test_accuracy")
    return {
        label: stats.difference(best, column(rows, label, "test_accuracy"))
        for label in removals(rows)
    }


def same_images(records, label):
    """`best` against the configuration `label` on the same test images, seed by seed,
    pooled (`kregs.verdicts.paired`), or None where the records lack the outcomes."""
    by = {(r["row"]["config"], r["row"]["seed"]): r for r in records}
    a, b = [], []
    for (config, seed), record in sorted(by.items(), key=lambda kv: kv[0][1]):
        other = by.get((BEST, seed))
        if config != label or other is None:
            continue
        if not (record.get("test_correct") and other.get("test_correct")):
            return None
        n = record["row"]["test_images"]
        a.append(unpack(record["test_correct"], n))
        b.append(unpack(other["test_correct"], n))
    return paired(np.concatenate(a), np.concatenate(b)) if a else None


def markdown(study, rows, info, records=()):
    """The text of an ablation's study.md.

    Args:
        study: dict, the study's record (study.json) with its `ablation`.
        rows: list of study.csv rows.
        info: the data set's `kregs.data.DatasetInfo`.
        records: the runs' records (with their per-image test outcomes), for the
            comparison on the same images.

    Returns:
        str.
    """
    ablation = study["ablation"]
    config = ablation["config"]
    defaults = RegConfig().to_dict()
    used = ", ".join(
        f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in config.items()
        if v != defaults.get(k)
    )
    lines = [
        f"# kregs study: {study['dataset']}, an ablation of a search's best configuration",
        "",
        *protocol_lines(
            study,
            rows,
            info,
            f"- configuration: trial {ablation['trial']} of `{ablation['run']}` ({used}; "
            f"learning rate {ablation['learning_rate']:g} from the trial unless given); "
            "each of its regularizers removed in turn, everything else kept",
        ),
        "",
        "## Which regularizer earned its place",
        "",
        "| configuration | runs | test accuracy, % (mean ± std) | cost of removing, points "
        f"[{stats.ci()}] | verdict | same test images, points [95% CI] | best val acc, % "
        "| gap, points | best epoch |",
        "|---|---|---|---|---|---|---|---|---|",
        _line(rows, BEST, None, None),
    ]
    for label, d in verdicts(rows).items():
        lines.append(_line(rows, label, d, same_images(records, label)))
    lines += [
        "",
        "cost of removing: the best configuration's test accuracy minus the one without the "
        "regularizer (positive: it helped). A regularizer **earned its place** when that "
        "difference's 95% Welch interval lies above 0; below 0 the model is better without "
        "it; otherwise the verdict is **not shown at this size**. The Welch "
        "interval is over seeds: it covers training's randomness. *Same test images* pairs "
        "the two configurations image by image on each seed's test images (pooled over "
        "seeds; Newcombe's interval, McNemar's test): it covers which images were measured, "
        "and says **shown** or **not shown at this size**.",
        "",
        "## Plots",
        "",
        "![test accuracy](plots/ablation.png)",
        "",
    ]
    return "\n".join(lines)


def _line(rows, label, d, same):
    acc = column(rows, label, "test_accuracy")
    verdict = "" if d is None else EARNED.get(d.verdict, d.verdict)
    pair = (
        ""
        if same is None
        else f"{100 * same.difference:+.2f} [{100 * same.low:+.2f}, {100 * same.high:+.2f}] "
        f"on {same.n:,}: {same.verdict}"
    )
    return (
        f"| {label} | {len(acc)} | {pct(stats.summarize(acc))} "
        f"| {'' if d is None else points(d)} | {verdict} | {pair} "
        f"| {mean(column(rows, label, 'best_val_accuracy'), 100)} "
        f"| {mean(column(rows, label, 'generalization_gap'), 100, signed=True)} "
        f"| {mean(column(rows, label, 'best_epoch'), digits=1)} |"
    )
