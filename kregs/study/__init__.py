"""kregs.study: the regularization study's eight configurations, over seeds, with statistics.

- `StudyConfig`: one validated description of a study (its record is study.json).
- `run_study(config)`: the driver behind `kregs study` (output folder, resume, report).
- `protocol`: the values the configurations use, and where each came from.
- `train`: one run (one configuration, one seed).
- `stats`: means, standard deviations and Welch intervals.
- `study_csv`, `study_md`, `plots`: the study's outputs.
- `paper`: the study's reported figures, shown as its claims.
"""

from kregs.lazy import lazy_attributes

_LAZY = {
    "StudyConfig": "kregs.study.config",
    "StudyResult": "kregs.study.runner",
    "run_study": "kregs.study.runner",
}
__getattr__, __dir__, __all__ = lazy_attributes(__name__, _LAZY)
