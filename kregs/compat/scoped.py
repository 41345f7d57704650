"""Replacing an upstream name for the length of a `with` block, and only then."""

import contextlib

# `(owner, name)` of every replacement in force now (outside kregs' blocks: none).
ACTIVE = []


def active():
    """The names replaced right now, as `"module.Class.name"`; empty outside kregs' blocks."""
    return [f"{getattr(o, '__module__', '')}.{getattr(o, '__name__', o)}.{n}" for o, n in ACTIVE]


@contextlib.contextmanager
def replaced(owner, name, value):
    """Sets `owner.name` to `value` inside the block; the original is back afterwards."""
    saved = getattr(owner, name)
    setattr(owner, name, value)
    ACTIVE.append((owner, name))
    try:
        yield
    finally:
        setattr(owner, name, saved)
        ACTIVE.remove((owner, name))
