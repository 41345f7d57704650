"""The precision a model is exported in: as trained, or a float32 copy of a reduced one."""

import logging

logger = logging.getLogger(__name__)

PRECISIONS = ("float32", "trained")
REDUCED = ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16")


def model_to_export(model, precision):
    """`(model, precision)`: for "float32", `float32_model(model)`; for "trained", the
    model as it computes, and the name of the precision it computes in (`computes_in`)."""
    if precision == "float32":
        return float32_model(model)
    return model, computes_in(model)


def computes_in(model):
    """The reduced precision `model`'s layers compute in (e.g. "mixed_bfloat16"), else
    "float32"."""
    reduced = sorted({_policy(layer) for layer in _all_layers(model)} & set(REDUCED))
    return reduced[0] if reduced else "float32"


def float32_model(model):
    """`model` computing in float32: a copy of a model trained in bfloat16 or float16.

    Layers with a reduced-precision policy are cloned (`keras.models.clone_model`,
    nested models too) with the float32 policy and given the same weights (their
    variables are float32 already); other layers keep theirs. A model that cannot
    be cloned is returned as it is, and said in the log.

    Returns:
        `(model, precision)`: the model to export and the name of its precision.
    """
    import keras

    policies = {_policy(layer) for layer in _all_layers(model)}
    reduced = sorted(policies & set(REDUCED))
    if not reduced:
        return model, "float32"

    def clone(layer):
        config = layer.get_config()
        if _policy(layer) in REDUCED:
            config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    try:
        copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
        copy.set_weights(model.get_weights())
    except (ValueError, TypeError, NotImplementedError) as err:
        logger.warning("exported as trained (%s): cannot make a float32 copy (%s)", reduced, err)
        return model, reduced[0]
    return copy, "float32"


def _policy(layer):
    policy = getattr(layer, "dtype_policy", None)
    return getattr(policy, "name", None)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)
