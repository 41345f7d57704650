"""Small file helpers shared by `kregs tune` and `kregs study`: atomic writes, JSON."""

import json
import os


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
