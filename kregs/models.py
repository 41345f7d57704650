"""`build_model`: the study's networks, regularized by one `RegConfig`."""

import dataclasses

import keras

from kregs.checks import check_arch
from kregs.config import RegConfig
from kregs.errors import invalid_value
from kregs.layers import ConvBlock, DenseBlock, dropout_layer
from kregs.regularizers import L2Penalty

# The "standard CNN": two stages of two 3x3 ConvBlocks and a 2x2 max-pool,
# then one DenseBlock and the softmax classifier. Larger images get more stages (128
# filters each), until the feature maps are at most FEATURE_SIDE pixels on a side.
CNN_FILTERS = (32, 64)
EXTRA_FILTERS = 128
FEATURE_SIDE = 8
CNN_DENSE_UNITS = 128
MLP_UNITS = (256, 128)
# Augmentation: shifts of up to 10% of each side (empty borders filled with 0, the
# background), erasing of one rectangle of 2-25% of the image with probability 1/2.
SHIFT = 0.1
ERASE_SCALE = (0.02, 0.25)
ERASE_PROBABILITY = 0.5
# RandAugment: 2 operations per image at magnitude 0.5 (Keras' defaults; Cubuk et al.'s N=2).
RANDAUGMENT_OPS = 2
RANDAUGMENT_MAGNITUDE = 0.5


def build_model(input_shape, num_classes, reg=None, arch="cnn", name=None, dtype_policy=None):
    """Builds an uncompiled classifier whose regularization is `reg`.

    The model takes raw uint8 pixels (input `images`, shape `(H, W, C)`) and
    rescales them to [0, 1] itself, so the same uint8 batches feed training,
    evaluation and the exported SavedModel. It outputs class probabilities
    (softmax, float32 even under mixed precision).

    `arch="cnn"`, the study's "standard CNN":

        Rescaling(1/255)
        ConvBlock(32) -> ConvBlock(32) -> MaxPool 2x2
        ConvBlock(64) -> ConvBlock(64) -> MaxPool 2x2
        Flatten -> DenseBlock(128) -> Dense(num_classes, softmax)

    Larger images get more stages (`cnn_filters`) until the feature maps are 8
    pixels or less on their longer side, so the dense head stays small.

    `arch="mlp"`: Rescaling -> Flatten -> DenseBlock(256) -> DenseBlock(128) ->
    Dense(num_classes, softmax).

    Every block follows `reg` (see `kregs.layers`); the classifier's kernel gets
    the same L2 penalty and neither BN nor dropout. Dropout goes where
    `reg.dropout_placement` says (the MLP's blocks are all head). `reg.augment`'s
    layers act on the raw pixels in training only (`augmentation_layers`).
    Weight decay, EMA, label smoothing, MixUp/CutMix are training's (`kregs.run.train`).

    Args:
        input_shape: tuple of 3 ints `(height, width, channels)`.
        num_classes: int >= 2.
        reg: `kregs.RegConfig`, the regularization. Default: none at all.
        arch: str, `"cnn"` or `"mlp"`. Default "cnn".
        name: str, the model's name. Default `"<arch>_<reg.name>"`.
        dtype_policy: str or None, the layers' dtype policy, e.g.
            `"mixed_float16"`; the softmax stays float32. Default: Keras'
            global policy.

    Returns:
        An uncompiled `keras.Model`.

    Example:
    >>> model = build_model((28, 28, 1), 10, RegConfig(l2=1e-4, dropout=0.3))
    >>> model.compile(
    ...     optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    ... )
    """
    input_shape = _check_input_shape(input_shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise invalid_value("num_classes", num_classes, "an int >= 2")
    check_arch(arch)
    reg = RegConfig.coerce(reg)
    inputs = keras.Input(shape=input_shape, dtype="uint8", name="images")
    policy = dtype_policy  # None: the global policy
    x = inputs
    for layer in augmentation_layers(reg.augment):
        x = layer(x)
    x = keras.layers.Rescaling(1.0 / 255, dtype=policy, name="rescale")(x)
    if arch == "cnn":
        x = _cnn_stages(x, reg, policy)
        x = keras.layers.Flatten(dtype=policy, name="flatten")(x)
        x = DenseBlock(CNN_DENSE_UNITS, reg=reg, dtype=policy, name="dense1")(x)
    else:
        x = keras.layers.Flatten(dtype=policy, name="flatten")(x)
        for i, units in enumerate(MLP_UNITS, start=1):
            x = DenseBlock(units, reg=reg, dtype=policy, name=f"dense{i}")(x)
    outputs = keras.layers.Dense(
        num_classes,
        activation="softmax",
        kernel_regularizer=L2Penalty(reg.l2_to_zero) if reg.l2_to_zero > 0 else None,
        dtype="float32",
        name="probabilities",
    )(x)
    return keras.Model(inputs, outputs, name=name or f"{arch}_{reg.name.replace('+', '_')}")


def augmentation_layers(augment, seed=None):
    """The Keras preprocessing layers of one `RegConfig.augment` value, in order.

    They take raw pixels (0-255) in float32 and are the identity outside training.

    Args:
        augment: str, one of `kregs.checks.AUGMENTATIONS`.
        seed: int or None, the layers' seed.

    Returns:
        list of `keras.layers.Layer` (empty for "none").
    """
    parts = set(augment.split("+")) - {"none"}
    layers = []
    if "flip" in parts:
        layers.append(
            keras.layers.RandomFlip("horizontal", seed=seed, dtype="float32", name="flip")
        )
    if "shift" in parts:
        layers.append(
            keras.layers.RandomTranslation(
                SHIFT, SHIFT, fill_mode="constant", seed=seed, dtype="float32", name="shift"
            )
        )
    if "randaugment" in parts:
        layers.append(
            keras.layers.RandAugment(
                value_range=(0, 255),
                num_ops=RANDAUGMENT_OPS,
                factor=RANDAUGMENT_MAGNITUDE,
                seed=seed,
                dtype="float32",
                name="randaugment",
            )
        )
    if "augmix" in parts:
        layers.append(
            keras.layers.AugMix(value_range=(0, 255), seed=seed, dtype="float32", name="augmix")
        )
    if "erase" in parts:
        layers.append(
            keras.layers.RandomErasing(
                factor=(ERASE_PROBABILITY, ERASE_PROBABILITY),
                scale=ERASE_SCALE,
                fill_value=0.0,
                value_range=(0, 255),
                seed=seed,
                dtype="float32",
                name="erase",
            )
        )
    return layers


def cnn_filters(input_shape):
    """The filters of each of the CNN's stages for images of `input_shape` `(H, W, C)`.

    Example:
    >>> cnn_filters((28, 28, 1)), cnn_filters((224, 224, 3))
    ((32, 64), (32, 64, 128, 128, 128))
    """
    side, filters = max(input_shape[:2]), list(CNN_FILTERS)
    side = -(-side // 2 ** len(filters))
    while side > FEATURE_SIDE:
        filters.append(EXTRA_FILTERS)
        side = -(-side // 2)
    return tuple(filters)


def _cnn_stages(x, reg, policy):
    """The CNN's stages of two ConvBlocks and a max-pool, dropout where `reg` puts it."""
    in_blocks = reg if reg.dropout_placement == "blocks" else dataclasses.replace(reg, dropout=0.0)
    for stage, filters in enumerate(cnn_filters(x.shape[1:]), start=1):
        for i in (1, 2):
            x = ConvBlock(filters, reg=in_blocks, dtype=policy, name=f"conv{stage}_{i}")(x)
        pad = "same" if min(x.shape[1:3]) % 2 else "valid"  # an odd side: round up
        x = keras.layers.MaxPooling2D(2, padding=pad, dtype=policy, name=f"pool{stage}")(x)
        if reg.uses_dropout and reg.dropout_placement == "stages":
            x = dropout_layer(reg, spatial=True, dtype=policy, name=f"dropout{stage}")(x)
    return x


def _check_input_shape(input_shape):
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        shape = None
    if shape is None or len(shape) != 3 or min(shape) < 1:
        raise invalid_value("input_shape", input_shape, "3 positive ints (height, width, channels)")
    return shape


__all__ = ["build_model"]
