"""kregs.study: the regularization study's eight configurations, over seeds, with statistics.

- `run_study(...)`: the driver behind `kregs study` (output folder, resume, report).
- `protocol`: budgets (`STUDY_PRESETS`) and the values the configurations use.
- `stats`: means, standard deviations and Welch intervals.
- `paper`: the study's reported figures, shown as its claims.
"""

import importlib

_LAZY = {
    "run_study": "kregs.study.runner",
    "StudyResult": "kregs.study.runner",
    "STUDY_PRESETS": "kregs.study.protocol",
    "StudyBudget": "kregs.study.protocol",
}
__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kregs.study' has no attribute {name!r}")
