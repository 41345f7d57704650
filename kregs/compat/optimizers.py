"""Keras optimizers: the learning-rate schedule an optimizer was built with."""


def learning_rate_schedule(optimizer):
    """The `LearningRateSchedule` `optimizer` (or the optimizer a `LossScaleOptimizer`
    wraps) was built with, or None (a constant rate).

    Why private: Keras' public `optimizer.learning_rate` is the rate at the current
    step (a tensor), not the schedule object, which a run that re-plans its decay
    (`kregs.run.schedule.WarmupCosine.replan`) must reach once the model is compiled.
    """
    import keras

    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = getattr(inner, "_learning_rate", None)
    return rate if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule) else None
