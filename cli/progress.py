"""How `kregs tune` and `kregs study` show where they are.

- On a terminal: a live display (rich) with the run as a whole (units done of
  planned, time left) and the unit training now (epoch k of N, the latest val
  accuracy, seconds per epoch, its time left); finished trials and runs are
  printed above it.
- Elsewhere (CI, a pipe, a file) or with `--verbose`: one plain line per epoch.
- With `--quiet`: nothing per epoch; only the per-trial lines and the result.
"""

import sys

import click

from kregs.run.events import Listener


def duration(seconds):
    """`45s`, `3m05s` or `1h02m`."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def epoch_text(p):
    """What one epoch says: val accuracy, pace, time left for the unit and for the whole."""
    acc = "" if p.val_accuracy is None else f"val_acc={p.val_accuracy:.4f}  "
    return (
        f"{acc}{p.seconds_per_epoch:.1f} s/epoch  {p.unit} ≤ {duration(p.unit_left)} left  "
        f"all ≈ {duration(p.total_left)} left"
    )


class Display(Listener):
    """A `Listener` that shows progress; subclasses add the command's own lines.

    Args:
        mode: "live" (a terminal), "plain" or "quiet".
        what: str, the name of the units ("trials", "runs").
    """

    def __init__(self, mode, what):
        self.mode = mode
        self.what = what
        self._progress = None
        self._overall = self._unit = None

    @classmethod
    def for_terminal(cls, quiet, verbose, what, **kwargs):
        """The display that fits standard output: live on a terminal, plain elsewhere."""
        if quiet:
            mode = "quiet"
        elif verbose or not sys.stdout.isatty():
            mode = "plain"
        else:
            mode = "live"
        return cls(mode, what, **kwargs)

    def __enter__(self):
        if self.mode == "live":
            from rich.progress import BarColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[info]}"),
                transient=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def echo(self, line, err=False):
        """Prints a line (above the live display when there is one)."""
        if self._progress is not None and not err:
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(line, err=err)

    def unit_done(self):
        """A unit finished: the overall count moves on at once."""
        if self._progress is not None and self._overall is not None:
            self._progress.advance(self._overall)

    def unit_started(self, unit, epochs):
        if self._progress is None:
            return
        if self._unit is not None:
            self._progress.remove_task(self._unit)
        self._unit = self._progress.add_task(f"{unit} epoch", total=epochs, info="")

    def epoch_ended(self, progress):
        if self.mode == "plain":
            self.echo(
                f"  {progress.unit} epoch {progress.epoch}/{progress.epochs}  "
                f"{epoch_text(progress)}"
            )
        elif self._progress is not None:
            self._progress.update(self._unit, completed=progress.epoch, info=epoch_text(progress))
            info = f"≈ {duration(progress.total_left)} left"
            if self._overall is None:
                self._overall = self._progress.add_task(
                    f"{self.what} done", total=progress.total, info=info
                )
            self._progress.update(self._overall, completed=progress.done, info=info)
