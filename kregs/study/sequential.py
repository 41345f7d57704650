"""`kregs study --seeds auto`: seeds spent where a verdict is still open, its error rate kept.

A study with a fixed number of seeds spends them on every comparison, decided or not.
With `--seeds auto` it looks at its comparisons after `LOOKS` seeds per configuration
(3, then 5, 8, 12, 20; up to `--max-seeds`): a comparison whose interval excludes 0 is
decided and gets no more seeds; the configurations of the open ones get the next look's
seeds, the most uncertain comparison first, while the time budget lasts.

Looking again after every few seeds and stopping at the first interval that excludes 0
would inflate the error rate well past 5%. kregs keeps it with a Bonferroni split of
alpha over the looks a comparison can take: each look's interval is at confidence
`1 - 0.05 / L`, L the number of looks up to `--max-seeds` (5 for 20 seeds: 99%
intervals), so that the chance of a false decision over all looks stays at most 5%
(simple and conservative; group-sequential alpha spending, Pocock 1977, O'Brien and
Fleming 1979, spends less at the early looks). `bench/seeds.py` checks it on an A/A.
"""

import dataclasses

from kregs.study import stats

LOOKS = (3, 5, 8, 12, 20)
ALPHA = 0.05
DECIDED = "decided"
MAXIMUM = "maximum"
BUDGET = "budget"
OPEN = "open"


def looks(max_seeds):
    """The seed counts at which the study looks, up to `max_seeds` (which is one of them).

    Example:
    >>> looks(20), looks(10), looks(3)
    ((3, 5, 8, 12, 20), (3, 5, 8, 10), (3,))
    """
    found = tuple(n for n in LOOKS if n < max_seeds)
    return (*found, max_seeds) if max_seeds >= LOOKS[0] else (max_seeds,)


def confidence(max_seeds):
    """Each look's interval confidence: `1 - 0.05 / looks` (Bonferroni over the looks)."""
    return 1 - ALPHA / len(looks(max_seeds))


@dataclasses.dataclass
class Comparison:
    """One verdict a study gives: `a` against `b` (`a` better is the claim).

    Attributes:
        a, b: str, configuration names.
        claim: str, what the study checks.
        state: `DECIDED`, `MAXIMUM`, `BUDGET` or `OPEN`: why it got no more seeds.
        seeds: int, the seeds each side had when it stopped.
        difference: `kregs.study.stats.Difference` at that point.
    """

    a: str
    b: str
    claim: str
    state: str = OPEN
    seeds: int = 0
    difference: object = None


def comparisons(kind, names, full="l2+dropout+bn"):
    """The comparisons a study of `kind` decides: each configuration against none (and the
    full combination against it without each technique), a sweep's values against its
    base, an ablation's best against each removal.

    Args:
        kind: "configurations", "sweep" or "ablation".
        names: the configurations' names, in report order (the base or "best" first).
    """
    if kind == "configurations":
        found = [Comparison(n, "none", f"{n} improves test accuracy over none") for n in names[1:]]
        for technique in ("l2", "dropout", "bn"):
            rest = "+".join(p for p in full.split("+") if p != technique)
            if full in names and rest in names:
                claim = f"removing {technique} from {full} costs accuracy"
                found.append(Comparison(full, rest, claim))
        return found
    base = names[0]
    if kind == "sweep":
        return [Comparison(n, base, f"{n} improves test accuracy over {base}") for n in names[1:]]
    return [Comparison(base, n, f"{base} is better than {n}") for n in names[1:]]


def review(found, accuracies, max_seeds):
    """Decides what it can, at each comparison's last complete look: its interval over the
    first `look` seeds of each side, at `confidence(max_seeds)` (between looks nothing is
    decided: an unscheduled look would spend alpha the correction does not count).

    Args:
        found: list of `Comparison` (updated in place).
        accuracies: dict name -> list of test accuracies, in seed order.
        max_seeds: int.

    Returns:
        list of `Comparison` still open, the most uncertain first (the widest interval
        relative to its distance from 0).
    """
    level = confidence(max_seeds)
    still = []
    for c in found:
        if c.state != OPEN:
            continue
        have = min(len(accuracies.get(c.a, [])), len(accuracies.get(c.b, [])))
        done = [n for n in looks(max_seeds) if n <= have]
        if not done:
            still.append(c)
            continue
        c.seeds = done[-1]
        a, b = accuracies[c.a][: c.seeds], accuracies[c.b][: c.seeds]
        d = c.difference = stats.difference(a, b, level)
        if d.sign:
            c.state = DECIDED
        elif c.seeds >= max_seeds:
            c.state = MAXIMUM
        else:
            still.append(c)
    return sorted(still, key=_uncertainty, reverse=True)


def _uncertainty(c):
    d = c.difference
    if d is None or d.low is None:
        return float("inf")
    width = d.high - d.low
    return width / (abs(d.diff) + 1e-9)


def next_look(seeds, max_seeds):
    """The seed count of the look after `seeds` (None past the last one)."""
    return next((n for n in looks(max_seeds) if n > seeds), None)


def wanted(kind, names, accuracies, max_seeds):
    """`{name: seeds}`: how many seeds each configuration needs now. Every one the first
    look's; the two of each comparison still open at its last look, the next look's."""
    need = {name: min(LOOKS[0], max_seeds) for name in names}
    found = comparisons(kind, names)
    for c in found:
        c.state = OPEN
    review(found, accuracies, max_seeds)
    for c in found:
        if c.state == OPEN and c.seeds:  # (open at a look: the next one)
            after = next_look(c.seeds, max_seeds)
            need[c.a], need[c.b] = max(need[c.a], after), max(need[c.b], after)
        elif c.state != OPEN:  # decided, or the maximum: the seeds it was decided at
            need[c.a], need[c.b] = max(need[c.a], c.seeds), max(need[c.b], c.seeds)
    return need
