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
    After `replan` at step s the decay goes on from where it was:
    p = p(s) + (1 - p(s)) * (t - s) / (total - s), with the new total.

    Args:
        peak: float > 0, the learning rate after the warm-up.
        total_steps: int >= 1, the steps of the whole budget (epochs x steps per epoch).
        warmup_steps: int >= 0, the steps of the warm-up.
        offset: int >= 0, steps already taken by an earlier run this one continues.
        floor: float in [0, 1), the last learning rate as a share of the peak.
        decay_start: int or None, the step where the decay's current plan began
            (None: the warm-up's end; `replan` sets it).
        decay_begun: float in [0, 1), how far along the decay was at `decay_start`.

    Example:
    >>> schedule = WarmupCosine(1e-3, total_steps=20 * 94, warmup_steps=94)
    >>> optimizer = keras.optimizers.Adam(schedule)
    """

    def __init__(
        self,
        peak,
        total_steps,
        warmup_steps=0,
        offset=0,
        floor=0.0,
        decay_start=None,
        decay_begun=0.0,
    ):
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
        decay_start = warmup_steps if decay_start is None else decay_start
        if not (isinstance(decay_start, int) and warmup_steps <= decay_start < total_steps):
            raise invalid_value("decay_start", decay_start, "an int in [warmup_steps, total_steps)")
        if not (isinstance(decay_begun, (int, float)) and 0 <= decay_begun < 1):
            raise invalid_value("decay_begun", decay_begun, "a float in [0, 1)")
        self.peak = float(peak)
        self.warmup_steps = warmup_steps
        self.offset = offset
        self.floor = float(floor)
        # Where the decay ends, and where (and how far along) its last plan took over:
        # variables, so that `replan` reaches a train step already traced.
        self._plan = {
            "total_steps": total_steps,
            "decay_start": decay_start,
            "decay_begun": float(decay_begun),
        }
        self._variables = {
            name: keras.Variable(float(value), dtype="float32", trainable=False, name=name)
            for name, value in self._plan.items()
        }

    @property
    def total_steps(self):
        """int, the step at which the decay reaches `floor * peak`."""
        return self._plan["total_steps"]

    def progress(self, t):
        """How far along the decay step `t` (offset included) is, in [0, 1]."""
        v = self._variables
        span = ops.maximum(v["total_steps"] - v["decay_start"], 1.0)
        begun = v["decay_begun"]
        return ops.clip(begun + (1 - begun) * (t - v["decay_start"]) / span, 0, 1)

    def __call__(self, step):
        t = ops.cast(step, "float32") + float(self.offset)
        warm = max(self.warmup_steps, 1)
        warmup = self.peak * (0.1 + 0.9 * t / warm)
        cosine = self.peak * (
            self.floor + (1 - self.floor) * 0.5 * (1 + ops.cos(math.pi * self.progress(t)))
        )
        return ops.where(t < self.warmup_steps, warmup, cosine)

    def replan(self, step, total_steps):
        """Ends the decay at `total_steps` instead, going on from the learning rate it has at
        `step`: the rest of the cosine is stretched or compressed, with no jump.

        A run that learns its real pace as it trains (a refit under a time budget) gives
        its decay the epochs that fit, and still ends at rest. A TensorFlow train step
        reads the new plan at once (it reads variables); a JAX one holds the values it
        was traced with and must be traced again (`kregs.tuner.refit.RefitPlan` does).

        Args:
            step: int >= 0, the optimizer's step now.
            total_steps: int > `step`, the new end of the decay.

        Example:
        >>> schedule.replan(step=5 * 94, total_steps=12 * 94)   # 12 epochs, not 10
        """
        t = int(step) + self.offset
        if not (isinstance(total_steps, int) and total_steps > t):
            raise invalid_value("total_steps", total_steps, f"an int > the step now ({t})")
        if t > self.warmup_steps:
            begun = float(ops.convert_to_numpy(self.progress(float(t))))
            if begun >= 1:
                raise invalid_value("step", step, "a step before the decay's end")
            self._plan.update(decay_start=t, decay_begun=begun)
        self._plan["total_steps"] = total_steps
        for name, value in self._plan.items():
            self._variables[name].assign(float(value))

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "offset": self.offset,
            "floor": self.floor,
            "decay_start": self._plan["decay_start"],
            "decay_begun": self._plan["decay_begun"],
        }


def warmup_cosine(peak, epochs, steps_per_epoch, initial_epoch=0):
    """The schedule of a run of `epochs` epochs (at most) that starts at `initial_epoch`.

    Returns:
        A `WarmupCosine` with the warm-up of `WARMUP_SHARE` of the budget.
    """
    total = max(epochs * steps_per_epoch, 1)
    warmup = min(int(round(WARMUP_SHARE * total)), total - 1)
    return WarmupCosine(peak, total, warmup, offset=initial_epoch * steps_per_epoch)
