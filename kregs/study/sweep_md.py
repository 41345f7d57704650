"""study.md of a sweep: a table per swept value, the study's chosen value checked, L2 vs decay."""

from kregs.study import plan, stats
from kregs.study.study_md import column, mean, pct, points, protocol_lines

BEST_RULE = (
    "best value: the highest mean validation accuracy (the study chose its values on the "
    "validation set); its test accuracy is then compared, so the choice does not peek at the test"
)


def _sweeps(study):
    return [plan.Sweep(s["parameter"], tuple(s["values"]), s["base"]) for s in study["sweeps"]]


def best_value(sweep, rows, nonzero=True):
    """The swept value with the highest mean validation accuracy (None without runs)."""
    candidates = [v for v in sweep.values if v != sweep.off or not nonzero]
    scored = [
        (stats.summarize(column(rows, sweep.label(v), "best_val_accuracy")).mean, v)
        for v in candidates
    ]
    scored = [(m, v) for m, v in scored if m == m]  # runs exist
    return max(scored)[1] if scored else None


def markdown(study, rows, info):
    """The text of a sweep's study.md.

    Args:
        study: dict, the study's record (study.json) with its `sweeps`.
        rows: list of study.csv rows.
        info: the data set's `kregs.data.DatasetInfo`.

    Returns:
        str.
    """
    sweeps = _sweeps(study)
    base = sweeps[0].base
    swept = ", ".join(f"{plan.LABELS[s.parameter]} over {_values(s)}" for s in sweeps)
    lines = [
        f"# kregs study: {study['dataset']}, a sweep",
        "",
        *protocol_lines(
            study,
            rows,
            info,
            f"- swept: {swept}; each value added to `{base}` "
            f"(0: `{base}` itself), one value at a time, everything else fixed",
        ),
        f"- {BEST_RULE}.",
        "",
    ]
    for sweep in sweeps:
        lines += [*_table(sweep, rows), ""]
    lines += [*_claims(sweeps, rows), ""]
    by_name = {s.parameter: s for s in sweeps}
    if "l2" in by_name and "weight_decay" in by_name:
        lines += [*_l2_vs_decay(by_name["l2"], by_name["weight_decay"], rows), ""]
    lines += ["## Plots", ""]
    lines += [f"![{plan.LABELS[s.parameter]}](plots/sweep-{s.parameter}.png)" for s in sweeps]
    return "\n".join(lines + [""])


def _values(sweep):
    return "{" + ", ".join(plan.value_text(v) for v in sweep.values) + "}"


def _table(sweep, rows):
    label = plan.LABELS[sweep.parameter]
    base = sweep.base
    base_acc = column(rows, base, "test_accuracy")
    best = best_value(sweep, rows)
    choice = plan.PAPER_CHOICE.get(sweep.parameter)
    lines = [
        f"## Test accuracy against the {label}",
        "",
        f"| {label} | runs | test accuracy, % (mean ± std) | vs {base}, points [{stats.ci()}] "
        "| best val acc, % | gap, points | best epoch | epochs | s/epoch | |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for value in sweep.values:
        name = sweep.label(value)
        acc = column(rows, name, "test_accuracy")
        marks = [
            text
            for text, on in (("best (validation)", value == best), ("the study's", value == choice))
            if on
        ]
        lines.append(
            f"| {plan.value_text(value)} | {len(acc)} | {pct(stats.summarize(acc))} "
            f"| {'' if value == sweep.off else points(stats.difference(acc, base_acc))} "
            f"| {mean(column(rows, name, 'best_val_accuracy'), 100)} "
            f"| {mean(column(rows, name, 'generalization_gap'), 100, signed=True)} "
            f"| {mean(column(rows, name, 'best_epoch'), digits=1)} "
            f"| {mean(column(rows, name, 'epochs'), digits=1)} "
            f"| {mean(column(rows, name, 'seconds_per_epoch'), digits=1)} "
            f"| {', '.join(marks)} |"
        )
    lines += [
        "",
        "gap: training minus validation accuracy at the best epoch. "
        f"{plan.value_text(sweep.off)} is `{base}` alone.",
    ]
    return lines


def choice_check(sweep, rows):
    """`(claim, Difference, runner_up)` for "the study's value is the best of its grid", or None.

    The difference is the study's value's mean test accuracy minus that of the
    best other value of the study's grid (by mean test accuracy). None when
    the sweep does not hold the study's whole grid.
    """
    grid, choice = plan.PAPER_GRIDS.get(sweep.parameter), plan.PAPER_CHOICE.get(sweep.parameter)
    if grid is None or not set(grid) <= set(sweep.values):
        return None
    acc = {v: column(rows, sweep.label(v), "test_accuracy") for v in grid}
    others = [v for v in grid if v != choice and acc[v]]
    if not acc[choice] or not others:
        return None
    runner_up = max(others, key=lambda v: stats.summarize(acc[v]).mean)
    grid_text = "{" + ", ".join(f"{v:g}" for v in grid) + "}"
    claim = f"{plan.LABELS[sweep.parameter]} {choice:g} is the best of {grid_text}"
    return claim, stats.difference(acc[choice], acc[runner_up]), runner_up


def _vs_base(sweep, rows, value):
    """Test accuracy at `value` minus the base's, with its interval."""
    return stats.difference(
        column(rows, sweep.label(value), "test_accuracy"),
        column(rows, sweep.base, "test_accuracy"),
    )


def _claims(sweeps, rows):
    lines = [
        "## The study's choices, checked",
        "",
        "| claim | measured here | verdict |",
        "|---|---|---|",
    ]
    for sweep in sweeps:
        check = choice_check(sweep, rows)
        if check is not None:
            claim, d, runner_up = check
            lines.append(
                f"| {claim} | {points(d)} points over the best other "
                f"({plan.value_text(runner_up)}) | {d.verdict} |"
            )
        choice = plan.PAPER_CHOICE.get(sweep.parameter)
        if choice in sweep.values:
            d = _vs_base(sweep, rows, choice)
            lines.append(
                f"| {plan.LABELS[sweep.parameter]} {choice:g} improves test accuracy over "
                f"{sweep.base} | {points(d)} points | {d.verdict} |"
            )
        best = best_value(sweep, rows)
        if best is not None:
            d = _vs_base(sweep, rows, best)
            lines.append(
                f"| the best {plan.LABELS[sweep.parameter]} here ({plan.value_text(best)}, by "
                f"validation) improves test accuracy over {sweep.base} | {points(d)} points "
                f"| {d.verdict} |"
            )
    lines += [
        "",
        "verdicts: **confirmed** when the 95% Welch interval of the difference lies above 0, "
        "**contradicted** when below 0, otherwise **not shown at this size**.",
    ]
    if any(s.parameter == "dropout" for s in sweeps):
        lines[-1] += (
            " The study's dropout p is a keep probability: its grid p in {0.2, 0.5, 0.7} is "
            "the drop rates {0.8, 0.5, 0.3}."
        )
    return lines


def l2_vs_decay(l2, decay, rows):
    """`(best lambda, best decay, Difference L2 minus decay)`, each at its best value."""
    best_l2, best_decay = best_value(l2, rows), best_value(decay, rows)
    if best_l2 is None or best_decay is None:
        return None
    d = stats.difference(
        column(rows, l2.label(best_l2), "test_accuracy"),
        column(rows, decay.label(best_decay), "test_accuracy"),
    )
    return best_l2, best_decay, d


def _l2_vs_decay(l2, decay, rows):
    lines = ["## L2 against decoupled weight decay", ""]
    found = l2_vs_decay(l2, decay, rows)
    if found is None:
        return lines + ["(not enough runs yet)"]
    best_l2, best_decay, d = found
    verdict = {
        stats.CONFIRMED: "L2 regularizes this network better",
        stats.CONTRADICTED: "decoupled weight decay regularizes this network better",
    }.get(d.verdict, "no difference measurable at this sample size")
    gap = {
        name: mean(column(rows, name, "generalization_gap"), 100, signed=True)
        for name in (l2.label(best_l2), decay.label(best_decay), l2.base)
    }
    lines += [
        "| | value (best by validation) | test accuracy, % | gap, points |",
        "|---|---|---|---|",
        f"| L2 (in the loss, under Adam) | lambda {best_l2:g} "
        f"| {pct(stats.summarize(column(rows, l2.label(best_l2), 'test_accuracy')))} "
        f"| {gap[l2.label(best_l2)]} |",
        f"| decoupled weight decay (AdamW) | {best_decay:g} "
        f"| {pct(stats.summarize(column(rows, decay.label(best_decay), 'test_accuracy')))} "
        f"| {gap[decay.label(best_decay)]} |",
        f"| neither (`{l2.base}`) | | "
        f"{pct(stats.summarize(column(rows, l2.base, 'test_accuracy')))} | {gap[l2.base]} |",
        "",
        f"L2 minus weight decay: {points(d)} points of test accuracy: **{verdict}**.",
    ]
    return lines
