"""Distributed tuning on KerasTuner's own chief/worker engine.

KerasTuner runs a search over several processes when three environment
variables are set: `KERASTUNER_TUNER_ID` (`"chief"` for the oracle, any other
id for a worker), `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`. The
chief serves its oracle over gRPC; each worker asks it for trials, trains
them and reports back. kregs adds what that engine leaves to its users:

- `oracle_env`: sets those variables for one role, and only while needed;
- `check_bind` / `wait_for_chief`: a chief that cannot bind its port, or a
  worker that cannot reach the chief in time, fails at once with one line;
- `Heartbeat` / `WorkerMonitor`: each worker writes a heartbeat file into the
  shared output folder; when a worker falls silent mid-trial, the chief puts
  its trial back in the oracle's retry queue (KerasTuner would otherwise wait
  for it forever) so another worker runs it again from its first epoch;
- `LocalCluster`: `kregs tune --workers N` on one machine: a chief on
  127.0.0.1 and N workers as child processes, their lines streamed, a
  crashed worker restarted under its id, Ctrl-C stopping them all.

The gRPC channel has no authentication: whoever reaches the port can read
and steer the search. The chief binds 127.0.0.1 unless told otherwise.
"""

import contextlib
import io
import ipaddress
import logging
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from kregs.errors import ConfigError, invalid_value
from kregs.files import read_json, write_json

logger = logging.getLogger(__name__)

ENV_VARS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
ROLES = ("chief", "worker")
HEARTBEAT_DIR = "workers"
HEARTBEAT_SECONDS = 5.0
_WORKER_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def parse_oracle(address):
    """Splits `"HOST:PORT"` (IPv6 as `[::1]:PORT`); raises `ConfigError` when malformed.

    Returns:
        `(host, port)`, port an int in [1, 65535].
    """
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s]+):(\d+)", str(address or ""))
    if not match:
        raise invalid_value("oracle", address, "HOST:PORT, e.g. 127.0.0.1:8000")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 1 <= port <= 65535:
        raise invalid_value("oracle", address, "a port in [1, 65535]")
    return host, port


def format_oracle(host, port):
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host):
    """True when `host` is a loopback address or `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host):
    """The warning for a chief bound to a non-loopback address, or None."""
    if is_loopback(host):
        return None
    return (
        f"Warning: the chief oracle listens on {host}, not 127.0.0.1. KerasTuner's gRPC "
        "channel has no authentication or encryption: anyone who can reach this port can "
        "read the search and steer it. Bind it only on a trusted network."
    )


def check_worker_id(worker_id):
    """Returns `worker_id` as a str if it is a valid KerasTuner tuner id for a worker."""
    text = str(worker_id)
    if not _WORKER_ID.match(text) or "chief" in text:
        raise invalid_value(
            "worker_id", worker_id, "1-64 letters, digits, '.', '_' or '-', without 'chief'"
        )
    return text


def tuner_id(role, worker_id=None):
    """The `KERASTUNER_TUNER_ID` of a role: `chief`, or `worker-<id>`."""
    return "chief" if role == "chief" else f"worker-{check_worker_id(worker_id)}"


def _quiet_condition_protos():
    """KerasTuner 1.4.8's `conditions.Parent.to_proto` prints its first value (a leftover
    `print`): every trial sent over gRPC wrote `True` to stdout. Swallow that print."""
    from keras_tuner.src.engine import conditions

    original = conditions.Parent.to_proto
    if getattr(original, "_kregs_quiet", False):
        return

    def to_proto(self):
        with contextlib.redirect_stdout(io.StringIO()):
            return original(self)

    to_proto._kregs_quiet = True
    conditions.Parent.to_proto = to_proto


@contextlib.contextmanager
def oracle_env(role, host, port, worker_id=None):
    """Sets KerasTuner's distribution variables for `role` inside the block, then restores them.

    KerasTuner reads them when a tuner is built (a worker wraps its oracle in
    an `OracleClient`) and when `search` starts (the chief serves).
    """
    _quiet_condition_protos()
    saved = {k: os.environ.get(k) for k in ENV_VARS}
    os.environ.update(
        KERASTUNER_TUNER_ID=tuner_id(role, worker_id),
        KERASTUNER_ORACLE_IP=host,
        KERASTUNER_ORACLE_PORT=str(port),
    )
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def free_port(host="127.0.0.1"):
    """A TCP port on `host` that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_bind(host, port):
    """Raises `ConfigError` (one line) when the chief could not listen on `host:port`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, port))
    except OSError as err:
        raise ConfigError(
            f"the chief oracle cannot listen on {format_oracle(host, port)}: "
            f"{err.strerror or err}; choose another --oracle port or address"
        ) from None


def wait_for_chief(host, port, timeout):
    """Waits until the chief's gRPC server answers; raises `ConfigError` after `timeout` s."""
    import grpc

    channel = grpc.insecure_channel(format_oracle(host, port))
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise ConfigError(
            f"cannot reach the chief oracle at {format_oracle(host, port)} within "
            f"{timeout:g} s; start `kregs tune --role chief` first, or check --oracle"
        ) from None
    finally:
        channel.close()


def set_rpc_timeout(seconds):
    """How long a worker's call to the chief may wait (KerasTuner's default is 60 minutes)."""
    from keras_tuner.src.distribute import oracle_client

    oracle_client.TIMEOUT = seconds


class Heartbeat:
    """A worker's heartbeat: `<output>/workers/<tuner id>.json`, rewritten every few seconds.

    It carries a counter (`beat`), the process id, the host and the trial being
    run, so the chief can tell a silent worker from a busy one without trusting
    clocks across machines.

    Args:
        output: str, the shared output folder.
        tuner_id: str, this worker's KerasTuner id.
        interval: float, seconds between beats.
    """

    def __init__(self, output, tuner_id, interval=HEARTBEAT_SECONDS):
        self.path = os.path.join(output, HEARTBEAT_DIR, f"{tuner_id}.json")
        self.tuner_id = tuner_id
        self.interval = interval
        self.trial_id = None
        self._beat = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kregs-heartbeat", daemon=True)

    def start(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._write()
        self._thread.start()
        return self

    def stop(self, done=True):
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)
        self.trial_id = None
        self._write(done=done)

    def _write(self, done=False):
        self._beat += 1
        write_json(
            self.path,
            {
                "tuner_id": self.tuner_id,
                "beat": self._beat,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "trial_id": self.trial_id,
                "done": done,
            },
        )

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self._write()
            except OSError as err:  # a full or unreachable shared disk: keep training
                logger.warning("heartbeat not written: %s", err)


class WorkerMonitor:
    """On the chief: gives the trial of a worker that fell silent back to the oracle.

    Every few seconds it reads the heartbeats of the workers that hold a
    trial (`oracle.ongoing_trials`). A worker whose heartbeat has not changed
    for `timeout` seconds, by the chief's clock, is taken for dead: its trial
    goes to the oracle's retry queue, where the next worker asking for a trial
    gets it (and trains it again from its first epoch), and the worker leaves
    the oracle's list of tuners, so the chief does not wait for it at the end.

    Args:
        oracle: the chief's KerasTuner oracle.
        output: str, the shared output folder.
        timeout: float, seconds of silence before a worker is taken for dead.
        on_event: callable(str) or None, told about each trial handed back.
    """

    def __init__(self, oracle, output, timeout, on_event=None, interval=2.0):
        self.oracle = oracle
        self.folder = os.path.join(output, HEARTBEAT_DIR)
        self.timeout = timeout
        self.on_event = on_event
        self.interval = interval
        self.requeued = []  # (tuner_id, trial_id)
        self._seen = {}  # tuner_id -> (beat, chief's monotonic time it changed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kregs-monitor", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.check(time.monotonic())
            except Exception:  # noqa: BLE001 - never take the chief down
                logger.exception("worker monitor")

    def check(self, now):
        """Hands back the trials of workers silent for `timeout` s; returns their tuner ids."""
        silent = []
        for tid in list(self.oracle.ongoing_trials):
            beat = (read_json(os.path.join(self.folder, f"{tid}.json")) or {}).get("beat")
            last = self._seen.get(tid)
            if last is None or last[0] != beat:
                self._seen[tid] = (beat, now)
            elif now - last[1] >= self.timeout:
                silent.append(tid)
        for tid in silent:
            trial_id = _requeue(self.oracle, tid)
            self._seen.pop(tid, None)
            if trial_id is not None:
                self.requeued.append((tid, trial_id))
                message = (
                    f"{tid} silent for {self.timeout:g} s during trial {trial_id}: "
                    "the trial goes back to the queue and will be run again from its first epoch"
                )
                logger.warning(message)
                if self.on_event is not None:
                    self.on_event(message)
        return silent


def _requeue(oracle, tid):
    """Moves `tid`'s ongoing trial to the oracle's retry queue, under the oracle's lock."""
    from keras_tuner.src.engine import oracle as oracle_module

    with oracle_module.LOCKS[oracle]:
        trial = oracle.ongoing_trials.pop(tid, None)
        oracle.tuner_ids.discard(tid)
        if trial is None:
            return None
        oracle._retry_queue.append(trial.trial_id)  # KerasTuner's own retry path
        oracle.save()
        return trial.trial_id


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
        cmd = [self.python, "-m", "kregs", "tune", *self.tune_args, "--role", role]
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
        restarts = {i: 0 for i in range(self.workers)}
        stopping = False
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            chief = self._start("chief", "chief")
            if not self._wait_listening(chief):
                self._drain(0.5)
                return chief.wait()
            for i in range(self.workers):
                self._start(f"worker-{i}", "worker", i)
            while True:
                self._drain()
                if chief.poll() is not None:
                    break
                live = 0
                for i in range(self.workers):
                    name = f"worker-{i}"
                    code = self._procs[name].poll()
                    if code is None:
                        live += 1
                    elif code != 0 and restarts[i] < self.max_restarts:
                        restarts[i] += 1
                        self._drain(0.5)
                        self.on_line(
                            "kregs",
                            f"{name} ended with {_describe(code)}; starting it again under its id "
                            f"(restart {restarts[i]} of {self.max_restarts}): it runs the trial it "
                            "held again from its first epoch",
                        )
                        self._start(name, "worker", i)
                        live += 1
                failed = [
                    f"worker-{i}"
                    for i in range(self.workers)
                    if self._procs[f"worker-{i}"].poll() not in (None, 0)
                ]
                if live == 0 and failed and not stopping:
                    # Nobody left to ask the chief for trials: it would wait forever.
                    stopping = True
                    self.on_line(
                        "kregs",
                        f"every worker has stopped ({', '.join(failed)} failed: "
                        f"{self.last_error(failed[0]) or 'no message'}); stopping the chief. "
                        "Finished trials are kept; run the same command to resume",
                    )
                    _interrupt(chief)
            self._wait_all(timeout=30)
            self._drain(0.5)
            code = chief.returncode
            if stopping and code == 0:
                code = 1
            return code
        except KeyboardInterrupt:
            self.stop()
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)

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


def read_heartbeats(output):
    """The workers' heartbeat files of a run, by tuner id."""
    folder = os.path.join(output, HEARTBEAT_DIR)
    if not os.path.isdir(folder):
        return {}
    beats = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            beat = read_json(os.path.join(folder, name))
            if beat is not None:
                beats[name[: -len(".json")]] = beat
    return beats


__all__ = [
    "LocalCluster",
    "Heartbeat",
    "WorkerMonitor",
    "check_bind",
    "exposure_warning",
    "free_port",
    "oracle_env",
    "parse_oracle",
    "wait_for_chief",
    "read_heartbeats",
]
