"""Pruning and the time budget: the rules, the oracle's decisions, their records, resume."""

import json
import types

import keras
import keras_tuner
import numpy as np
import pytest
from _helpers import write_idx_dataset
from click.testing import CliRunner

from kregs.cli.main import main
from kregs.errors import ConfigError
from kregs.run.budget import parse_duration
from kregs.tuner import TuneConfig, tune
from kregs.tuner.best import best_completed
from kregs.tuner.budget import SEARCH_PRESETS, SearchBudget
from kregs.tuner.clock import REFIT_RESERVE, TimeBudget, session_clock, spent_before
from kregs.tuner.epochs import ACCURACY, SECONDS, curve, time_for_a_trial
from kregs.tuner.pruning import MedianPruner, SuccessiveHalvingPruner, best_so_far
from kregs.tuner.summary_md import ONLY_THE_CONTROL, held_only_the_control
from kregs.tuner.trials_csv import trial_row
from kregs.tuner.tuners import make_tuner

# --- the rules ------------------------------------------------------------------------------


def test_median_pruner_judges_the_best_so_far_against_the_completed_trials_median():
    pruner = MedianPruner(warmup=2, min_trials=2)
    done = {"0": {1: 0.80, 2: 0.85, 3: 0.88}, "1": {1: 0.70, 2: 0.80, 3: 0.86}}
    # In the warm-up, or with one completed trial: never.
    assert pruner.decide({1: 0.1, 2: 0.1}, 2, done, {}) is None
    assert pruner.decide({1: 0.1, 2: 0.1, 3: 0.1}, 3, {"0": done["0"]}, {}) is None
    # Below the median (0.87) at epoch 3: pruned, the reason in numbers.
    assert pruner.decide({1: 0.5, 2: 0.6, 3: 0.86}, 3, done, {}) == (
        "val_accuracy 0.8600 by epoch 3, below the median 0.8700 of 2 completed trials"
    )
    # Judged by its best so far: a dip after a good epoch is not held against it.
    assert pruner.decide({1: 0.5, 2: 0.9, 3: 0.6}, 3, done, {}) is None
    # A completed trial that stopped early counts with its best: median of 0.85 and 0.86.
    early = {"0": {1: 0.80, 2: 0.85}, "1": done["1"]}
    assert "median 0.8550" in pruner.decide({1: 0.5, 2: 0.6, 3: 0.7}, 3, early, {})
    assert best_so_far({1: 0.5, 2: 0.4, 3: 0.7}) == {1: 0.5, 2: 0.5, 3: 0.7}


def test_successive_halving_keeps_the_top_third_at_each_rung():
    pruner = SuccessiveHalvingPruner(min_epochs=2, factor=3, min_trials=2)
    assert pruner.rungs(20) == [2, 6, 18]
    rivals = {"0": {2: 0.9}, "1": {2: 0.8}, "2": {2: 0.7}, "3": {2: 0.6}, "4": {2: 0.5}}
    # 6 at the rung: the top 6 // 3 = 2 go on.
    assert pruner.decide({1: 0.3, 2: 0.85}, 2, {}, rivals) is None
    assert pruner.decide({1: 0.3, 2: 0.75}, 2, {}, rivals) == (
        "val_accuracy 0.7500 by epoch 2, not in the top 2 of 6 trials at this rung (best 0.9000)"
    )
    assert pruner.decide({1: 0.3, 2: 0.3, 3: 0.1}, 3, {}, rivals) is None  # not a rung
    assert pruner.decide({1: 0.3, 2: 0.1}, 2, {}, {"0": {2: 0.9}}) is None  # too few rivals


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(warmup=-1), "`warmup`: expected an integer >= 0. Received: warmup=-1"),
        (dict(min_trials=0), "`min_trials`: expected an integer >= 1. Received: min_trials=0"),
    ],
)
def test_pruner_arguments_are_checked(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MedianPruner(**kwargs)


def test_durations_and_the_pruning_choice_are_checked_at_the_door():
    assert parse_duration("10m") == 600
    assert parse_duration("1h30m") == 5400
    assert parse_duration("90") == 90 and parse_duration("2.5m") == 150
    for bad in ("10x", "", "0m", "m", "-5s"):
        with pytest.raises(ConfigError, match="expected a duration such as 90s, 10m, 1h"):
            parse_duration(bad)
    assert SearchBudget(time_budget="10m").time_budget == 600
    for algorithm in ("hyperband", "bayesian"):
        with pytest.raises(ConfigError, match=f"expected none with --algorithm {algorithm}"):
            SearchBudget(algorithm=algorithm, pruning="median")
    with pytest.raises(ConfigError, match="`pruning`: expected one of none, median, asha"):
        SearchBudget(pruning="optuna")
    # The presets a user runs first are time budgets, pruned at the median.
    quick, default = SEARCH_PRESETS["quick"], SEARCH_PRESETS[None]
    assert (quick.time_budget, quick.pruning) == (600, "median")
    assert (default.time_budget, default.pruning) == (2400, "median")


def test_bad_time_budget_on_the_command_line_is_one_line_and_exit_2():
    result = CliRunner().invoke(main, ["tune", "--folds", "0", "--time-budget", "ten minutes"])
    assert result.exit_code == 2
    assert (
        result.output.strip()
        .splitlines()[-1]
        .startswith(
            "Error: Invalid value for argument `time_budget`: expected a duration such as 90s"
        )
    )
    result = CliRunner().invoke(
        main, ["tune", "--folds", "0", "--pruning", "asha", "--algorithm", "hyperband"]
    )
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


# --- the clock ------------------------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_no_trial_starts_that_cannot_end_before_the_deadline_with_the_refit():
    clock = FakeClock()
    budget = TimeBudget(600, max_epochs=10, refit_scale=6.0, clock=clock)
    assert budget.may_start({}, None)  # the first trial: nothing measured yet
    budget.began("0")
    clock.now += 45.0
    budget.ended("0")
    seconds = {"0": {1: 8.0, **{e: 4.0 for e in range(2, 10)}}}
    training = {"0": {1: 7.0, **{e: 3.0 for e in range(2, 10)}}}  # 1 s of validation each
    estimate = budget.estimate(seconds, training)
    # 4 s epochs, an 8 s first one, 45 - 40 = 5 s outside the epochs: 5 + 8 + 9 * 4.
    assert (estimate.epoch, estimate.first, estimate.overhead, estimate.trial) == (4, 8, 5, 49)
    assert estimate.training == 3
    # The refit of 5 epochs, without validation: 4 s of tracing, 5 * 6 * 3 s at the margin
    # of 1.15 (20.7 s an epoch), 30 s to test and export.
    assert budget.refit_seconds(estimate, 5) == pytest.approx(4 + 103.5 + 30)
    clock.now += 600 - 45 - (49 + 137.5)  # exactly enough left for a trial and the refit
    assert budget.may_start(seconds, 5, training) and budget.refused == 0
    clock.now += 1.0
    assert not budget.may_start(seconds, 5, training) and budget.refused == 1
    assert budget.search_ended == pytest.approx(600 - 49 - 137.5 + 1)
    # The refit's epochs fill what is left after the test and the export, at 20.7 s each:
    # (185.5 - 30 - 4) // 20.7 = 7, more than the best trial's 5 (at most 1.5 x 10).
    assert budget.refit_epochs(seconds, 5, training) == 7
    clock.now += 100.0
    assert budget.refit_epochs(seconds, 5, training) == 2  # (85.5 - 34) // 20.7
    # The refit goes on while its next epoch (as long as its last) ends 30 s before the end.
    assert budget.refit_may_go_on(55.5) and not budget.refit_may_go_on(56.0)
    clock.now += 60.0
    assert budget.refit_epochs(seconds, 5, training) == 1  # past the deadline: at least 1
    assert TimeBudget(None, 10, clock=clock).may_start(seconds, 5)  # no deadline
    assert TimeBudget(None, 10, refit_scale=6.0, clock=clock).refit_epochs(seconds, 5) == 5
    assert TimeBudget(None, 10, clock=clock).refit_may_go_on(1e9)
    # With time to spare the refit fills it, up to 1.5 times the epochs (10 here).
    roomy = TimeBudget(6000, 10, refit_scale=6.0, clock=clock)
    assert roomy.refit_epochs(seconds, 5, training) == 15
    assert roomy.refit_epochs(seconds, 12, training) == 18


def test_after_the_control_and_the_recipe_a_trial_must_leave_the_refit_a_reserve():
    clock = FakeClock()
    budget = TimeBudget(600, max_epochs=10, refit_scale=6.0, clock=clock)
    budget.began("0")
    clock.now += 45.0
    budget.ended("0")
    seconds = {"0": {1: 8.0, **{e: 4.0 for e in range(2, 10)}}}
    training = {"0": {1: 7.0, **{e: 3.0 for e in range(2, 10)}}}
    # A 49 s trial; the refit of 5 epochs 137.5 s, of ceil(1.2 * 5) = 6 epochs 158.2 s.
    clock.now += 600 - 45 - (49 + 137.5)
    assert budget.may_start(seconds, 5, training)
    assert not budget.may_start(seconds, 5, training, reserve=REFIT_RESERVE)
    clock.now -= 158.2 - 137.5
    assert budget.may_start(seconds, 5, training, reserve=REFIT_RESERVE)
    assert REFIT_RESERVE == 1.2


def test_the_oracle_asks_for_the_reserve_only_after_its_first_configurations():
    asked = []

    class Clock:
        def may_start(self, seconds, planned, training, reserve):
            asked.append((planned, reserve))
            return True

    def trial(trial_id):
        return keras_tuner.engine.trial.Trial(keras_tuner.HyperParameters(), trial_id=trial_id)

    oracle = types.SimpleNamespace(trials={}, first_trials=2, clock=Clock(), refit_plan=lambda: 7)
    for n in range(4):
        assert time_for_a_trial(oracle)
        oracle.trials[f"{n:02d}"] = trial(f"{n:02d}")
    assert asked == [(7, 1.0), (7, 1.0), (7, REFIT_RESERVE), (7, REFIT_RESERVE)]


def test_the_refit_is_planned_at_the_pace_of_the_trial_it_trains():
    clock = FakeClock()
    budget = TimeBudget(600, max_epochs=10, refit_scale=6.0, clock=clock)
    seconds = {"0": {e: 4.0 for e in range(1, 11)}, "1": {e: 8.0 for e in range(1, 11)}}
    training = {"0": {e: 3.0 for e in range(1, 11)}, "1": {e: 7.0 for e in range(1, 11)}}
    clock.now += 400.0  # 200 s left, 170 s once the test and the export have theirs
    # Trial 0's 3 s of training an epoch: 3 * 6 * 1.15 = 20.7 s a refit epoch, 170 // 20.7.
    assert budget.refit_epochs(seconds, 5, training, trial_id="0") == 8
    # Trial 1's (BN, augmentation: slower) 7 s: 48.3 s a refit epoch.
    assert budget.refit_epochs(seconds, 5, training, trial_id="1") == 3
    # A trial that reported no epochs here (resumed from elsewhere): every trial's pace.
    everyone = budget.refit_epochs(seconds, 5, training)
    assert budget.refit_epochs(seconds, 5, training, trial_id="2") == everyone


def test_an_epoch_stretched_by_a_busy_host_does_not_stretch_the_estimate():
    budget = TimeBudget(600, max_epochs=10, refit_scale=6.0, clock=FakeClock())
    # Two of five later epochs took 10.24 s of wall time (the process was descheduled).
    seconds = {"0": {1: 8.0, 2: 4.0, 3: 10.24, 4: 4.0, 5: 4.1, 6: 10.24}}
    assert budget.estimate(seconds).epoch == 4.0
    assert budget.estimate({"0": {1: 8.0, 2: 4.5, 3: 10.24}}).epoch == 4.5  # few: the least


def test_the_time_spent_survives_fresh_processes_and_resumes(tmp_path, monkeypatch):
    path = str(tmp_path / "time.json")
    assert spent_before(path, session=1.0) == 0.0
    TimeBudget(600, 10, spent=0.0, record=(path, 1.0), clock=lambda: 130.0, started=100.0).save()
    # A fresh process of the same session (kregs tune's flat memory) counts from its start.
    assert spent_before(path, session=1.0) == 0.0
    # A resume (a new session) starts with what the earlier ones spent.
    assert spent_before(path, session=2.0) == 30.0
    assert json.loads(open(path).read()) == {"session": 2.0, "before": 30.0, "spent": 30.0}
    monkeypatch.setenv("KREGS_STARTED", "2.0")
    spent, _, session = session_clock(path)
    assert (spent, session) == (30.0, 2.0)


# --- the oracle decides ---------------------------------------------------------------------


class LearningRates(keras_tuner.HyperModel):
    """Three configurations in grid order: two that learn, one that cannot (rate 0)."""

    def build(self, hp):
        rate = hp.Choice("rate", [0.5, 0.2, 0.0])
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="softmax")])
        model.compile(
            keras.optimizers.SGD(rate), "sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        return model


def _blobs(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 0.3, (n, 6)).astype("float32")
    x[np.arange(n), y] += 2.0
    return x, y


def _search(directory, pruner=None, clock=None):
    keras.utils.set_random_seed(0)
    tuner = make_tuner("grid", LearningRates(), str(directory), max_trials=3, epochs=6)
    tuner.oracle.pruner, tuner.oracle.clock = pruner, clock
    (x, y), val = _blobs(300, 0), _blobs(150, 1)
    tuner.search(x, y, validation_data=val, epochs=6, batch_size=32, verbose=0)
    return tuner


def test_a_trial_behind_the_median_is_pruned_recorded_and_never_best(tmp_path):
    tuner = _search(tmp_path, pruner=MedianPruner(warmup=2, min_trials=2))
    trials = tuner.oracle.trials
    assert [trials[t].status for t in ("0", "1", "2")] == ["COMPLETED", "COMPLETED", "STOPPED"]
    assert trials["2"].message.startswith("pruned at epoch 3: val_accuracy ")
    assert "below the median" in trials["2"].message
    extras = tuner.read_extras("2")
    assert (extras["pruned_epoch"], extras["epochs"]) == (3, 3)  # it trained 3 epochs, not 6
    assert tuner.read_extras("0")["pruned_epoch"] is None
    # Every epoch each trial trained is in the oracle's record of it (its trial.json).
    assert sorted(curve(trials["2"], ACCURACY)) == [1, 2, 3]
    assert sorted(curve(trials["0"], SECONDS)) == list(
        range(1, tuner.read_extras("0")["epochs"] + 1)
    )
    assert [t.trial_id for t in best_completed(tuner.oracle, 3)] in (["0", "1"], ["1", "0"])
    assert trial_row(trials["2"], {}, extras)["status"] == "PRUNED"
    assert trial_row(trials["2"], {}, extras)["pruned_epoch"] == 3
    # Resumed: the pruned trial stays pruned, nothing runs again, its records are kept.
    again = _search(tmp_path, pruner=MedianPruner())
    assert [again.oracle.trials[t].status for t in ("0", "1", "2")] == [
        "COMPLETED",
        "COMPLETED",
        "STOPPED",
    ]
    assert sorted(curve(again.oracle.trials["2"], ACCURACY)) == [1, 2, 3]
    assert again.read_extras("2")["pruned_epoch"] == 3


def test_without_a_pruner_every_trial_runs_to_its_end(tmp_path):
    tuner = _search(tmp_path)
    assert all(t.status == "COMPLETED" for t in tuner.oracle.trials.values())


def test_the_time_budget_stops_handing_out_trials(tmp_path):
    clock = TimeBudget(0.001, max_epochs=6)  # spent once the first trial has run
    tuner = _search(tmp_path, clock=clock)
    assert list(tuner.oracle.trials) == ["0"]
    assert clock.refused >= 1 and clock.search_ended is not None
    roomy = _search(tmp_path / "roomy", clock=TimeBudget(3600, max_epochs=6))
    assert len(roomy.oracle.trials) == 3


# --- a whole run ----------------------------------------------------------------------------


def test_a_run_with_a_time_budget_says_how_its_time_was_spent(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx_dataset(folder, n_train=300, n_test=50)
    config = TuneConfig.create(
        "mnist",
        data_dir=str(folder),
        folds=0,
        output=str(tmp_path / "run"),
        arch="mlp",
        space="default",
        algorithm="random",
        max_trials=20,
        epochs=2,
        batch_size=32,
        patience=1,
        refit=False,
        time_budget="1s",
        pruning="median",
    )
    result = tune(config)
    # The budget ended the search, not max_trials: after the control, nothing else fitted.
    assert [r["config"] for r in result.rows] == ["none"]
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "- pruning: median; time budget: 1s" in summary
    assert "## Time" in summary and "- the search stopped at " in summary
    assert f"- {ONLY_THE_CONTROL}" in summary  # and what to do about it
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (record["pruning"], record["time_budget"]) == ("median", 1.0)
    spent = json.loads((tmp_path / "run" / "time.json").read_text())["spent"]
    assert spent > 0


def test_only_the_control_means_the_budget_refused_every_trial_after_it():
    control, other = {"config": "none"}, {"config": "dropout+bn"}
    refused = {"budget": 60.0, "clock": {"refused": 1}}
    assert held_only_the_control(refused, [control])
    # Another configuration ran, the search ended by its trial count, or no budget at all.
    assert not held_only_the_control(refused, [control, other])
    assert not held_only_the_control({"budget": 60.0, "clock": {"refused": 0}}, [control])
    assert not held_only_the_control({"budget": None, "clock": {"refused": 1}}, [control])
    assert not held_only_the_control(None, [control])
    assert not held_only_the_control(refused, [])


def _paced_fit(budget, plan, epoch_seconds):
    """Fits a tiny model under `paced` while the fake clock moves epoch_seconds(epoch)."""
    from kregs.tuner.refit import paced

    class Epochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            budget._clock.now += epoch_seconds(epoch)

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.zeros((8, 2), "float32")
    callbacks = [Epochs(), paced(keras, budget, plan)]
    return model.fit(x, x[:, :1], epochs=plan.most, verbose=0, callbacks=callbacks)


def test_the_refit_stops_when_its_next_epoch_would_end_past_the_deadline():
    from kregs.tuner.refit import RefitPlan

    budget = TimeBudget(100, max_epochs=10, clock=FakeClock())
    # The host slows: 10 s an epoch, then 20 from the third; 10 planned, 15 at most.
    plan = RefitPlan(10, 15, steps=1)
    history = _paced_fit(budget, plan, lambda epoch: 10.0 if epoch < 2 else 20.0)
    # After epoch 2, 50 s are left once the test and export have theirs: 7 epochs in
    # all; after epoch 3 (10 and 20 s: at 10), 30 s: 6; after epoch 4 (20 s twice),
    # 10 s: none. 4 epochs in 60 s.
    assert len(history.history["loss"]) == plan.epochs == 4


def test_one_stretched_epoch_does_not_cut_the_refit():
    from kregs.tuner.refit import RefitPlan

    budget = TimeBudget(130, max_epochs=10, clock=FakeClock())
    plan = RefitPlan(10, 10, steps=1)  # 100 s for 10 epochs of 10 s, one of them takes 25
    history = _paced_fit(budget, plan, lambda epoch: 25.0 if epoch == 3 else 10.0)
    # Planned at the last epoch's 25 s alone, the refit would have ended after 5 epochs.
    assert len(history.history["loss"]) == 8


def test_the_refit_takes_the_time_the_trials_estimate_left_over():
    from kregs.tuner.refit import RefitPlan

    budget = TimeBudget(200, max_epochs=10, clock=FakeClock())
    plan = RefitPlan(5, 12, steps=1)  # planned at 5 from the trials' pace; 10 s epochs
    history = _paced_fit(budget, plan, lambda epoch: 10.0)
    # After epoch 2: 150 s left once the test and export have theirs: 13 more epochs at
    # 11 s (the margin), capped at 12 in all.
    assert len(history.history["loss"]) == plan.epochs == 12


def test_the_refit_re_plans_only_past_its_margin():
    budget = TimeBudget(100, max_epochs=10, clock=FakeClock())
    budget._clock.now += 40.0  # 60 s left, 30 once the test and export have theirs
    assert budget.refit_replan(4, [9.0, 10.0], plan=7, most=20) == 7  # 3 more fit: as planned
    assert budget.refit_replan(4, [9.5, 9.5], plan=6, most=20) == 6  # a 4th: not 10% spare
    assert budget.refit_replan(4, [9.0, 9.0], plan=6, most=20) == 7  # 29.7 s with it: fits
    assert budget.refit_replan(4, [11.0, 11.0], plan=7, most=20) == 6  # slower: 2 more fit
    assert budget.refit_replan(4, [10.0, 40.0], plan=7, most=20) == 7  # one stretched epoch
    assert budget.refit_replan(4, [40.0, 40.0], plan=7, most=20) == 4  # slower: it stops
    assert budget.refit_replan(4, [1.0, 1.0], plan=7, most=9) == 9  # never past the most
    assert TimeBudget(None, 10).refit_replan(4, [1.0], plan=7, most=9) == 7  # no deadline


def test_the_command_says_what_to_do_when_the_budget_held_only_the_control(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx_dataset(folder, n_train=300, n_test=50)
    args = [
        "tune",
        "--folds",
        "0",
        "--dataset",
        "mnist",
        "--data-dir",
        str(folder),
        "--arch",
        "mlp",
        "--algorithm",
        "random",
        "--max-trials",
        "5",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--no-refit",
        "--output",
        str(tmp_path / "run"),
    ]
    short = CliRunner().invoke(main, [*args, "--time-budget", "1s"])
    assert short.exit_code == 0, short.output
    assert ONLY_THE_CONTROL in short.output
    # Run again with a longer budget: it resumes, the control kept, and goes on searching.
    longer = CliRunner().invoke(main, [*args, "--time-budget", "10m"])
    assert longer.exit_code == 0, longer.output
    assert ONLY_THE_CONTROL not in longer.output
    rows = (tmp_path / "run" / "trials.csv").read_text().splitlines()[1:]
    assert len(rows) == 5 and rows[0].startswith("0,COMPLETED,none,")


def test_summary_says_why_the_refit_trained_the_epochs_it_did():
    from kregs.tuner.summary_md import refit_epochs_note

    assert refit_epochs_note({"epochs": 10, "planned_epochs": 10, "first_plan": 10}) == ""
    assert refit_epochs_note({"epochs": 10}) == ""  # a record from before re-planning
    cut = refit_epochs_note({"epochs": 7, "planned_epochs": 10, "first_plan": 7})
    assert cut == " (the best trial's 10; the time budget gave it 7)"
    paced = refit_epochs_note({"epochs": 13, "planned_epochs": 10, "first_plan": 11})
    assert (
        paced
        == " (the best trial's 10; 11 planned for the time left, 13 once its own pace was known)"
    )
