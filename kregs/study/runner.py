"""`run_study`: a study's configurations, several seeds each, one protocol, resumable."""

import dataclasses
import logging
import os
import time

from kregs import data
from kregs.run import device as device_setup
from kregs.run.events import Listener
from kregs.run.files import full_disk, read_json, watching_disk, write_atomic, write_json
from kregs.run.folder import RunFolder, default_output
from kregs.run.progress import Tracker
from kregs.study import ablation_md, plots, sequential, stats, study_csv, study_md, sweep_md
from kregs.study.config import RESUMABLE, STUDY_FILE, StudyConfig

logger = logging.getLogger(__name__)

RUNS_DIR = "runs"
TIME_FILE = "time.json"  # the time the study's sessions spent (`--time-budget` counts them all)
# What a study writes (all that --overwrite deletes; see kregs.run.folder.owned).
OWNED = (
    f"{RUNS_DIR}/*-seed*.json",
    "study.csv",
    "study.md",
    TIME_FILE,
    *(f"plots/{name}" for name in plots.NAMES),
    "plots/sweep-*.png",
)
RUN_REMEDY = "delete it and run the same command: that run trains again"
RUN_REMEDY_TIME = "delete it and run the same command: the time budget starts again"


@dataclasses.dataclass
class StudyResult:
    """What `run_study` produced.

    Attributes:
        output: str, the output folder.
        rows: list of dict, the rows of study.csv (one per configuration and seed).
        values: `kregs.study.protocol.StudyValues`, the values used and their sources.
        markdown: str, the text of study.md.
        plots: list of str, the PNG files written.
        ran: int, runs trained by this call (the others were already finished).
        seconds: float, wall time of this call.
    """

    output: str
    rows: list
    values: object
    markdown: str
    plots: list
    ran: int
    seconds: float


def run_study(config, listener=None):
    """Trains the study's configurations `config.seeds` times each and reports on them.

    The configurations (`config.kind`, see `kregs.study.plan`) are the
    study's eight (none, l2, dropout, bn, l2+dropout, l2+bn, dropout+bn,
    l2+dropout+bn), a sweep's values, or an ablation's best configuration and
    its removals. Every run builds `kregs.build_model(arch)` with one
    configuration, trains it with Adam (AdamW with weight decay) at a fixed
    learning rate, early stopping on val_loss (best weights restored) and
    `TerminateOnNaN`, then measures it once on the test set. Seed `s` seeds
    the training subset, the validation split, the weights and the shuffling,
    and is the same for every configuration. Runs go seed by seed, so an
    interrupted study has whole seeds first.

    The output folder holds `study.json` (the protocol), `runs/<config>-seed<s>.json`
    (each run with its history, written as soon as it finishes), `study.csv`,
    `study.md` and `plots/*.png`. Calling `run_study` again with the same
    output skips every finished run; a larger `seeds` adds seeds.

    Args:
        config: a `StudyConfig`.
        listener: a `kregs.run.events.Listener` or None (`values_chosen`, `run_ended`).

    Returns:
        A `StudyResult`.

    Raises:
        ConfigError: `output` holds another study, or cannot be written.
        DataNotFoundError, DataError: the data set cannot be loaded.
        DiskFullError: the disk filled up (the same call continues once there is space).
        FolderInUseError: another process writes the output folder.

    Example:
    >>> result = run_study(StudyConfig.create("fashion_mnist", preset="smoke", seeds=2))
    >>> print(result.markdown)
    """
    if not isinstance(config, StudyConfig):
        raise TypeError(f"run_study takes a StudyConfig, not {type(config).__name__}")
    started = time.monotonic()
    listener = listener or Listener()
    folder = study_folder(config)
    try:
        with watching_disk(), folder.session(config.record(), config.overwrite):
            return _run(config, folder, listener, started)
    except Exception as err:
        disk = full_disk(err, folder.path)
        if disk is not None:
            raise disk from None
        raise


def study_folder(config):
    """The `RunFolder` of a study (study.json; more seeds may be added)."""
    return RunFolder(
        config.output or default_output(f"study-{config.dataset.name}"),
        STUDY_FILE,
        "study",
        "protocol",
        RESUMABLE,
        owned=OWNED,
        work=(f"{RUNS_DIR}/*-seed*.json",),
    )


def _run(config, folder, listener, started):
    configs = config.configurations()
    records = finished_runs(config, configs, folder)
    plan = planned(config, configs, records, folder)
    pending = [key for key in plan if key not in records]
    trainer = _trainer(config, listener, len(pending)) if pending else None  # loads the data
    previous = folder.read_record() or {}
    info = (
        trainer.dataset(config.seed).info
        if trainer is not None
        else data.DatasetInfo.from_dict(previous["data_info"])
        if "data_info" in previous
        else data.builtin_info(config.dataset.name)
    )
    folder.write_record({**config.record(), "data_info": info.to_dict()})
    if trainer is not None and config.model is not None:
        for note in config.model.preview(info.input_shape, info.num_classes):
            listener.note(note)
    os.makedirs(folder.file(RUNS_DIR), exist_ok=True)
    if config.kind == "configurations":
        listener.values_chosen(config.values)
    for key in plan:
        if key in records:
            listener.run_ended(records[key]["row"], True)
    ran = 0
    clock = StudyClock(folder.file(TIME_FILE), started)
    with device_setup.op_determinism(config.deterministic):
        while pending:
            if _out_of_time(config, clock, records):
                break
            trainer = trainer or _trainer(config, listener, len(pending))
            _train(trainer, configs, folder, pending[:1], records, listener)
            clock.save()
            ran += 1
            plan = planned(config, configs, records, folder)
            pending = [key for key in plan if key not in records]
    return _report(config, folder, plan, records, ran, clock, info)


def planned(config, configs, records, folder):
    """`(seed, name)` of every run the study wants now: every seed of every configuration,
    or with `--seeds auto` those its open verdicts ask for (`kregs.study.sequential`)."""
    if config.seeds != "auto":
        seeds = range(config.seed, config.seed + config.seeds)
        return [(s, name) for s in seeds for name in configs]
    wanted = sequential.wanted(config.kind, list(configs), _accuracies(records), config.max_seeds)
    return [
        (config.seed + i, name)
        for i in range(max(wanted.values()))
        for name in configs
        if i < wanted[name]
    ]


def finished_runs(config, configs, folder):
    """Every finished run's record the study wants, read once from disk: `{(seed, name):
    record}`. With `--seeds auto` the plan grows with what is read (a look's verdicts
    ask for the next look's seeds), so the runs of later looks are read too."""
    records, tried = {}, set()
    while True:
        new = [key for key in planned(config, configs, records, folder) if key not in tried]
        if not new:
            return records
        tried.update(new)
        for key in new:
            record = read_json(_run_file(folder, *key), remedy=RUN_REMEDY)
            if record is not None:
                records[key] = record


def _accuracies(records):
    """`{name: [test accuracy per seed]}` of the finished runs that did not fail."""
    found = {}
    for (_, name), record in sorted(records.items()):
        if not record["row"].get("failed"):
            found.setdefault(name, []).append(record["row"]["test_accuracy"])
    return found


class StudyClock:
    """The time a study spent: this session's and its earlier sessions' (time.json), so
    that `--time-budget` counts a study killed and resumed once, not once a session.

    Args:
        path: str, the study's time.json.
        started: float, when this session began on `time.monotonic()`'s scale.
    """

    def __init__(self, path, started):
        self.path = path
        self.before = float((read_json(path, remedy=RUN_REMEDY_TIME) or {}).get("spent", 0.0))
        self.started = started

    def spent(self):
        """Seconds spent by every session, this one so far included."""
        return self.before + time.monotonic() - self.started

    def save(self):
        """Records the time spent so far (after each finished run)."""
        write_json(self.path, {"spent": round(self.spent(), 1)})


def _out_of_time(config, clock, records):
    """Whether the study's time budget leaves no room for one more run (at the pace of the
    runs trained so far)."""
    if config.time_budget is None:
        return False
    spent = clock.spent()
    seconds = [r["row"]["train_seconds"] for r in records.values()] or [0.0]
    return spent + sum(seconds) / len(seconds) > config.time_budget


def _trainer(config, listener, pending):
    from kregs.study.train import Trainer

    device = device_setup.configure(config.device)
    with device_setup.op_determinism(config.deterministic):
        return Trainer(config, device, listener, Tracker(pending))


def _train(trainer, configs, folder, pending, records, listener):
    """Trains the pending runs, writing each run's record and study.csv as it finishes."""
    for seed, name in pending:
        record = trainer.run(name, configs[name], seed)
        write_json(_run_file(folder, seed, name), record)
        records[(seed, name)] = record
        study_csv.write_csv(
            folder.file(study_csv.FILE), [r["row"] for r in records.values() if r is not None]
        )
        listener.run_ended(record["row"], False)


def _report(config, folder, plan, records, ran, clock, info):
    """study.csv, study.md and the plots of the whole study (failed runs named in study.md
    and kept out of its numbers)."""
    order = {name: i for i, name in enumerate(config.configurations())}
    done = sorted((k for k in records if k[1] in order), key=lambda k: (k[0], order[k[1]]))
    every = [records[key]["row"] for key in done]
    study_csv.write_csv(folder.file(study_csv.FILE), every)
    rows = [row for row in every if not row.get("failed")]
    run_records = [records[key] for key in done if not records[key]["row"].get("failed")]
    record = {**config.record(), "dataset": info.name}  # (the reports name the data)
    if config.seeds == "auto":
        record["confidence"] = sequential.confidence(config.max_seeds)
    with stats.level(record.get("confidence", stats.CONFIDENCE)):
        markdown, pngs = _markdown(config, folder, record, rows, run_records, info)
    markdown += failed_lines(every)
    if config.seeds == "auto":
        markdown += seeds_lines(config, records, clock)
    write_atomic(folder.file(study_md.FILE), markdown)
    logger.info("study of %s finished: %d runs, %d trained now", info.name, len(every), ran)
    return StudyResult(
        folder.path, every, config.values, markdown, pngs, ran, time.monotonic() - clock.started
    )


def _markdown(config, folder, record, rows, run_records, info):
    """study.md's text and the plots, by the study's kind: `(markdown, pngs)`."""
    if config.kind == "sweep":
        markdown = sweep_md.markdown(record, rows, info)
        pngs = plots.write_sweeps(folder.file("plots"), rows, record)
    elif config.kind == "ablation":
        markdown = ablation_md.markdown(record, rows, info, run_records)
        pngs = plots.write_ablation(folder.file("plots"), run_records, info.name)
    else:
        markdown = study_md.markdown(record, rows, info)
        pngs = plots.write_all(folder.file("plots"), run_records, info.name)
    return markdown, pngs


def failed_lines(rows):
    """study.md's failed runs: named, counted, and kept out of every number above."""
    failed = [r for r in rows if r.get("failed")]
    if not failed:
        return ""
    lines = [
        "",
        f"## Failed runs ({len(failed)} of {len(rows)}, kept out of every number above)",
        "",
        *(f"- {r['config']} seed {r['seed']}: {r['failed']}" for r in failed),
        "",
    ]
    return "\n".join(lines)


def seeds_lines(config, records, clock):
    """study.md's seeds: for each verdict, the seeds it took and why it got no more."""
    found = sequential.comparisons(config.kind, list(config.configurations()))
    accuracies = _accuracies(records)
    level = sequential.confidence(config.max_seeds)
    sequential.review(found, accuracies, config.max_seeds)
    out_of_time = _out_of_time(config, clock, records)
    lines = [
        "",
        "## Seeds (--seeds auto)",
        "",
        f"Seeds were added where a verdict was still open, looking after "
        f"{', '.join(map(str, sequential.looks(config.max_seeds)))} seeds; each look's "
        f"interval at {100 * level:g}% (Bonferroni over the looks: the chance of a false "
        "decision over all of them stays at most 5%).",
        "",
        "| verdict | seeds | difference, points [interval] | stopped |",
        "|---|---|---|---|",
    ]
    for c in found:
        d = c.difference
        shown = (
            "-"
            if d is None or d.low is None
            else f"{100 * d.diff:+.2f} [{100 * d.low:+.2f}, {100 * d.high:+.2f}]"
        )
        state = (
            c.state
            if c.state != sequential.OPEN
            else (sequential.BUDGET if out_of_time else sequential.OPEN)
        )
        lines.append(f"| {c.claim} | {c.seeds} | {shown} | {state} |")
    return "\n".join([*lines, ""])


def _run_file(folder, seed, name):
    return folder.file(RUNS_DIR, f"{name.replace(' ', '-')}-seed{seed}.json")
