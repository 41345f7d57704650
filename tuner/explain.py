"""The search explained: which hyperparameters mattered, and accuracy against over-fitting.

`importance` fits scikit-learn's random forest to the completed trials
(hyperparameters -> best validation accuracy) and ranks each hyperparameter by
its permutation importance (`sklearn.inspection.permutation_importance`).
`pareto_front` finds the trials no other trial beats on both validation
accuracy (higher) and generalization gap (lower). `write_plots` draws both as
PNG files; `markdown` is their section of summary.md.
"""

import math
import os

from kregs.config import BY_NAME, DIMENSIONS
from kregs.dimensions import FloatRange
from kregs.run.plots import pyplot, save
from kregs.tuner.space import LEARNING_RATE
from kregs.tuner.trials_csv import HP_COLUMNS

# Fewer completed trials than this: no importance (a forest on a handful of points says
# nothing).
MIN_TRIALS = 6
PLOTS = ("importance.png", "tradeoff.png")
# Searched on a log scale (in any space): compared as log10, with "off" (0) one decade
# under the range's low end.
LOG_SCALE = {
    **{
        d.name: spec.low
        for d in DIMENSIONS
        for spec in d.search.values()
        if isinstance(spec, FloatRange) and spec.log
    },
    "learning_rate": LEARNING_RATE.low,
}


def _matters(name, row):
    """Whether the value of `name` in `row` had an effect (its dimension's needs hold)."""
    dim = BY_NAME.get(name)
    if dim is None:
        return True
    return all(
        need.holds(row.get(need.parent), BY_NAME[need.parent]) and _matters(need.parent, row)
        for need in dim.needs
    )


def completed(rows):
    """The completed trials with a validation accuracy and a gap."""
    return [
        r
        for r in rows
        if r["status"] == "COMPLETED"
        and r.get("best_val_accuracy") is not None
        and r.get("generalization_gap") is not None
    ]


def _features(rows):
    """(names, matrix): one numeric column per hyperparameter that varies across `rows`."""
    names, columns = [], []
    for name in HP_COLUMNS:
        values = [r.get(name) for r in rows]
        # A value that had no effect (no dropout: no placement) counts as "off".
        values = [v if _matters(name, r) else "off" for v, r in zip(values, rows, strict=True)]
        if len({repr(v) for v in values}) < 2:
            continue  # fixed in this search: it cannot have mattered here
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            if name in LOG_SCALE:
                floor = math.log10(LOG_SCALE[name]) - 1
                values = [math.log10(v) if v > 0 else floor for v in values]
            columns.append([float(v) for v in values])
        else:  # a choice: its values in order of first appearance
            codes = {v: i for i, v in enumerate(dict.fromkeys(map(str, values)))}
            columns.append([float(codes[str(v)]) for v in values])
        names.append(name)
    matrix = [list(row) for row in zip(*columns, strict=True)] if columns else []
    return names, matrix


def importance(rows, seed=0):
    """How much each searched hyperparameter mattered to the validation accuracy.

    Args:
        rows: list of trials.csv rows.
        seed: int, the forest's and the permutations' seed.

    Returns:
        list of `(name, mean, std)`, most important first: the drop in the
        forest's R^2 when that hyperparameter's values are shuffled (mean and
        standard deviation over 10 shuffles); or None with fewer than
        `MIN_TRIALS` completed trials or nothing searched.

    Example:
    >>> importance(rows)[0]
    ('batch_norm', 0.41, 0.08)
    """
    done = completed(rows)
    if len(done) < MIN_TRIALS:
        return None
    names, x = _features(done)
    if not names:
        return None
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    y = [float(r["best_val_accuracy"]) for r in done]
    forest = RandomForestRegressor(n_estimators=100, random_state=seed)
    forest.fit(x, y)
    result = permutation_importance(forest, x, y, n_repeats=10, random_state=seed)
    ranked = sorted(
        zip(names, result.importances_mean, result.importances_std, strict=True),
        key=lambda item: -item[1],
    )
    return [(name, float(mean), float(std)) for name, mean, std in ranked]


def pareto_front(rows):
    """Trial ids no other trial beats on both validation accuracy and gap, best accuracy first.

    A trial is dominated when another has validation accuracy at least as
    high and a generalization gap at least as low, one of them strictly.
    """
    done = completed(rows)

    def dominated(r):
        acc, gap = r["best_val_accuracy"], r["generalization_gap"]
        return any(
            o["best_val_accuracy"] >= acc
            and o["generalization_gap"] <= gap
            and (o["best_val_accuracy"] > acc or o["generalization_gap"] < gap)
            for o in done
        )

    front = [r for r in done if not dominated(r)]
    front.sort(key=lambda r: -r["best_val_accuracy"])
    return [r["trial_id"] for r in front]


def write_plots(folder, rows, ranked, chosen_id):
    """Writes plots/importance.png (when `ranked`) and plots/tradeoff.png; returns their paths.

    Args:
        folder: str, the run folder (the plots go to its plots/).
        rows: list of trials.csv rows.
        ranked: `importance(rows)`, or None.
        chosen_id: str or None, the trial the search chose (marked).
    """
    plt = pyplot()
    out = os.path.join(folder, "plots")
    os.makedirs(out, exist_ok=True)
    written = []
    if not ranked and os.path.exists(os.path.join(out, PLOTS[0])):  # an earlier run's
        os.unlink(os.path.join(out, PLOTS[0]))
    if ranked:
        written.append(os.path.join(out, PLOTS[0]))
        save(_importance_figure(plt, ranked, len(completed(rows))), written[-1])
    done = completed(rows)
    front = set(pareto_front(rows))
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for r in done:
        on_front = r["trial_id"] in front
        ax.scatter(
            100 * r["generalization_gap"],
            100 * r["best_val_accuracy"],
            s=40,
            color="#C44E52" if on_front else "#8C8C8C",
            zorder=3,
        )
        ax.annotate(
            r["config"],
            (100 * r["generalization_gap"], 100 * r["best_val_accuracy"]),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    edge = sorted(
        (r for r in done if r["trial_id"] in front), key=lambda r: r["generalization_gap"]
    )
    ax.plot(
        [100 * r["generalization_gap"] for r in edge],
        [100 * r["best_val_accuracy"] for r in edge],
        color="#C44E52",
        linewidth=1,
        label="Pareto front (no trial more accurate and less over-fit)",
    )
    chosen = next((r for r in done if r["trial_id"] == chosen_id), None)
    if chosen is not None:
        ax.scatter(
            100 * chosen["generalization_gap"],
            100 * chosen["best_val_accuracy"],
            s=180,
            facecolors="none",
            edgecolors="black",
            linewidths=1.5,
            label=f"chosen: trial {chosen_id}",
            zorder=4,
        )
    ax.set_xlabel("generalization gap at the best epoch: train - validation accuracy, points")
    ax.set_ylabel("validation accuracy at the best epoch, %")
    ax.set_title("Accuracy against over-fitting, one point per trial")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    written.append(os.path.join(out, PLOTS[1]))
    save(fig, written[-1])
    return written


def _importance_figure(plt, ranked, trials):
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(ranked) + 1.8))
    names = [n for n, _, _ in ranked][::-1]
    means = [100 * m for _, m, _ in ranked][::-1]
    stds = [100 * s for _, _, s in ranked][::-1]
    ax.barh(names, means, xerr=stds, color="#4C72B0", capsize=3)
    ax.set_xlabel("importance: drop in R² of a random forest when shuffled, % (± std)")
    ax.set_title(f"What mattered to validation accuracy ({trials} trials)")
    ax.axvline(0, color="black", linewidth=0.8)
    fig.tight_layout()
    return fig


def markdown(rows, ranked):
    """The "What mattered" and "Accuracy against over-fitting" sections of summary.md."""
    done = completed(rows)
    lines = ["## What mattered", ""]
    if ranked is None:
        lines.append(
            f"Too few completed trials ({len(done)}; at least {MIN_TRIALS}) or nothing "
            "searched: no importance estimate."
        )
    else:
        lines += [
            f"Permutation importance of each hyperparameter for the validation accuracy: a "
            f"random forest (scikit-learn) fit to the {len(done)} completed trials, then the "
            "drop in its R² when that hyperparameter's values are shuffled (10 shuffles). "
            "With a few dozen trials or fewer, a rough guide; plots/importance.png.",
            "",
            "| hyperparameter | importance, % (± std) |",
            "|---|---|",
            *(f"| {name} | {100 * mean:.1f} ± {100 * std:.1f} |" for name, mean, std in ranked),
        ]
    by_id = {r["trial_id"]: r for r in done}
    lines += [
        "",
        "## Accuracy against over-fitting",
        "",
        "Trials no other trial beats on both validation accuracy and generalization gap "
        "(the Pareto front; plots/tradeoff.png):",
        "",
        "| trial | config | val_accuracy | gap |",
        "|---|---|---|---|",
    ]
    for trial_id in pareto_front(rows):
        r = by_id[trial_id]
        lines.append(
            f"| {trial_id} | {r['config']} | {r['best_val_accuracy']:.4f} "
            f"| {r['generalization_gap']:+.4f} |"
        )
    return lines
