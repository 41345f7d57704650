"""`RegConfig`: one regularization setting, validated and immutable."""

import dataclasses

from kregs.checks import (
    AUGMENTATIONS,
    DROPOUT_KINDS,
    DROPOUT_PLACEMENTS,
    check_batch_norm,
    check_choice,
    check_dropout,
    check_lambda,
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
            for images whose label a mirror keeps, never digits). Default "none".

    Example:
    >>> cfg = RegConfig(l2=1e-4, dropout=0.3, batch_norm="before_activation")
    >>> cfg.name
    'l2+dropout+bn'
    >>> RegConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    l2: float = 0.0
    dropout: float = 0.0
    batch_norm: str = "none"
    weight_decay: float = 0.0
    dropout_placement: str = "blocks"
    dropout_kind: str = "elementwise"
    augment: str = "none"

    def __post_init__(self):
        # frozen dataclass: normalise through object.__setattr__.
        object.__setattr__(self, "l2", check_lambda(self.l2, "l2"))
        object.__setattr__(self, "dropout", check_dropout(self.dropout))
        object.__setattr__(self, "batch_norm", check_batch_norm(self.batch_norm))
        object.__setattr__(self, "weight_decay", check_lambda(self.weight_decay, "weight_decay"))
        check_choice(self.dropout_placement, DROPOUT_PLACEMENTS, "dropout_placement")
        check_choice(self.dropout_kind, DROPOUT_KINDS, "dropout_kind")
        check_choice(self.augment, AUGMENTATIONS, "augment")

    @property
    def uses_l2(self):
        return self.l2 > 0

    @property
    def uses_dropout(self):
        return self.dropout > 0

    @property
    def uses_batch_norm(self):
        return self.batch_norm != "none"

    @property
    def uses_weight_decay(self):
        return self.weight_decay > 0

    @property
    def uses_augmentation(self):
        return self.augment != "none"

    @property
    def flips(self):
        """Whether the augmentation mirrors images (not for data a mirror relabels)."""
        return self.augment.startswith("flip")

    @property
    def name(self):
        """Short stable name of the techniques in use, e.g. `"l2+bn"`, `"wd+aug"` or `"none"`.

        The study's eight names (`CONFIG_NAMES`) use only l2, dropout and bn.
        """
        parts = [
            part
            for part, used in (
                ("l2", self.uses_l2),
                ("wd", self.uses_weight_decay),
                ("dropout", self.uses_dropout),
                ("bn", self.uses_batch_norm),
                ("aug", self.uses_augmentation),
            )
            if used
        ]
        return "+".join(parts) or "none"

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
