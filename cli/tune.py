"""`kregs tune`: parse, build a `TuneConfig`, call `kregs.tuner.tune`, print."""

import os
import sys
import time

import click

from kregs.checks import (
    AUGMENTATIONS,
    BATCH_NORM_PLACEMENTS,
    DROPOUT_KINDS,
    DROPOUT_PLACEMENTS,
)
from kregs.cli import children
from kregs.cli import options as opt
from kregs.cli.output import trial_line
from kregs.cli.progress import Display
from kregs.cli.quiet import quiet_tensorflow
from kregs.run.budget import ALGORITHMS, SEARCH_PRESETS, SPACES
from kregs.run.interrupt import catching_interrupts
from kregs.tuner.config import STRATEGIES, ClusterOptions, TuneConfig
from kregs.tuner.recycle import EXIT_RECYCLE, RecyclePolicy

BASE = SEARCH_PRESETS[None]  # the budget without a preset


def _or_preset(value):
    return f"[default: {value}, or the preset's]"


TUNE_OPTIONS = [
    opt.dataset,
    opt.preset(
        "A named budget: smoke (seconds), quick (minutes on a CPU), paper "
        "(the study's protocol). Options given explicitly override it."
    ),
    click.option(
        "--algorithm",
        type=click.Choice(ALGORITHMS),
        default=None,
        help=f"KerasTuner algorithm.  {_or_preset(BASE.algorithm)}",
    ),
    click.option(
        "--max-trials",
        type=click.IntRange(min=1),
        default=None,
        help=f"Trials at most.  {_or_preset(BASE.max_trials)}",
    ),
    click.option(
        "--epochs",
        type=click.IntRange(min=1),
        default=None,
        help=f"Epochs per trial at most.  {_or_preset(BASE.epochs)}",
    ),
    click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=None,
        help=f"Batch size.  {_or_preset(BASE.batch_size)}",
    ),
    click.option(
        "--space",
        type=click.Choice(SPACES),
        default=None,
        help=f"Search space.  {_or_preset(BASE.space)}",
    ),
    click.option(
        "--limit",
        type=click.IntRange(min=1),
        default=None,
        help=f"Use only this many training images (stratified).  {_or_preset('all')}",
    ),
    click.option(
        "--trial-images",
        type=click.IntRange(min=1),
        default=None,
        help="Train each trial on this many training images (a stratified subset); every "
        f"trial is judged on the whole validation split.  {_or_preset('all')}",
    ),
    click.option(
        "--refit/--no-refit",
        default=None,
        help="After the search, train the best configuration on every training image "
        "(validation split included) for its best number of epochs, and export that "
        "model.  [default: on, except in the smoke preset]",
    ),
    click.option(
        "--baseline/--no-baseline",
        default=None,
        help="Try the unregularized model (no penalty, dropout, BN or augmentation) first: "
        "the search's control, shown in summary.md.  [default: on]",
    ),
    click.option(
        "--patience",
        type=click.IntRange(min=1),
        default=None,
        help=f"Early-stopping patience on val_loss.  {_or_preset(BASE.patience)}",
    ),
    click.option(
        "--l2",
        type=click.FloatRange(min=0),
        default=None,
        help="Fix the L2 lambda (0 switches L2 off) instead of searching it.",
    ),
    click.option(
        "--dropout",
        type=click.FloatRange(0, 1, max_open=True),
        default=None,
        help="Fix the dropout rate (0 switches dropout off) instead of searching it.",
    ),
    click.option(
        "--batch-norm",
        type=click.Choice(BATCH_NORM_PLACEMENTS),
        default=None,
        help="Fix the BN placement instead of searching it.",
    ),
    click.option(
        "--weight-decay",
        type=click.FloatRange(min=0),
        default=None,
        help="Extended space: fix the decoupled weight decay (AdamW; each step multiplies "
        "every kernel by 1 - learning_rate * weight_decay; 0 switches it off).",
    ),
    click.option(
        "--dropout-placement",
        type=click.Choice(DROPOUT_PLACEMENTS),
        default=None,
        help="Extended space: fix where dropout goes (in every block, after each pooling "
        "stage, or in the dense head only).",
    ),
    click.option(
        "--dropout-kind",
        type=click.Choice(DROPOUT_KINDS),
        default=None,
        help="Extended space: fix what dropout drops in convolutions (single activations "
        "or whole feature maps).",
    ),
    click.option(
        "--augment",
        type=click.Choice(AUGMENTATIONS),
        default=None,
        help="Extended space: fix the training-time augmentation (flips only for data a "
        "mirror keeps: not MNIST).",
    ),
    opt.arch,
    opt.data_dir,
    click.option(
        "--output",
        type=click.Path(file_okay=False),
        default=None,
        help="Output folder; an existing run there is resumed.  "
        "[default: runs/<dataset>-<UTC timestamp>]",
    ),
    opt.overwrite,
    click.option("--seed", type=int, default=opt.field_default(TuneConfig, "seed")),
    click.option(
        "--top-k",
        type=click.IntRange(min=1),
        default=opt.field_default(TuneConfig, "top_k"),
        help="Best models kept in best/.",
    ),
    opt.precision,
    opt.jit_compile,
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


@click.command()
@opt.apply_options(*TUNE_OPTIONS, *DISTRIBUTED_OPTIONS)
@click.pass_context
def tune(ctx, workers, quiet, recycle_after, **options):
    """Search L2 strength, dropout rate and BN placement with KerasTuner.

    Writes trials.csv, summary.md, best/ (top models as .keras) and export/
    (the best model as a TF Serving SavedModel) into --output. Run the same
    command again to resume an interrupted search.
    """
    if workers is not None:
        return children.workers(ctx, workers, options)
    _check_roles(options)
    config = TuneConfig.create(**options)
    recycle = RecyclePolicy.from_env()
    if recycle is None and recycle_after and config.cluster is None:
        return children.recycled(ctx, config, RecyclePolicy(trials=recycle_after))
    quiet_tensorflow(config.verbose)
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
        click.echo(f"kregs tune: {config.dataset} (preset: {options['preset'] or 'none'}){role}")
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
    from kregs.tuner.summary_md import control_verdict

    verdict = control_verdict(result.rows)
    if verdict is not None:
        click.echo(verdict["text"])
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
    click.echo(f"results: {result.output} (trials.csv, summary.md, best/)")
    if result.export_path is not None:
        click.echo(f"SavedModel: {result.export_path}")
    else:
        from kregs.tuner.best import export_missing

        click.echo(f"SavedModel: none: {export_missing(result.output)}")
    started = os.environ.get(children.STARTED_VAR)  # set by the supervisor of fresh processes
    seconds = time.time() - float(started) if started else result.seconds
    click.echo(f"wall time: {seconds:.1f}s")
