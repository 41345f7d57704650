"""A run's time budget (`--time-budget`): which trials may start, and the refit's epochs.

The oracle (the single process's, or the chief's) holds a `TimeBudget`. Before
it hands out a trial it asks `may_start`: the trial must be able to run all its
epochs, and the refit that follows still fit, before the deadline. Estimates
come from what every trial reported to the oracle, epoch by epoch
(`EpochRecords`): the median epoch's seconds, the first epoch's (it traces and
compiles), and each trial's seconds outside its epochs (building, saving). The
first trial always starts: nothing is measured before it.

The run's time is kept in time.json beside run.json: a run resumed after an
interruption starts with what its earlier sessions spent (the time between
sessions is not counted), and the fresh processes of one `kregs tune` (flat
memory: `kregs.tuner.recycle`) count from when that command started
(`SESSION_VAR`). No TensorFlow here.
"""

import dataclasses
import math
import os
import statistics
import time

from kregs.run.files import read_json, write_json

TIME_FILE = "time.json"
# Set by `kregs tune`'s supervisor on its fresh processes: when the command started
# (`time.time()`), one session of the run.
SESSION_VAR = "KREGS_STARTED"

# Seconds set aside after the refit for the test, best/ and the SavedModel export.
FINISH_SECONDS = 30.0
# A refit epoch is planned at this many times the trials' pace per image: its
# configuration is the best trial's, not the median one, and a shared host's speed
# drifts over minutes. The refit then re-plans at its own pace (`refit_replan`).
REFIT_MARGIN = 1.15
# A search that ends with time to spare gives it to the refit: up to this many times the
# best trial's epochs (or the epochs per trial, if more).
REFIT_FILL = 1.5
# Once the first configurations (the control, the recipe) have had their trials, a trial
# starts only if the refit still gets this many times the best trial's epochs: in a short
# budget the time goes to the refit on every image rather than to a trial the pruner
# mostly stops at its first rung.
REFIT_RESERVE = 1.2
# The refit re-plans its epochs from its own pace (`refit_replan`); it adds one only where
# the epoch fits this many times over.
REPLAN_MARGIN = 1.1


@dataclasses.dataclass(frozen=True)
class Estimate:
    """What a trial and a refit epoch are expected to take, in seconds.

    Attributes:
        epoch: float, a trial's epoch after its first (the lower quartile reported:
            `_typical`).
        first: float, a trial's first epoch (tracing and compilation included).
        overhead: float, a trial's seconds outside its epochs.
        trial: float, a whole trial of `max_epochs` epochs.
        training: float, a trial's epoch after its first without its validation
            (what a refit epoch takes per trial image).
    """

    epoch: float
    first: float
    overhead: float
    trial: float
    training: float


# What time.json keeps of the search's end, beside the time spent (`TimeBudget.save`).
SEARCH_STATE = ("search_ended", "stop_reason", "refused")


class TimeBudget:
    """The deadline of a run and what fits before it.

    Args:
        seconds: float > 0 or None, the whole run's time; None: no deadline (the clock
            only keeps the time spent).
        max_epochs: int, the epochs a trial trains at most.
        refit_scale: float or None, the refit's images per trial image (its epochs
            take this many times a trial's); None: no refit.
        spent: float, seconds already spent in earlier sessions.
        started: float or None, when this session began (`clock()`'s time); None: now.
        record: `(path, session)` or None: where to keep the time spent (time.json,
            `spent_before`), rewritten as each trial ends.
        clock: callable returning seconds (monotonic), for tests.

    Example:
    >>> budget = TimeBudget(600, max_epochs=10, refit_scale=6.0)
    >>> budget.may_start({}, refit_epochs=None)   # the first trial: nothing measured yet
    True
    """

    def __init__(
        self,
        seconds,
        max_epochs,
        refit_scale=None,
        spent=0.0,
        started=None,
        record=None,
        clock=time.monotonic,
    ):
        self.seconds = None if seconds is None else float(seconds)
        self.max_epochs = int(max_epochs)
        self.refit_scale = refit_scale
        self.spent_before = float(spent)
        self._clock = clock
        self.started = (clock() if started is None else started) - self.spent_before
        self.record = record
        self.refused = 0  # requests for a trial turned down for lack of time
        self.search_ended = None  # elapsed seconds when the search stopped
        self.stop_reason = None  # why it stopped before its budget (`--stop auto`), or None
        self.trial_seconds = {}  # trial id -> wall seconds, trials of this session
        self._began = {}
        self._restore()

    def elapsed(self):
        """Seconds spent so far (earlier sessions included)."""
        return self._clock() - self.started

    def left(self):
        """Seconds left before the deadline (negative once past it; inf without one)."""
        return math.inf if self.seconds is None else self.seconds - self.elapsed()

    def began(self, trial_id):
        """A trial was handed out now."""
        self._began[trial_id] = self._clock()

    def ended(self, trial_id):
        """A trial ended now."""
        if trial_id in self._began:
            self.trial_seconds[trial_id] = self._clock() - self._began.pop(trial_id)
        self.save()

    def save(self):
        """Writes the time spent so far to the record file (if any), with when and why the
        search stopped: a fresh process of the same session (`kregs.tuner.recycle`) that
        writes the summary says it too."""
        if self.record is not None:
            path, session = self.record
            write_json(
                path,
                {
                    "session": session,
                    "before": self.spent_before,
                    "spent": self.elapsed(),
                    **{k: getattr(self, k) for k in SEARCH_STATE if getattr(self, k)},
                },
            )

    def _restore(self):
        """Takes when and why the search stopped from the record (kept until the search
        goes on: `search_goes_on`)."""
        if self.record is None:
            return
        record = read_json(self.record[0]) or {}
        for key in SEARCH_STATE:
            if record.get(key) is not None:
                setattr(self, key, record[key])

    def search_goes_on(self):
        """A search trial was handed out: an earlier end of the search no longer holds
        (a resumed run given a longer budget, or `--stop never`)."""
        if self.search_ended is not None or self.refused:
            self.search_ended, self.stop_reason, self.refused = None, None, 0
            self.save()

    def estimate(self, seconds, training=None):
        """An `Estimate` from the epochs' seconds, or None before any epoch was reported.

        Args:
            seconds: dict trial id -> {epoch: seconds} (epochs from 1).
            training: the same without validation, or None (then `seconds`).
        """
        firsts = [c[min(c)] for c in seconds.values() if c]
        if not firsts:
            return None
        later = [s for c in seconds.values() for e, s in c.items() if e != min(c)]
        first = statistics.median(firsts)
        epoch = _typical(later) if later else first
        outside = [
            max(0.0, wall - sum(seconds.get(t, {}).values()))
            for t, wall in self.trial_seconds.items()
        ]
        overhead = statistics.median(outside) if outside else 0.0
        trial = overhead + first + epoch * (self.max_epochs - 1)
        trained = [s for c in (training or {}).values() for e, s in c.items() if e != min(c)]
        return Estimate(
            epoch=epoch,
            first=first,
            overhead=overhead,
            trial=trial,
            training=_typical(trained) if trained else epoch,
        )

    def refit_seconds(self, estimate, epochs):
        """The refit's seconds for `epochs` epochs, the test and the export included."""
        if self.refit_scale is None:
            return 0.0
        tracing = max(0.0, estimate.first - estimate.epoch)
        per_epoch = estimate.training * self.refit_scale * REFIT_MARGIN
        return tracing + per_epoch * epochs + FINISH_SECONDS

    def may_start(self, seconds, refit_epochs, training=None, reserve=1.0, after=0):
        """Whether one more trial, then `after` trials more (folds), then the refit, fits
        before the deadline.

        Args:
            seconds: dict trial id -> {epoch: seconds}, every trial's reports.
            refit_epochs: int or None, the refit's planned epochs (the best trial's
                so far); None: `max_epochs`.
            training: dict, the same without validation, or None.
            reserve: float >= 1, the refit must still fit with this many times
                `refit_epochs` (rounded up; `REFIT_RESERVE` after the first
                configurations).
            after: int, trials that must still run after this one (the folds of a
                cross-validation).
        """
        estimate = self.estimate(seconds, training)
        if estimate is None or self.seconds is None:
            return True
        epochs = math.ceil(reserve * (refit_epochs or self.max_epochs) - 1e-9)
        need = estimate.trial * (1 + after) + self.refit_seconds(estimate, epochs)
        if need <= self.left():
            return True
        self.refused += 1
        if self.search_ended is None:
            self.search_ended = self.elapsed()
        return False

    def refit_epochs(self, seconds, planned, training=None, trial_id=None):
        """The refit's epochs: as many as the time left allows, at least 1, at most
        `REFIT_FILL` times `planned` (the best trial's) or `max_epochs`, whichever is
        more: a search that ends early leaves its time to the refit, on all the images.

        `trial_id`: the trial whose configuration the refit trains; where it reported
        epochs, the refit is planned at its pace alone."""
        if seconds.get(trial_id):
            seconds = {trial_id: seconds[trial_id]}
            training = {trial_id: (training or {}).get(trial_id, {})}
        estimate = self.estimate(seconds, training)
        if estimate is None or self.refit_scale is None or self.seconds is None:
            return planned
        per_epoch = estimate.training * self.refit_scale * REFIT_MARGIN
        left = self.left() - FINISH_SECONDS - max(0.0, estimate.first - estimate.epoch)
        return max(1, min(self.most_refit_epochs(planned), math.floor(left / per_epoch)))

    def most_refit_epochs(self, planned):
        """The refit's epochs at most: `REFIT_FILL` times `planned` (the best trial's) or
        `max_epochs`, whichever is more."""
        return math.floor(REFIT_FILL * max(planned, self.max_epochs))

    def refit_replan(self, done, seconds, plan, most):
        """The refit's epochs re-planned after `done` of them, at its own pace (`seconds`,
        its epochs' so far): what the refit learns of its own speed replaces the estimate
        from the trials, so its decay ends at rest as the time runs out.

        Fewer than `plan` when the rest no longer fits at the faster of its last two
        epochs (at least `done`: none left): a shared host sometimes stretches one
        epoch (the process descheduled) and goes on at its pace, and one such epoch
        must not cut the refit; a host that stays slower does within two. More, up to
        `most`, only when they fit at the slower of the two with `REPLAN_MARGIN` to
        spare (a plan that went back and forth would not help).

        Args:
            done: int, the epochs trained.
            seconds: list of float, the refit's epochs' seconds (the first also traced).
            plan: int, the epochs planned so far.
            most: int, the refit's epochs at most (`REFIT_FILL`).

        Returns:
            int, the epochs to train in all.

        Example:
        >>> budget.refit_replan(4, [41.0, 88.0], plan=8, most=15)  # paced at 41 s, not 88
        """
        if self.seconds is None:
            return plan
        recent = seconds[-2:]
        left = max(self.left() - FINISH_SECONDS, 0.0)
        fits = done + math.floor(left / min(recent))
        if fits < plan:
            return max(done, fits)
        roomy = done + math.floor(left / (max(recent) * REPLAN_MARGIN))
        return min(max(plan, most), max(plan, roomy))

    def refit_may_go_on(self, epoch_seconds):
        """Whether the refit may train one more epoch of `epoch_seconds` (its last one's)
        and still leave the test and export their time before the deadline."""
        return self.seconds is None or epoch_seconds + FINISH_SECONDS <= self.left()

    def search_stopped(self):
        """The search has ended (whatever the reason): its time is recorded once."""
        if self.search_ended is None:
            self.search_ended = self.elapsed()

    def stopped(self, reason):
        """The search stopped before its budget because of `reason` (`--stop auto`)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self.search_stopped()
        self.save()

    def report(self, rows, refit, pruning):
        """How the run's time was spent, for summary.md's "Time" section (saved first).

        Args:
            rows: list of trials.csv rows.
            refit: dict or None, the refit's record.
            pruning: str, the run's pruning.
        """
        self.save()
        return {
            "budget": self.seconds,
            "clock": self.get_config(),
            "search": self.search_ended,
            "trials": sum(float(r.get("seconds") or 0) for r in rows),
            "refit": refit["seconds"] if refit else None,
            "total": self.elapsed(),
            "pruning": pruning,
        }

    def get_config(self):
        """The budget's settings and what it measured, for run records."""
        return {
            "seconds": self.seconds,
            "spent_before": round(self.spent_before, 1),
            "elapsed": round(self.elapsed(), 1),
            "search_ended": None if self.search_ended is None else round(self.search_ended, 1),
            "refused": self.refused,
            "stop_reason": self.stop_reason,
        }


def session_started(environ=None):
    """When this session of the run began (`time.time()`): `SESSION_VAR`, else now."""
    value = (os.environ if environ is None else environ).get(SESSION_VAR)
    try:
        return float(value)
    except (TypeError, ValueError):
        return time.time()


def spent_before(path, session):
    """Seconds the run's earlier sessions spent, from its time.json; records `session` as
    the current one (its processes then agree on what came before it).

    Args:
        path: str, the run's time.json.
        session: float, `session_started()`.
    """
    record = read_json(path) or {}
    if record.get("session") == session:
        return float(record.get("before") or 0.0)
    before = float(record.get("spent") or 0.0)
    kept = {key: record[key] for key in SEARCH_STATE if key in record}
    write_json(path, {"session": session, "before": before, "spent": before, **kept})
    return before


def session_clock(path, environ=None):
    """`(spent, started, session)` for a `TimeBudget` of this session: the earlier
    sessions' time, when this one began on `time.monotonic()`'s scale, and the session's
    id (`session_started()`, what time.json records)."""
    session = session_started(environ)
    spent = spent_before(path, session)
    return spent, time.monotonic() - max(0.0, time.time() - session), session


def _typical(seconds):
    """What an epoch takes: the lower quartile of the epochs' seconds. On a shared host an
    epoch's wall time is sometimes stretched (a process descheduled for seconds), never
    shortened: the median of a few epochs can be such a stretched one. An estimate a little
    short costs nothing: the trials are judged per epoch, the refit's epochs are planned
    when it starts (with `REFIT_MARGIN`) and it stops at the deadline."""
    if len(seconds) < 4:
        return min(seconds)
    return statistics.quantiles(seconds, n=4, method="inclusive")[0]
