"""One writer per run folder: an OS-level lock that dies with its process."""

import datetime
import fcntl
import json
import os
import socket

from kregs.errors import KregsError

LOCK_FILE = ".kregs.lock"


class FolderInUseError(KregsError, RuntimeError):
    """Another live kregs process writes this run folder."""


class ExclusiveLock:
    """An exclusive `flock` on a file, holding who took it (`holder_record`).

    The operating system releases the lock when its process ends, however it
    ends (`kill -9` included), so a stale lock never blocks anyone; the file
    itself stays, saying who held it last.

    Args:
        path: str, the lock file (its folder must exist).
    """

    def __init__(self, path):
        self.path = path
        self._fd = None

    def acquire(self):
        """Takes the lock; returns None, or the holder's record when another process has it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            return holder
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder_record()).encode(), 0)
        self._fd = fd
        return None

    def release(self):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class FolderLock(ExclusiveLock):
    """An exclusive lock on `<folder>/.kregs.lock`: one kregs process writes the folder.

    Args:
        folder: str, the run folder (must exist).

    Example:
    >>> with FolderLock("runs/x"):
    ...     ...  # only this process writes runs/x here
    """

    def __init__(self, folder):
        super().__init__(os.path.join(folder, LOCK_FILE))
        self.folder = folder

    def acquire(self):
        """Takes the lock, or raises `FolderInUseError` naming the holder (pid, host)."""
        holder = super().acquire()
        if holder is not None:
            raise FolderInUseError(
                f"output folder {self.folder} is in use by another kregs process "
                f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since "
                f"{holder.get('since', '?')}); wait for it to end, or choose another --output"
            )
        return self

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def holder_record():
    """Who holds a lock: this process' id and host, and since when (UTC)."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"),
    }


def _read_holder(fd):
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}
