"""The learning-rate schedule of every kregs training run: a short warm-up, then cosine decay.

The schedule is a function of the optimizer's step, over the run's whole
epoch budget; `offset` steps shift it, so a Hyperband trial that continues
its parent's training (a fresh optimizer, the parent's weights) goes on from
the learning rate where the parent stopped, not from the top.
"""

import math

import keras
from keras import ops

from kregs.errors import invalid_value

# The share of the budget spent warming up (linearly from a tenth of the peak).
WARMUP_SHARE = 0.05


@keras.saving.register_keras_serializable(package="kregs")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak`, then cosine decay to `floor * peak` at `total_steps`.

    lr(t) = peak * (0.1 + 0.9 * t / warmup)                        for t < warmup
    lr(t) = peak * (floor + (1 - floor) * (1 + cos(pi * p)) / 2)    after, with
    p = (t - warmup) / (total - warmup), clipped to [0, 1]; t = step + offset.

    Args:
        peak: float > 0, the learning rate after the warm-up.
        total_steps: int >= 1, the steps of the whole budget (epochs x steps per epoch).
        warmup_steps: int >= 0, the steps of the warm-up.
        offset: int >= 0, steps already taken by an earlier run this one continues.
        floor: float in [0, 1), the last learning rate as a share of the peak.

    Example:
    >>> schedule = WarmupCosine(1e-3, total_steps=20 * 94, warmup_steps=94)
    >>> optimizer = keras.optimizers.Adam(schedule)
    """

    def __init__(self, peak, total_steps, warmup_steps=0, offset=0, floor=0.0):
        if not (isinstance(peak, (int, float)) and peak > 0):
            raise invalid_value("peak", peak, "a learning rate > 0")
        if not (isinstance(total_steps, int) and total_steps >= 1):
            raise invalid_value("total_steps", total_steps, "an int >= 1")
        if not (isinstance(warmup_steps, int) and 0 <= warmup_steps < total_steps):
            raise invalid_value("warmup_steps", warmup_steps, "an int in [0, total_steps)")
        if not (isinstance(offset, int) and offset >= 0):
            raise invalid_value("offset", offset, "an int >= 0")
        if not (isinstance(floor, (int, float)) and 0 <= floor < 1):
            raise invalid_value("floor", floor, "a float in [0, 1)")
        self.peak = float(peak)
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.offset = offset
        self.floor = float(floor)

    def __call__(self, step):
        t = ops.cast(step, "float32") + float(self.offset)
        warm = max(self.warmup_steps, 1)
        warmup = self.peak * (0.1 + 0.9 * t / warm)
        progress = ops.clip(
            (t - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 0, 1
        )
        cosine = self.peak * (
            self.floor + (1 - self.floor) * 0.5 * (1 + ops.cos(math.pi * progress))
        )
        return ops.where(t < self.warmup_steps, warmup, cosine)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "offset": self.offset,
            "floor": self.floor,
        }


def warmup_cosine(peak, epochs, steps_per_epoch, initial_epoch=0):
    """The schedule of a run of `epochs` epochs (at most) that starts at `initial_epoch`.

    Returns:
        A `WarmupCosine` with the warm-up of `WARMUP_SHARE` of the budget.
    """
    total = max(epochs * steps_per_epoch, 1)
    warmup = min(int(round(WARMUP_SHARE * total)), total - 1)
    return WarmupCosine(peak, total, warmup, offset=initial_epoch * steps_per_epoch)
