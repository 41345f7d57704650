"""On PYTHONPATH, this makes a Python process behave as if TensorFlow were not installed:
`import tensorflow` raises ModuleNotFoundError and `importlib.util.find_spec` returns None."""

import importlib.machinery

_find_spec = importlib.machinery.PathFinder.find_spec.__func__


def _without_tensorflow(cls, name, path=None, target=None):
    if name == "tensorflow" or name.startswith("tensorflow."):
        return None
    return _find_spec(cls, name, path, target)


importlib.machinery.PathFinder.find_spec = classmethod(_without_tensorflow)
