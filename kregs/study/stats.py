"""Means, spreads and 95% Welch intervals for the study's comparisons (numpy and scipy)."""

import contextlib
import dataclasses
import math

import numpy as np

from kregs.verdicts import NOT_SHOWN

CONFIDENCE = 0.95
_level = [CONFIDENCE]  # the confidence `difference` takes when given none (`level`)
CONFIRMED = "confirmed"
CONTRADICTED = "contradicted"


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (ddof=1; 0 for one value) of `n` values."""

    n: int
    mean: float
    std: float


@dataclasses.dataclass(frozen=True)
class Difference:
    """`mean(a) - mean(b)` with a 95% Welch interval (None when either side has < 2 values)."""

    diff: float
    low: float | None
    high: float | None

    @property
    def sign(self):
        """1 when the interval lies above 0, -1 below, 0 when it holds 0 (or is missing)."""
        if self.low is None:
            return 0
        return 1 if self.low > 0 else -1 if self.high < 0 else 0

    @property
    def verdict(self):
        """`confirmed` when the interval is above 0, `contradicted` below, else not shown."""
        return {1: CONFIRMED, -1: CONTRADICTED, 0: NOT_SHOWN}[self.sign]


def summarize(values):
    """Returns the `Summary` of a sequence of numbers (NaN mean for none)."""
    values = np.asarray([v for v in values if v is not None], float)
    if values.size == 0:
        return Summary(0, math.nan, math.nan)
    std = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
    return Summary(int(values.size), float(np.mean(values)), std)


@contextlib.contextmanager
def level(confidence):
    """Inside the block, `difference`'s intervals are at `confidence` (a study with
    `--seeds auto`: `kregs.study.sequential.confidence`)."""
    _level.append(confidence)
    try:
        yield
    finally:
        _level.pop()


def ci():
    """`95% CI` (or the level inside a `level` block), as the reports' headers say it."""
    return f"{100 * _level[-1]:g}% CI"


def difference(a, b, confidence=None):
    """The difference of means `a - b` with Welch's t interval.

    Welch's interval does not assume equal variances; its degrees of freedom
    come from the Welch-Satterthwaite equation. It is scipy's
    `ttest_ind(a, b, equal_var=False).confidence_interval()`. When both
    samples have zero variance the interval is the point itself.

    Args:
        a, b: sequences of numbers (e.g. test accuracies over seeds).
        confidence: float or None, the interval's coverage. None: 0.95, or the level of
            the `level` block it is called in.

    Returns:
        A `Difference`.

    Example:
    >>> difference([0.91, 0.92, 0.915], [0.90, 0.905, 0.90]).verdict
    'confirmed'
    """
    from scipy import stats

    confidence = confidence or _level[-1]
    a = np.asarray([v for v in a if v is not None], float)
    b = np.asarray([v for v in b if v is not None], float)
    if a.size == 0 or b.size == 0:
        return Difference(math.nan, None, None)
    diff = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return Difference(diff, None, None)
    if a.var(ddof=1) == 0 and b.var(ddof=1) == 0:
        return Difference(diff, diff, diff)
    interval = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence)
    return Difference(diff, float(interval.low), float(interval.high))
