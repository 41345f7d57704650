"""kregs: regularization as a first-class, searchable part of a Keras 3 model.

Public API (imported on first use, so that `kregs --help` never loads TensorFlow):

- `L2Penalty(lam)`, `L2SP(alpha, start)`: the L2 penalty `lam / 2 * sum(w ** 2)`, and
  L2-SP's pull towards pre-trained weights.
- `RegConfig(...)`: one validated regularization setting (L2, weight decay, dropout and
  its placement, BN placement, augmentation, label smoothing, MixUp/CutMix, EMA,
  stochastic depth).
- `ConvBlock`, `DenseBlock`, `ResidualDrop`, `FusedBatchNormalization`,
  `BernoulliDropout`: layers that follow a `RegConfig`.
- `build_model(input_shape, num_classes, reg, arch)`: the study's networks.
- `regularize(model, reg)`: a `RegConfig` applied to any Functional or Sequential model.
- `CrossEntropy`, `Accuracy`: the loss and accuracy of integer or mixed labels.
- `GeneralizationGap`, `EpochTime`, `BestEpoch`: callbacks.
- `Dataset`: the data a run trains on (built-in, TFDS, a folder, `.npz`, arrays, tf.data).
- `ModelSource`: your model in a search (a `keras.Model`, `.keras` file or build function).
- `DeployOptions`, `Predictor`: the formats a model is exported in, and running one.
- `paired`, `resampled`: two models compared with the difference's uncertainty.
- The errors: `KregsError` and its kinds.

Search is `kregs.tuner` (`TuneConfig`, `tune`), the study `kregs.study`, the command line
`kregs.cli`.

Example:
>>> import kregs
>>> model = kregs.build_model((28, 28, 1), 10, kregs.RegConfig(l2=1e-4, dropout=0.3))
"""

import importlib

import wrapt

from kregs.lazy import lazy_attributes

__version__ = "0.2.0"

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
    "Dataset": "kregs.data.dataset",
    "ModelSource": "kregs.usermodel",
    "DeployOptions": "kregs.deploy.formats",
    "Predictor": "kregs.deploy.predictor",
    "paired": "kregs.verdicts",
    "resampled": "kregs.verdicts",
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
