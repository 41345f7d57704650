"""Heartbeats of the workers, and the chief's monitor that takes back a silent worker's trial."""

import logging
import os
import socket
import threading
import time

from kregs import compat
from kregs.errors import ConfigError, StateError
from kregs.run.files import read_json, write_json
from kregs.run.lock import ExclusiveLock

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


def claim_worker_id(output, tuner_id, wait=HEARTBEAT_SECONDS + 2):
    """Claims a worker id for this process, or refuses it when a live worker uses it.

    The claim is an exclusive lock on `<output>/workers/<tuner id>.lock`, held as
    long as this process lives: of two workers started at the same moment with the
    same id, one gets it. Where the shared file system has no working locks, the
    heartbeat still tells: one from this host is alive when its process is; one
    from another host when its counter moves within `wait` seconds. A worker that
    died (a crash, `kill -9`) leaves its lock released and its heartbeat stale: its
    id is free again.

    Returns:
        `kregs.run.lock.ExclusiveLock`, held (release it when the worker ends).

    Raises:
        ConfigError: the id is taken, naming the worker that holds it.
    """
    os.makedirs(os.path.join(output, HEARTBEAT_DIR), exist_ok=True)
    lock = ExclusiveLock(os.path.join(output, HEARTBEAT_DIR, f"{tuner_id}.lock"))
    holder = lock.acquire()
    if holder is not None:
        raise _taken(tuner_id, holder.get("pid"), holder.get("host"))
    try:
        beat = read_json(heartbeat_path(output, tuner_id))
    except StateError:
        beat = None
    if not beat or beat.get("done") or beat.get("pid") == os.getpid():
        return lock
    if beat.get("host") == socket.gethostname():
        alive = _process_alive(beat.get("pid"))
    else:
        deadline = time.monotonic() + wait
        alive = False
        while time.monotonic() < deadline and not alive:
            time.sleep(0.5)
            alive = read_beat(output, tuner_id) != beat.get("beat")
    if alive:
        lock.release()
        raise _taken(tuner_id, beat.get("pid"), beat.get("host"))
    return lock


def _taken(tuner_id, pid, host):
    return ConfigError(
        f"worker id {tuner_id.removeprefix('worker-')} is taken by a running worker "
        f"(pid {pid} on {host}); give this worker another --worker-id"
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


def hand_back_held_trials(oracle, output):
    """On a restarted chief: trials that live workers still train go back to them.

    KerasTuner's reload puts every trial that was running into the retry queue,
    so a trial a worker went on training while the chief was down would be
    trained a second time. A worker's heartbeat says which trial it holds; when
    it is alive (this host: its process exists; another host: not known yet, the
    monitor takes the trial back if it stays silent), the trial is its again.

    Returns:
        list of `(tuner_id, trial_id)` handed back.
    """
    folder = os.path.join(output, HEARTBEAT_DIR)
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    handed = []
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            beat = read_json(os.path.join(folder, name)) or {}
        except StateError:
            continue
        held, tuner_id = beat.get("trial_id"), beat.get("tuner_id")
        if beat.get("done") or held is None or tuner_id is None:
            continue
        if beat.get("host") == socket.gethostname() and not _process_alive(beat.get("pid")):
            continue
        if compat.hand_back(oracle, tuner_id, held):
            handed.append((tuner_id, held))
            logger.info("trial %s goes on with %s, which trains it still", held, tuner_id)
    return handed


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
