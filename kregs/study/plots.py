"""The study's figures as PNG files (matplotlib, Agg backend; no display needed)."""

import os

import numpy as np

from kregs.config import CONFIG_NAMES
from kregs.run.plots import pyplot, save

# The fixed names of the study's plots (a sweep also writes sweep-<parameter>.png).
NAMES = ("test_accuracy.png", "learning_curves.png", "generalization_gap.png", "ablation.png")


def write_all(folder, records, dataset):
    """Writes test_accuracy.png, learning_curves.png and generalization_gap.png.

    Args:
        folder: str, where the PNGs go (created).
        records: list of run records (`{"row": ..., "history": ...}`).
        dataset: str, for the titles.

    Returns:
        list of str, the files written.
    """
    os.makedirs(folder, exist_ok=True)
    rows = [r["row"] for r in records]
    return [
        _bars(
            os.path.join(folder, "test_accuracy.png"),
            rows,
            "test_accuracy",
            100,
            f"{dataset}: test accuracy (mean ± std over seeds)",
            "test accuracy, %",
        ),
        _learning_curves(os.path.join(folder, "learning_curves.png"), records, dataset),
        _bars(
            os.path.join(folder, "generalization_gap.png"),
            rows,
            "generalization_gap",
            100,
            f"{dataset}: generalization gap (train - validation accuracy)",
            "gap, points",
        ),
    ]


def write_ablation(folder, records, dataset):
    """Writes ablation.png: test accuracy of the best configuration and each removal.

    Returns:
        list of str, the files written.
    """
    os.makedirs(folder, exist_ok=True)
    rows = [r["row"] for r in records]
    names = list(dict.fromkeys(r["config"] for r in rows))
    return [
        _bars(
            os.path.join(folder, "ablation.png"),
            rows,
            "test_accuracy",
            100,
            f"{dataset}: the search's best configuration, each regularizer removed",
            "test accuracy, %",
            names,
        )
    ]


def write_sweeps(folder, rows, study):
    """Writes sweep-<parameter>.png per swept value: test accuracy and gap against the value.

    The x axis spaces the values evenly (0 first, then the grid); the study's
    own choice (`kregs.study.plan.PAPER_CHOICE`) is marked, and so is the best
    value by validation accuracy.

    Args:
        folder: str, where the PNGs go (created).
        rows: list of study.csv rows.
        study: dict, the study's record with its `sweeps`.

    Returns:
        list of str, the files written.
    """
    from kregs.study import plan, sweep_md

    os.makedirs(folder, exist_ok=True)
    written = []
    for s in study["sweeps"]:
        sweep = plan.Sweep(s["parameter"], tuple(s["values"]), s["base"])
        path = os.path.join(folder, f"sweep-{sweep.parameter}.png")
        _sweep(path, sweep, rows, study["dataset"], sweep_md.best_value(sweep, rows))
        written.append(path)
    return written


def _sweep(path, sweep, rows, dataset, best):
    from kregs.study import plan

    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    x = np.arange(len(sweep.values))
    for ax, key, ylabel in (
        (top, "test_accuracy", "test accuracy, %"),
        (bottom, "generalization_gap", "gap (train - val), points"),
    ):
        values = [
            [100 * r[key] for r in rows if r["config"] == sweep.label(v) and r[key] is not None]
            for v in sweep.values
        ]
        means = [np.mean(v) if v else np.nan for v in values]
        stds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
        ax.errorbar(x, means, yerr=stds, color="#4c72b0", marker="o", capsize=4)
        if sweep.off in sweep.values:  # the base alone, as a reference line
            ax.axhline(means[sweep.values.index(sweep.off)], color="grey", linestyle=":", alpha=0.8)
        for i, v in enumerate(values):  # every seed as a dot
            ax.plot(np.full(len(v), i), v, "k.", markersize=4, alpha=0.6)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    choice = plan.PAPER_CHOICE.get(sweep.parameter)
    for value, color, text in (
        (choice, "#c44e52", "the study's choice"),
        (best, "#55a868", "best (validation)"),
    ):
        if value in sweep.values:
            i = sweep.values.index(value)
            for ax in (top, bottom):
                ax.axvline(i, color=color, linestyle="--", alpha=0.8)
            top.annotate(
                text,
                (i, 1.0),
                xycoords=("data", "axes fraction"),
                color=color,
                ha="center",
                va="bottom",
                fontsize=9,
            )
    bottom.set_xticks(x, [plan.value_text(v) for v in sweep.values])
    bottom.set_xlabel(f"{plan.LABELS[sweep.parameter]} (0: {sweep.base} alone)")
    fig.suptitle(f"{dataset}: {plan.LABELS[sweep.parameter]} sweep (mean ± std over seeds)")
    fig.tight_layout()
    save(fig, path)


def _bars(path, rows, key, scale, title, ylabel, order=CONFIG_NAMES):
    plt = pyplot()
    names = [n for n in order if any(r["config"] == n for r in rows)]
    values = [
        [scale * r[key] for r in rows if r["config"] == n and r[key] is not None] for n in names
    ]
    means = [np.mean(v) if v else np.nan for v in values]
    stds = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(names))
    ax.bar(x, means, yerr=stds, capsize=4, color="#4c72b0", alpha=0.8)
    for i, v in enumerate(values):  # every seed as a dot
        ax.plot(np.full(len(v), i), v, "k.", markersize=4)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    finite = [m for m in means if np.isfinite(m)]
    if key == "test_accuracy" and finite:
        low = min(min(v) for v in values if v)
        ax.set_ylim(max(0.0, low - 2.0), min(100.0, max(max(v) for v in values if v) + 1.0))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save(fig, path)
    return path


def _learning_curves(path, records, dataset):
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 4, figsize=(12, 5.5), sharex=True, sharey=True)
    for ax, name in zip(axes.flat, CONFIG_NAMES, strict=True):
        for i, record in enumerate(r for r in records if r["row"]["config"] == name):
            h = record["history"]
            epochs = np.arange(1, len(h["accuracy"]) + 1)
            ax.plot(
                epochs,
                100 * np.asarray(h["accuracy"]),
                color="#4c72b0",
                alpha=0.7,
                label="train" if i == 0 else None,
            )
            ax.plot(
                epochs,
                100 * np.asarray(h["val_accuracy"]),
                color="#dd8452",
                alpha=0.7,
                label="validation" if i == 0 else None,
            )
        ax.set_title(name, fontsize=10)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy, %")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(f"{dataset}: learning curves (one line per seed)")
    fig.tight_layout()
    save(fig, path)
    return path
