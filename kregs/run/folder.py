"""The run folder: one writer, a record of the run's configuration, resume, refusal of others.

A run folder holds a record file (run.json, study.json: the serialization of
the run's configuration) and what the run writes. `RunFolder.session` holds
it for one run: it refuses a folder that is not a run of this kind, or holds
another run; locks it (`kregs.run.lock`: a second process on the same folder
is refused, naming the holder); deletes on `overwrite` only what kregs wrote;
removes temporary files a killed run left; and, when the run fails before
writing anything, leaves no empty folder behind.
"""

import contextlib
import datetime
import errno
import os
import re
import shutil

from kregs.errors import ConfigError, StateError
from kregs.run.files import delete_owned, matches, read_json, write_json
from kregs.run.lock import LOCK_FILE, FolderLock

# Every temporary name kregs uses: `.name.XXXX.tmp` (write_atomic) and `.tmp-...`.
TEMPORARY = re.compile(r"^\..+\.tmp$|^\.tmp-")


def default_output(name):
    """`runs/<name>-<UTC timestamp>`, the output folder of a run when none is given."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return os.path.join("runs", f"{name}-{stamp}")


def check_writable(path):
    """Checks, creating nothing, that `path` is or can become a folder this process writes.

    What `RunFolder.session` refuses when it creates the folder, found at once
    (a command checks it before it starts the processes that write there).

    Args:
        path: str, the output folder.

    Raises:
        ConfigError: `cannot write to output folder PATH: REASON`.
    """
    path = os.path.abspath(path)
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        reason = errno.ENOTDIR
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = errno.EACCES
    else:
        return
    raise _unwritable(path, os.strerror(reason))


def _unwritable(path, reason):
    return ConfigError(f"cannot write to output folder {path}: {reason}")


def changed_keys(previous, record, resumable=()):
    """The keys, sorted, whose values differ between two run records, less `resumable`."""
    return sorted(
        k
        for k in set(record) | set(previous)
        if k not in resumable and record.get(k) != previous.get(k)
    )


def describe_change(key, before, after, was="chief", now="worker"):
    """`key: chief X, worker Y`; for two dicts, only the entries that differ (`key.entry: ...`).

    A data set's record differs in its `fingerprint` alone when the files at
    the same path are not the same: that is the one entry named, not the whole record.
    """
    if isinstance(before, dict) and isinstance(after, dict):
        return ", ".join(
            describe_change(f"{key}.{k}", before.get(k), after.get(k), was, now)
            for k in changed_keys(before, after)
        )
    said = f"{key}: {was} {before!r}, {now} {after!r}"
    return said + " (other files)" if key.endswith(".fingerprint") else said


def clean_temporaries(folder, skip=()):
    """Removes the temporary files and folders kregs' writers leave when killed.

    Args:
        folder: str, a run folder whose lock this process holds.
        skip: names of sub-folders to leave alone (written by other processes).

    Returns:
        list of str, the paths removed.
    """
    removed = []
    for dirpath, dirnames, filenames in os.walk(folder):
        if dirpath == folder:
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in list(dirnames) + filenames:
            if TEMPORARY.match(name):
                path = os.path.join(dirpath, name)
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                    dirnames.remove(name)
                else:
                    os.unlink(path)
                removed.append(path)
    return removed


class RunFolder:
    """A run's output folder, identified by its record file (e.g. run.json).

    The record is the serialization of the run's configuration. A folder is
    resumed only when it holds the same record, less the `resumable` keys
    (those may change between a run and its continuation, e.g. a larger
    trial budget); anything else is refused with the keys that differ.

    Args:
        path: str, the folder.
        record_file: str, the record's file name inside it.
        kind: str, what the run is called in messages ("run", "study").
        what: str, what its record is called in messages ("configuration").
        resumable: iterable of str, record keys that may differ on resumption.
        owned: iterable of str, patterns of the files a run of this kind writes
            (see `owned`): all that `overwrite` deletes; any other file stays.
        required: iterable of str, keys every record of kregs has: a record file
            without them is another program's, and the folder is not a run.
        shared: iterable of str, sub-folders other processes write too
            (left alone when cleaning temporaries).
        work: iterable of str, patterns (see `kregs.run.files.matches`) of the files that
            mean finished work (trials.csv, a study's runs). A folder without any holds
            a run that never got that far (it failed at its start): another record
            replaces it, and what it wrote is deleted, instead of being refused.

    Example:
    >>> folder = RunFolder("runs/x", "run.json", resumable=("max_trials",), owned=("a.csv",))
    >>> with folder.session({"dataset": "mnist", "max_trials": 3}) as run:
    ...     run.write_record({"dataset": "mnist", "max_trials": 3})
    """

    def __init__(
        self,
        path,
        record_file,
        kind="run",
        what="configuration",
        resumable=(),
        owned=(),
        shared=(),
        required=("kregs_version",),
        work=(),
    ):
        self.path = os.path.abspath(path)
        self.record_file = record_file
        self.kind = kind
        self.what = what
        self.resumable = tuple(resumable)
        self.owned = (record_file, *owned)
        self.shared = tuple(shared)
        self.required = tuple(required)
        self.work = tuple(work)

    def file(self, *parts):
        """The path of `parts` inside the folder."""
        return os.path.join(self.path, *parts)

    def read_record(self):
        """The folder's record, or None when it has none."""
        return read_json(self.file(self.record_file))

    @contextlib.contextmanager
    def session(self, record, overwrite=False):
        """Holds the folder for one run of `record` (see the module's docstring).

        Args:
            record: dict, the run's configuration (written by `write_record`).
            overwrite: bool, delete what an earlier run of this kind wrote first.

        Raises:
            ConfigError: the folder holds something that is not a run of this
                kind, another run, or cannot be written.
            FolderInUseError: another process holds the folder.
        """
        existed = self._check(record, overwrite)
        try:
            os.makedirs(self.path, exist_ok=True)
            lock = FolderLock(self.path).acquire()
        except OSError as err:
            raise _unwritable(self.path, err.strerror) from None
        try:
            fresh = self._check(record, overwrite) == "unfinished"  # again: nobody else writes
            if overwrite or fresh:
                self._delete_entries()
            clean_temporaries(self.path, skip=self.shared)
            yield self
        except BaseException:
            if not existed:
                self._remove_if_unused()
            raise
        finally:
            lock.release()

    def write_record(self, record):
        """Writes the record file (atomically)."""
        write_json(self.file(self.record_file), record)

    def check_same(self, record):
        """Checks that the folder already holds `record`: a worker joining a chief's run.

        Raises:
            ConfigError: no record yet, or one with other values.
        """
        previous = self.read_record()
        if previous is None:
            raise ConfigError(
                f"{self.path} holds no {self.record_file}: the chief writes it before it "
                "listens; give the workers the chief's --output (on a shared file system)"
            )
        changed = changed_keys(previous, record, self.resumable)
        if changed:
            diffs = ", ".join(
                describe_change(k, previous.get(k), record.get(k), "chief", "worker")
                for k in changed
            )
            raise ConfigError(f"this worker's options differ from the chief's run ({diffs})")

    def _content(self):
        """What the folder holds besides kregs' lock and temporaries."""
        if not os.path.isdir(self.path):
            return []
        return [n for n in os.listdir(self.path) if n != LOCK_FILE and not TEMPORARY.match(n)]

    def _check(self, record, overwrite):
        """Refuses a folder that is not a run of this kind or (without overwrite) another run.

        Returns:
            bool, whether the folder held anything; "unfinished" where it holds another
            run that finished nothing (see `work`), which this one replaces.
        """
        if not self._content():
            return False
        try:
            previous = self.read_record()
        except StateError:
            if overwrite:  # only kregs' own files go: safe whoever wrote the record
                return True
            raise ConfigError(
                f"output folder {self.path} holds a corrupt {self.record_file}; "
                "use --overwrite to start afresh, or another --output"
            ) from None
        if previous is None:
            raise ConfigError(
                f"output folder {self.path} exists and is not a kregs {self.kind} "
                f"(no {self.record_file}); choose another --output"
            )
        if not isinstance(previous, dict) or any(k not in previous for k in self.required):
            raise ConfigError(
                f"output folder {self.path} holds a {self.record_file} that is not a kregs "
                f"{self.kind}'s record; choose another --output"
            )
        changed = changed_keys(previous, record, self.resumable)
        if changed and not overwrite and self.work and not self._has_work():
            return "unfinished"
        if changed and not overwrite:
            diffs = ", ".join(f"{k}: {previous.get(k)!r} -> {record.get(k)!r}" for k in changed)
            raise ConfigError(
                f"output folder {self.path} holds a {self.kind} with another {self.what} "
                f"({diffs}); use another --output, or --overwrite to start afresh"
            )
        return True

    def _has_work(self):
        """Whether the folder holds finished work (a file matching `work`)."""
        for dirpath, _, filenames in os.walk(self.path):
            for name in filenames:
                rel = os.path.relpath(os.path.join(dirpath, name), self.path)
                if matches(rel.replace(os.sep, "/"), self.work):
                    return True
        return False

    def _delete_entries(self):
        """Deletes what a run of this kind wrote; anything else in the folder stays."""
        delete_owned(self.path, self.owned)

    def _remove_if_unused(self):
        """After a failed start: removes the folder if it holds nothing but kregs' lock."""
        if os.path.isdir(self.path) and not self._content():
            shutil.rmtree(self.path, ignore_errors=True)
