"""This process' memory and garbage collector, and child processes that do not outlive it."""

import functools
import gc
import os
import resource
import signal
import subprocess
import sys

__all__ = ["die_with_parent", "freeze_imports", "kregs_command", "memory_mb", "start_child"]

# Runs the `kregs` command with the current folder off `sys.path`: `python -m kregs` (and
# `-c`) put it first, so from a source checkout the folder kregs/ (which has no cli/: it is
# mapped from cli/ on install) would shadow the installed package.
LAUNCHER = (
    "import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
    "from kregs.cli.main import main; main(prog_name='kregs')"
)


def kregs_command(*args, python=None):
    """The command line of a child `kregs ARGS` process, importing the installed kregs
    whatever the current folder.

    Args:
        *args: str, the command's arguments (e.g. "tune", "--dataset", "mnist").
        python: str or None, the interpreter (default: this one).

    Returns:
        list of str.

    Example:
    >>> subprocess.run(kregs_command("--help"), cwd="/path/to/a/kregs/checkout")
    """
    return [python or sys.executable, "-c", LAUNCHER, *args]


_frozen = False


def freeze_imports():
    """In a process that trains (the `kregs` command): imports Keras, its backend and
    KerasTuner, then moves every object alive to the garbage collector's permanent
    generation (`gc.freeze`), once per process.

    KerasTuner clears the Keras session before it builds each trial's model and
    calls `gc.collect()` twice; with TensorFlow imported, each full collection
    walks the backend's import-time objects (hundreds of thousands), which live as
    long as the process anyway: on small data that is a large part of a short
    trial. Frozen, they are left out, and the collections still free what the
    trials leave.

    A program that imports kregs as a library keeps its collector as it is: this
    runs only where it is called.
    """
    global _frozen
    if _frozen:
        return
    import keras  # noqa: F401  (and its backend)
    import keras_tuner  # noqa: F401

    gc.collect()
    gc.freeze()
    _frozen = True


def memory_mb():
    """This process' resident memory now (`rss_mb`) and at its peak (`peak_rss_mb`), in MiB."""
    import psutil

    rss = psutil.Process().memory_info().rss / (1024 * 1024)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    # The kernel updates its high-water mark lazily; the peak is at least what is resident now.
    return {"rss_mb": rss, "peak_rss_mb": max(peak, rss)}


def die_with_parent(parent):
    """In a child, before exec: SIGTERM when the supervisor `parent` dies (even by `kill -9`).

    Linux's `prctl(PR_SET_PDEATHSIG)`; elsewhere nothing (the children then
    outlive a killed supervisor).

    Args:
        parent: int, the supervisor's process id.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)


def start_child(command, own_group=False, **popen_kwargs):
    """`subprocess.Popen(command, ...)` for a child that ends when this process dies.

    Args:
        command: list of str.
        own_group: bool, start the child in a process group of its own: a
            terminal's Ctrl-C then reaches this process only (which may pass
            it on).
        **popen_kwargs: `subprocess.Popen`'s.

    Returns:
        A `subprocess.Popen`.
    """
    return subprocess.Popen(
        command, preexec_fn=functools.partial(_prepare, os.getpid(), own_group), **popen_kwargs
    )


def _prepare(parent, own_group):
    if own_group:
        os.setpgid(0, 0)
    die_with_parent(parent)
