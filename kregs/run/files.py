"""Atomic file writes and JSON, for every file a kregs run writes."""

import json
import os
import tempfile

from kregs.errors import StateError


def write_atomic(path, text):
    """Writes `text` to `path` so that a reader sees the old file or the new one, never half.

    The text goes to a temporary file with a unique name in the same folder
    (two processes never share it), is flushed to the disk (`fsync`), then
    renamed over `path` (`os.replace`, atomic on POSIX); the folder is synced
    too, so the rename survives a power cut. On any error the temporary file
    is removed and `path` is untouched.

    Args:
        path: str, the file to write.
        text: str, its whole content.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a folder
        pass
    finally:
        os.close(fd)


def write_json(path, obj):
    """Writes `obj` as indented, key-sorted JSON, atomically."""
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path):
    """Returns the JSON in `path`, or None when the file does not exist.

    Raises:
        StateError: the file exists but is not valid JSON (named in the message).
    """
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise StateError(f"{path} is unreadable or corrupt ({err})") from None
