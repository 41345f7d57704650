"""study.csv and study.md: the study's table, its ablation and its claims, with intervals."""

import csv
import io

from kregs.config import CONFIG_NAMES
from kregs.files import write_atomic
from kregs.study import paper, stats

COLUMNS = (
    "config",
    "seed",
    "l2",
    "dropout",
    "batch_norm",
    "test_accuracy",
    "test_loss",
    "best_val_accuracy",
    "final_train_accuracy",
    "generalization_gap",
    "epochs",
    "best_epoch",
    "seconds_per_epoch",
    "train_seconds",
    "train_images",
    "test_images",
    "diverged",
)
FULL = "l2+dropout+bn"
TECHNIQUES = {"l2": "L2", "dropout": "dropout", "bn": "BN"}


def _fmt(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # full precision: study.md's statistics recompute exactly from it
    return str(value)


def write_csv(path, rows):
    """Writes study.csv: one row per configuration and seed, in run order."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})
    write_atomic(path, out.getvalue())


def read_csv(path):
    """Reads study.csv back into rows with numbers as floats (and seeds, epochs as ints)."""
    ints = {"seed", "epochs", "best_epoch", "train_images", "test_images"}
    text = {"config", "batch_norm", "diverged"}
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row = {}
            for k, v in raw.items():
                if k in text or v == "":
                    row[k] = v if v != "" else None
                else:
                    row[k] = int(v) if k in ints else float(v)
            rows.append(row)
    return rows


def _by_config(rows, key):
    return {name: [r.get(key) for r in rows if r["config"] == name] for name in CONFIG_NAMES}


def _pct(summary):
    if summary.n == 0:
        return "-"
    return f"{100 * summary.mean:.2f} ± {100 * summary.std:.2f}"


def _points(d):
    """A difference of accuracies in points, with its 95% interval when there is one."""
    if d.diff != d.diff:  # NaN: a side without runs
        return "-"
    if d.low is None:
        return f"{100 * d.diff:+.2f} (n < 2, no interval)"
    return f"{100 * d.diff:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}]"


def _mean(values, scale=1.0, digits=2, signed=False):
    s = stats.summarize(values)
    if s.n == 0:
        return "-"
    return f"{scale * s.mean:{'+' if signed else ''}.{digits}f}"


def without(name, technique):
    """The configuration `name` without `technique` (`"l2"`, `"dropout"` or `"bn"`)."""
    parts = [p for p in name.split("+") if p != technique]
    return "+".join(parts) or "none"


def markdown(study, rows, info):
    """The text of study.md.

    Args:
        study: dict, the study's protocol (study.json).
        rows: list of study.csv rows.
        info: the data set's `kregs.data.DatasetInfo`.

    Returns:
        str.
    """
    dataset = study["dataset"]
    acc = _by_config(rows, "test_accuracy")
    summaries = {name: stats.summarize(acc[name]) for name in CONFIG_NAMES}
    vs_none = {name: stats.difference(acc[name], acc["none"]) for name in CONFIG_NAMES}
    seeds = sorted({r["seed"] for r in rows})
    sources = study.get("sources", {})
    values = study["values"]
    first = rows[0] if rows else {}
    lines = [
        f"# kregs study: {dataset}",
        "",
        "## Protocol",
        "",
        f"- model: kregs `{study['arch']}`; Adam, learning rate {study['learning_rate']:g} "
        "(fixed); "
        f"batch {study['batch_size']}; up to {study['epochs']} epochs; early stopping on val_loss "
        f"(patience {study['patience']}, best weights restored)",
        f"- data: {info.name}, {first.get('train_images', '?')} training images "
        f"({'a stratified subset of ' + str(study['limit']) if study['limit'] else 'all'}, "
        f"{study['validation_split']:.0%} of them held out for validation), "
        f"{first.get('test_images', '?')} test images, measured once per run after training",
        f"- L2 lambda {values['l2']:g} (loss + lambda/2 * sum w^2; {sources.get('l2', '')}), "
        f"dropout rate {values['dropout']:g} ({sources.get('dropout', '')}), "
        f"BN {values['batch_norm']} ({sources.get('batch_norm', '')})",
        f"- seeds: {', '.join(map(str, seeds))} ({len(seeds)} runs per configuration, "
        f"{len(rows)} runs); op determinism {'on' if study.get('deterministic') else 'off'}",
        "- intervals: 95% Welch t-intervals for the difference of two means over seeds. "
        "A claim is **confirmed** when its interval lies above 0, **contradicted** when it lies "
        "below 0, and otherwise **not confirmed at this sample size**.",
        "- paper's claim: the test accuracy the study reports, shown for comparison only; "
        "its network and protocol (epochs, data, values) differ from this one.",
        "",
        "## Test accuracy per configuration",
        "",
        "| configuration | runs | test accuracy, % (mean ± std) | vs none, points [95% CI] "
        "| best val acc, % | final train acc, % | gap, points | epochs | s/epoch "
        "| paper's claim, % | paper's claim vs none |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by = {k: _by_config(rows, k) for k in COLUMNS}
    paper_none = paper.midpoint(paper.accuracy(dataset, "none"))
    for name in CONFIG_NAMES:
        claim = paper.accuracy(dataset, name)
        claim_vs = (
            f"{paper.midpoint(claim) - paper_none:+.1f}"
            if claim is not None and name != "none"
            else ""
        )
        lines.append(
            f"| {name} | {summaries[name].n} | {_pct(summaries[name])} "
            f"| {'' if name == 'none' else _points(vs_none[name])} "
            f"| {_mean(by['best_val_accuracy'][name], 100)} "
            f"| {_mean(by['final_train_accuracy'][name], 100)} "
            f"| {_mean(by['generalization_gap'][name], 100, signed=True)} "
            f"| {_mean(by['epochs'][name], digits=1)} "
            f"| {_mean(by['seconds_per_epoch'][name], digits=1)} "
            f"| {paper.format_figure(claim)} | {claim_vs} |"
        )
    lines += [
        "",
        "gap: training minus validation accuracy at the epoch whose weights were kept "
        "(Keras measures training accuracy with dropout on, so it can be negative).",
        "",
        "## Ablation: each technique removed from l2+dropout+bn",
        "",
        "| removed | remaining | remaining's test accuracy, % | cost of removing, points "
        "[95% CI] | verdict | paper's table | paper's text (CIFAR-10) |",
        "|---|---|---|---|---|---|---|",
    ]
    full_claim = paper.midpoint(paper.accuracy(dataset, FULL))
    ablation = {}
    for technique, label in TECHNIQUES.items():
        rest = without(FULL, technique)
        d = stats.difference(acc[FULL], acc[rest])
        ablation[technique] = d
        rest_claim = paper.midpoint(paper.accuracy(dataset, rest))
        table = f"{full_claim - rest_claim:+.1f}" if full_claim is not None and rest_claim else ""
        lines.append(
            f"| {label} | {rest} | {_pct(summaries[rest])} | {_points(d)} | {d.verdict} "
            f"| {table} | +{paper.ABLATION_TEXT[technique]:.1f} |"
        )
    lines += [
        "",
        "cost of removing: the full combination's accuracy minus the remaining one's "
        "(positive: the technique helped). The study's text and its own table disagree "
        "on these numbers; both are shown.",
        "",
        "## The study's claims, checked",
        "",
        "| claim (the study's) | measured here | verdict |",
        "|---|---|---|",
    ]
    for name in CONFIG_NAMES[1:]:
        d = vs_none[name]
        lines.append(
            f"| {name} improves test accuracy over none | {_points(d)} points | {d.verdict} |"
        )
    others = [n for n in CONFIG_NAMES if n != FULL and summaries[n].n]
    if others and summaries[FULL].n:
        runner_up = max(others, key=lambda n: summaries[n].mean)
        d = stats.difference(acc[FULL], acc[runner_up])
        lines.append(
            f"| l2+dropout+bn is the best configuration | {_points(d)} points over the best "
            f"other ({runner_up}) | {d.verdict} |"
        )
    for technique, label in TECHNIQUES.items():
        d = ablation[technique]
        lines.append(
            f"| removing {label} from l2+dropout+bn costs accuracy | {_points(d)} points "
            f"| {d.verdict} |"
        )
    t_none, t_bn = by["train_seconds"]["none"], by["train_seconds"]["bn"]
    if t_none and t_bn:
        d = stats.difference(t_none, t_bn)
        ratio = stats.summarize(t_bn).mean / stats.summarize(t_none).mean
        d_text = (
            f"{d.diff:+.1f} s [{d.low:+.1f}, {d.high:+.1f}]"
            if d.low is not None
            else f"{d.diff:+.1f} s"
        )
        lines.append(
            f"| BN cuts training time by about {paper.BN_TIME_SAVING:.0%} | bn trained in "
            f"{ratio:.0%} of none's time (until early stopping; none minus bn: {d_text}) "
            f"| {d.verdict} |"
        )
    lines += [
        "",
        "## Plots",
        "",
        "![test accuracy](plots/test_accuracy.png)",
        "![learning curves](plots/learning_curves.png)",
        "![generalization gap](plots/generalization_gap.png)",
        "",
    ]
    return "\n".join(lines)
