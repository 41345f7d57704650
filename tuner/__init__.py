"""kregs.tuner: KerasTuner search over a model's regularization.

Installed as `kregs.tuner` (source folder `tuner/`); import it only under that name.

- `TuneConfig`: one validated description of a search (its record is run.json);
  `TuneConfig()` is `kregs tune` without a preset.
- `tune(config)`: the driver behind `kregs tune` (output folder, resume, folds, refit,
  export); `TuneResult`, what it returns.
- `SearchBudget`, `SEARCH_PRESETS`: how much a search does; `Fixed`, the dimensions not
  searched; `SearchSpace`, the dimensions' ranges as KerasTuner hyperparameters.
- `RegularizationHyperModel`: the search space, usable with any KerasTuner tuner.
- `make_tuner(...)`: KerasTuner's Hyperband, BayesianOptimization, RandomSearch or
  GridSearch over a HyperModel, with kregs' per-trial records.
- `export_run(run_dir)`: a finished run's best model as a new version.
- `kregs.tuner.distributed`: what KerasTuner's chief/worker engine needs around it.
"""

from kregs.lazy import lazy_attributes

_LAZY = {
    "RegularizationHyperModel": "kregs.tuner.hypermodel",
    "TuneConfig": "kregs.tuner.config",
    "TuneResult": "kregs.tuner.search",
    "export_run": "kregs.tuner.export",
    "Fixed": "kregs.tuner.config",
    "SearchSpace": "kregs.tuner.space",
    "SearchBudget": "kregs.tuner.budget",
    "SEARCH_PRESETS": "kregs.tuner.budget",
    "make_tuner": "kregs.tuner.tuners",
    "tune": "kregs.tuner.driver",
}
__getattr__, __dir__, __all__ = lazy_attributes(__name__, _LAZY)
