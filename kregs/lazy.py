"""Package attributes imported on first use (PEP 562), so `kregs --help` loads no TensorFlow."""

import importlib


def lazy_attributes(package, names, submodules=()):
    """`(__getattr__, __dir__, __all__)` for a package whose public names load on first use.

    Args:
        package: str, the package's `__name__`.
        names: dict, public name -> the module that defines it.
        submodules: iterable of str, submodules reachable as attributes.

    Returns:
        The package's `__getattr__` and `__dir__` functions and its `__all__` list: the
        public names (submodules are reachable as attributes, not listed).

    Example:
    >>> __getattr__, __dir__, __all__ = lazy_attributes(__name__, {"tune": "kregs.tuner.driver"})
    """
    submodules = tuple(submodules)
    public = sorted(names)

    def __getattr__(name):  # noqa: N807 - the module hook's name
        module = importlib.import_module(package)
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            setattr(module, name, value)
            return value
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():  # noqa: N807
        return sorted(set(vars(importlib.import_module(package))) | set(public) | set(submodules))

    return __getattr__, __dir__, public
