"""Ctrl-C that always stops a run, even when Python swallows its first KeyboardInterrupt.

Python raises `KeyboardInterrupt` wherever the main thread is when SIGINT
arrives; inside a finalizer or a weak-reference callback (TensorFlow and Keras
run many while a model is built or freed) it is printed and lost. With
`catching_interrupts`, the request is also remembered, and `check_interrupt`
(called by kregs' callbacks at every epoch and trial) raises it again.
"""

import contextlib
import signal
import sys
import threading

_requested = False


def _handler(signum, frame):
    global _requested
    _requested = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def catching_interrupts():
    """Inside the block, Ctrl-C (SIGINT) is remembered as well as raised."""
    global _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:  # a background job: leave it as it is
        yield
        return
    _requested = False
    signal.signal(signal.SIGINT, _handler)
    previous_hook = sys.unraisablehook

    def hook(unraisable):  # the swallowed one is raised again by check_interrupt
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous_hook(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook
        _requested = False


def check_interrupt():
    """Raises `KeyboardInterrupt` when Ctrl-C was pressed (and perhaps swallowed)."""
    if _requested:
        raise KeyboardInterrupt
