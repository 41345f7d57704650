"""Flat memory over a long search: the trials run in a process that is replaced now and then.

A process that builds and trains model after model keeps part of every one
(how much: BENCHMARKS.md, "Figures behind the defaults"; an upstream leak
that `keras.backend.clear_session()` does not undo). `kregs tune` therefore runs
a single-machine search in a child process, and the child ends between two
trials once its `RecyclePolicy` is due (exit status `EXIT_RECYCLE`); the
supervisor (`supervise`) starts a fresh child on the same folder, which
resumes the run. KerasTuner has saved the oracle and every finished trial
before the child ends, and no trial is running then: none is lost, none runs
twice.
"""

import contextlib
import dataclasses
import logging
import os
import signal
import subprocess
import threading

from kregs.checks import check_positive_int
from kregs.errors import invalid_value
from kregs.run.processes import memory_mb, start_child

logger = logging.getLogger(__name__)

EXIT_RECYCLE = 75  # sysexits' EX_TEMPFAIL: "try again", here in a fresh process
ENV_VAR = "KREGS_RECYCLE"  # set by the supervisor on its children: the policy

__all__ = ["EXIT_RECYCLE", "ProcessRecycled", "RecyclePolicy", "Recycler", "supervise"]


@dataclasses.dataclass(frozen=True)
class RecyclePolicy:
    """When a search process gives way to a fresh one.

    Attributes:
        trials: int >= 1, trials one process runs at most.
        rss_growth: float >= 0, or the resident memory grew by more than this
            fraction of what it was after the process' first trial (0.02: 2%).

    Example:
    >>> RecyclePolicy(trials=10, rss_growth=0.02).due(trials_run=2, first_rss=850, rss=880)
    True
    """

    trials: int = 10
    rss_growth: float = 0.02

    def __post_init__(self):
        check_positive_int(self.trials, "trials")
        growth = self.rss_growth
        if isinstance(growth, bool) or not isinstance(growth, (int, float)) or not growth >= 0:
            raise invalid_value("rss_growth", growth, "a fraction >= 0, e.g. 0.02")

    def due(self, trials_run, first_rss, rss):
        """Whether the process that ran `trials_run` trials should end now.

        Args:
            trials_run: int, the trials this process has run.
            first_rss: float, its resident memory after its first trial (MiB).
            rss: float, its resident memory now (MiB).

        Returns:
            bool.
        """
        return trials_run >= self.trials or rss > first_rss * (1 + self.rss_growth)

    def to_env(self):
        """The policy as the value of `ENV_VAR`."""
        return f"{self.trials},{self.rss_growth}"

    @classmethod
    def from_env(cls, environ=None):
        """The policy a supervisor gave this process, or None (not supervised).

        Raises:
            ConfigError: `ENV_VAR` is set to something else than `to_env()` writes.
        """
        value = (os.environ if environ is None else environ).get(ENV_VAR)
        if not value:
            return None
        try:
            trials, growth = value.split(",")
            return cls(int(trials), float(growth))
        except ValueError:
            raise invalid_value(ENV_VAR, value, "TRIALS,RSS_GROWTH, e.g. 10,0.02") from None


class ProcessRecycled(Exception):  # noqa: N818 - an outcome, not an error
    """Raised between two trials: this process ends so that a fresh one goes on."""


class Recycler:
    """Counts the trials this process ran; after one, raises `ProcessRecycled` when due.

    Not after the search's last trial: what is left (the best models, the refit,
    the export) builds no more trial models, and a fresh process would only add
    its start-up.

    Use as the tuner's `trial_finished` hook (`kregs.tuner.tuners.KregsTrials`),
    which KerasTuner calls once the trial and the oracle are saved.

    Args:
        policy: a `RecyclePolicy`.
        memory: callable() -> the resident memory in MiB (for tests).
    """

    def __init__(self, policy, memory=None):
        self.policy = policy
        self.memory = memory or (lambda: memory_mb()["rss_mb"])
        self.trials_run = 0
        self.first_rss = None

    def __call__(self, tuner, trial):
        self.trials_run += 1
        rss = self.memory()
        if self.first_rss is None:
            self.first_rss = rss
        if self.policy.due(self.trials_run, self.first_rss, rss) and _trials_remain(tuner):
            logger.info(
                "a fresh process goes on after %d trials (%.0f MiB resident, %.0f after the first)",
                self.trials_run,
                rss,
                self.first_rss,
            )
            raise ProcessRecycled(f"{self.trials_run} trials, {rss:.0f} MiB")


def _trials_remain(tuner):
    """Whether the search may still run trials (KerasTuner's `Tuner.remaining_trials`;
    unknown, as under Hyperband: True)."""
    remaining = getattr(tuner, "remaining_trials", None)
    return remaining is None or remaining > 0


def supervise(command, policy, env=None, on_fresh_process=None, on_line=None):
    """Runs `command` again each time it exits with `EXIT_RECYCLE`; returns its last status.

    The children write to this process' standard streams (unless `on_line`
    is given) from a process group of their own: Ctrl-C (SIGINT) and SIGTERM
    reach the supervisor, which passes them on to the running child once and
    returns its status when it has stopped. A child killed by a signal
    returns 128 + the signal's number.

    Args:
        command: list of str, the child's command line for its first start.
        policy: a `RecyclePolicy`, given to every child through `ENV_VAR`.
        env: dict or None, the children's environment (None: this one's).
        on_fresh_process: callable(command) -> list of str or None: called
            before each later start with the previous command line; returns
            the next one (e.g. without `--overwrite`). None: the same.
        on_line: callable(line, err) or None: the children's output lines go
            there (`err`: from standard error) instead of to this process'
            standard streams (e.g. when they are not files, as under click's
            `CliRunner`).

    Returns:
        int, the exit status of the last child.
    """
    env = dict(os.environ if env is None else env, **{ENV_VAR: policy.to_env()})
    starts = 0
    while True:
        if starts and on_fresh_process is not None:
            command = on_fresh_process(command)
        starts += 1
        if on_line is None:
            code = _wait(start_child(command, env=env, own_group=True))
        else:
            pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
            proc = start_child(command, env=env, own_group=True, **pipes)
            pumps = [
                threading.Thread(target=_pump, args=(stream, on_line, err), daemon=True)
                for stream, err in ((proc.stdout, False), (proc.stderr, True))
            ]
            for pump in pumps:
                pump.start()
            code = _wait(proc)
            for pump in pumps:
                pump.join()
        if code != EXIT_RECYCLE:
            return code if code >= 0 else 128 - code


def _pump(stream, on_line, err):
    for line in stream:
        on_line(line.rstrip("\n"), err)


def _wait(proc):
    """The child's exit status. SIGINT and SIGTERM sent here are passed on to it, once."""

    def forward(signum, frame):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signum)

    try:
        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: no handlers
        previous = {}
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
