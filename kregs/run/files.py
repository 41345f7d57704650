"""Atomic file writes and JSON, for every file a kregs run writes."""

import contextlib
import errno
import json
import os
import re
import sys
import tempfile

from kregs.errors import DiskFullError, StateError


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
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError) and err.filename is None:  # a failed write names no file
            raise OSError(err.errno, err.strerror, str(path)) from err
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


def read_json(path, remedy="delete it, or run with --overwrite to start afresh"):
    """Returns the JSON in `path`, or None when the file does not exist.

    Args:
        path: str, the file.
        remedy: str, what the user can do when the file is corrupt.

    Raises:
        StateError: the file exists but is not valid JSON (named in the message,
            with `remedy`).
    """
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise StateError(f"{path} is unreadable or corrupt ({err}); {remedy}") from None


def full_disk(err, default):
    """`DiskFullError` for an exception caused by a full disk (anywhere in its chain), else None.

    Args:
        err: the exception.
        default: str, the file or folder to name when the error names none.

    Returns:
        A `DiskFullError` naming the file, or None.
    """
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if getattr(err, "errno", None) == errno.ENOSPC or "No space left on device" in str(err):
            where = getattr(err, "filename", None) or default
            return DiskFullError(
                f"no space left on device while writing {where}; free space and run the "
                "same command to resume"
            )
        err = err.__cause__ or err.__context__
    return None


# Full-disk errors a library reported only through `sys.unraisablehook` (h5py fails a
# write when it closes a file, inside a destructor, and carries on).
_swallowed = []


@contextlib.contextmanager
def watching_disk():
    """Inside the block, a full disk that a library swallows is noticed (`check_disk`).

    Such errors are not printed (kregs reports the full disk in one line).
    """
    previous = sys.unraisablehook

    def hook(unraisable):
        if full_disk(unraisable.exc_value, None) is not None:
            _swallowed.append(str(unraisable.exc_value))
            return
        previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
        _swallowed.clear()


def check_disk(default):
    """Raises `DiskFullError` when a write failed for want of space, even a swallowed one.

    Args:
        default: str, the file or folder to name when the error names none.
    """
    if _swallowed:
        named = re.search(r"filename = '([^']+)'", _swallowed[0])
        raise full_disk(
            OSError(errno.ENOSPC, "No space left on device"), named.group(1) if named else default
        )
