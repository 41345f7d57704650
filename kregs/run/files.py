"""Atomic file writes and JSON, for every file a kregs run writes."""

import contextlib
import ctypes
import ctypes.util
import errno
import fnmatch
import json
import os
import re
import shutil
import sys
import tempfile

from kregs.errors import DiskFullError, StateError


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# The process' umask, read once at import (reading it means setting it): the modes
# kregs' files get, as any file the user's programs write (kregs' temporary files
# start private and are renamed into place).
UMASK = _umask()


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
        os.fchmod(fd, 0o666 & ~UMASK)  # (mkstemp's 0600 would stay with the file)
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


@contextlib.contextmanager
def new_folder(parent, name):
    """Yields a new, empty temporary folder in `parent` to fill, removed if the block fails.

    Its name (`.tmp-<name>-XXXX`) is one kregs cleans up after a kill. Put it in place
    with `replace_folder` or `os.rename` inside the block.

    Example:
    >>> with new_folder("runs/x", "best") as tmp:
    ...     model.save(os.path.join(tmp, "rank1-trial0.keras"))
    ...     replace_folder(tmp, "runs/x/best", owned=("rank*",))
    """
    tmp = tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=parent)
    os.chmod(tmp, 0o777 & ~UMASK)  # (mkdtemp's 0700 would stay with the folder)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def matches(rel, patterns):
    """Whether the relative path `rel` (with `/`) matches one of `patterns`.

    A pattern is a relative path whose parts are `fnmatch` patterns, each matching
    one part of `rel`; a part `**` matches any number of parts.

    Example:
    >>> matches("tensorboard/0/train/events.out.tfevents.1", ["tensorboard/**/events.out.*"])
    True
    """
    parts = rel.split("/")

    def match(ps, ts):
        if not ps:
            return not ts
        if ps[0] == "**":
            return any(match(ps[1:], ts[i:]) for i in range(len(ts) + 1))
        return bool(ts) and fnmatch.fnmatchcase(ts[0], ps[0]) and match(ps[1:], ts[1:])

    return any(match(p.split("/"), parts) for p in patterns)


def delete_owned(folder, patterns):
    """Deletes the files under `folder` that match `patterns` (see `matches`), then the folders
    this emptied; every other file, and the folders that hold one, stay.

    Returns:
        list of str, the files deleted.
    """
    deleted, emptied = [], set()
    for dirpath, _, filenames in os.walk(folder, topdown=False):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if matches(os.path.relpath(path, folder).replace(os.sep, "/"), patterns):
                os.unlink(path)
                deleted.append(path)
                emptied.add(dirpath)
        if dirpath != folder and dirpath in emptied and not os.listdir(dirpath):
            os.rmdir(dirpath)
            emptied.add(os.path.dirname(dirpath))
    return deleted


def replace_folder(tmp, target, owned=()):
    """Puts the filled folder `tmp` in the place of `target`, in one step where it can.

    A reader sees the old folder or the new one, never a mix. Files in the old
    `target` that `owned` does not match (`matches` patterns,
    relative to `target`: a user's files) are carried over into the new one as
    hard links first, so they are never only in a temporary folder. On Linux the
    two folders are exchanged atomically (`renameat2(RENAME_EXCHANGE)`); where the
    file system cannot, the old folder is moved aside and the new one renamed.

    Args:
        tmp: str, a folder from `new_folder`, beside `target`.
        target: str, the folder to replace (it need not exist).
        owned: iterable of str, the patterns of the files kregs writes there.
    """
    if not os.path.isdir(target):
        os.rename(tmp, target)
        return
    for dirpath, _, filenames in os.walk(target):
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), target)
            if matches(rel.replace(os.sep, "/"), owned):
                continue
            dest = os.path.join(tmp, rel)
            if not os.path.exists(dest):
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                _link_or_copy(os.path.join(dirpath, name), dest)
    if not _exchange(tmp, target):
        aside = tempfile.mkdtemp(prefix=".tmp-old-", dir=os.path.dirname(os.path.abspath(target)))
        os.rename(target, os.path.join(aside, "old"))
        os.rename(tmp, target)
        tmp = aside
    shutil.rmtree(tmp, ignore_errors=True)  # the old folder, now
    _fsync_folder(os.path.dirname(os.path.abspath(target)))


def _link_or_copy(src, dest):
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a, b):
    """Swaps two paths atomically (Linux `renameat2`); False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(
        _AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), ctypes.c_uint(_RENAME_EXCHANGE)
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), b)


def file_hash(path):
    """A short hash of a file's content (a run records it: the same file, the same run)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def weights_hash(model):
    """A short hash of a model's weights: the same weights, the same hash (what a run
    derived from a trial's model is checked against: its test, refit and export)."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]


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


def _path_in(text, folder):
    """The first file path under `folder` that `text` names (TensorFlow's errors name the
    file in their message, not in `filename`), or None."""
    if not folder:
        return None
    prefix = os.path.abspath(str(folder))
    for found in re.findall(r"(/[^\s;,'\"(){}\[\]]+)", text):
        if found.startswith(prefix):
            return found.rstrip(".")
    return None


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
            where = getattr(err, "filename", None) or _path_in(str(err), default) or default
            return DiskFullError(
                f"no space left on device while writing {where}; free space and run the "
                "same command to resume"
            )
        err = err.__cause__ or err.__context__
    return None


_UNWRITABLE = {
    errno.EACCES: "Permission denied",
    errno.EPERM: "Operation not permitted",
    errno.EROFS: "Read-only file system",
}


@contextlib.contextmanager
def writing_to(folder):
    """Inside the block, a write that fails for want of space or of permission is one
    kregs error naming the file: `DiskFullError`, or `ConfigError` ("cannot write to ...").

    Args:
        folder: str, what to name when the error names no file.
    """
    from kregs.errors import ConfigError

    try:
        yield
    except Exception as err:  # TensorFlow and h5py wrap OSErrors in their own types
        disk = full_disk(err, folder)
        if disk is not None:
            raise disk from None
        seen = set()
        while err is not None and id(err) not in seen:
            seen.add(id(err))
            code = getattr(err, "errno", None)
            reason = _UNWRITABLE.get(code) or next(
                (text for text in _UNWRITABLE.values() if text in str(err)), None
            )
            if reason is not None:
                where = getattr(err, "filename", None) or folder
                raise ConfigError(
                    f"cannot write to {where}: {reason}; the run's earlier files are intact"
                ) from None
            err = err.__cause__ or err.__context__
        raise


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
