"""`kregs tune --workers N`: a chief and N workers as child processes on this machine."""

import contextlib
import functools
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from kregs.errors import ConfigError
from kregs.run.processes import die_with_parent, kregs_command
from kregs.tuner.distributed.addressing import ENV_VARS, free_port


def list_gpus():
    """GPU ids for the workers: `CUDA_VISIBLE_DEVICES` if set, else what `nvidia-smi` lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


class LocalCluster:
    """`kregs tune --workers N`: a chief and N workers as child processes on this machine.

    The chief listens on 127.0.0.1 on a free port. Worker `i` gets GPU
    `gpus[i % len(gpus)]` through `CUDA_VISIBLE_DEVICES` when there are GPUs
    (the chief none: it only serves the oracle, then tests and exports the best
    model). Every line the children print goes to `on_line(name, line)`, where
    `name` is `chief` or `worker-<i>`. A worker that dies (a crash, `kill -9`)
    is started again under the same id, at most `max_restarts` times: KerasTuner
    gives a returning worker the trial it held, which it then trains again
    from its first epoch. Ctrl-C (or SIGTERM) stops every child; the finished
    trials are on disk and the same command resumes.

    Args:
        workers: int >= 1.
        tune_args: list of str, the `kregs tune` options every child gets.
        gpus: list of str or None, GPU ids (None: `list_gpus()`).
        threads: int or None, TensorFlow threads per worker.
        max_restarts: int, restarts per worker id.
        on_line: callable(name, line).
        python: str, the interpreter for the children.
    """

    def __init__(
        self,
        workers,
        tune_args,
        gpus=None,
        threads=None,
        max_restarts=2,
        on_line=None,
        python=sys.executable,
    ):
        self.workers = workers
        self.tune_args = list(tune_args)
        self.gpus = list_gpus() if gpus is None else list(gpus)
        if threads is None and not self.gpus:  # share the cores out, one pool per worker
            threads = max(1, (os.cpu_count() or 1) // workers)
        self.threads = threads
        self.max_restarts = max_restarts
        self.on_line = on_line or (lambda name, line: None)
        self.python = python
        self.port = None
        self._procs = {}
        self._lines = queue.Queue()
        self._stderr_tail = {}

    def _command(self, role, worker=None):
        cmd = kregs_command("tune", *self.tune_args, "--role", role, python=self.python)
        cmd += ["--oracle", f"127.0.0.1:{self.port}"]
        if role == "worker":
            cmd += ["--worker-id", str(worker)]
            if self.threads:
                cmd += ["--threads", str(self.threads)]
        return cmd

    def _env(self, role, worker=None):
        env = dict(os.environ, KREGS_SUPERVISED="1", PYTHONUNBUFFERED="1")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        for k in ENV_VARS:  # each child sets its own, from its options
            env.pop(k, None)
        if role == "chief":
            env["CUDA_VISIBLE_DEVICES"] = "" if self.gpus else env.get("CUDA_VISIBLE_DEVICES", "")
        elif self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[worker % len(self.gpus)]
        return env

    def _start(self, name, role, worker=None):
        proc = subprocess.Popen(
            self._command(role, worker),
            env=self._env(role, worker),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops them
            preexec_fn=functools.partial(die_with_parent, os.getpid()),
        )
        self._procs[name] = proc
        self._stderr_tail[name] = []
        for stream, is_err in ((proc.stdout, False), (proc.stderr, True)):
            threading.Thread(target=self._pump, args=(name, stream, is_err), daemon=True).start()
        return proc

    def _pump(self, name, stream, is_err):
        for line in stream:
            self._lines.put((name, line.rstrip("\n"), is_err))

    def _drain(self, timeout=0.2):
        try:
            item = self._lines.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            name, line, is_err = item
            if is_err:
                tail = self._stderr_tail.setdefault(name, [])
                tail.append(line)
                del tail[:-30]
                # The chief's own error is reported once, by the caller (last_error).
                if line.startswith("Warning:") or (line.startswith("Error:") and name != "chief"):
                    self.on_line(name, line)
            else:
                self.on_line(name, line)
            try:
                item = self._lines.get_nowait()
            except queue.Empty:
                return

    def last_error(self, name):
        """The last `Error:` line (or traceback line) a child wrote to stderr."""
        tail = [line for line in self._stderr_tail.get(name, []) if line.strip()]
        errors = [line for line in tail if line.startswith("Error:")]
        return errors[-1] if errors else (tail[-1] if tail else "")

    def run(self):
        """Runs the search to its end; returns the exit status (the chief's, or 1 or 130).

        Raises:
            KeyboardInterrupt: after stopping every child, when interrupted.
        """
        self.port = free_port()
        self._restarts = {i: 0 for i in range(self.workers)}
        self._stopping = False
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            chief = self._start("chief", "chief")
            if not self._wait_listening(chief):
                self._drain(0.5)
                return chief.wait()
            for i in range(self.workers):
                self._start(f"worker-{i}", "worker", i)
            while chief.poll() is None:
                self._drain()
                self._supervise_workers(chief)
            self._wait_all(timeout=30)
            self._drain(0.5)
            code = chief.returncode
            return 1 if self._stopping and code == 0 else code
        except KeyboardInterrupt:
            self.stop()
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _supervise_workers(self, chief):
        """Restarts crashed workers; stops the chief when no worker is left to ask it."""
        live, failed = 0, []
        for i in range(self.workers):
            name = f"worker-{i}"
            code = self._procs[name].poll()
            if code is None:
                live += 1
            elif code != 0 and self._restarts[i] < self.max_restarts:
                self._restarts[i] += 1
                self._drain(0.5)
                self.on_line(
                    "kregs",
                    f"{name} ended with {_describe(code)}; starting it again under its id "
                    f"(restart {self._restarts[i]} of {self.max_restarts}): it runs the trial "
                    "it held again from its first epoch",
                )
                self._start(name, "worker", i)
                live += 1
            elif code != 0:
                failed.append(name)
        if live == 0 and failed and not self._stopping:
            # Nobody left to ask the chief for trials: it would wait forever.
            self._stopping = True
            self.on_line(
                "kregs",
                f"every worker has stopped ({', '.join(failed)} failed: "
                f"{self.last_error(failed[0]) or 'no message'}); stopping the chief. "
                "Finished trials are kept; run the same command to resume",
            )
            _interrupt(chief)

    def _wait_listening(self, chief, timeout=600):
        """Waits until the chief listens (True), or has exited (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if chief.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                self._drain(0.5)
        raise ConfigError(f"the chief did not listen on 127.0.0.1:{self.port} in {timeout} s")

    def _wait_all(self, timeout):
        deadline = time.monotonic() + timeout
        for proc in self._procs.values():
            while proc.poll() is None and time.monotonic() < deadline:
                self._drain(0.2)
            if proc.poll() is None:
                _interrupt(proc)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def stop(self, grace=15):
        """SIGINT to every child (they stop cleanly), SIGKILL after `grace` seconds."""
        for proc in self._procs.values():
            _interrupt(proc)
        deadline = time.monotonic() + grace
        for proc in self._procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._drain(0.2)


def _interrupt(proc):
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _describe(code):
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"
