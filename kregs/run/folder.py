"""The run folder: a record of the run's configuration, resume, and refusal of other runs."""

import datetime
import os
import shutil

from kregs.errors import ConfigError, StateError
from kregs.run.files import read_json, write_json


def default_output(name):
    """`runs/<name>-<UTC timestamp>`, the output folder of a run when none is given."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return os.path.join("runs", f"{name}-{stamp}")


def changed_keys(previous, record, resumable=()):
    """The keys, sorted, whose values differ between two run records, less `resumable`."""
    return sorted(
        k
        for k in set(record) | set(previous)
        if k not in resumable and record.get(k) != previous.get(k)
    )


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

    Example:
    >>> folder = RunFolder("runs/x", "run.json", resumable=("max_trials",))
    >>> folder.prepare({"dataset": "mnist", "max_trials": 3}, overwrite=False)
    """

    def __init__(self, path, record_file, kind="run", what="configuration", resumable=()):
        self.path = os.path.abspath(path)
        self.record_file = record_file
        self.kind = kind
        self.what = what
        self.resumable = tuple(resumable)

    def file(self, *parts):
        """The path of `parts` inside the folder."""
        return os.path.join(self.path, *parts)

    def read_record(self):
        """The folder's record, or None when it has none."""
        return read_json(self.file(self.record_file))

    def prepare(self, record, overwrite=False):
        """Creates the folder and writes `record`, or checks that it holds this same run.

        Args:
            record: dict, JSON-serializable, the run's configuration.
            overwrite: bool, delete an existing run of this kind first.

        Raises:
            ConfigError: the folder holds something that is not a run of this
                kind, another run, or cannot be written.
        """
        if os.path.isdir(self.path) and os.listdir(self.path):
            previous = self._previous_record()
            if overwrite:
                shutil.rmtree(self.path)
            else:
                self._check_same(previous, record)
        try:
            os.makedirs(self.path, exist_ok=True)
            write_json(self.file(self.record_file), record)
        except OSError as err:
            raise ConfigError(
                f"cannot write to output folder {self.path}: {err.strerror}"
            ) from None

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
                f"{k}: chief {previous.get(k)!r}, worker {record.get(k)!r}" for k in changed
            )
            raise ConfigError(f"this worker's options differ from the chief's run ({diffs})")

    def _previous_record(self):
        try:
            previous = self.read_record()
        except StateError:
            raise ConfigError(
                f"output folder {self.path} holds a corrupt {self.record_file}; "
                "use --overwrite to start afresh, or another --output"
            ) from None
        if previous is None:
            raise ConfigError(
                f"output folder {self.path} exists and is not a kregs {self.kind} "
                f"(no {self.record_file}); choose another --output"
            )
        return previous

    def _check_same(self, previous, record):
        changed = changed_keys(previous, record, self.resumable)
        if changed:
            diffs = ", ".join(f"{k}: {previous.get(k)!r} -> {record.get(k)!r}" for k in changed)
            raise ConfigError(
                f"output folder {self.path} holds a {self.kind} with another {self.what} "
                f"({diffs}); use another --output, or --overwrite to start afresh"
            )
