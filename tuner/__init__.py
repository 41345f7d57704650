"""kregs.tuner: KerasTuner search over L2 strength, dropout rate and BN placement.

Installed as `kregs.tuner` (source folder `tuner/`); import it only under that name.

- `TuneConfig`: one validated description of a search (its record is run.json).
- `tune(config)`: the driver behind `kregs tune` (output folder, resume, export).
- `RegularizationHyperModel`: the search space, usable with any KerasTuner tuner.
- `make_tuner(...)`: KerasTuner's Hyperband, BayesianOptimization, RandomSearch
  or GridSearch over a HyperModel, with kregs' per-trial records.
- `export_run(run_dir)`: a finished run's best model as a new SavedModel version.
- `kregs.tuner.distributed`: what KerasTuner's chief/worker engine needs around it.

Module map: `config` (TuneConfig), `hypermodel` (the space), `tuners` (the
factory and per-trial records), `search` (the steps every mode shares),
`driver` (one process, chief, worker), `best` (best/, test, export),
`trials_csv` and `summary_md` (the run's tables).
"""

from kregs.lazy import lazy_attributes

_LAZY = {
    "RegularizationHyperModel": "kregs.tuner.hypermodel",
    "TuneConfig": "kregs.tuner.config",
    "TuneResult": "kregs.tuner.search",
    "export_run": "kregs.tuner.export",
    "make_tuner": "kregs.tuner.tuners",
    "tune": "kregs.tuner.driver",
}
__getattr__, __dir__, __all__ = lazy_attributes(__name__, _LAZY)
