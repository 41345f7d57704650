"""`RegularizationHyperModel`: the search space over L2, dropout and BN placement."""

import contextlib

import keras_tuner

from kregs.checks import AUGMENTATIONS, BATCH_NORM_PLACEMENTS, DROPOUT_KINDS, DROPOUT_PLACEMENTS
from kregs.config import RegConfig
from kregs.errors import invalid_value
from kregs.run.budget import SPACES
from kregs.run.device import POLICIES

# The study's grid: lambda, dropout rate, BN after each convolution, learning rate.
PAPER_L2 = (0.0, 0.01, 0.1, 1.0, 10.0)
PAPER_DROPOUT = (0.0, 0.2, 0.5, 0.7)
PAPER_BATCH_NORM = ("none", "before_activation")
PAPER_LEARNING_RATE = 1e-3

DEFAULT_LEARNING_RATE = 1e-3
# The extended space's penalties: none, the coupled L2 penalty, decoupled weight decay.
PENALTIES = ("none", "l2", "decay")
L2_RANGE = (1e-6, 1e-2)
WEIGHT_DECAY_RANGE = (1e-3, 0.5)
_UNSET = object()


class RegularizationHyperModel(keras_tuner.HyperModel):
    """Searches the L2 lambda, the dropout rate and the BN placement of `kregs.build_model`.

    The HyperModel only declares the search space; it hands a `kregs.RegConfig`
    to `kregs.build_model` and compiles the result (Adam, sparse categorical
    cross-entropy, accuracy), so it works with any KerasTuner tuner.

    `space="default"`:

    | name            | values                                                 |
    |-----------------|--------------------------------------------------------|
    | `use_l2`, `l2`  | off, or lambda log-uniform in [1e-6, 1e-2]             |
    | `use_dropout`, `dropout` | off, or rate uniform in [0.1, 0.7]            |
    | `batch_norm`    | none, before_activation, after_activation              |
    | `learning_rate` | log-uniform in [1e-4, 1e-2]                            |

    `space="extended"` adds what the study left out (Keras' names in brackets):

    | name                | values                                             |
    |---------------------|----------------------------------------------------|
    | `penalty`           | none, l2 (lambda as above), or decay: decoupled    |
    |                     | `weight_decay` log-uniform in [1e-3, 0.5] (AdamW)  |
    | `use_dropout`, `dropout` | as above                                      |
    | `dropout_placement` | blocks, stages, head (with dropout; CNN only)      |
    | `dropout_kind`      | spatial, elementwise (dropout in blocks or stages) |
    | `batch_norm`        | as above                                           |
    | `augment`           | none, shift, shift+erase; with `flips`, also       |
    |                     | flip+shift, flip+shift+erase                       |
    | `learning_rate`     | as above                                           |

    `space="paper"` is the study's grid: `l2` in {0, 0.01, 0.1, 1, 10},
    `dropout` in {0, 0.2, 0.5, 0.7}, `batch_norm` in {none,
    before_activation} (BN right after each convolution), learning rate fixed
    at 1e-3. The study writes dropout with p the probability of *keeping* a
    unit, but lists its grid as dropout probabilities; kregs reads the grid
    as drop rates (0.5, its best, is the same either way).

    Any dimension can be fixed (and then is not searched) by passing a value:
    `l2=0.0` switches L2 off, `dropout=0.5` fixes the rate,
    `batch_norm="none"` switches BN off, `learning_rate=3e-4` fixes it;
    in the extended space also `weight_decay`, `dropout_placement`,
    `dropout_kind` and `augment` (a fixed penalty value fixes the penalty:
    `l2=1e-4` with `weight_decay` unset searches nothing but takes L2).

    Args:
        input_shape: tuple `(H, W, C)` of the images.
        num_classes: int, number of classes.
        arch: str, `"cnn"` or `"mlp"` (see `kregs.build_model`). Default "cnn".
        space: str, `"default"` or `"paper"`. Default "default".
        l2: float to fix the L2 lambda, or None to search it.
        dropout: float to fix the dropout rate, or None to search it.
        batch_norm: str to fix the BN placement, or None to search it.
        weight_decay: float to fix the decoupled weight decay, or None.
        dropout_placement: str to fix where dropout goes, or None.
        dropout_kind: str to fix dropout's kind in convolutions, or None.
        augment: str to fix the augmentation, or None.
        flips: bool, whether a left-right mirror keeps the label (Fashion-MNIST,
            CIFAR-10; not digits): only then are flips searched or allowed.
            Default False.
        learning_rate: float to fix Adam's learning rate, or None to search it
            (the paper space fixes it at 1e-3 unless given).
        discrete: bool, give every float a step (lambda and learning rate by
            factors of 10, dropout by 0.2), as `GridSearch` needs. Default False.
        jit_compile: bool, compile the train step with XLA. Default False.
        precision: str, "float32", "bfloat16" or "float16": the layers compute
            in it under a mixed policy (the softmax stays float32; float16
            scales the loss). The policy is passed to the layers, not set
            globally: KerasTuner clears Keras' global state before every build.
            Default "float32".
        schedule: `(epochs, steps_per_epoch)` or None. When given, the
            learning rate (the searched one is the peak) follows
            `kregs.run.schedule.warmup_cosine` over `epochs` epochs of
            `steps_per_epoch` steps; a Hyperband trial that continues its
            parent's training goes on from where the parent's schedule stopped.
            None: a constant learning rate.

    Example:
    >>> hypermodel = RegularizationHyperModel((28, 28, 1), 10, batch_norm="before_activation")
    >>> tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=5)
    >>> tuner.search(x, y, validation_split=0.1, epochs=5)
    """

    def __init__(
        self,
        input_shape,
        num_classes,
        arch="cnn",
        space="default",
        l2=None,
        dropout=None,
        batch_norm=None,
        learning_rate=None,
        weight_decay=None,
        dropout_placement=None,
        dropout_kind=None,
        augment=None,
        flips=False,
        discrete=False,
        jit_compile=False,
        precision="float32",
        schedule=None,
        name=None,
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        if space not in SPACES:
            raise invalid_value("space", space, f"one of {', '.join(SPACES)}")
        # Validate fixed values once, at the door.
        fixed_reg = RegConfig(
            l2=0.0 if l2 is None else l2,
            dropout=0.0 if dropout is None else dropout,
            batch_norm="none" if batch_norm is None else batch_norm,
            weight_decay=0.0 if weight_decay is None else weight_decay,
            dropout_placement=dropout_placement or "blocks",
            dropout_kind=dropout_kind or "elementwise",
            augment=augment or "none",
        )
        self.flips = bool(flips)
        if fixed_reg.flips and not self.flips:
            raise invalid_value(
                "augment", augment, "no flips: a mirror does not keep this data's labels"
            )
        if learning_rate is not None and not (
            isinstance(learning_rate, (int, float)) and 0 < learning_rate < 1
        ):
            raise invalid_value("learning_rate", learning_rate, "a float in (0, 1)")
        if space == "paper" and learning_rate is None:
            learning_rate = PAPER_LEARNING_RATE
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.arch = arch
        self.space = space
        self.fixed = {
            "l2": l2,
            "dropout": dropout,
            "batch_norm": batch_norm,
            "learning_rate": learning_rate,
            "weight_decay": weight_decay,
            "dropout_placement": dropout_placement,
            "dropout_kind": dropout_kind,
            "augment": augment,
        }
        self.discrete = bool(discrete)
        if precision not in POLICIES:
            raise invalid_value("precision", precision, f"one of {', '.join(POLICIES)}")
        self.jit_compile = bool(jit_compile)
        self.precision = precision
        self.schedule = tuple(schedule) if schedule is not None else None

    def reg_config(self, hp):
        """Returns the `RegConfig` that the hyperparameters `hp` describe."""
        if self.space != "extended":
            return RegConfig(
                l2=self._l2(hp), dropout=self._dropout(hp), batch_norm=self._batch_norm(hp)
            )
        l2, weight_decay = self._penalty(hp)
        dropout = self._dropout(hp)
        placement, kind = self._dropout_layout(hp) if dropout > 0 else ("blocks", "elementwise")
        return RegConfig(
            l2=l2,
            weight_decay=weight_decay,
            dropout=dropout,
            dropout_placement=placement,
            dropout_kind=kind,
            batch_norm=self._batch_norm(hp),
            augment=self._augment(hp),
        )

    def baseline_values(self):
        """The hyperparameter values of the unregularized model (no L2, no dropout, no BN).

        A search that tries it first has its control: how far the plain model
        over-fits, and whether regularization beats it.

        Returns:
            dict, hyperparameter name -> value (searched dimensions only).
        """
        if self.space == "paper":
            values = {"l2": 0.0, "dropout": 0.0, "batch_norm": "none"}
        elif self.space == "extended":
            values = {"use_dropout": False, "batch_norm": "none", "augment": "none"}
            if self._penalty_searched():
                values["penalty"] = "none"
        else:
            values = {"use_l2": False, "use_dropout": False, "batch_norm": "none"}
        fixed = {"use_l2": "l2", "use_dropout": "dropout"}
        return {k: v for k, v in values.items() if self.fixed.get(fixed.get(k, k)) is None}

    def learning_rate(self, hp):
        """Returns Adam's learning rate for the hyperparameters `hp`."""
        if self.fixed["learning_rate"] is not None:
            return float(self.fixed["learning_rate"])
        step = 10 if self.discrete else None
        return hp.Float(
            "learning_rate", 1e-4, 1e-2, sampling="log", step=step, default=DEFAULT_LEARNING_RATE
        )

    def build(self, hp):
        from kregs.models import build_model
        from kregs.run.schedule import warmup_cosine
        from kregs.run.train import compile_model

        reg = self.reg_config(hp)
        model = build_model(
            self.input_shape,
            self.num_classes,
            reg=reg,
            arch=self.arch,
            dtype_policy=POLICIES[self.precision],
        )
        rate = self.learning_rate(hp)
        if self.schedule is not None:
            epochs, steps = self.schedule
            # Hyperband's continued trials start at its "tuner/initial_epoch".
            start = int(hp.values.get("tuner/initial_epoch", 0))
            rate = warmup_cosine(rate, epochs, steps, initial_epoch=start)
        return compile_model(
            model, rate, self.precision == "float16", self.jit_compile, reg.weight_decay
        )

    def _l2(self, hp):
        if self.fixed["l2"] is not None:
            return float(self.fixed["l2"])
        if self.space == "paper":
            return hp.Choice("l2", list(PAPER_L2), default=0.0)
        if not hp.Boolean("use_l2", default=True):
            return 0.0
        with hp.conditional_scope("use_l2", [True]):
            step = 10 if self.discrete else None
            return hp.Float("l2", 1e-6, 1e-2, sampling="log", step=step, default=1e-4)

    def _dropout(self, hp):
        if self.fixed["dropout"] is not None:
            return float(self.fixed["dropout"])
        if self.space == "paper":
            return hp.Choice("dropout", list(PAPER_DROPOUT), default=0.0)
        if not hp.Boolean("use_dropout", default=True):
            return 0.0
        with hp.conditional_scope("use_dropout", [True]):
            step = 0.2 if self.discrete else None
            return hp.Float("dropout", 0.1, 0.7, step=step, default=0.3)

    def _penalty_searched(self):
        return self.fixed["l2"] is None and self.fixed["weight_decay"] is None

    def _penalty(self, hp):
        """(l2, weight_decay) of the extended space: at most one of them on."""
        l2, decay = self.fixed["l2"], self.fixed["weight_decay"]
        if not self._penalty_searched():
            return float(l2 or 0.0), float(decay or 0.0)
        penalty = hp.Choice("penalty", list(PENALTIES), default="l2")
        step = 10 if self.discrete else None
        if penalty == "l2":
            with hp.conditional_scope("penalty", ["l2"]):
                return hp.Float("l2", *L2_RANGE, sampling="log", step=step, default=1e-4), 0.0
        if penalty == "decay":
            with hp.conditional_scope("penalty", ["decay"]):
                return 0.0, hp.Float(
                    "weight_decay", *WEIGHT_DECAY_RANGE, sampling="log", step=step, default=0.01
                )
        return 0.0, 0.0

    def _dropout_layout(self, hp):
        """(placement, kind) of dropout in the extended space (dropout is on)."""
        placement = self.fixed["dropout_placement"]
        if placement is None and self.arch == "cnn":
            with hp.conditional_scope("use_dropout", [True]):
                placement = hp.Choice("dropout_placement", list(DROPOUT_PLACEMENTS), default="head")
        placement = placement or "head"  # the MLP: its blocks are all head
        kind = self.fixed["dropout_kind"]
        if kind is None and self.arch == "cnn" and placement != "head":
            with contextlib.ExitStack() as scopes:
                scopes.enter_context(hp.conditional_scope("use_dropout", [True]))
                if self.fixed["dropout_placement"] is None:  # searched: a condition on it
                    scopes.enter_context(
                        hp.conditional_scope("dropout_placement", ["blocks", "stages"])
                    )
                kind = hp.Choice("dropout_kind", list(DROPOUT_KINDS), default="spatial")
        return placement, kind or "elementwise"  # (the head: dense layers drop units)

    def _augment(self, hp):
        if self.fixed["augment"] is not None:
            return self.fixed["augment"]
        values = [a for a in AUGMENTATIONS if self.flips or not a.startswith("flip")]
        return hp.Choice("augment", values, default="none")

    def _batch_norm(self, hp):
        if self.fixed["batch_norm"] is not None:
            return self.fixed["batch_norm"]
        values = PAPER_BATCH_NORM if self.space == "paper" else BATCH_NORM_PLACEMENTS
        return hp.Choice("batch_norm", list(values), default=values[-1])
