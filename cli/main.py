"""The `kregs` command line: parse, call the library, print.

Only click is imported here at module level; each command imports TensorFlow,
Keras and KerasTuner inside its body, so `kregs --help` answers at once.
"""

import contextlib
import os
import sys

import click

import kregs

DATASETS = ("mnist", "fashion_mnist", "cifar10")
ALGORITHMS = ("hyperband", "bayesian", "random", "grid")
PRESETS = ("smoke", "quick", "paper")
BATCH_NORM = ("none", "before_activation", "after_activation")


# Options that tune and study share.
_dataset_option = click.option("--dataset", type=click.Choice(DATASETS), default="fashion_mnist")
_arch_option = click.option("--arch", type=click.Choice(["cnn", "mlp"]), default="cnn")
_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder with the data set's files (IDX .gz, mnist.npz, cifar-10-batches-py/).",
)
_mixed_precision_option = click.option(
    "--mixed-precision/--no-mixed-precision",
    default=None,
    help="float16 compute.  [default: on with a GPU, off on CPU]",
)
_jit_compile_option = click.option(
    "--jit-compile/--no-jit-compile",
    default=None,
    help="XLA compilation.  [default: on with a GPU, off on CPU]",
)


def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    logging.getLogger("absl").setLevel(logging.ERROR)


def _usage_error(err):
    """A library error as a one-line click error (exit status 2)."""
    return click.UsageError(str(err).splitlines()[0] if str(err) else type(err).__name__)


@contextlib.contextmanager
def _library_errors():
    """Bad input from the library (ValueError, FileNotFoundError) -> one line, exit status 2;
    a run that cannot finish (KregsError) -> one line, exit status 1."""
    from kregs.errors import KregsError

    try:
        yield
    except ValueError as err:  # ConfigError, DataError: bad input
        raise _usage_error(err) from None
    except FileNotFoundError as err:  # DataNotFoundError
        raise _usage_error(err) from None
    except KregsError as err:
        click.echo(f"Error: {err}", err=True)
        sys.exit(1)


class _OneLineErrors(click.Group):
    """Bad input gets one line, `Error: <what> (see kregs CMD --help)`, and exit status 2.

    click prints the usage text above a usage error; kregs keeps the message
    alone on one line, pointing at the help instead.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            if err.ctx is None:
                raise
            hint = f" (see {err.ctx.command_path} --help)"
            raise click.UsageError(err.format_message() + hint) from None


@click.group(
    cls=_OneLineErrors,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
@click.version_option(kregs.__version__, prog_name="kregs")
def main():
    """kregs: search and study L2, dropout and batch normalization for Keras models."""


def _trial_line(row):
    status = row["status"]
    head = f"trial {row['trial_id']} {status.lower():9s} {row['config'] or '?':14s}"
    hps = (
        f"l2={_num(row.get('l2'))} dropout={_num(row.get('dropout'))} "
        f"bn={row.get('batch_norm')} lr={_num(row.get('learning_rate'))}"
    )
    by = f" ({row['tuner_id']})" if row.get("tuner_id") else ""
    if status != "COMPLETED":
        return f"{head} {hps}  {row['error']}{by}"
    return (
        f"{head} {hps}  val_acc={row['best_val_accuracy']:.4f} val_loss={row['best_val_loss']:.4f} "
        f"gap={row['generalization_gap']:+.4f} epochs={row['epochs']} {row['seconds']:.1f}s{by}"
    )


def _num(value):
    return "-" if value is None else f"{value:.3g}"


@main.command()
@_dataset_option
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    default=None,
    help="A named budget: smoke (seconds), quick (minutes on a CPU), paper "
    "(the study's protocol). Options given explicitly override it.",
)
@click.option(
    "--algorithm",
    type=click.Choice(ALGORITHMS),
    default=None,
    help="KerasTuner algorithm.  [default: hyperband, or the preset's]",
)
@click.option(
    "--max-trials",
    type=click.IntRange(min=1),
    default=None,
    help="Trials at most.  [default: 20, or the preset's]",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Epochs per trial at most.  [default: 10, or the preset's]",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Batch size.  [default: 64, or the preset's]",
)
@click.option(
    "--space",
    type=click.Choice(["default", "paper"]),
    default=None,
    help="Search space.  [default: default, or the preset's]",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Use only this many training images (stratified).  [default: all, or the preset's]",
)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    default=None,
    help="Early-stopping patience on val_loss.  [default: 5, or the preset's]",
)
@click.option(
    "--l2",
    type=click.FloatRange(min=0),
    default=None,
    help="Fix the L2 lambda (0 switches L2 off) instead of searching it.",
)
@click.option(
    "--dropout",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help="Fix the dropout rate (0 switches dropout off) instead of searching it.",
)
@click.option(
    "--batch-norm",
    type=click.Choice(BATCH_NORM),
    default=None,
    help="Fix the BN placement instead of searching it.",
)
@_arch_option
@_data_dir_option
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder; an existing run there is resumed.  "
    "[default: runs/<dataset>-<UTC timestamp>]",
)
@click.option("--overwrite", is_flag=True, help="Delete the run in --output and start afresh.")
@click.option("--seed", type=int, default=0)
@click.option("--top-k", type=click.IntRange(min=1), default=3, help="Best models kept in best/.")
@_mixed_precision_option
@_jit_compile_option
@click.option("--verbose", is_flag=True, help="Show Keras' progress bar for every epoch.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Distributed tuning on this machine: start a chief on 127.0.0.1 and this many "
    "worker processes (worker i on GPU i when there are GPUs).",
)
@click.option(
    "--role",
    type=click.Choice(["chief", "worker"]),
    default=None,
    help="Distributed tuning over several machines sharing --output: this process is the "
    "chief (serves the oracle) or a worker (trains trials).",
)
@click.option(
    "--oracle",
    metavar="HOST:PORT",
    default=None,
    help="With --role: where the chief listens. Use 127.0.0.1 unless workers are on other "
    "machines (the channel has no authentication).",
)
@click.option("--worker-id", default=None, help="With --role worker: this worker's unique id.")
@click.option(
    "--worker-timeout",
    type=click.FloatRange(min=1),
    default=120.0,
    help="Chief: seconds without a worker's heartbeat before its trial goes to another worker.",
)
@click.option(
    "--oracle-timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    help="Worker: seconds to wait for the chief to answer before giving up (exit status 2).",
)
@click.option(
    "--strategy",
    type=click.Choice(["mirrored"]),
    default=None,
    help="Train each trial on every visible GPU with tf.distribute.MirroredStrategy; "
    "--batch-size is then per replica.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="TensorFlow threads per process.  [default: TensorFlow's; with --workers on a CPU, "
    "the cores divided among the workers]",
)
@click.pass_context
def tune(ctx, verbose, workers, **options):
    """Search L2 strength, dropout rate and BN placement with KerasTuner.

    Writes trials.csv, summary.md, best/ (top models as .keras) and export/
    (the best model as a TF Serving SavedModel) into --output. Run the same
    command again to resume an interrupted search.
    """
    if workers is not None:
        return _tune_workers(ctx, workers, options)
    role = options["role"]
    if role is None and (options["oracle"] or options["worker_id"]):
        raise click.UsageError("--oracle and --worker-id need --role chief or --role worker")
    if role is not None and not options["oracle"]:
        raise click.UsageError(f"--role {role} needs --oracle HOST:PORT")
    if role == "worker" and not options["worker_id"]:
        raise click.UsageError("--role worker needs --worker-id ID (unique per worker)")
    if role is not None and not options["output"]:
        raise click.UsageError(f"--role {role} needs --output, the folder chief and workers share")
    _quiet_tensorflow()
    from kregs.tuner import distributed
    from kregs.tuner.search import tune as run_tune

    supervised = os.environ.get("KREGS_SUPERVISED") == "1"

    def on_trial_end(row):
        if not (role == "chief" and supervised):  # under --workers, the workers print them
            click.echo(_trial_line(row))

    if role == "chief":
        try:
            host, _ = distributed.parse_oracle(options["oracle"])
        except ValueError as err:
            raise _usage_error(err) from None
        warning = distributed.exposure_warning(host)
        if warning:
            click.echo(warning, err=True)
    what = f" ({role} {options['worker_id'] or ''})".replace(" )", ")") if role else ""
    click.echo(f"kregs tune: {options['dataset']} (preset: {options['preset'] or 'none'}){what}")
    with _library_errors():
        result = run_tune(
            **options,
            verbose=1 if verbose else 0,
            on_trial_end=on_trial_end,
            on_worker_lost=lambda message: click.echo(f"Warning: {message}"),
        )
    if result.replicas > 1:
        click.echo(
            f"strategy: {result.replicas} replicas per trial, global batch "
            f"{result.replicas} x the per-replica --batch-size"
        )
    if role == "worker":
        n = len(result.rows)
        click.echo(f"worker {options['worker_id']} done: {n} trial{'s' if n != 1 else ''} run here")
        return
    if result.unfinished:
        click.echo(
            f"Warning: trials {', '.join(result.unfinished)} were interrupted and not run again; "
            "run the same command to resume them",
            err=True,
        )
    click.echo("")
    click.echo(result.top_table)
    click.echo("")
    best = result.best
    click.echo(
        f"best: trial {best['trial_id']} ({best['config']}), test accuracy "
        f"{result.test['accuracy']:.4f} on {result.test['images']} test images"
    )
    click.echo(f"results: {result.output} (trials.csv, summary.md, best/)")
    click.echo(f"SavedModel: {result.export_path}")
    click.echo(f"wall time: {result.seconds:.1f}s")


def _run_line(row, skipped):
    head = f"{row['config']:14s} seed {row['seed']}"
    if skipped:
        return f"{head}  test_acc={row['test_accuracy']:.4f}  (finished earlier, skipped)"
    return (
        f"{head}  test_acc={row['test_accuracy']:.4f} val_acc={row['best_val_accuracy']:.4f} "
        f"gap={row['generalization_gap']:+.4f} epochs={row['epochs']} "
        f"{row['train_seconds']:.1f}s" + ("  DIVERGED" if row["diverged"] else "")
    )


@main.command()
@_dataset_option
@click.option(
    "--preset",
    type=click.Choice(PRESETS),
    default=None,
    help="A named budget: smoke (seconds per run), quick (about a minute per run on a CPU), "
    "paper (the study's protocol). Options given explicitly override it.",
)
@click.option("--seeds", type=click.IntRange(min=1), default=3, help="Runs per configuration.")
@click.option("--seed", type=click.IntRange(min=0), default=0, help="The first seed.")
@click.option(
    "--l2",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="L2 lambda of the configurations with L2.  [default: from --from-run, else 1e-4]",
)
@click.option(
    "--dropout",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Dropout rate of the configurations with dropout.  [default: from --from-run, else 0.25]",
)
@click.option(
    "--batch-norm",
    type=click.Choice(BATCH_NORM[1:]),
    default=None,
    help="BN placement of the configurations with BN.  "
    "[default: from --from-run, else before_activation]",
)
@click.option(
    "--from-run",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Take the values above from a finished `kregs tune` output folder "
    "(the best trial that used each technique).",
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs per run at most.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Use only this many training images (stratified).",
)
@click.option(
    "--test-limit",
    type=click.IntRange(min=1),
    default=None,
    help="Use only this many test images (stratified).",
)
@click.option("--patience", type=click.IntRange(min=1), default=None)
@click.option(
    "--learning-rate",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Adam's fixed learning rate.  [default: 0.001]",
)
@_arch_option
@_data_dir_option
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder; a study there is continued, skipping finished runs.  "
    "[default: runs/study-<dataset>-<UTC timestamp>]",
)
@click.option("--overwrite", is_flag=True, help="Delete the study in --output and start afresh.")
@_mixed_precision_option
@_jit_compile_option
def study(**options):
    """Train the study's eight configurations over several seeds and check its claims.

    none, l2, dropout, bn, l2+dropout, l2+bn, dropout+bn and l2+dropout+bn,
    each --seeds times, with one architecture, optimizer and protocol. Writes
    study.csv (one row per run), study.md (the table with mean +- std, the
    ablation, the paper's figures and a verdict per claim) and plots/*.png.
    Each run is saved as it finishes; the same command again skips them.
    """
    _quiet_tensorflow()
    from kregs.study.runner import run_study

    def on_values(values):
        for name in ("l2", "dropout", "batch_norm"):
            click.echo(
                f"{name}: {values[name]:g}" if name != "batch_norm" else f"{name}: {values[name]}",
                nl=False,
            )
            click.echo(f"  ({values['sources'][name]})")

    def on_run_end(row, skipped):
        click.echo(_run_line(row, skipped))

    click.echo(
        f"kregs study: {options['dataset']} (preset: {options['preset'] or 'none'}, "
        f"{options['seeds']} seeds)"
    )
    with _library_errors():
        result = run_study(**options, on_values=on_values, on_run_end=on_run_end)
    md = result.markdown
    table = md[md.index("## Test accuracy") : md.index("## Plots")].rstrip()
    click.echo("")
    click.echo(table)
    click.echo("")
    click.echo(f"results: {result.output} (study.csv, study.md, plots/)")
    click.echo(
        f"runs trained now: {result.ran} of {len(result.rows)}; wall time: {result.seconds:.1f}s"
    )


def _child_args(ctx, skip):
    """The options given to this command, as arguments again (for the processes it starts)."""
    from click.core import ParameterSource

    args = []
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in skip:
            continue
        if ctx.get_parameter_source(param.name) not in (
            ParameterSource.COMMANDLINE,
            ParameterSource.ENVIRONMENT,
        ):
            continue
        value = ctx.params[param.name]
        if param.is_flag:
            if param.secondary_opts:
                args.append(param.opts[0] if value else param.secondary_opts[0])
            elif value:
                args.append(param.opts[0])
        elif value is not None:
            args += [param.opts[0], str(value)]
    return args


def _tune_workers(ctx, workers, options):
    """`kregs tune --workers N`: a chief and N workers on this machine, their lines streamed."""
    for name in ("role", "oracle", "worker_id"):
        if options[name] is not None:
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(f"--workers starts its own chief and workers; drop {flag}")
    from kregs.tuner import distributed

    from kregs.files import default_output

    output = options["output"] or default_output(options["dataset"])
    args = _child_args(ctx, skip={"workers", "output", "threads"}) + ["--output", output]
    cluster = distributed.LocalCluster(
        workers,
        args,
        threads=options["threads"],
        on_line=lambda name, line: click.echo(f"[{name}] {line}"),
    )
    gpus = f", GPUs {','.join(cluster.gpus)}" if cluster.gpus else ""
    n = cluster.threads
    threads = f", {n} TensorFlow thread{'s' if n != 1 else ''} each" if n else ""
    click.echo(f"kregs tune: a chief and {workers} workers on this machine{gpus}{threads}")
    try:
        code = cluster.run()
    except KeyboardInterrupt:
        click.echo(
            f"interrupted: every process stopped; finished trials are kept in {output}; "
            "run the same command to resume",
            err=True,
        )
        sys.exit(130)
    except ValueError as err:
        raise _usage_error(err) from None
    if code == 2:
        raise click.UsageError(
            (cluster.last_error("chief") or "the chief refused its options")
            .removeprefix("Error: ")
            .split(" (see kregs")[0]
        )
    sys.exit(code)


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--trial", "trial_id", default=None, help="Export this trial instead of the best.")
def export(run_dir, trial_id):
    """Export the best model (or --trial ID) of a finished run for TF Serving.

    Writes RUN_DIR/export/<dataset>/<next version>/, never overwriting a version.
    """
    _quiet_tensorflow()
    from kregs.tuner.search import export_run

    try:
        path = export_run(run_dir, trial_id)
    except ValueError as err:
        raise _usage_error(err) from None
    click.echo(f"SavedModel: {path}")


@main.command()
@click.argument("model", type=click.Path(exists=True))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--top-k", type=click.IntRange(min=1), default=1, help="Classes shown per input.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of text.")
def predict(model, inputs, top_k, as_json):
    """Classify images with an exported model.

    MODEL is a SavedModel folder (a version folder, or the model folder whose
    highest version is used) or a .keras file. INPUTS are PNG/JPEG files or
    .npy batches of uint8 images; images of another size or colour mode are
    converted when that is safe.
    """
    _quiet_tensorflow()
    import json

    from kregs.images import read_inputs
    from kregs.serving import Predictor

    try:
        predictor = Predictor(model)
        images, labels = read_inputs(inputs, predictor.input_shape)
        results = predictor.top_k(images, top_k)
    except ValueError as err:  # DataError
        raise _usage_error(err) from None
    for label, top in zip(labels, results, strict=True):
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "input": label,
                        "top": [
                            {"class_id": c, "class_name": n, "probability": round(p, 6)}
                            for c, n, p in top
                        ],
                    }
                )
            )
        else:
            click.echo(f"{label}: " + ", ".join(f"{n} {p:.3f}" for _, n, p in top))
