"""`RegularizationHyperModel`: a search over the regularization of a model: kregs' own
(`kregs.build_model`) or yours (`kregs.usermodel`)."""

import keras_tuner

from kregs.checks import check_arch
from kregs.errors import invalid_value
from kregs.run.device import POLICIES
from kregs.tuner.space import SearchSpace


class RegularizationHyperModel(keras_tuner.HyperModel):
    """Searches the regularization (and the learning rate) of `kregs.build_model`.

    The HyperModel only declares the search space (`SearchSpace`); it hands a
    `kregs.RegConfig` to `kregs.build_model` and compiles the result (Adam or
    AdamW, sparse categorical cross-entropy, accuracy), so it works with any
    KerasTuner tuner. The ranges are those of `kregs.RegConfig`'s fields:

    `space="default"`:

    | name            | values                                                 |
    |-----------------|--------------------------------------------------------|
    | `use_l2`, `l2`  | off, or lambda log-uniform in [1e-6, 1e-2]             |
    | `use_dropout`, `dropout` | off, or rate uniform in [0.1, 0.7]            |
    | `batch_norm`    | none, before_activation, after_activation              |
    | `learning_rate` | log-uniform in [1e-4, 1e-2]                            |

    `space="extended"` adds what the study left out:

    | name                | values                                             |
    |---------------------|----------------------------------------------------|
    | `penalty`           | none, l2 (lambda as above), or decay: decoupled    |
    |                     | `weight_decay` log-uniform in [1e-3, 0.5] (AdamW)  |
    | `use_dropout`, `dropout` | as above                                      |
    | `dropout_placement` | blocks, stages, head (with dropout; CNN only)      |
    | `dropout_kind`      | elementwise, spatial (dropout in blocks or stages) |
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

    Any dimension can be fixed (and then is not searched) through the space's
    `Fixed`: `Fixed(l2=0.0)` switches L2 off, `Fixed(dropout=0.5)` fixes the
    rate, `Fixed(learning_rate=3e-4)` the learning rate (a fixed penalty value
    fixes the penalty: `l2=1e-4` in the extended space searches no weight decay).

    Args:
        input_shape: tuple `(H, W, C)` of the images.
        num_classes: int, number of classes.
        arch: str, `"cnn"` or `"mlp"` (see `kregs.build_model`). Default "cnn".
        model: your model instead of kregs' own: a `keras.Model`, a path to a
            `.keras` file, a build function (one that accepts `reg` places the
            regularizers itself; any other is called with `input_shape` and
            `num_classes` and regularized by `kregs.regularize`), or a
            `kregs.usermodel.ModelSource` (which also says whether each trial
            starts from its weights). Default None.
        space: `kregs.tuner.space.SearchSpace`, or the name of a space
            ("default", "extended", "paper") with nothing fixed. Default "default".
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
    >>> space = SearchSpace("extended", Fixed(batch_norm="before_activation"), flips=True)
    >>> hypermodel = RegularizationHyperModel((28, 28, 1), 10, space=space)
    >>> tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=5)
    >>> tuner.search(x, y, validation_split=0.1, epochs=5)
    """

    def __init__(
        self,
        input_shape,
        num_classes,
        arch="cnn",
        space="default",
        model=None,
        jit_compile=False,
        precision="float32",
        schedule=None,
        name=None,
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        if isinstance(space, str):
            space = SearchSpace(space)
        if not isinstance(space, SearchSpace):
            raise invalid_value("space", space, "a SearchSpace or the name of a space")
        if precision not in POLICIES:
            raise invalid_value("precision", precision, f"one of {', '.join(POLICIES)}")
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.model = None
        if model is not None:
            from kregs.usermodel import ModelSource

            self.model = ModelSource.create(model)
        self.arch = "model" if self.model is not None else check_arch(arch)
        self.notes = []  # what was adapted to the data (a replaced classifier, ...)
        self.space = space
        self.jit_compile = bool(jit_compile)
        self.precision = precision
        self.schedule = tuple(schedule) if schedule is not None else None

    def with_schedule(self, schedule):
        """A copy of this HyperModel whose learning rate follows `schedule` `(epochs, steps)`."""
        return RegularizationHyperModel(
            self.input_shape,
            self.num_classes,
            self.arch if self.model is None else "cnn",
            self.space,
            self.model,
            self.jit_compile,
            self.precision,
            schedule,
        )

    def reg_config(self, hp):
        """Returns the `RegConfig` that the hyperparameters `hp` describe."""
        return self.space.reg_config(hp, self.arch)

    def baseline_values(self):
        """The hyperparameter values of the unregularized model (`SearchSpace.baseline_values`)."""
        return self.space.baseline_values(self.arch)

    def recipe_values(self):
        """The hyperparameter values of the well-tried setting (`SearchSpace.recipe_values`)."""
        return self.space.recipe_values(self.arch)

    def learning_rate(self, hp):
        """Returns Adam's (peak) learning rate for the hyperparameters `hp`."""
        return self.space.learning_rate(hp)

    def build(self, hp):
        from kregs.models import build_model
        from kregs.run.schedule import warmup_cosine
        from kregs.run.train import compile_model

        reg = self.reg_config(hp)
        if self.model is not None:
            model = self.model.build(
                self.input_shape, self.num_classes, reg, POLICIES[self.precision], self._note
            )
        else:
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
        return compile_model(model, rate, self.precision == "float16", self.jit_compile, reg=reg)

    def fit(self, hp, model, *args, **kwargs):
        """Trains `model` (built from `hp`): its training batches mixed and its weights
        averaged where `hp`'s configuration says (`kregs.run.train.fit_for`)."""
        from kregs.run.train import fit_for

        given = {**dict(zip(("x", "y", "batch_size"), args, strict=False)), **kwargs}
        return model.fit(**fit_for(self.reg_config(hp), given, self.num_classes))

    def _note(self, text):
        if text not in self.notes:
            self.notes.append(text)
