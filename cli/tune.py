"""`kregs tune`: parse, build a `TuneConfig`, call `kregs.tuner.tune`, print."""

import os
import sys
import time

import click

from kregs.cli import children
from kregs.cli import options as opt
from kregs.cli.output import trial_line
from kregs.cli.progress import Display
from kregs.cli.quiet import quiet_tensorflow
from kregs.config import DIMENSIONS
from kregs.run.budget import duration_text
from kregs.run.interrupt import catching_interrupts
from kregs.run.processes import freeze_imports
from kregs.tuner.budget import ALGORITHMS, PRUNINGS, REFIT_STARTS, SEARCH_PRESETS, SPACES
from kregs.tuner.config import STRATEGIES, ClusterOptions, TuneConfig
from kregs.tuner.recycle import EXIT_RECYCLE, RecyclePolicy
from kregs.tuner.stopping import STOPS

BASE = SEARCH_PRESETS[None]  # the budget without a preset


def _budget(name, kind, text, preset_default=None):
    """A budget option: None (the preset's value) unless given; the help names both defaults."""
    default = getattr(BASE, name.replace("-", "_")) if preset_default is None else preset_default
    return click.option(
        f"--{name}",
        type=kind,
        default=None,
        help=f"{text}  [default: {default}, or the preset's]",
    )


TUNE_OPTIONS = [
    opt.dataset("A built-in data set, or tfds:NAME.  [default: fashion_mnist, unless --data]"),
    *opt.DATA_OPTIONS,
    opt.preset(
        "A named budget: smoke (seconds), quick (10 minutes), paper (the study's "
        "protocol). Options given explicitly override it."
    ),
    _budget("algorithm", click.Choice(ALGORITHMS), "KerasTuner algorithm."),
    _budget("max-trials", click.IntRange(min=1), "Trials at most."),
    _budget("epochs", click.IntRange(min=1), "Epochs per trial at most."),
    _budget("batch-size", click.IntRange(min=1), "Batch size."),
    _budget("space", click.Choice(SPACES), "Search space."),
    _budget(
        "limit", click.IntRange(min=1), "Use at most this many training images (stratified).", "all"
    ),
    _budget(
        "trial-images",
        click.IntRange(min=1),
        "Train each trial on this many training images (a stratified subset); every trial "
        "is judged on the whole validation split.",
        "all",
    ),
    click.option(
        "--refit/--no-refit",
        default=None,
        help="After the search, train the best configuration on every training image "
        "(validation split included) for its best number of epochs, and export that "
        "model.  [default: on, except in the smoke preset]",
    ),
    _budget(
        "refit-from",
        click.Choice(REFIT_STARTS),
        "Where the refit starts: from the best trial's trained weights (trial: a head start "
        "worth the trial's epochs), or from fresh initial weights (scratch; the paper "
        "preset's).",
    ),
    click.option(
        "--baseline/--no-baseline",
        default=None,
        help="Try the unregularized model (no penalty, dropout, BN or augmentation) first: "
        "the search's control, shown in summary.md.  [default: on]",
    ),
    _budget("patience", click.IntRange(min=1), "Early-stopping patience on val_loss."),
    _budget(
        "pruning",
        click.Choice(PRUNINGS),
        "Stop a trial whose validation accuracy falls behind the earlier trials' at the same "
        "epoch: below their median (median) or out of the top third at epochs 2, 6, 18 "
        "(asha). Not with hyperband or bayesian.",
    ),
    _budget(
        "time-budget",
        str,
        "Time for the whole run (search, refit, test, export), e.g. 10m, 1h, 1h30m: no "
        "trial starts that cannot end in time, and the refit's epochs fit what is left.",
        duration_text(BASE.time_budget),
    ),
    _budget(
        "folds",
        click.STRING,
        "After the search, train the control and the best configurations on K folds of "
        "every training image and compare them across folds: K >= 2, 0 (none), or auto "
        "(5 where the validation split holds fewer than 2,000 images, else none).",
    ),
    _budget(
        "stop",
        click.Choice(STOPS),
        "End the search once its last 6 trials all fell short of the best one's 95% "
        "interval (auto; the time left goes to the refit), or only when the budget does "
        "(never).",
    ),
    *opt.fix_dimension_options(),
    click.option(
        "--learning-rate",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        default=None,
        help="Fix Adam's (peak) learning rate instead of searching it.",
    ),
    opt.arch,
    *opt.MODEL_OPTIONS,
    opt.data_dir,
    click.option(
        "--output",
        type=click.Path(file_okay=False),
        default=None,
        help="Output folder; an existing run there is resumed.  "
        "[default: runs/<dataset>-<UTC timestamp>]",
    ),
    opt.overwrite,
    opt.seed(TuneConfig),
    opt.validation_split(TuneConfig),
    click.option(
        "--keep-best",
        type=click.IntRange(min=1),
        default=opt.field_default(TuneConfig, "keep_best"),
        help="Best models kept in best/.",
    ),
    opt.precision,
    opt.jit_compile,
    opt.deploy_options(
        "--export-format",
        "--export-precision",
        ("litert", "onnx", "openvino"),
        "Also write the exported model in this format, as the SavedModel's version (repeatable)",
    ),
    opt.verbose,
    opt.quiet,
]


DISTRIBUTED_OPTIONS = [
    click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="Distributed tuning on this machine: start a chief on 127.0.0.1 and this many "
        "worker processes (worker i on GPU i when there are GPUs).",
    ),
    click.option(
        "--role",
        type=click.Choice(["chief", "worker"]),
        default=None,
        help="Distributed tuning over several machines sharing --output: this process is "
        "the chief (serves the oracle) or a worker (trains trials).",
    ),
    click.option(
        "--oracle",
        metavar="HOST:PORT",
        default=None,
        help="With --role: where the chief listens. Use 127.0.0.1 unless workers are on "
        "other machines (the channel has no authentication).",
    ),
    click.option("--worker-id", default=None, help="With --role worker: this worker's unique id."),
    click.option(
        "--worker-timeout",
        type=click.FloatRange(min=1),
        default=opt.field_default(ClusterOptions, "worker_timeout"),
        help="Chief: seconds without a worker's heartbeat before its trial goes to another worker.",
    ),
    click.option(
        "--oracle-timeout",
        type=click.FloatRange(min=1),
        default=opt.field_default(ClusterOptions, "oracle_timeout"),
        help="Worker: seconds to wait for the chief to answer before giving up (exit status 2).",
    ),
    click.option(
        "--strategy",
        type=click.Choice(STRATEGIES),
        default=None,
        help="Train each trial on every visible GPU with tf.distribute.MirroredStrategy; "
        "--batch-size is then per replica.",
    ),
    click.option(
        "--recycle-after",
        type=click.IntRange(min=0),
        default=RecyclePolicy.trials,
        show_default=True,
        help="Run the trials in a child process that a fresh one replaces after this many "
        f"trials, or sooner once its memory grew {RecyclePolicy.rss_growth:.0%} (flat memory "
        "over a long search); 0: every trial in this process. Not with --role or --workers.",
    ),
    click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=None,
        help="TensorFlow threads per process.  [default: TensorFlow's; with --workers on a "
        "CPU, the cores divided among the workers]",
    ),
]


# `kregs tune --help`'s headings.
GROUPS = {
    "Data": (
        "dataset",
        "data",
        "data_dir",
        "image_size",
        "color_mode",
        "test_split",
        "skip_bad_images",
        "pixel_range",
        "flips",
        "max_memory",
        "validation_split",
        "limit",
    ),
    "Model": ("arch", "model", "init", "input_range"),
    "Search": (
        "preset",
        "algorithm",
        "space",
        "max_trials",
        "baseline",
        "seed",
        "learning_rate",
        *(d.name for d in DIMENSIONS),
    ),
    "Budget": (
        "time_budget",
        "epochs",
        "batch_size",
        "patience",
        "trial_images",
        "pruning",
        "stop",
        "folds",
        "refit",
        "refit_from",
    ),
    "Output": ("output", "overwrite", "keep_best", "quiet", "verbose"),
    "Export": (
        "export_formats",
        "quantize",
        "export_precision",
        "max_accuracy_drop",
        "accept_accuracy_drop",
    ),
    "Device and processes": (
        "precision",
        "jit_compile",
        "threads",
        "strategy",
        "workers",
        "recycle_after",
    ),
    "Distributed search (several machines)": (
        "role",
        "oracle",
        "worker_id",
        "worker_timeout",
        "oracle_timeout",
    ),
}


@click.command(cls=opt.grouped(GROUPS))
@opt.apply_options(*TUNE_OPTIONS, *DISTRIBUTED_OPTIONS)
@opt.renamed_flags(
    ("--top-k", "keep_best", "--keep-best", int),
    *opt.RENAMED_MODEL_FLAGS,
)
@click.pass_context
def tune(ctx, workers, quiet, recycle_after, **options):
    """Search a model's regularization with KerasTuner, and say whether it pays.

    L2 or weight decay, dropout, BN placement, augmentation, label smoothing,
    MixUp/CutMix, EMA, stochastic depth: against the control, with intervals.
    Writes trials.csv, summary.md, best/ (top models as .keras) and export/
    (the best model as a TF Serving SavedModel) into --output. Run the same
    command again to resume an interrupted search.
    """
    if workers is not None:
        return children.workers(ctx, workers, options)
    _check_roles(options)
    quiet_tensorflow(options["verbose"])  # (a --model module:function may import it)
    config = TuneConfig.create(**options)
    recycle = RecyclePolicy.from_env()
    if recycle is None and recycle_after and config.cluster is None:
        return children.recycled(ctx, config, RecyclePolicy(trials=recycle_after))
    freeze_imports()
    from kregs import compat
    from kregs.tuner.distributed.addressing import exposure_warning
    from kregs.tuner.driver import tune as run_tune

    cluster = config.cluster
    for warning in (
        compat.keras_tuner_warning(),
        exposure_warning(cluster.host) if cluster and cluster.role == "chief" else None,
    ):
        if warning:
            click.echo(warning, err=True)
    role = f" ({cluster.role} {cluster.worker_id or ''})".replace(" )", ")") if cluster else ""
    if recycle is None:
        name = config.dataset.name
        click.echo(f"kregs tune: {name} (preset: {options['preset'] or 'none'}){role}")
    from kregs.tuner.recycle import ProcessRecycled

    try:
        with (
            catching_interrupts(),
            _Printer.for_terminal(quiet, config.verbose, "trials", cluster=cluster) as printer,
        ):
            result = run_tune(config, printer, recycle=recycle)
    except ProcessRecycled:
        sys.exit(EXIT_RECYCLE)  # the supervisor starts a fresh process that goes on
    _print_result(config, result)


class _Printer(Display):
    """Prints each ended trial (under --workers, the chief leaves that to the workers)."""

    def __init__(self, mode, what, cluster=None):
        super().__init__(mode, what)
        supervised = os.environ.get("KREGS_SUPERVISED") == "1"
        self.quiet_trials = cluster is not None and cluster.role == "chief" and supervised

    def trial_ended(self, row):
        self.unit_done()
        if not self.quiet_trials:
            self.echo(trial_line(row))

    def worker_lost(self, message):
        self.echo(f"Warning: {message}")

    def note(self, text):
        self.echo(text)


def _check_roles(options):
    role = options["role"]
    if role is None and (options["oracle"] or options["worker_id"]):
        raise click.UsageError("--oracle and --worker-id need --role chief or --role worker")
    if role is not None and not options["oracle"]:
        raise click.UsageError(f"--role {role} needs --oracle HOST:PORT")
    if role == "worker" and not options["worker_id"]:
        raise click.UsageError("--role worker needs --worker-id ID (unique per worker)")
    if role is not None and not options["output"]:
        raise click.UsageError(f"--role {role} needs --output, the folder chief and workers share")


def _print_deployed(deployed):
    """One line per format written beside the SavedModel (--export-format), and refusals."""
    if deployed is None:
        return
    from kregs.deploy import FORMATS

    rows = {r["format"]: r for r in deployed.rows}
    for fmt, folder in deployed.written.items():
        if fmt == "savedmodel":
            continue
        r = rows.get(fmt)
        figures = (
            f" (test accuracy {r['accuracy']:.4f}, {r['drop_points']:+.2f} points from Keras; "
            f"{r['size_bytes'] / 1e6:.2f} MB; {r['latency_ms']:.2f} ms per image)"
            if r
            else ""
        )
        click.echo(f"{FORMATS[fmt].label}: {folder}{figures}")
    for text in deployed.refused.values():
        click.echo(f"Warning: refused {text}", err=True)


def _print_result(config, result):
    if result.replicas > 1:
        click.echo(
            f"strategy: {result.replicas} replicas per trial, global batch "
            f"{result.replicas} x the per-replica --batch-size"
        )
    if result.role == "worker":
        n = len(result.rows)
        click.echo(
            f"worker {config.cluster.worker_id} done: {n} trial{'s' if n != 1 else ''} run here"
        )
        return
    if result.unfinished:
        click.echo(
            f"Warning: trials {', '.join(result.unfinished)} were interrupted and not run again; "
            "run the same command to resume them",
            err=True,
        )
    best = result.best
    click.echo("")
    click.echo(result.top_table)
    click.echo("")
    from kregs.tuner.summary_md import ONLY_THE_CONTROL

    entry = result.verdicts.get("regularization")
    if entry is not None:
        click.echo(entry["text"])
        if entry.get("note"):
            click.echo(entry["note"])
    if result.only_the_control:
        click.echo(ONLY_THE_CONTROL)
    click.echo(
        f"best: trial {best['trial_id']} ({best['config']}), test accuracy "
        f"{result.test['accuracy']:.4f} on {result.test['images']} test images"
    )
    if result.refit is not None:
        r = result.refit
        click.echo(
            f"refit: {r['images']} images, {r['epochs']} epochs, {r['seconds']:.0f} s: "
            f"test accuracy {r['test']['accuracy']:.4f} "
            f"({'the model exported' if result.export_path else 'the model to export'})"
        )
        if "refit" in result.verdicts:
            click.echo(result.verdicts["refit"]["text"])
    click.echo(f"results: {result.output} (trials.csv, summary.md, best/)")
    if result.export_path is not None:
        click.echo(f"SavedModel: {result.export_path}")
        _print_deployed(result.deployed)
    else:
        from kregs.tuner.best import export_missing

        click.echo(f"SavedModel: none: {export_missing(result.output)}")
    started = os.environ.get(children.STARTED_VAR)  # set by the supervisor of fresh processes
    seconds = time.time() - float(started) if started else result.seconds
    click.echo(f"wall time: {seconds:.1f}s")
