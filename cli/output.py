"""What the command line prints for a trial or a study run: one line each."""


def num(value):
    """A number in 3 significant digits, `-` for None."""
    return "-" if value is None else f"{value:.3g}"


def trial_line(row):
    """One line for an ended tuning trial."""
    status = row["status"]
    head = f"trial {row['trial_id']} {status.lower():9s} {row['config'] or '?':14s}"
    hps = (
        f"l2={num(row.get('l2'))} dropout={num(row.get('dropout'))} "
        f"bn={row.get('batch_norm')} lr={num(row.get('learning_rate'))}"
    )
    from kregs.tuner.summary_md import extended_values

    extended = extended_values(row)  # the extended space's, where not the defaults
    hps += f" ({extended})" if extended else ""
    by = f" ({row['tuner_id']})" if row.get("tuner_id") else ""
    if row.get("cv/fold") not in (None, ""):  # a fold of the cross-validation
        by = f" (fold {row['cv/fold']} of trial {row['cv/of']}){by}"
    if status != "COMPLETED":  # (a pruned trial's reason begins "pruned at epoch ...")
        return f"{head} {hps}  {row['error'].removeprefix('pruned ')}{by}"
    return (
        f"{head} {hps}  val_acc={row['best_val_accuracy']:.4f} val_loss={row['best_val_loss']:.4f} "
        f"gap={row['generalization_gap']:+.4f} epochs={row['epochs']} {row['seconds']:.1f}s{by}"
    )


def run_line(row, skipped):
    """One line for a study run (finished now, or earlier and skipped)."""
    head = f"{row['config']:14s} seed {row['seed']}"
    if skipped:
        return f"{head}  test_acc={row['test_accuracy']:.4f}  (finished earlier, skipped)"
    return (
        f"{head}  test_acc={row['test_accuracy']:.4f} val_acc={row['best_val_accuracy']:.4f} "
        f"gap={row['generalization_gap']:+.4f} epochs={row['epochs']} "
        f"{row['train_seconds']:.1f}s" + ("  DIVERGED" if row["diverged"] else "")
    )


def values_lines(values):
    """The study's values, one line each, with where each came from."""
    return [
        f"l2: {values.l2:g}  ({values.sources['l2']})",
        f"dropout: {values.dropout:g}  ({values.sources['dropout']})",
        f"batch_norm: {values.batch_norm}  ({values.sources['batch_norm']})",
        *(
            f"{name}: {getattr(values, name)}  ({source})"
            for name, source in values.sources.items()
            if name.startswith("dropout_")
        ),
    ]
