"""Small file helpers shared by `kregs tune` and `kregs study`: atomic writes, JSON."""

import datetime
import json
import os


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


def write_atomic(path, text):
    """Writes `text` to `path` through a temporary file and a rename.

    A reader (or a resumed run after a crash) sees the old file or the new
    one, never half of one.
    """
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path, obj):
    """Writes `obj` as indented, key-sorted JSON, atomically."""
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path):
    """Returns the JSON in `path`, or None when it is missing or unreadable."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def prepare_output(
    output, record_file, record, overwrite, resumable=(), kind="run", what="configuration"
):
    """Creates the output folder of a run, or checks that it holds this same run (resume).

    The folder's `record_file` (e.g. run.json) holds `record`, the run's
    configuration. An existing folder is resumed only when its record equals
    `record` except for the keys in `resumable`; `overwrite` deletes it first.

    Args:
        output: str, the folder.
        record_file: str, the record's file name inside it.
        record: dict, JSON-serializable.
        overwrite: bool, delete an existing run first.
        resumable: iterable of str, keys that may differ on resumption.
        kind, what: words for the error messages ("run" / "configuration").

    Raises:
        ConfigError: the folder holds something else, another run, or cannot be written.
    """
    import shutil

    from kregs.errors import ConfigError

    path = os.path.join(output, record_file)
    if os.path.isdir(output) and os.listdir(output):
        previous = read_json(path)
        if previous is None:
            raise ConfigError(
                f"output folder {output} exists and is not a kregs {kind} (no {record_file}); "
                "choose another --output"
            )
        if overwrite:
            shutil.rmtree(output)
        else:
            changed = changed_keys(previous, record, resumable)
            if changed:
                diffs = ", ".join(f"{k}: {previous.get(k)!r} -> {record.get(k)!r}" for k in changed)
                raise ConfigError(
                    f"output folder {output} holds a {kind} with another {what} ({diffs}); "
                    "use another --output, or --overwrite to start afresh"
                )
    try:
        os.makedirs(output, exist_ok=True)
        write_json(path, record)
    except OSError as err:
        raise ConfigError(f"cannot write to output folder {output}: {err.strerror}") from None
