"""Keeps TensorFlow's native log lines (C++ and absl) off the terminal.

TensorFlow 2.21 writes its start-up lines ("oneDNN custom operations are
on", "Could not find cuda drivers", the CPU feature notice) from C++ through
absl, which writes to file descriptor 2 before any Python setting can reach
it (`TF_CPP_MIN_LOG_LEVEL` no longer silences them). So kregs puts a filter
on file descriptor 2 itself: a pipe whose reader drops lines in absl's log
format (`I0000 00:00:...  123 file.cc:45] ...`, also W and E lines) and the
banner lines around them, and passes every other line through unchanged:
Python's tracebacks, kregs' errors, a fatal (F) native line.
"""

import atexit
import logging
import os
import re
import sys
import threading
import warnings

NATIVE_LINE = re.compile(
    rb"^(?:[IWE]\d{4} [\d:.]+\s+\d+ [^\s:]+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: "
    rb"|This TensorFlow binary is optimized to use available CPU instructions"
    # LiteRT's interpreter and the TFLite converter (kregs export --format litert):
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU"
    rb"|fully_quantize: \d+, inference_type: )"
)

_filter = None


class NativeLogFilter:
    """Routes file descriptor `fd` through a pipe that drops native log lines.

    Args:
        fd: int, the descriptor to filter (2, standard error).
    """

    def __init__(self, fd=2):
        self.fd = fd
        self.dropped = 0
        self._saved = None
        self._thread = None

    def start(self):
        self._saved = os.dup(self.fd)
        read_end, write_end = os.pipe()
        os.dup2(write_end, self.fd)
        os.close(write_end)
        self._thread = threading.Thread(
            target=self._pump, args=(read_end,), name="kregs-stderr", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        """Puts the descriptor back and writes out what the pipe still holds."""
        if self._saved is None:
            return
        for stream in (sys.stderr, sys.__stderr__):
            try:
                stream.flush()
            except (AttributeError, ValueError, OSError):
                pass
        os.dup2(self._saved, self.fd)  # closes the pipe's write end: the reader sees EOF
        self._thread.join(timeout=5)
        os.close(self._saved)
        self._saved = None

    def _pump(self, read_end):
        pending = b""
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._emit(line + b"\n")
        if pending:
            self._emit(pending)

    def _emit(self, line):
        if NATIVE_LINE.match(line):
            self.dropped += 1
            return
        os.write(self._saved, line)


def quiet_tensorflow(verbose=False):
    """Before TensorFlow is imported: keep its native and Python log lines off the terminal.

    Does nothing with `verbose`, and leaves descriptor 2 alone when standard
    error is not a real file (a test runner's capture).
    """
    global _filter
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    # Keras' ONNX export checks `np.object` (numpy 2 warns): nothing a user can act on
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"keras\.src\.export")
    logging.getLogger("absl").setLevel(logging.ERROR)
    # TensorFlow's Python warnings (a retraced tf.function: each trial builds a new model)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if _filter is not None or not _writes_to_fd2():
        return
    _filter = NativeLogFilter(2).start()
    atexit.register(_filter.stop)


def _writes_to_fd2():
    try:
        return sys.stderr.fileno() == 2
    except (AttributeError, ValueError, OSError):
        return False


def stop():
    """Takes the filter off (writing out what it holds), if there is one."""
    if _filter is not None:
        _filter.stop()
