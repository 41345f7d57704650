"""`run_study`: the eight configurations, several seeds each, one protocol, resumable."""

import dataclasses
import logging
import os
import time

from kregs import __version__, data
from kregs.checks import check_positive_int
from kregs.config import CONFIG_NAMES
from kregs.errors import invalid_value
from kregs.files import default_output, prepare_output, read_json, write_atomic, write_json
from kregs.study import protocol, report

logger = logging.getLogger(__name__)

STUDY_FILE = "study.json"
RUNS_DIR = "runs"
# study.json fields that may change between a study and its continuation.
RESUMABLE_CHANGES = ("seeds", "kregs_version")


@dataclasses.dataclass
class StudyResult:
    """What `run_study` produced.

    Attributes:
        output: str, the output folder.
        rows: list of dict, the rows of study.csv (one per configuration and seed).
        values: dict, the `l2`, `dropout` and `batch_norm` used, and their `sources`.
        markdown: str, the text of study.md.
        plots: list of str, the PNG files written.
        ran: int, runs trained by this call (the others were already finished).
        seconds: float, wall time of this call.
    """

    output: str
    rows: list
    values: dict
    markdown: str
    plots: list
    ran: int
    seconds: float


def run_study(
    dataset="fashion_mnist",
    output=None,
    preset=None,
    seeds=3,
    seed=0,
    l2=None,
    dropout=None,
    batch_norm=None,
    from_run=None,
    epochs=None,
    batch_size=None,
    limit=None,
    test_limit=None,
    patience=None,
    learning_rate=None,
    arch="cnn",
    data_dir=None,
    validation_split=0.1,
    overwrite=False,
    deterministic=True,
    mixed_precision=None,
    jit_compile=None,
    on_values=None,
    on_run_end=None,
):
    """Trains the study's eight configurations `seeds` times each and reports on them.

    Every run builds `kregs.build_model(arch)` with one configuration (none,
    l2, dropout, bn, l2+dropout, l2+bn, dropout+bn, l2+dropout+bn), trains it
    with Adam at a fixed learning rate, early stopping on val_loss (best
    weights restored) and `TerminateOnNaN`, then measures it once on the test
    set. Seed `s` seeds the training subset, the validation split, the
    weights and the shuffling, and is the same for all eight configurations.
    Runs go seed by seed, so an interrupted study has whole seeds first.

    The output folder holds `study.json` (the protocol), `runs/<config>-seed<s>.json`
    (each run with its history, written as soon as it finishes), `study.csv`,
    `study.md` and `plots/*.png`. Calling `run_study` again with the same
    output skips every finished run; a larger `seeds` adds seeds.

    Args:
        dataset: str, `"mnist"`, `"fashion_mnist"` or `"cifar10"`.
        output: str or None, the output folder. Default `runs/study-<dataset>-<UTC stamp>`.
        preset: str or None, `"smoke"`, `"quick"` or `"paper"` (see
            `kregs.study.protocol.STUDY_PRESETS`); the budget arguments below left
            at None take its values.
        seeds: int, runs per configuration. Default 3.
        seed: int, the first seed (runs use `seed`, `seed + 1`, ...). Default 0.
        l2, dropout, batch_norm: the lambda, rate and BN placement of the
            configurations that use the technique (see `protocol.resolve_values`).
        from_run: str or None, a finished `kregs tune` output folder to take them from.
        epochs, batch_size, limit, test_limit, patience, learning_rate: the budget.
        arch: str, `"cnn"` or `"mlp"`.
        data_dir: str or None, where the data set's files are.
        validation_split: float, share of the training images held out.
        overwrite: bool, delete an existing study in `output` first.
        deterministic: bool, turn on TensorFlow's op determinism (same seed,
            same numbers on the same machine). It stays on for the rest of
            the process (TensorFlow has no public switch to turn it off), and
            Keras compiles without XLA while it is on. Default True.
        mixed_precision, jit_compile: bool or None (on when a GPU is present).
        on_values: callable(values) or None, called once the values are known.
        on_run_end: callable(row, skipped) or None, called after each run.

    Returns:
        A `StudyResult`.

    Raises:
        ConfigError: a bad argument, or `output` holds another study.
        DataNotFoundError, DataError: the data set cannot be loaded.

    Example:
    >>> result = run_study("fashion_mnist", preset="smoke", seeds=2, output="runs/study")
    >>> print(result.markdown)
    """
    started = time.monotonic()
    budget = protocol.resolve_budget(
        preset,
        epochs=epochs,
        batch_size=batch_size,
        limit=limit,
        test_limit=test_limit,
        patience=patience,
        learning_rate=learning_rate,
    )
    info = data.dataset_info(dataset)
    from kregs.models import ARCHITECTURES

    if arch not in ARCHITECTURES:
        raise invalid_value("arch", arch, f"one of {', '.join(ARCHITECTURES)}")
    seeds = check_positive_int(seeds, "seeds")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise invalid_value("seed", seed, "an int >= 0")
    values = protocol.resolve_values(l2, dropout, batch_norm, from_run)
    configs = protocol.configurations(values)
    output = os.path.abspath(output or default_output(f"study-{dataset}"))
    study = {
        "kregs_version": __version__,
        "dataset": dataset,
        "arch": arch,
        "seeds": seeds,
        "seed": seed,
        "validation_split": validation_split,
        "deterministic": bool(deterministic),
        "values": {k: values[k] for k in ("l2", "dropout", "batch_norm")},
        "sources": values["sources"],
        **dataclasses.asdict(budget),
    }
    _prepare_output(output, study, overwrite)
    if on_values is not None:
        on_values(values)

    plan = [(s, name) for s in range(seed, seed + seeds) for name in CONFIG_NAMES]
    # Every run's record, read once: finished runs from disk, new ones as they finish.
    records = {key: read_json(_run_file(output, key[1], key[0])) for key in plan}
    pending = [key for key in plan if records[key] is None]
    if on_run_end is not None:
        for key in plan:
            if records[key] is not None:
                on_run_end(records[key]["row"], True)
    ran = 0
    if pending:
        from kregs.study.train import Trainer

        trainer = Trainer(
            dataset,
            budget,
            arch=arch,
            data_dir=data_dir,
            validation_split=validation_split,
            deterministic=deterministic,
            mixed_precision=mixed_precision,
            jit_compile=jit_compile,
        )
        for s, name in pending:
            record = trainer.run(name, configs[name], s)
            write_json(_run_file(output, name, s), record)
            records[(s, name)] = record
            ran += 1
            report.write_csv(
                os.path.join(output, "study.csv"),
                [r["row"] for r in records.values() if r is not None],
            )
            if on_run_end is not None:
                on_run_end(record["row"], False)

    rows = [records[key]["row"] for key in plan]
    report.write_csv(os.path.join(output, "study.csv"), rows)
    markdown = report.markdown(study, rows, info)
    write_atomic(os.path.join(output, "study.md"), markdown)
    from kregs.study import plots

    pngs = plots.write_all(os.path.join(output, "plots"), list(records.values()), dataset)
    logger.info("study of %s finished: %d runs, %d trained now", dataset, len(rows), ran)
    return StudyResult(output, rows, values, markdown, pngs, ran, time.monotonic() - started)


def _run_file(output, name, seed):
    return os.path.join(output, RUNS_DIR, f"{name}-seed{seed}.json")


def _prepare_output(output, study, overwrite):
    """Creates `output` and its runs/ folder, or checks that it holds this same study."""
    prepare_output(output, STUDY_FILE, study, overwrite, RESUMABLE_CHANGES, "study", "protocol")
    os.makedirs(os.path.join(output, RUNS_DIR), exist_ok=True)
