"""Spending compute where an answer is open: seeds added to undecided verdicts (with the
error rate kept over the looks), a search that stops, a pruner that spares slow starters,
and a study protocol that fits small data."""

import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from _helpers import make_folder, wait_until

from kregs import RegConfig
from kregs.callbacks import BestEpoch
from kregs.run import metrics
from kregs.run.budget import TrainingBudget
from kregs.study import sequential
from kregs.tuner.pruning import MedianPruner, slow_start
from kregs.tuner.stopping import why_stop

# --- seeds where a verdict is open -------------------------------------------------------------


def test_the_looks_and_their_bonferroni_confidence():
    assert sequential.looks(20) == (3, 5, 8, 12, 20)
    assert sequential.confidence(20) == pytest.approx(0.99)
    assert sequential.looks(10) == (3, 5, 8, 10)
    assert sequential.next_look(5, 20) == 8 and sequential.next_look(20, 20) is None


def test_a_decided_verdict_adds_no_seeds_and_an_open_one_goes_to_the_next_look():
    names = ["none", "clear", "close"]  # a sweep: each value against the base
    accuracies = {
        "none": [0.80, 0.81, 0.80],
        "clear": [0.90, 0.91, 0.90],  # ten points above: decided at the first look
        "close": [0.80, 0.82, 0.79],  # within noise: open
    }
    wanted = sequential.wanted("sweep", names, accuracies, 20)
    assert wanted == {"none": 5, "clear": 3, "close": 5}
    accuracies["none"] += [0.81]  # a seed between looks decides nothing
    accuracies["close"] += [0.95]
    assert sequential.wanted("sweep", names, accuracies, 20) == wanted


def test_an_a_a_is_not_decided_by_chance_in_a_seeded_run():
    """Two identical configurations, their accuracies drawn from one distribution: with the
    looks' corrected confidence no verdict is decided by chance through 20 seeds."""
    rng = np.random.default_rng(0)
    draws = {"none": rng.normal(0.88, 0.004, 20), "same": rng.normal(0.88, 0.004, 20)}
    seeds = 3
    while True:
        accuracies = {k: list(v[:seeds]) for k, v in draws.items()}
        found = sequential.comparisons("sweep", ["none", "same"])
        open_ = sequential.review(found, accuracies, 20)
        if not open_:
            break
        seeds = sequential.next_look(seeds, 20)
    assert found[0].state == sequential.MAXIMUM and found[0].seeds == 20


def test_seeds_auto_resumes_after_a_kill_without_training_a_run_twice(tmp_path):
    data = make_folder(tmp_path / "data", classes=("a", "b"), per_class=400, size=(16, 16))
    out = tmp_path / "study"
    cmd = [
        sys.executable,
        "-m",
        "kregs",
        "study",
        "--data",
        str(data),
        "--arch",
        "mlp",
        "--sweep",
        "dropout=0,0.5",
        "--epochs",
        "1",
        "--seeds",
        "auto",
        "--max-seeds",
        "5",
        "--quiet",
        "--output",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = out / "runs"
    wait_until(lambda: runs.exists() and len(os.listdir(runs)) >= 2 or proc.poll(), 300)
    assert proc.poll() is None, "the study ended before the kill"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {f: (runs / f).read_text() for f in os.listdir(runs) if f.endswith(".json")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    after = {f: (runs / f).read_text() for f in os.listdir(runs) if f.endswith(".json")}
    assert all(after[f] == text for f, text in before.items())  # no finished run trained again
    seeds = sorted(json.loads(t)["row"]["seed"] for f, t in after.items() if f.startswith("none"))
    assert seeds in ([0, 1, 2], [0, 1, 2, 3, 4])  # a look's seeds, none between looks
    md = (out / "study.md").read_text()
    assert "## Seeds (--seeds auto)" in md and "each look's interval at 97.5%" in md
    # The finished study again: the runs of every look are read, none trained again.
    stamps = {f: (runs / f).stat().st_mtime_ns for f in after}
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {f: (runs / f).stat().st_mtime_ns for f in os.listdir(runs)} == stamps


def test_a_resumed_study_counts_the_time_its_earlier_sessions_spent(tmp_path):
    from kregs.study import runner

    path = str(tmp_path / "time.json")
    runner.StudyClock(path, time.monotonic() - 30).save()  # a session that spent 30 s
    resumed = runner.StudyClock(path, time.monotonic())
    assert 30 <= resumed.spent() < 35
    records = {(0, "none"): {"row": {"train_seconds": 15.0}}}
    # 30 s spent and a run takes 15: a 40 s budget has no room left, a 60 s one has.
    assert runner._out_of_time(SimpleNamespace(time_budget=40.0), resumed, records)
    assert not runner._out_of_time(SimpleNamespace(time_budget=60.0), resumed, records)
    assert not runner._out_of_time(SimpleNamespace(time_budget=None), resumed, records)


# --- a search that stops -----------------------------------------------------------------------


def test_the_search_stops_once_recent_trials_fall_short_of_the_best_ones_interval():
    history = [("0", 0.90), ("1", 0.94), *((str(i), 0.91) for i in range(2, 8))]
    assert why_stop(history, 6000, first_trials=2).startswith(
        "none of the last 6 trials came within trial 1's validation accuracy 0.9400"
    )
    assert why_stop(history[:-1], 6000, first_trials=2) is None  # only 5 after the best
    close = [*history[:-1], ("7", 0.937)]  # one came within the best's noise
    assert why_stop(close, 6000, first_trials=2) is None
    # The same gap on 150 images is noise: nothing to stop for.
    assert why_stop(history, 150, first_trials=2) is None
    pruned = [*history[:2], *((str(i), None) for i in range(2, 8))]  # pruned: short of it
    assert why_stop(pruned, 6000, first_trials=2) is not None


def test_a_search_that_stops_hands_its_time_to_the_refit_and_says_why(tmp_path, monkeypatch):
    import importlib

    from _helpers import write_idx_dataset

    from kregs.tuner import TuneConfig, tune

    search = importlib.import_module("kregs.tuner.search")

    seen = []

    def stop_after_three(ended, images, first_trials=0):  # the rule's plumbing, not its numbers
        seen.append(len(ended))
        return "the rule said so" if len(ended) >= 3 else None

    monkeypatch.setattr(search, "why_stop", stop_after_three)
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx_dataset(folder, n_train=300, n_test=50)
    options = dict(data_dir=str(folder), folds=0, arch="mlp", space="default")
    options |= dict(algorithm="random", max_trials=5, epochs=1, batch_size=32, refit=False)
    result = tune(TuneConfig.create("mnist", output=str(tmp_path / "run"), stop="auto", **options))
    assert len(result.rows) == 3 and max(seen) == 3  # no trial after the rule said stop
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "(--stop auto): the rule said so; the time left went to the refit" in summary
    never = tune(TuneConfig.create("mnist", output=str(tmp_path / "n"), stop="never", **options))
    assert len(never.rows) == 5


def test_why_the_search_stopped_survives_a_fresh_process_and_a_resume(tmp_path):
    from kregs.tuner.clock import TimeBudget

    record = str(tmp_path / "time.json")
    first = TimeBudget(600, 5, record=(record, 1.0), clock=lambda: 100.0, started=40.0)
    first.stopped("the rule said so")
    # kregs tune's supervisor replaced the process (recycle): the summary still says why.
    fresh = TimeBudget(600, 5, record=(record, 1.0), clock=lambda: 200.0)
    assert (fresh.stop_reason, fresh.search_ended) == ("the rule said so", 60.0)
    assert fresh.get_config()["stop_reason"] == "the rule said so"
    # A finished run resumed (a new session) still says it, until its search goes on.
    resumed = TimeBudget(600, 5, record=(record, 2.0))
    assert resumed.stop_reason == "the rule said so"
    resumed.search_goes_on()
    assert TimeBudget(600, 5, record=(record, 2.0)).stop_reason is None


# --- a pruner that spares slow starters --------------------------------------------------------


def test_slow_starters_are_judged_later_and_against_their_peers():
    from kregs.tuner.epochs import why_prune

    assert slow_start(RegConfig(mix="cutmix")) and slow_start(RegConfig(augment="augmix"))
    assert not slow_start(RegConfig(batch_norm="before_activation", dropout=0.1))

    def trial(trial_id, slow, values, status="COMPLETED"):
        curve = {e + 1: v for e, v in enumerate(values)}
        hp = SimpleNamespace(values={"slow": slow})
        metrics_ = SimpleNamespace(
            exists=lambda name: True,
            get_history=lambda name: [SimpleNamespace(step=e, value=[v]) for e, v in curve.items()],
        )
        return SimpleNamespace(
            trial_id=trial_id, status=status, hyperparameters=hp, metrics=metrics_
        )

    fast = [trial(str(i), False, [0.85, 0.88, 0.89, 0.89, 0.90]) for i in range(3)]
    peers = [trial(str(i), True, [0.60, 0.75, 0.86, 0.90, 0.92]) for i in range(3, 5)]
    late = trial("9", True, [0.55, 0.70, 0.84], status="RUNNING")  # a MixUp trial, epoch 3
    oracle = SimpleNamespace(
        trials={t.trial_id: t for t in [*fast, *peers, late]},
        pruner=MedianPruner(warmup=2, min_trials=2),
        trial_epochs=15,
        slow_start=lambda t: t.hyperparameters.values["slow"],
    )
    assert why_prune(oracle, late, 3) is None  # before its warm-up (0.4 of 15 epochs: 6)
    oracle.slow_start = lambda t: False  # judged as a fast learner: pruned at epoch 3
    assert why_prune(oracle, late, 3).startswith("val_accuracy 0.8400 by epoch 3, below")


# --- a protocol that fits small data -----------------------------------------------------------


def test_a_budget_in_steps_trains_a_small_data_set_as_long_and_keeps_no_unsettled_epoch():
    budget = TrainingBudget(epochs=5, steps=355, min_steps=100)
    assert budget.epochs_for(71) == 5  # 9,000 Fashion-MNIST images at batch 128
    assert budget.epochs_for(11) == 33  # 1,347 digits: as many steps, more epochs
    assert budget.start_epoch(71) == 1 and budget.start_epoch(11) == 9
    assert TrainingBudget(epochs=7).epochs_for(11) == 7  # no steps: the epochs


def test_early_stopping_keeps_no_epoch_before_its_start():
    x = np.random.default_rng(0).random((64, 4)).astype("float32")
    y = (x[:, 0] > 0.5).astype(int)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    best = BestEpoch(patience=1, start_from_epoch=3)
    history = model.fit(x, y, validation_data=(x, y), epochs=5, verbose=0, callbacks=[best])
    assert history.history["best_candidate"] == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert best.best_epoch >= 3 and metrics.best_epoch(history.history) == best.best_epoch


def test_a_run_at_chance_while_right_on_its_training_images_has_failed():
    assert metrics.at_chance(0.0967, 0.91, 10).startswith("at chance (9.67% with 10 classes)")
    assert metrics.at_chance(0.0967, 0.12, 10) == ""  # it learned nothing: not a failure
    assert metrics.at_chance(0.82, 0.91, 10) == ""


def test_a_trial_at_chance_is_named_in_summary_md():
    from kregs.tuner.summary_md import failed_lines

    rows = [
        {"trial_id": "00", "config": "none", "status": "COMPLETED"}
        | {"best_val_accuracy": 0.93, "final_train_accuracy": 0.97},
        {"trial_id": "01", "config": "dropout+bn", "status": "COMPLETED"}
        | {"best_val_accuracy": 0.1, "final_train_accuracy": 0.96},
        {"trial_id": "02", "config": "bn", "status": "PRUNED"}
        | {"best_val_accuracy": 0.1, "final_train_accuracy": 0.9},
        {"trial_id": "03", "config": "l2", "status": "COMPLETED"}  # learned nothing at all
        | {"best_val_accuracy": 0.1, "final_train_accuracy": 0.11},
    ]
    assert failed_lines(rows, 10) == [
        "- failed: trial 01 (dropout+bn), at chance (10.00% with 10 classes) while right on "
        "96.0% of its training images"
    ]
