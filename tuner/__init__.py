"""kregs.tuner: KerasTuner search over L2 strength, dropout rate and BN placement.

Installed as `kregs.tuner` (source folder `tuner/`); import it only under that name.

- `RegularizationHyperModel`: the search space, usable with any KerasTuner tuner.
- `tune(...)`: the driver behind `kregs tune` (output folder, resume, export).
- `make_tuner(...)`: KerasTuner's Hyperband, BayesianOptimization, RandomSearch
  or GridSearch over a HyperModel, with kregs' per-trial records.
- `kregs.tuner.distributed`: the same search over a chief and workers on
  KerasTuner's own gRPC engine (`tune(role=...)`, `LocalCluster`).
"""

import importlib

_LAZY = {
    "RegularizationHyperModel": "kregs.tuner.hypermodel",
    "SPACES": "kregs.tuner.hypermodel",
    "tune": "kregs.tuner.search",
    "make_tuner": "kregs.tuner.search",
    "ALGORITHMS": "kregs.tuner.search",
    "TuneResult": "kregs.tuner.search",
    "PRESETS": "kregs.tuner.presets",
}
__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kregs.tuner' has no attribute {name!r}")
