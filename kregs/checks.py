"""Argument checks shared by kregs' classes; no TensorFlow needed.

Each returns the normalised value or raises `kregs.ConfigError` with the one
message shape kregs uses: "Invalid value for argument `x`: expected ...".
"""

import math
import numbers

from kregs.errors import invalid_value

BATCH_NORM_PLACEMENTS = ("none", "before_activation", "after_activation")
# Where dropout goes in the CNN: inside every block (the study's), after each pooling
# stage, or in the dense head only (after the last BN: no variance shift for BN to see).
DROPOUT_PLACEMENTS = ("blocks", "stages", "head")
# What dropout drops in convolution blocks: single activations, or whole feature maps.
DROPOUT_KINDS = ("elementwise", "spatial")
# Training-time augmentation: flips (left-right) only where they keep the label.
# RandAugment and AugMix are Keras' layers (Cubuk et al. 2020; Hendrycks et al. 2020).
AUGMENTATIONS = (
    "none",
    "shift",
    "shift+erase",
    "flip+shift",
    "flip+shift+erase",
    "randaugment",
    "flip+randaugment",
    "augmix",
    "flip+augmix",
)
# Mixing pairs of training images and their labels (Zhang et al. 2018; Yun et al. 2019).
MIXES = ("none", "mixup", "cutmix")
# Averaging the weights over training steps: none, or an exponential moving average.
WEIGHT_AVERAGING = ("none", "ema")
# The networks `kregs.build_model` builds.
ARCHITECTURES = ("cnn", "mlp")


def _is_real(value):
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


def mirrors(augment):
    """Whether an `augment` value flips images left-right (only for labels a mirror keeps)."""
    return "flip" in augment.split("+")


def check_residual_model(name, value, model, arch):
    """Refuses `value` of `name` (stochastic depth) without `model`: the built-in `arch`
    networks have no residual connection."""
    if value and model is None:
        raise invalid_value(
            name,
            value,
            f"a model with residual connections (--model): the built-in {arch} has none",
        )


def check_lambda(lam, name="lam"):
    """Returns `lam` as a float if it is finite and >= 0, else raises `ConfigError`."""
    if not _is_real(lam) or lam < 0:
        raise invalid_value(name, lam, "a finite float >= 0")
    return float(lam)


def check_dropout(rate, name="dropout"):
    """Returns `rate` as a float if it is in [0, 1), else raises `ConfigError`."""
    if not _is_real(rate) or not 0 <= rate < 1:
        raise invalid_value(name, rate, "a float in [0, 1)")
    return float(rate)


def check_choice(value, choices, name):
    """Returns `value` if it is one of `choices`, else raises `ConfigError`."""
    if value not in choices:
        raise invalid_value(name, value, f"one of {', '.join(choices)}")
    return value


def check_positive_int(value, name):
    """Returns `value` if it is an int >= 1, else raises `ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise invalid_value(name, value, "an int >= 1")
    return int(value)


def check_arch(arch, name="arch"):
    """Returns `arch` if it is one of `ARCHITECTURES`, else raises `ConfigError`."""
    if arch not in ARCHITECTURES:
        raise invalid_value(name, arch, f"one of {', '.join(ARCHITECTURES)}")
    return arch


def check_seed(seed, name="seed"):
    """Returns `seed` if it is an int >= 0 (what numpy and every backend accept), else raises."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise invalid_value(name, seed, "an int >= 0")
    return int(seed)


def check_split(value, name="validation_split"):
    """Returns `value` as a float if it is in [0, 1) (a share of the images held out), else
    raises. A run also needs enough images in every split: `kregs.run.train.check_splits`."""
    if not _is_real(value) or not 0 <= value < 1:
        raise invalid_value(name, value, "a float in [0, 1)")
    return float(value)


def check_learning_rate(value, name="learning_rate"):
    """Returns `value` as a float if it is in (0, 1), else raises `ConfigError`."""
    if not _is_real(value) or not 0 < value < 1:
        raise invalid_value(name, value, "a float in (0, 1)")
    return float(value)
