"""Exception types of kregs.

Every error kregs raises on purpose derives from `KregsError`, so a caller can
catch kregs' own failures in one place. Each also derives from the built-in
type a Python user would expect (`ValueError`, `FileNotFoundError`), so code
that does not know kregs still handles it correctly.

The command line turns exactly these into one line: `ConfigError`,
`DataError`, `DataNotFoundError`, `StateError`, `DiskFullError`,
`ChiefLostError` and `FolderInUseError` (kregs.run.lock) with exit status 2,
`RunFailedError` (a run that could not produce a result) with exit status 1.
Any other exception is a bug and keeps its traceback.
"""


class KregsError(Exception):
    """Base class of every error raised on purpose by kregs."""


class ConfigError(KregsError, ValueError):
    """An argument or configuration value is outside what is allowed."""


class DataError(KregsError, ValueError):
    """A data file exists but its content is not what it must be."""


class DataNotFoundError(KregsError, FileNotFoundError):
    """A data set could not be found in any of the places kregs looks."""


class StateError(KregsError, ValueError):
    """A file kregs wrote earlier (a run's state) is missing, corrupt or from elsewhere."""


class RunFailedError(KregsError, RuntimeError):
    """A run went through but produced nothing usable (e.g. every trial failed)."""


class DiskFullError(KregsError, OSError):
    """The disk filled up while a run wrote a file; the run resumes once there is space."""


class ChiefLostError(KregsError, ConnectionError):
    """A worker can no longer reach the chief of its distributed search."""


def invalid_value(name, value, expected):
    """Builds the one message shape kregs uses for a rejected argument.

    Args:
        name: str, the argument's name.
        value: the value received.
        expected: str, what would have been accepted.

    Returns:
        A `ConfigError` ready to raise.

    Example:
    >>> str(invalid_value("dropout", 1.5, "a float in [0, 1)"))
    'Invalid value for argument `dropout`: expected a float in [0, 1). Received: dropout=1.5'
    """
    return ConfigError(
        f"Invalid value for argument `{name}`: expected {expected}. Received: {name}={value!r}"
    )
