"""kregs: regularization as a first-class, searchable part of a Keras 3 model.

Public API (imported on first use, so that `kregs --help` never loads
TensorFlow):

- `kregs.L2Penalty(lam)`: the L2 penalty `lam / 2 * sum(w ** 2)`.
- `kregs.RegConfig(l2, dropout, batch_norm)`: one validated regularization setting.
- `kregs.layers.ConvBlock`, `kregs.layers.DenseBlock`: blocks that follow a `RegConfig`.
- `kregs.FusedBatchNormalization`, `kregs.BernoulliDropout`: Keras' BN and
  dropout with fewer passes over the activations (the blocks use them).
- `kregs.ResidualDrop`: stochastic depth on a residual `Add` (`regularize` places it).
- `kregs.CrossEntropy`, `kregs.Accuracy`: loss (label smoothing) and accuracy of
  integer or mixed labels (`kregs.mixing`: MixUp and CutMix batches).
- `kregs.build_model(input_shape, num_classes, reg, arch)`: the study's networks.
- `kregs.regularize(model, reg)`: a `RegConfig` applied to any Functional or
  Sequential Keras model, its weights kept.
- `kregs.GeneralizationGap`: callback logging train-minus-validation accuracy.
- `kregs.EpochTime`: callback logging each epoch's wall time.
- `kregs.BestEpoch`: callback restoring the best epoch's weights (early stopping).

What tune and study share (budgets, the run folder, the metrics of a
history, the device set-up) is `kregs.run`. Search lives in `kregs.tuner`
(source folder `tuner/`), the study of the eight configurations in
`kregs.study`, the command line in `kregs.cli` (source folder `cli/`).

Example:
>>> import kregs
>>> model = kregs.build_model((28, 28, 1), 10, kregs.RegConfig(l2=1e-4, dropout=0.3))
"""

import importlib

import wrapt

from kregs.lazy import lazy_attributes

__version__ = "0.1.0"

_LAZY = {
    "L2Penalty": "kregs.regularizers",
    "L2SP": "kregs.regularizers",
    "RegConfig": "kregs.config",
    "BATCH_NORM_PLACEMENTS": "kregs.checks",
    "CONFIG_NAMES": "kregs.config",
    "ConvBlock": "kregs.layers",
    "DenseBlock": "kregs.layers",
    "ResidualDrop": "kregs.layers",
    "CrossEntropy": "kregs.losses",
    "Accuracy": "kregs.losses",
    "FusedBatchNormalization": "kregs.fused",
    "BernoulliDropout": "kregs.fused",
    "build_model": "kregs.models",
    "regularize": "kregs.rewrite",
    "ARCHITECTURES": "kregs.checks",
    "GeneralizationGap": "kregs.callbacks",
    "EpochTime": "kregs.callbacks",
    "BestEpoch": "kregs.callbacks",
    "KregsError": "kregs.errors",
    "ConfigError": "kregs.errors",
    "DataError": "kregs.errors",
    "DataNotFoundError": "kregs.errors",
    "StateError": "kregs.errors",
    "RunFailedError": "kregs.errors",
}
_SUBMODULES = (
    "callbacks",
    "checks",
    "compat",
    "config",
    "data",
    "errors",
    "fused",
    "layers",
    "losses",
    "mixing",
    "models",
    "regularizers",
    "rewrite",
    "run",
    "study",
    "tuner",
    "cli",
)

__getattr__, __dir__, __all__ = lazy_attributes(__name__, _LAZY, _SUBMODULES)


def _register_keras_objects(_keras):
    # Importing these modules registers every kregs class with Keras'
    # serialization, so `keras.models.load_model("m.keras")` finds them after
    # a plain `import kregs`, whichever of keras and kregs came first.
    importlib.import_module("kregs.layers")
    importlib.import_module("kregs.losses")  # the loss and metric of compiled .keras files
    importlib.import_module("kregs.run.schedule")  # the trials' learning-rate schedule


wrapt.register_post_import_hook(_register_keras_objects, "keras")
