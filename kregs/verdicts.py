"""Verdicts with their uncertainty: is one model better than another, or is it chance?

Two sources of noise stand between a measured difference and a true one:

- **which images were measured**: two models scored on the same n images differ on
  some of them; had other images been drawn, the difference would be another. The
  per-image outcomes of one run catch this (`paired`, `wilson`).
- **which model training produced**: the seed, the data order, the split. A
  regularizer pays only if it wins over these too, which takes training again:
  folds (`resampled`) or seeds (`kregs.study.stats`).

Every verdict says which of the two it covers. A difference is **shown** when its 95%
interval excludes 0; else it is **not shown at this size** (which is not "no
difference": more images, folds or seeds may show one).

References: Newcombe (1998), "Improved confidence intervals for the difference between
binomial proportions based on paired data", Statistics in Medicine 17:2635; McNemar
(1947); Dietterich (1998), "Approximate statistical tests for comparing supervised
classification learning algorithms", Neural Computation 10(7); Nadeau and Bengio (2003),
"Inference for the generalization error", Machine Learning 52.
"""

import base64
import dataclasses
import math

import numpy as np

CONFIDENCE = 0.95
SHOWN = "shown"
NOT_SHOWN = "not shown at this size"
IMAGES_SCOPE = (
    "the interval covers which images were measured, not the randomness of training "
    "(the seed, the split)"
)


def pack(correct):
    """Per-image outcomes (bool `N`) as short text for JSON: base64 of the packed bits."""
    bits = np.packbits(np.asarray(correct, dtype=bool))
    return base64.b64encode(bits.tobytes()).decode("ascii")


def unpack(text, n):
    """The `n` per-image outcomes `pack` wrote."""
    bits = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    return np.unpackbits(bits)[:n].astype(bool)


def wilson(correct, n, confidence=CONFIDENCE):
    """Wilson's score interval `(low, high)` of an accuracy of `correct` out of `n`.

    It stays inside [0, 1] and keeps its coverage near 0 and 1, where the normal
    approximation does neither (a model right on 149 of 150 images).

    Example:
    >>> [round(v, 4) for v in wilson(149, 150)]
    [0.9632, 0.9988]
    """
    if n == 0:
        return (math.nan, math.nan)
    z = _z(confidence)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclasses.dataclass(frozen=True)
class Paired:
    """Two models, A and B, on the same `n` images: B's accuracy minus A's.

    The interval is Newcombe's (1998, method 10: Wilson score intervals of each accuracy,
    combined with the correlation of the paired outcomes); the test is McNemar's exact
    test (the binomial test of the images only one model gets right, at 1/2; Dietterich
    1998 recommends it for one test set). Why these: a paired bootstrap over images
    gives [0, ...] when every discordant image favours one model (3 of 3), calling a
    3-image difference shown; the exact test and the score interval do not. The verdict
    is **shown** only when both agree (they differ only at the edge, where the cautious
    answer is kept).

    Attributes:
        n: int, images.
        a_right, b_right: int, images each model classifies right.
        only_a, only_b: int, images only A (only B) classifies right.
        low, high: float, the 95% interval of the difference (accuracy, not points).
        p_value: float, McNemar's exact two-sided p.
    """

    n: int
    a_right: int
    b_right: int
    only_a: int
    only_b: int
    low: float
    high: float
    p_value: float

    @property
    def difference(self):
        """B's accuracy minus A's."""
        return (self.only_b - self.only_a) / self.n if self.n else math.nan

    @property
    def discordant(self):
        """Images the two models classify differently (one right, the other wrong)."""
        return self.only_a + self.only_b

    @property
    def shown(self):
        return self.p_value < 1 - CONFIDENCE and (self.low > 0 or self.high < 0)

    @property
    def verdict(self):
        return SHOWN if self.shown else NOT_SHOWN

    def text(self, what, images="images"):
        """One line: `what: +2.00 points (97.33% -> 99.33%) on 150 validation images, 3
        of them classified differently (3 for, 0 against); 95% interval [-1.1, +5.9],
        McNemar p = 0.25: not shown at this size`."""
        return (
            f"{what}: {100 * self.difference:+.2f} points ({100 * self.a_right / self.n:.2f}% "
            f"-> {100 * self.b_right / self.n:.2f}%) on {self.n:,} {images}, "
            f"{self.discordant:,} of them classified differently ({self.only_b} for, "
            f"{self.only_a} against); 95% interval [{100 * self.low:+.1f}, "
            f"{100 * self.high:+.1f}], McNemar p = {self.p_value:.2g}: {self.verdict}"
        )

    def to_dict(self):
        """The comparison as run.json holds it (machine-readable)."""
        return {
            **dataclasses.asdict(self),
            "difference": self.difference,
            "discordant": self.discordant,
            "verdict": self.verdict,
            "covers": "images",
        }


def paired(a_correct, b_correct, confidence=CONFIDENCE):
    """The `Paired` comparison of two models' per-image outcomes on the same images.

    Args:
        a_correct, b_correct: bool arrays `N`, whether each model classifies each image
            right (A: the reference, e.g. the control; B: the challenger).
        confidence: float, the interval's coverage.

    Example:
    >>> a = np.array([True] * 146 + [False] * 4)
    >>> b = np.array([True] * 146 + [True] * 3 + [False])
    >>> paired(a, b).verdict
    'not shown at this size'
    """
    from scipy import stats

    a, b = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    if a.shape != b.shape:
        raise ValueError(f"outcomes of {a.size} and {b.size} images: not the same images")
    n = int(a.size)
    both, only_a, only_b = int(np.sum(a & b)), int(np.sum(a & ~b)), int(np.sum(~a & b))
    neither = n - both - only_a - only_b
    low, high = _newcombe(both, only_b, only_a, neither, confidence)
    m = only_a + only_b
    p = 1.0 if m == 0 else float(stats.binomtest(only_b, m, 0.5).pvalue)
    return Paired(n, both + only_a, both + only_b, only_a, only_b, low, high, p)


def _newcombe(e, f, g, h, confidence):
    """Newcombe's method 10 interval of `(e + f) / n - (e + g) / n` for the paired table
    (e: both right, f: only B, g: only A, h: neither)."""
    n = e + f + g + h
    if n == 0:
        return (math.nan, math.nan)
    p1, p2 = (e + f) / n, (e + g) / n
    l1, u1 = wilson(e + f, n, confidence)
    l2, u2 = wilson(e + g, n, confidence)
    denominator = (e + f) * (g + h) * (e + g) * (f + h)
    # the correlation of the paired outcomes, continuity-corrected as Newcombe advises
    # (Altman et al. 2000, "Statistics with Confidence", worked example p. 52)
    cross = e * h - f * g
    cross = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
    phi = cross / math.sqrt(denominator) if denominator > 0 else 0.0
    delta = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    eps = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    diff = p1 - p2
    return (max(-1.0, diff - delta), min(1.0, diff + eps))


@dataclasses.dataclass(frozen=True)
class Resampled:
    """B's accuracy minus A's over K folds (or resamples), each fold's models trained
    without its images: Nadeau and Bengio's corrected resampled t-test.

    A plain t-test over folds is badly over-confident, because the folds' training sets
    overlap; the corrected one multiplies the variance of the fold differences by
    `1/K + n_test/n_train` (Nadeau and Bengio 2003; Bouckaert and Frank 2004). It covers
    both the choice of images and, in part, training's randomness (each fold trains anew).

    Attributes:
        differences: tuple of float, B minus A on each fold.
        test_share: float, a fold's held-out images over its training images.
        low, high: float, the 95% interval of the mean difference.
        p_value: float, the test's two-sided p (1.0 with fewer than 2 folds).
    """

    differences: tuple
    test_share: float
    low: float
    high: float
    p_value: float

    @property
    def difference(self):
        return float(np.mean(self.differences)) if self.differences else math.nan

    @property
    def shown(self):
        return self.low > 0 or self.high < 0

    @property
    def verdict(self):
        return SHOWN if self.shown else NOT_SHOWN

    def text(self, what, means=None):
        """One line: `what: +1.20 points (mean over 5 folds: 97.10% -> 98.30%); 95% interval
        [-0.4, +2.8] (corrected resampled t): not shown at this size`."""
        k = len(self.differences)
        shown = f" ({means[0] * 100:.2f}% -> {means[1] * 100:.2f}%)" if means else ""
        return (
            f"{what}: {100 * self.difference:+.2f} points{shown}, mean over {k} folds; 95% "
            f"interval [{100 * self.low:+.1f}, {100 * self.high:+.1f}] (corrected resampled "
            f"t-test), p = {self.p_value:.2g}: {self.verdict}"
        )

    def to_dict(self):
        return {
            **dataclasses.asdict(self),
            "differences": list(self.differences),
            "difference": self.difference,
            "verdict": self.verdict,
            "covers": "images and training (folds)",
        }


def resampled(differences, test_share, confidence=CONFIDENCE):
    """The `Resampled` comparison of per-fold differences (B minus A).

    Args:
        differences: sequence of float, one per fold.
        test_share: float, held-out images / training images of a fold (1/(K-1) for K-fold).

    Example:
    >>> resampled([0.01, 0.012, 0.008, 0.011, 0.009], 0.25).verdict
    'shown'
    """
    from scipy import stats

    d = np.asarray(differences, float)
    k = d.size
    if k < 2:
        mean = float(d.mean()) if k else math.nan
        return Resampled(tuple(d.tolist()), test_share, -math.inf, math.inf, 1.0)
    variance = (1 / k + test_share) * d.var(ddof=1)
    mean = float(d.mean())
    if variance == 0:
        return Resampled(tuple(d.tolist()), test_share, mean, mean, 0.0 if mean else 1.0)
    se = math.sqrt(variance)
    t = stats.t.ppf(0.5 + confidence / 2, k - 1)
    p = float(2 * stats.t.sf(abs(mean / se), k - 1))
    return Resampled(tuple(d.tolist()), test_share, mean - t * se, mean + t * se, p)


def _z(confidence):
    from scipy import stats

    return float(stats.norm.ppf(0.5 + confidence / 2))
