"""study.md: the study's table, its ablation and its claims, with intervals."""

from kregs.config import CONFIG_NAMES
from kregs.study import paper, stats
from kregs.study.study_csv import COLUMNS

FILE = "study.md"
FULL = "l2+dropout+bn"
TECHNIQUES = {"l2": "L2", "dropout": "dropout", "bn": "BN"}


def column(rows, name, key):
    """`key` of every row of configuration `name` (one per seed), in row order."""
    return [r.get(key) for r in rows if r["config"] == name]


def _by_config(rows, key):
    return {name: column(rows, name, key) for name in CONFIG_NAMES}


def pct(summary):
    if summary.n == 0:
        return "-"
    return f"{100 * summary.mean:.2f} ± {100 * summary.std:.2f}"


def points(d):
    """A difference of accuracies in points, with its 95% interval when there is one."""
    if d.diff != d.diff:  # NaN: a side without runs
        return "-"
    if d.low is None:
        return f"{100 * d.diff:+.2f} (n < 2, no interval)"
    return f"{100 * d.diff:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}]"


def mean(values, scale=1.0, digits=2, signed=False):
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
    acc = _by_config(rows, "test_accuracy")
    table = _Table(study["dataset"], rows, acc)
    ablation = _ablation(table)
    lines = [
        f"# kregs study: {study['dataset']}",
        "",
        *_protocol(study, rows, info),
        "",
        *_accuracy_table(table),
        "",
        *ablation[1],
        "",
        *_claims(table, ablation[0]),
        "",
        "## Plots",
        "",
        "![test accuracy](plots/test_accuracy.png)",
        "![learning curves](plots/learning_curves.png)",
        "![generalization gap](plots/generalization_gap.png)",
        "",
    ]
    return "\n".join(lines)


class _Table:
    """The per-configuration numbers every section of study.md reads."""

    def __init__(self, dataset, rows, acc):
        self.dataset = dataset
        self.acc = acc
        self.by = {k: _by_config(rows, k) for k in COLUMNS}
        self.summaries = {name: stats.summarize(acc[name]) for name in CONFIG_NAMES}
        self.vs_none = {name: stats.difference(acc[name], acc["none"]) for name in CONFIG_NAMES}


def _protocol(study, rows, info):
    sources = study.get("sources", {})
    values = study["values"]
    return [
        *protocol_lines(
            study,
            rows,
            info,
            f"- L2 lambda {values['l2']:g} (loss + lambda/2 * sum w^2; {sources.get('l2', '')}), "
            f"dropout rate {values['dropout']:g} ({sources.get('dropout', '')}), "
            f"BN {values['batch_norm']} ({sources.get('batch_norm', '')})",
        ),
        "- paper's claim: the test accuracy the study reports, shown for comparison only; "
        "its network and protocol (epochs, data, values) differ from this one.",
    ]


def protocol_lines(study, rows, info, values_line):
    """The Protocol section every study report starts with; `values_line` says what was trained."""
    seeds = sorted({r["seed"] for r in rows})
    first = rows[0] if rows else {}
    subset = "a stratified subset of " + str(study["limit"]) if study["limit"] else "all"
    return [
        "## Protocol",
        "",
        f"- model: kregs `{study['arch']}`; Adam (AdamW where weight decay is used), "
        f"learning rate {study['learning_rate']:g} (fixed); "
        f"batch {study['batch_size']}; {_length(study, first)}; early stopping on val_loss "
        f"(patience {study['patience']}, best weights restored)",
        f"- data: {info.name}, {first.get('train_images', '?')} training images "
        f"({subset}, {study['validation_split']:.0%} of them held out for validation), "
        f"{first.get('test_images', '?')} test images, measured once per run after training",
        values_line,
        f"- seeds: {', '.join(map(str, seeds))} ({len(seeds)} runs per configuration, "
        f"{len(rows)} runs); op determinism {'on' if study.get('deterministic') else 'off'}",
        "- best epoch: the epoch whose weights early stopping restored (lowest validation "
        "loss); the validation accuracy and the gap are read there, and that model is tested.",
        f"- intervals: {stats.ci()[:-3]} Welch t-intervals for the difference of two means "
        "over seeds. "
        "A claim is **confirmed** when its interval lies above 0, **contradicted** when it lies "
        "below 0, and otherwise **not shown at this size**.",
    ]


def _length(study, row):
    """How long a run trains: its steps (and the epochs they make on these images), or its
    epochs; and from when an epoch may be the best."""
    if not study.get("steps"):
        length = f"up to {study['epochs']} epochs"
    else:
        images = row.get("train_images")
        per_epoch = -(-images // study["batch_size"]) if images else None
        epochs = -(-study["steps"] // per_epoch) if per_epoch else "?"
        length = f"up to {study['steps']:,} optimizer steps ({epochs} epochs of these images)"
    if study.get("min_steps"):
        length += f"; no epoch within the first {study['min_steps']} steps kept as the best"
    return length


def _accuracy_table(t):
    lines = [
        "## Test accuracy per configuration",
        "",
        "| configuration | runs | test accuracy, % (mean ± std) | vs none, points "
        f"[{stats.ci()}] "
        "| best val acc, % | final train acc, % | gap, points | epochs | s/epoch "
        "| paper's claim, % | paper's claim vs none |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    paper_none = paper.midpoint(paper.accuracy(t.dataset, "none"))
    for name in CONFIG_NAMES:
        claim = paper.accuracy(t.dataset, name)
        claim_vs = (
            f"{paper.midpoint(claim) - paper_none:+.1f}"
            if claim is not None and name != "none"
            else ""
        )
        lines.append(
            f"| {name} | {t.summaries[name].n} | {pct(t.summaries[name])} "
            f"| {'' if name == 'none' else points(t.vs_none[name])} "
            f"| {mean(t.by['best_val_accuracy'][name], 100)} "
            f"| {mean(t.by['final_train_accuracy'][name], 100)} "
            f"| {mean(t.by['generalization_gap'][name], 100, signed=True)} "
            f"| {mean(t.by['epochs'][name], digits=1)} "
            f"| {mean(t.by['seconds_per_epoch'][name], digits=1)} "
            f"| {paper.format_figure(claim)} | {claim_vs} |"
        )
    lines += [
        "",
        "best val acc and gap (training minus validation accuracy) are read at the best epoch "
        "(Keras measures training accuracy with dropout on, so the gap can be negative).",
    ]
    return lines


def _ablation(t):
    """`(differences by technique, lines)` of the ablation section."""
    lines = [
        "## Ablation: each technique removed from l2+dropout+bn",
        "",
        "| removed | remaining | remaining's test accuracy, % | cost of removing, points "
        f"[{stats.ci()}] | verdict | paper's table | paper's text (CIFAR-10) |",
        "|---|---|---|---|---|---|---|",
    ]
    full_claim = paper.midpoint(paper.accuracy(t.dataset, FULL))
    differences = {}
    for technique, label in TECHNIQUES.items():
        rest = without(FULL, technique)
        d = stats.difference(t.acc[FULL], t.acc[rest])
        differences[technique] = d
        rest_claim = paper.midpoint(paper.accuracy(t.dataset, rest))
        table = f"{full_claim - rest_claim:+.1f}" if full_claim is not None and rest_claim else ""
        lines.append(
            f"| {label} | {rest} | {pct(t.summaries[rest])} | {points(d)} | {d.verdict} "
            f"| {table} | +{paper.ABLATION_TEXT[technique]:.1f} |"
        )
    lines += [
        "",
        "cost of removing: the full combination's accuracy minus the remaining one's "
        "(positive: the technique helped). The study's text and its own table disagree "
        "on these numbers; both are shown.",
    ]
    return differences, lines


def _claims(t, ablation):
    lines = [
        "## The study's claims, checked",
        "",
        "| claim (the study's) | measured here | verdict |",
        "|---|---|---|",
    ]
    for name in CONFIG_NAMES[1:]:
        d = t.vs_none[name]
        lines.append(
            f"| {name} improves test accuracy over none | {points(d)} points | {d.verdict} |"
        )
    others = [n for n in CONFIG_NAMES if n != FULL and t.summaries[n].n]
    if others and t.summaries[FULL].n:
        runner_up = max(others, key=lambda n: t.summaries[n].mean)
        d = stats.difference(t.acc[FULL], t.acc[runner_up])
        lines.append(
            f"| l2+dropout+bn is the best configuration | {points(d)} points over the best "
            f"other ({runner_up}) | {d.verdict} |"
        )
    for technique, label in TECHNIQUES.items():
        d = ablation[technique]
        lines.append(
            f"| removing {label} from l2+dropout+bn costs accuracy | {points(d)} points "
            f"| {d.verdict} |"
        )
    time_claim = _time_claim(t)
    return lines + ([time_claim] if time_claim else [])


def _time_claim(t):
    """The BN time claim, read on the time to the best epoch (or the whole run, in older
    studies) and the seconds per epoch of none and bn."""
    key = "seconds_to_best" if all(t.by["seconds_to_best"]["bn"] or [None]) else "train_seconds"
    t_none, t_bn = t.by[key]["none"], t.by[key]["bn"]
    if not (t_none and t_bn) or None in t_none + t_bn:
        return None
    d = stats.difference(t_none, t_bn)
    ratio = stats.summarize(t_bn).mean / stats.summarize(t_none).mean
    epoch = {n: stats.summarize(t.by["seconds_per_epoch"][n]).mean for n in ("none", "bn")}
    d_text = (
        f"{d.diff:+.1f} s [{d.low:+.1f}, {d.high:+.1f}]"
        if d.low is not None
        else f"{d.diff:+.1f} s"
    )
    what = "to its best epoch" if key == "seconds_to_best" else "until early stopping"
    return (
        f"| BN cuts training time by about {paper.BN_TIME_SAVING:.0%} | bn trained in "
        f"{ratio:.0%} of none's time {what} (none minus bn: {d_text}); "
        f"{epoch['bn']:.2f} against {epoch['none']:.2f} s per epoch. Timed during the study, "
        f"on a machine it may have shared: `bench/bn_time.py` measures it alone "
        f"| {d.verdict} |"
    )
