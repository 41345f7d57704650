"""How kregs trains one model, in a tuning trial and in a study run alike."""

import math

import keras

from kregs.callbacks import BestEpoch, EpochTime, GeneralizationGap
from kregs.checks import check_lambda

# The fewest validation images a model's score can be read from at all.
MIN_VALIDATION_IMAGES = 20


def check_splits(ds, validation_split, train=None, option="--limit"):
    """Refuses training and validation splits too small to train or measure a model.

    Every class must be in both splits, and the validation split must hold at
    least `MIN_VALIDATION_IMAGES` images.

    Args:
        ds: a `kregs.data.Dataset`.
        validation_split: float, the share held out (for the message).
        train: `(images, labels)` or None, the images a model trains on when not
            `ds.train` (a search's trials train on a subset: `--trial-images`).
        option: str, the option to change (named in the message).

    Raises:
        ConfigError: naming the sizes and what to change.
    """
    import numpy as np

    from kregs.errors import ConfigError

    classes = ds.info.num_classes
    y_train = (train or ds.train)[1]
    y_val = ds.validation[1]
    n_train, n_val = len(y_train), len(y_val)
    if (
        n_val < MIN_VALIDATION_IMAGES
        or len(np.unique(y_val)) < classes
        or len(np.unique(y_train)) < classes
    ):
        where = (
            f"{n_train} training images (of {len(ds.train[1])}) and {n_val} for validation"
            if train is not None
            else f"{n_train + n_val} training images with validation_split "
            f"{validation_split:g} leave {n_val} for validation and {n_train} for training"
        )
        raise ConfigError(
            f"{where}: too few to train and measure a model (at least "
            f"{MIN_VALIDATION_IMAGES} validation images and every one of the {classes} classes "
            f"in both are needed); use more images ({option})"
            + ("" if train is not None else ", or a larger --validation-split")
        )


# Variables decoupled weight decay leaves alone: biases and BN's scale and offset.
NOT_DECAYED = ("bias", "gamma", "beta")


# The momentum of the weights' moving average (`RegConfig.weight_averaging="ema"`): Keras'.
EMA_MOMENTUM = 0.99
# Unmixed training images the generalization gap is measured on under MixUp/CutMix:
# this many batches, drawn afresh from the (shuffled) training pipeline every epoch.
GAP_BATCHES = 32


def compile_model(
    model, learning_rate=1e-3, loss_scale=False, jit_compile=False, weight_decay=0.0, reg=None
):
    """Compiles `model` as kregs trains it: Adam, categorical cross-entropy, accuracy.

    Args:
        model: a `keras.Model` (e.g. from `kregs.build_model`).
        learning_rate: float or a `keras.optimizers.schedules.LearningRateSchedule`
            (e.g. `kregs.run.schedule.warmup_cosine`), Adam's learning rate. Default 1e-3.
        loss_scale: bool, wrap Adam in a `LossScaleOptimizer` (for a model built
            with the `"mixed_float16"` policy). Default False.
        jit_compile: bool, compile the train step with XLA. Default False.
        weight_decay: float >= 0, decoupled weight decay (`RegConfig.weight_decay`):
            when > 0 the optimizer is `keras.optimizers.AdamW`, which multiplies
            every kernel by `1 - lr * weight_decay` before each Adam step; biases
            and BN's gamma and beta are excluded. Default 0 (Adam).
        reg: `kregs.RegConfig` or None: what of it the training set-up carries out
            (its weight decay, which then replaces `weight_decay`; label
            smoothing and mixed labels through `kregs.losses.CrossEntropy` and
            `kregs.losses.Accuracy`; `use_ema` for weight averaging). Default
            None: sparse categorical cross-entropy and accuracy.

    Returns:
        `model`, compiled.

    Example:
    >>> model = compile_model(build_model((28, 28, 1), 10), learning_rate=3e-4)
    """
    if reg is not None:
        from kregs.config import RegConfig

        reg = RegConfig.coerce(reg)
        weight_decay = reg.weight_decay
    weight_decay = check_lambda(weight_decay, "weight_decay")
    ema = (
        {"use_ema": True, "ema_momentum": EMA_MOMENTUM}
        if reg and reg.uses("weight_averaging")
        else {}
    )
    if weight_decay > 0:
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, **ema)
        optimizer.exclude_from_weight_decay(var_names=list(NOT_DECAYED))
    else:
        optimizer = keras.optimizers.Adam(learning_rate, **ema)
    if loss_scale:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    if reg is not None and (reg.uses("label_smoothing") or reg.uses("mix")):
        from kregs.losses import Accuracy, CrossEntropy

        loss, metrics = CrossEntropy(reg.label_smoothing), [Accuracy()]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit_compile)
    return model


def fit_for(reg, kwargs, num_classes, seed=None):
    """The arguments of `model.fit` for a model compiled with `reg` (`compile_model`).

    - `reg.mix`: the training batches `kwargs["x"]` are mixed (`kregs.mixing`), and
      the `GeneralizationGap` callback measures the training accuracy on
      `GAP_BATCHES` unmixed training batches (in inference mode, drawn afresh
      each epoch) instead of the mixed images Keras' accuracy is averaged over;
    - `reg.weight_averaging`: `keras.callbacks.SwapEMAWeights` comes first, so
      validation, the best epoch's weights kept and everything after it see the
      averaged weights.

    Args:
        reg: `kregs.RegConfig`.
        kwargs: dict, `model.fit`'s arguments with `x` a batched pipeline
            (`fit_arguments`), or arrays `x` and `y` (batched here when mixed).
        num_classes: int.
        seed: int or None, the mixing's seed.

    Returns:
        dict, a new set of arguments (`kwargs` is left as it was).
    """
    kwargs = dict(kwargs)
    callbacks = list(kwargs.get("callbacks") or [])
    if reg.uses("mix"):
        from kregs.mixing import mixed_batches

        if kwargs.get("y") is not None:  # arrays: batched here (mixing needs batches)
            from kregs import data

            batch_size = kwargs.pop("batch_size", None) or 32
            kwargs["x"] = data.pipeline(kwargs["x"], kwargs.pop("y"), batch_size, True, seed)
        unmixed = kwargs["x"]
        for callback in callbacks:
            if isinstance(callback, GeneralizationGap):
                callback.reference = unmixed_sample(unmixed, GAP_BATCHES)
        kwargs["x"] = mixed_batches(unmixed, reg.mix, reg.mix_alpha, num_classes, seed)
    if reg.uses("weight_averaging"):
        callbacks.insert(0, keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    kwargs["callbacks"] = callbacks
    return kwargs


def unmixed_sample(batches, count):
    """A callable returning up to `count` batches of `batches` (a new draw each call)."""
    if hasattr(batches, "take"):
        return lambda: batches.take(count)
    return lambda: (batches[i] for i in range(min(count, len(batches))))


def training_callbacks(patience, extra=(), start_from_epoch=0):
    """The callbacks of every kregs training run (a tuning trial, a study run).

    Early stopping on val_loss after `patience` epochs without improvement,
    with the best epoch's weights restored at the end (`kregs.callbacks.BestEpoch`:
    "the best epoch" of `kregs.run.metrics`; none before `start_from_epoch`);
    `TerminateOnNaN`; `GeneralizationGap`; `EpochTime`; then `extra`.

    Args:
        patience: int, epochs without a lower val_loss before stopping.
        extra: iterable of `keras.callbacks.Callback`, appended.
        start_from_epoch: int, the first epoch (0-based) that may be the best.

    Returns:
        list of `keras.callbacks.Callback`.
    """
    return [
        BestEpoch("val_loss", patience=patience, start_from_epoch=start_from_epoch),
        keras.callbacks.TerminateOnNaN(),
        GeneralizationGap(),
        EpochTime(),
        *extra,
    ]


def fit_arguments(ds, budget, seed, callbacks=(), verbose=0, batch_size=None):
    """The arguments of `model.fit` (or a tuner's `search`) for one kregs training run.

    Training batches are shuffled by the input pipeline (reseeded every
    epoch from `seed`), validation batches are not.

    Args:
        ds: a `kregs.data.Dataset`.
        budget: a `kregs.run.budget.TrainingBudget` (epochs, batch size, patience).
        seed: int, the shuffle's seed.
        callbacks: extra callbacks after `training_callbacks`.
        verbose: int, Keras' verbosity.
        batch_size: int or None, the global batch when it differs from the
            budget's (several replicas); None: `budget.batch_size`.

    Returns:
        dict of keyword arguments.
    """
    from kregs import data

    batch_size = batch_size or budget.batch_size
    steps = math.ceil(len(ds.train[1]) / batch_size)
    return {
        "x": data.pipeline(*ds.train, batch_size, training=True, seed=seed),
        "validation_data": data.pipeline(*ds.validation, batch_size, training=False),
        "epochs": budget.epochs_for(steps),
        "shuffle": False,  # the pipeline shuffles
        "callbacks": training_callbacks(budget.patience, callbacks, budget.start_epoch(steps)),
        "verbose": verbose,
    }


def evaluate(model, images, labels, batch_size):
    """Test loss and accuracy of `model` on `(images, labels)`, measured once, and which
    images it classifies right (for paired comparisons: `kregs.verdicts`).

    Returns:
        dict with `loss`, `accuracy` (floats), `images` (int) and `correct` (the per-image
        outcomes, `kregs.verdicts.pack`ed).
    """
    from kregs import data
    from kregs.verdicts import pack

    loss, accuracy = model.evaluate(
        data.pipeline(images, labels, batch_size, training=False), verbose=0
    )[:2]
    right = outcomes(model, images, labels, batch_size)
    return {
        "loss": float(loss),
        "accuracy": float(accuracy),
        "images": int(len(labels)),
        "correct": pack(right),
    }


def outcomes(model, images, labels, batch_size):
    """Whether `model` classifies each image right: bool `N`, in the images' order."""
    import numpy as np

    from kregs import data

    scores = model.predict(data.pipeline(images, labels, batch_size, training=False), verbose=0)
    return np.asarray(scores).argmax(axis=-1) == np.asarray(labels)
