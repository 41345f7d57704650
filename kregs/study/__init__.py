"""kregs.study: the regularization study's eight configurations, over seeds, with statistics.

- `StudyConfig`: one validated description of a study (its record is study.json).
- `run_study(config)`: the driver behind `kregs study` (output folder, resume, report).
- `protocol`: the values the configurations use, and where each came from.
- `train`: one run (one configuration, one seed).
- `stats`: means, standard deviations and Welch intervals.
- `study_csv`, `study_md`, `plots`: the study's outputs.
- `paper`: the study's reported figures, shown as its claims.
"""

import importlib

_LAZY = {
    "StudyConfig": "kregs.study.config",
    "StudyResult": "kregs.study.runner",
    "run_study": "kregs.study.runner",
}
__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kregs.study' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
