"""`RegConfig`: one regularization setting, validated and immutable.

Its fields are the regularization dimensions (`kregs.dimensions`): each is
declared once here, with its check, its command-line help, the value that
switches it off and how each search space searches it.
"""

import dataclasses

from kregs.checks import (
    AUGMENTATIONS,
    BATCH_NORM_PLACEMENTS,
    DROPOUT_KINDS,
    DROPOUT_PLACEMENTS,
    MIXES,
    WEIGHT_AVERAGING,
    mirrors,
)
from kregs.dimensions import (
    RATE_BOUNDS,
    Choices,
    FloatRange,
    Need,
    alpha_check,
    choice_check,
    dimension,
    dimensions,
    lambda_check,
    rate_check,
)
from kregs.errors import ConfigError, invalid_value

# The eight combinations of the study, in its table order.
CONFIG_NAMES = (
    "none",
    "l2",
    "dropout",
    "bn",
    "l2+dropout",
    "l2+bn",
    "dropout+bn",
    "l2+dropout+bn",
)

# The search ranges (see `kregs.dimensions.FloatRange`). The study's grid is the paper
# space's; the default and extended spaces search around the usual values for small CNNs.
L2_RANGE = FloatRange(1e-6, 1e-2, default=1e-4, log=True, step=10)
DROPOUT_RANGE = FloatRange(0.1, 0.7, default=0.3, step=0.2)
WEIGHT_DECAY_RANGE = FloatRange(
    1e-3, 0.5, default=0.01, log=True, step=10, toggle=False, group=("penalty", "decay")
)
L2SP_RANGE = FloatRange(
    1e-4, 1.0, default=0.01, log=True, step=10, toggle=False, group=("penalty", "l2sp")
)
LABEL_SMOOTHING_RANGE = FloatRange(0.05, 0.3, default=0.1, step=0.05, start_on=False)
MIX_ALPHA_RANGE = FloatRange(0.1, 1.0, default=1.0, log=True, step=10**0.5, toggle=False)
STOCHASTIC_DEPTH_RANGE = FloatRange(0.05, 0.5, default=0.1, step=0.15, start_on=False)
PAPER_L2 = Choices((0.0, 0.01, 0.1, 1.0, 10.0), default=0.0)
PAPER_DROPOUT = Choices((0.0, 0.2, 0.5, 0.7), default=0.0)
PAPER_BATCH_NORM = Choices(("none", "before_activation"), default="before_activation")


@dataclasses.dataclass(frozen=True)
class RegConfig:
    """One regularization setting: penalty, dropout, batch-norm placement, augmentation.

    Immutable and validated on construction, so a `RegConfig` that exists is
    always one a model can be built from. It is what the tuner draws from its
    search space and what `build_model` and the blocks consume.

    Args:
        l2: float, the L2 lambda in the study's convention: the loss gains
            `l2 / 2 * sum(w ** 2)` over every kernel (see `kregs.L2Penalty`).
            Finite and >= 0; 0 switches L2 off. Default 0.
        dropout: float, the probability of *dropping* a unit during training
            (Keras' `rate`; the study's keep-probability p is `1 - dropout`).
            In [0, 1); 0 switches dropout off. Default 0.
        batch_norm: str, where batch normalization goes in each block:
            `"none"`, `"before_activation"` (conv -> BN -> ReLU, as in Ioffe &
            Szegedy) or `"after_activation"` (conv -> ReLU -> BN). Default "none".
        weight_decay: float, decoupled weight decay (Loshchilov & Hutter), applied
            by the optimizer (`keras.optimizers.AdamW`), not by the loss: each
            training step first multiplies every kernel by `1 - lr * weight_decay`
            (lr: that step's learning rate), then takes Adam's step on the loss
            alone. BN's gamma and beta and the biases are not decayed. Finite and
            >= 0; 0 switches it off (Adam). Default 0.
        dropout_placement: str, where dropout goes in `build_model`'s CNN:
            `"blocks"` (inside every block, the study's), `"stages"` (after each
            pooling stage and in the dense head) or `"head"` (the dense head
            only, after the last BN). The MLP has only a head. Default "blocks".
        dropout_kind: str, what dropout drops in convolution blocks and stages:
            `"elementwise"` (single activations) or `"spatial"` (whole feature
            maps, `keras.layers.SpatialDropout2D`). Dense layers always drop
            single units. Default "elementwise".
        augment: str, training-time augmentation inside the model (identity at
            inference): `"none"`, `"shift"` (random shifts of up to 10% of the
            side), `"shift+erase"` (plus random erasing of one rectangle),
            `"flip+shift"`, `"flip+shift+erase"` (plus left-right flips: only
            for images whose label a mirror keeps, never digits), `"randaugment"`
            (`keras.layers.RandAugment`: 2 of 11 operations per image at
            magnitude 0.5), `"augmix"` (`keras.layers.AugMix`), each also after
            a flip (`"flip+randaugment"`, `"flip+augmix"`). Default "none".
        label_smoothing: float in [0, 1): the loss's targets are `1 - ls` on the
            label and `ls / classes` spread over every class (Szegedy et al.
            2016), from the integer labels (`kregs.losses.CrossEntropy`). 0
            switches it off. Default 0.
        mix: str, `"none"`, `"mixup"` (each training image blended with another
            of the batch, their one-hot labels in the same proportion: Zhang
            et al. 2018) or `"cutmix"` (a rectangle pasted from another image,
            labels in proportion to its area: Yun et al. 2019); training batches
            only (`kregs.mixing`). Default "none".
        mix_alpha: float in (0, 1], the Beta(alpha, alpha) the mixing proportion
            is drawn from (Keras' `MixUp(alpha)`, `CutMix(factor=(alpha, alpha))`).
            Default 1.0 (both papers' CIFAR-10 value: a uniform proportion).
        weight_averaging: str, `"none"` or `"ema"`: the optimizer keeps an
            exponential moving average of the weights (momentum 0.99, Keras'
            `use_ema`); the averaged weights are the ones validated, kept as
            the best epoch's, refit and exported. Default "none".
        stochastic_depth: float in [0, 1), the drop rate of the last residual
            branch (Huang et al. 2016): the branch of the l-th of L residual
            `Add`s is skipped for a whole training image with probability
            `stochastic_depth * l / L` (`kregs.layers.ResidualDrop`). Only for
            models with residual connections (`kregs.regularize` finds them);
            the built-in networks have none. 0 switches it off. Default 0.

    Example:
    >>> cfg = RegConfig(l2=1e-4, dropout=0.3, batch_norm="before_activation")
    >>> cfg.name
    'l2+dropout+bn'
    >>> RegConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    l2: float = dimension(
        0.0,
        lambda_check,
        "the L2 lambda (0 switches L2 off)",
        off=0.0,
        short="l2",
        label="L2",
        search={
            "default": L2_RANGE,
            "extended": dataclasses.replace(L2_RANGE, toggle=False, group=("penalty", "l2")),
            "paper": PAPER_L2,
        },
    )
    weight_decay: float = dimension(
        0.0,
        lambda_check,
        "the decoupled weight decay (AdamW; each step multiplies every kernel by "
        "1 - learning_rate * weight_decay; 0 switches it off)",
        off=0.0,
        short="wd",
        label="weight decay",
        search={"extended": WEIGHT_DECAY_RANGE},
        kw_only=True,
    )
    l2sp: float = dimension(
        0.0,
        lambda_check,
        "the L2-SP alpha: a penalty alpha/2 * ||w - w0||^2 towards the starting (pre-trained) "
        "weights w0; 0 switches it off",
        off=0.0,
        short="l2sp",
        label="L2-SP",
        search={"extended": L2SP_RANGE},
        requires="finetune",
        kw_only=True,
    )
    dropout: float = dimension(
        0.0,
        rate_check,
        "the dropout rate (0 switches dropout off)",
        bounds=RATE_BOUNDS,
        off=0.0,
        short="dropout",
        label="dropout",
        search={"default": DROPOUT_RANGE, "extended": DROPOUT_RANGE, "paper": PAPER_DROPOUT},
    )
    dropout_placement: str = dimension(
        "blocks",
        choice_check(DROPOUT_PLACEMENTS),
        "where dropout goes (in every block, after each pooling stage, or in the dense head only)",
        choices=DROPOUT_PLACEMENTS,
        search={"extended": Choices(DROPOUT_PLACEMENTS, default="head")},
        needs=(Need("dropout"),),
        archs=("cnn", "model"),
        kw_only=True,
    )
    dropout_kind: str = dimension(
        "elementwise",
        choice_check(DROPOUT_KINDS),
        "what dropout drops in convolutions (single activations or whole feature maps)",
        choices=DROPOUT_KINDS,
        search={"extended": Choices(DROPOUT_KINDS, default="spatial")},
        needs=(Need("dropout"), Need("dropout_placement", ("blocks", "stages"))),
        archs=("cnn", "model"),
        kw_only=True,
    )
    batch_norm: str = dimension(
        "none",
        choice_check(BATCH_NORM_PLACEMENTS),
        "the BN placement",
        choices=BATCH_NORM_PLACEMENTS,
        off="none",
        short="bn",
        label="BN",
        search={
            "default": Choices(BATCH_NORM_PLACEMENTS, default="after_activation"),
            "extended": Choices(BATCH_NORM_PLACEMENTS, default="after_activation"),
            "paper": PAPER_BATCH_NORM,
        },
    )
    augment: str = dimension(
        "none",
        choice_check(AUGMENTATIONS),
        "the training-time augmentation (flips only for data a mirror keeps: not MNIST)",
        choices=AUGMENTATIONS,
        off="none",
        short="aug",
        label="augmentation",
        search={"extended": Choices(AUGMENTATIONS, default="none")},
        kw_only=True,
    )

    label_smoothing: float = dimension(
        0.0,
        rate_check,
        "the label smoothing of the loss's targets (0 switches it off)",
        bounds=RATE_BOUNDS,
        off=0.0,
        short="ls",
        label="label smoothing",
        search={"extended": LABEL_SMOOTHING_RANGE},
        kw_only=True,
    )
    mix: str = dimension(
        "none",
        choice_check(MIXES),
        "the mixing of training images and their labels (MixUp or CutMix)",
        choices=MIXES,
        off="none",
        short="mix",
        label="MixUp/CutMix",
        search={"extended": Choices(MIXES, default="none")},
        kw_only=True,
    )
    mix_alpha: float = dimension(
        1.0,
        alpha_check,
        "the Beta(alpha, alpha) of MixUp's and CutMix's mixing proportion",
        bounds=(0, 1, False),
        search={"extended": MIX_ALPHA_RANGE},
        needs=(Need("mix"),),
        kw_only=True,
    )
    weight_averaging: str = dimension(
        "none",
        choice_check(WEIGHT_AVERAGING),
        "the averaging of the weights over training steps (ema: an exponential moving average)",
        choices=WEIGHT_AVERAGING,
        off="none",
        short="ema",
        label="weight averaging",
        search={"extended": Choices(WEIGHT_AVERAGING, default="none")},
        kw_only=True,
    )
    stochastic_depth: float = dimension(
        0.0,
        rate_check,
        "the stochastic-depth drop rate of the last residual branch (models with residual "
        "connections only; 0 switches it off)",
        bounds=RATE_BOUNDS,
        off=0.0,
        short="sd",
        label="stochastic depth",
        search={"extended": STOCHASTIC_DEPTH_RANGE},
        requires="residual",
        archs=("model",),
        kw_only=True,
    )

    def __post_init__(self):
        # frozen dataclass: normalise through object.__setattr__.
        for dim in DIMENSIONS:
            object.__setattr__(self, dim.name, dim.validate(getattr(self, dim.name)))

    def uses(self, name):
        """Whether the technique of field `name` is on (its value is not its `off` value)."""
        return getattr(self, name) != BY_NAME[name].off

    @property
    def uses_l2(self):
        return self.uses("l2")

    @property
    def uses_dropout(self):
        return self.uses("dropout")

    @property
    def uses_batch_norm(self):
        return self.uses("batch_norm")

    @property
    def uses_weight_decay(self):
        return self.uses("weight_decay")

    @property
    def uses_augmentation(self):
        return self.uses("augment")

    @property
    def l2_to_zero(self):
        """The L2 lambda towards zero on a kernel without starting weights: `l2`, else `l2sp`
        (L2-SP towards a fresh initialization is no prior at all: it is plain L2 there)."""
        return self.l2 or self.l2sp

    @property
    def flips(self):
        """Whether the augmentation mirrors images (not for data a mirror relabels)."""
        return mirrors(self.augment)

    @property
    def name(self):
        """Short stable name of the techniques in use, e.g. `"l2+bn"`, `"wd+aug"` or `"none"`.

        The study's eight names (`CONFIG_NAMES`) use only l2, dropout and bn.
        """
        return "+".join(d.short for d in TECHNIQUES if self.uses(d.name)) or "none"

    def to_dict(self):
        """Returns the fields as a plain JSON-serializable dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config):
        """Builds a `RegConfig` from `to_dict()` output; unknown keys are an error."""
        if isinstance(config, cls):
            return config
        if not isinstance(config, dict):
            fields = ", ".join(f.name for f in dataclasses.fields(cls))
            raise invalid_value("config", config, f"a dict with keys among {fields}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - fields)
        if unknown:
            raise ConfigError(
                f"Invalid value for argument `config`: unknown keys {unknown}; "
                f"expected only {sorted(fields)}. Received: config={config!r}"
            )
        return cls(**config)

    @classmethod
    def coerce(cls, reg):
        """Returns `reg` as a `RegConfig`: `None` means none, a dict goes to `from_dict`."""
        if reg is None:
            return cls()
        if isinstance(reg, dict):
            return cls.from_dict(reg)
        if not isinstance(reg, cls):
            raise invalid_value("reg", reg, "a kregs.RegConfig or its to_dict()")
        return reg

    @classmethod
    def from_name(cls, name, l2, dropout, batch_norm="before_activation", **others):
        """Builds the configuration one of the study's eight names stands for.

        Args:
            name: str, one of `CONFIG_NAMES`, e.g. `"l2+bn"`.
            l2: float, the lambda used when `"l2"` is part of the name.
            dropout: float, the rate used when `"dropout"` is part of the name.
            batch_norm: str, the placement used when `"bn"` is part of the name.
            **others: further fields for every configuration (e.g.
                `dropout_placement="head"`).

        Returns:
            A `RegConfig` whose `name` is `name`.
        """
        if name not in CONFIG_NAMES:
            raise invalid_value("name", name, f"one of {', '.join(CONFIG_NAMES)}")
        parts = set(name.split("+"))
        config = cls(
            l2=l2 if "l2" in parts else 0.0,
            dropout=dropout if "dropout" in parts else 0.0,
            batch_norm=batch_norm if "bn" in parts else "none",
            **others,
        )
        if config.name != name:
            raise ConfigError(
                f"Cannot build configuration {name!r} from l2={l2!r}, dropout={dropout!r}, "
                f"batch_norm={batch_norm!r}: each technique named must be switched on."
            )
        return config


# Every dimension, in field order; the techniques (fields that switch one on or off).
DIMENSIONS = dimensions(RegConfig)
BY_NAME = {d.name: d for d in DIMENSIONS}
TECHNIQUES = tuple(d for d in DIMENSIONS if d.technique)
