"""What `kregs tune` runs as child processes: fresh trial processes, or a local cluster.

`recycled` supervises the processes that run a single-machine search (a fresh
one every few trials: flat memory); `workers` starts a chief and N workers.
Both give their children the options this command was given (`child_args`).
"""

import os
import sys
import time

import click

from kregs.run.processes import kregs_command
from kregs.tuner.clock import SESSION_VAR

STARTED_VAR = SESSION_VAR  # when the supervisor started: the whole run's wall time


def child_args(ctx, skip):
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
        elif param.multiple:
            for one in value:
                args += [param.opts[0], str(one)]
        elif value is not None:
            args += [param.opts[0], str(value)]
    return args


def check_at_the_door(dataset, output):
    """What the children would refuse first, refused here before any of them starts (and
    imports TensorFlow): a `--data-dir` without the data set, an output folder that cannot
    be written.

    Args:
        dataset: the run's `kregs.data.Dataset`.
        output: str, the output folder.

    Raises:
        KregsError: one line for the user.
    """
    from kregs.run.folder import check_writable

    dataset.check_at_the_door()
    check_writable(output)


def recycled(ctx, config, policy):
    """`kregs tune` in one process: supervises child processes that run the trials."""
    from kregs.run.folder import default_output
    from kregs.tuner.recycle import supervise

    output = config.output or default_output(config.dataset.name)
    check_at_the_door(config.dataset, output)
    click.echo(f"kregs tune: {config.dataset.name} (preset: {ctx.params['preset'] or 'none'})")
    # Every child works on the same folder (the default one is named here, once).
    args = child_args(ctx, skip={"output", "recycle_after"}) + ["--output", output]
    command = kregs_command("tune", *args)

    def next_command(previous):  # a fresh process resumes: it must not --overwrite
        return [a for a in previous if a != "--overwrite"]

    # Where this process' streams are files (a terminal, a pipe), the children write to
    # them directly (a terminal keeps its live display); otherwise (click's CliRunner)
    # their lines pass through here.
    on_line = None if _real_files(sys.stdout, sys.stderr) else _echo_line
    env = dict(os.environ, **{STARTED_VAR: repr(time.time())})  # for the whole run's wall time
    code = supervise(command, policy, env=env, on_fresh_process=next_command, on_line=on_line)
    sys.exit(code)


def _real_files(*streams):
    try:
        return all(stream.fileno() >= 0 for stream in streams)
    except (AttributeError, OSError, ValueError):
        return False


def _echo_line(line, err):
    click.echo(line, err=err)


def workers(ctx, workers, options):
    """`kregs tune --workers N`: a chief and N workers on this machine, their lines streamed."""
    for name in ("role", "oracle", "worker_id"):
        if options[name] is not None:
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(f"--workers starts its own chief and workers; drop {flag}")
    from kregs.run.folder import default_output
    from kregs.tuner.config import TuneConfig
    from kregs.tuner.distributed.cluster import LocalCluster

    config = TuneConfig.create(**options)  # bad options fail here, before any process starts
    output = options["output"] or default_output(config.dataset.name)
    check_at_the_door(config.dataset, output)
    args = child_args(ctx, skip={"workers", "output", "threads"}) + ["--output", output]
    cluster = LocalCluster(
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
    if code == 2:
        raise click.UsageError(
            (cluster.last_error("chief") or "the chief refused its options")
            .removeprefix("Error: ")
            .split(" (see kregs")[0]
        )
    sys.exit(code)
