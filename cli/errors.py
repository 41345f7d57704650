"""How the command line reports failures.

- Bad input (a click usage error, or kregs' `ConfigError`, `DataError`,
  `DataNotFoundError`, `StateError`): one line, `Error: ... (see kregs CMD
  --help)`, exit status 2.
- A run that went through but produced nothing (`RunFailedError`): one line,
  exit status 1.
- Ctrl-C: one line saying how to resume, exit status 130.
- Anything else is a bug: its traceback, a line saying so, exit status 1.
"""

import os
import sys
import traceback

import click

from kregs.errors import DiskFullError, KregsError, RunFailedError

BUG_LINE = (
    "kregs: unexpected error (a bug in kregs or in a library it uses); "
    "please report it with the traceback above"
)
INTERRUPTED_LINE = "interrupted; run the same command to resume"


def first_line(err):
    """The first line of an error's message (or its type's name)."""
    text = str(err)
    return text.splitlines()[0] if text else type(err).__name__


class OneLineErrors(click.Group):
    """The `kregs` group: one line for every expected failure, a traceback for a bug.

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
        except RunFailedError as err:
            click.echo(f"Error: {first_line(err)}", err=True)
            sys.exit(1)
        except DiskFullError as err:
            path = " ".join(p for p in (ctx.command_path, ctx.invoked_subcommand) if p)
            click.echo(f"Error: {first_line(err)} (see {path} --help)", err=True)
            _exit_now(2)
        except KregsError as err:
            path = " ".join(p for p in (ctx.command_path, ctx.invoked_subcommand) if p)
            raise click.UsageError(f"{first_line(err)} (see {path} --help)") from None
        except KeyboardInterrupt:
            click.echo(INTERRUPTED_LINE, err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception:  # noqa: BLE001 - a bug: show it, and say so
            traceback.print_exc()
            click.echo(BUG_LINE, err=True)
            sys.exit(1)


def _exit_now(code):
    """Exits without the interpreter's teardown, when standard output is the real one.

    After a full disk, libraries may hold half-written files (h5py's HDF5 objects)
    whose destructors fail again, or crash, while Python shuts down. Everything
    kregs wrote is complete on disk (atomic writes), so the process ends here.
    """
    try:
        real = sys.stdout.fileno() == 1
    except (AttributeError, ValueError, OSError):
        real = False
    if not real:  # inside a test runner: a plain exit
        sys.exit(code)
    from kregs.cli import quiet

    sys.unraisablehook = lambda unraisable: None
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    quiet.stop()
    os._exit(code)
