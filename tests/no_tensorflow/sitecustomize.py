"""On PYTHONPATH, this makes a Python process behave as if TensorFlow were not installed."""

import sys


class _NoTensorFlow:
    """TensorFlow is not installed, as far as this process can tell."""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoTensorFlow())
