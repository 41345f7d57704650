"""Heartbeats of the workers, and the chief's monitor that takes back a silent worker's trial."""

import logging
import os
import socket
import threading
import time

from kregs import compat
from kregs.errors import ConfigError, StateError
from kregs.run.files import read_json, write_json

logger = logging.getLogger(__name__)

HEARTBEAT_DIR = "workers"
HEARTBEAT_SECONDS = 5.0


def heartbeat_path(output, tuner_id):
    """`<output>/workers/<tuner id>.json`, the heartbeat file of one worker."""
    return os.path.join(output, HEARTBEAT_DIR, f"{tuner_id}.json")


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
        self.path = heartbeat_path(output, tuner_id)
        self.tuner_id = tuner_id
        self.interval = interval
        self.trial_id = None
        self._beat = 0
        self._lock = threading.Lock()
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

    def holds(self, trial_id):
        """Says at once (a beat now) which trial this worker runs (None: none)."""
        self.trial_id = trial_id
        self._beat_now()

    def _write(self, done=False):
        with self._lock:  # the beating thread and the trial's thread both write
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
            self._beat_now()

    def _beat_now(self):
        try:
            self._write()
        except OSError as err:  # a full or unreachable shared disk: keep training
            logger.warning("heartbeat not written: %s", err)


def check_worker_free(output, tuner_id, wait=HEARTBEAT_SECONDS + 2):
    """Refuses a worker whose id a live worker already uses (its heartbeat tells).

    A heartbeat from this host is alive when its process is; one from another
    host when its counter moves within `wait` seconds. A worker that died
    (a crash, `kill -9`) leaves a stale heartbeat: its id is free again.

    Raises:
        ConfigError: the id is taken, naming the worker that holds it.
    """
    try:
        beat = read_json(heartbeat_path(output, tuner_id))
    except StateError:
        return
    if not beat or beat.get("done") or beat.get("pid") == os.getpid():
        return
    if beat.get("host") == socket.gethostname():
        alive = _process_alive(beat.get("pid"))
    else:
        deadline = time.monotonic() + wait
        alive = False
        while time.monotonic() < deadline and not alive:
            time.sleep(0.5)
            alive = read_beat(output, tuner_id) != beat.get("beat")
    if alive:
        raise ConfigError(
            f"worker id {tuner_id.removeprefix('worker-')} is taken by a running worker "
            f"(pid {beat.get('pid')} on {beat.get('host')}); give this worker another --worker-id"
        )


def _process_alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError):
        return pid is not None  # another user's process is alive; no pid: unknown
    return True


def read_beat(output, tuner_id):
    """The `beat` counter of a worker's heartbeat, or None when there is none (yet)."""
    try:
        return (read_json(heartbeat_path(output, tuner_id)) or {}).get("beat")
    except StateError:  # a file from another program; atomic writes never leave half of one
        return None


class WorkerMonitor:
    """On the chief: gives the trial of a worker that fell silent back to the oracle.

    Every few seconds it reads the heartbeats of the workers that hold a
    trial. A worker whose heartbeat has not changed for `timeout` seconds, by
    the chief's clock, is taken for dead: its trial goes to the oracle's retry
    queue, where the next worker asking for a trial gets it (and trains it
    again from its first epoch), and the worker leaves the oracle's list of
    tuners, so the chief does not wait for it at the end.

    Args:
        oracle: the chief's KerasTuner oracle.
        output: str, the shared output folder.
        timeout: float, seconds of silence before a worker is taken for dead.
        on_event: callable(str) or None, told about each trial handed back.
        interval: float, seconds between checks.
    """

    def __init__(self, oracle, output, timeout, on_event=None, interval=2.0):
        self.oracle = oracle
        self.output = output
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
        """Hands back the trials of workers silent for `timeout` s; returns their tuner ids.

        A silent worker that held no trial (it was waiting for one) only
        leaves the search, so the chief does not wait for it at the end.
        """
        silent = []
        for tid in compat.workers_known(self.oracle):
            beat = read_beat(self.output, tid)
            last = self._seen.get(tid)
            if last is None or last[0] != beat:
                self._seen[tid] = (beat, now)
            elif now - last[1] >= self.timeout:
                silent.append(tid)
        for tid in silent:
            trial_id = compat.requeue_trial(self.oracle, tid)
            self._seen.pop(tid, None)
            if trial_id is not None:
                self.requeued.append((tid, trial_id))
                message = (
                    f"{tid} silent for {self.timeout:g} s during trial {trial_id}: "
                    "the trial goes back to the queue and will be run again from its first epoch"
                )
            else:
                message = (
                    f"{tid} silent for {self.timeout:g} s while waiting for a trial: "
                    "the search goes on without it"
                )
            logger.warning(message)
            if self.on_event is not None:
                self.on_event(message)
        return silent
