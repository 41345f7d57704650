"""Cross-validation of a search's leading configurations: folds, the plan, stopping a
configuration across folds, the verdict, and a fold-wise search resumed after a kill."""

import json
import os
import signal
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from _helpers import read_csv, wait_until, write_idx_dataset

from kregs.data import Splits
from kregs.tuner.folds import (
    FOLD,
    OF,
    CrossValidation,
    FoldData,
    check_folds,
    fold_count,
    result,
    stratified_folds,
)


def test_folds_are_stratified_and_disjoint():
    labels = np.repeat(np.arange(4), [50, 31, 17, 2])
    fold = stratified_folds(labels, 5, seed=0)
    assert fold.shape == labels.shape and set(fold) == set(range(5))
    for c in range(4):  # each class spread as evenly as its count allows
        counts = np.bincount(fold[labels == c], minlength=5)
        assert counts.max() - counts.min() <= 1
    assert np.bincount(fold).max() - np.bincount(fold).min() <= 1
    np.testing.assert_array_equal(fold, stratified_folds(labels, 5, seed=0))  # seeded
    x = np.arange(100).reshape(100, 1, 1, 1).astype(np.uint8)
    y = np.arange(100) % 4
    ds = Splits((x[:90], y[:90]), (x[90:], y[90:]), (x[:5], y[:5]), None)
    data = FoldData(ds, 5, seed=0)
    seen = []
    for k in range(5):
        (train_x, _), (held_x, held_y) = data.split(k)
        assert not set(train_x.ravel()) & set(held_x.ravel())  # disjoint
        assert len(train_x) + len(held_x) == 100  # every training image, validation's too
        assert np.bincount(held_y, minlength=4).tolist() == [5, 5, 5, 5]
        seen += held_x.ravel().tolist()
    assert sorted(seen) == list(range(100))  # each image held out once
    assert data.test_share == pytest.approx(0.25)


def test_folds_auto_only_where_the_validation_split_is_small():
    assert fold_count("auto", 150) == 5 and fold_count("auto", 6000) == 0
    assert fold_count(3, 6000) == 3 and fold_count(0, 150) == 0
    assert check_folds("4") == 4
    with pytest.raises(ValueError, match="auto, 0 \\(none\\) or a number of folds >= 2"):
        check_folds(1)


def _trial(trial_id, config, score, **values):
    hp = SimpleNamespace(values={"name": config, **values})
    hp.copy = lambda: hp
    return SimpleNamespace(trial_id=trial_id, status="COMPLETED", score=score, hyperparameters=hp)


def _oracle(*trials):
    return SimpleNamespace(trials={t.trial_id: t for t in trials})


def _name(trial):
    return trial.hyperparameters.values["name"]


def test_the_plan_takes_the_control_and_the_best_two_fold_by_fold(tmp_path):
    oracle = _oracle(
        _trial("0", "none", 0.90),
        _trial("1", "bn", 0.95),
        _trial("2", "l2", 0.80),
        _trial("3", "dropout+bn", 0.93),
    )
    cross = CrossValidation(str(tmp_path), 3, _name)
    assert not cross.started and cross.remaining(oracle) == 9
    cross.start(oracle)
    assert json.loads((tmp_path / "folds.json").read_text()) == {
        "k": 3,
        "configs": ["0", "1", "3"],
        "control": "0",
        "pruned": {},
    }
    order = []
    for number in range(4, 13):
        values = cross.next_values(oracle)
        order.append((values[FOLD], values[OF]))
        oracle.trials[str(number)] = _trial(str(number), values["name"], 0.9, **values)
    assert order == [(f, t) for f in range(3) for t in ("0", "1", "3")]
    assert cross.next_values(oracle) is None and cross.remaining(oracle) == 0
    again = CrossValidation(str(tmp_path), 3, _name)  # a resumed run reads the plan
    assert again.started and again.plan == cross.plan


def test_a_configuration_clearly_behind_stops_and_the_control_never_does(tmp_path):
    search = [_trial("0", "none", 0.5), _trial("1", "bn", 0.95), _trial("2", "l2", 0.9)]
    oracle = _oracle(*search)
    cross = CrossValidation(str(tmp_path), 5, _name)
    cross.start(oracle)
    scores = {"0": 0.50, "1": 0.95, "2": 0.90}  # the control and l2 behind bn on every fold
    number = 3
    for fold in range(4):
        for trial_id in ("0", "1", "2"):
            values = {**search[int(trial_id)].hyperparameters.values, FOLD: fold, OF: trial_id}
            oracle.trials[str(number)] = _trial(str(number), "", scores[trial_id], **values)
            number += 1
        cross.after_fold(oracle)
        if fold < 3:  # with 3 folds the smallest one-sided p is 1/8: not below 0.1
            assert cross.plan["pruned"] == {}
    assert list(cross.plan["pruned"]) == ["2"]  # after 4 folds, p = 1/16
    assert cross.plan["pruned"]["2"].startswith("behind the leader on 4 of 4 folds, -5.00")
    left = [cross.next_values(oracle)[OF]]
    assert left == ["0"]  # fold 4: the control and the leader only


def test_the_verdict_compares_the_control_and_the_best_across_folds(tmp_path):
    search = [_trial("0", "none", 0.9), _trial("1", "bn", 0.95)]
    oracle = _oracle(*search)
    cross = CrossValidation(str(tmp_path), 5, _name)
    cross.start(oracle)
    control = [0.90, 0.91, 0.89, 0.92, 0.90]
    best = [0.93, 0.93, 0.92, 0.94, 0.92]
    for fold in range(5):
        for trial_id, score in (("0", control[fold]), ("1", best[fold])):
            values = {**search[int(trial_id)].hyperparameters.values, FOLD: fold, OF: trial_id}
            number = str(len(oracle.trials))
            oracle.trials[number] = _trial(number, "", score, **values)
    found = result(oracle, str(tmp_path), _name)
    assert found["winner"] == "1" and found["configs"]["1"]["mean"] == pytest.approx(0.928)
    verdict = found["regularization"]
    assert verdict["differences"] == pytest.approx([0.03, 0.02, 0.03, 0.02, 0.02])
    assert verdict["verdict"] == "shown" and verdict["covers"] == "images and training (folds)"
    assert verdict["text"].startswith(
        "regularization, trial 1 (bn) against the control, trial 0, cross-validated on 5 of "
        "5 folds: +2.40 points (90.40% -> 92.80%), mean over 5 folds; 95% interval [+1.4, +3.4]"
    )
    # The winner is the best mean over folds: the runner-up comparison is across them too,
    # and summary.md says so (not the validation split's ranking, where trial 0 may lead).
    assert found["runner_up"]["text"].startswith(
        "the best, trial 1 (bn), against the runner-up, trial 0 (none), cross-validated on 5 "
        "of 5 folds: +2.40 points"
    )
    from kregs.tuner.verdicts import comparisons

    rows = [
        {"trial_id": t, "config": c, "status": "COMPLETED", "best_val_accuracy": 0.95}
        for t, c in (("0", "none"), ("1", "bn"))
    ]
    outcomes = {t: np.ones(150, bool) for t in ("0", "1")}
    assert comparisons(rows, outcomes, cross=found)["runner_up"] == found["runner_up"]


def test_a_fold_wise_search_resumes_after_a_kill_without_training_a_fold_twice(tmp_path):
    data = tmp_path / "data"
    write_idx_dataset(data, n_train=300, n_test=40)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "kregs",
        "tune",
        "--dataset",
        "mnist",
        "--data-dir",
        str(data),
        "--arch",
        "mlp",
        "--space",
        "default",
        "--algorithm",
        "random",
        "--max-trials",
        "2",
        "--epochs",
        "3",
        "--patience",
        "3",
        "--batch-size",
        "16",
        "--folds",
        "3",
        "--no-refit",
        "--quiet",
        "--recycle-after",
        "0",
        "--output",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    third_fold = out / "keras_tuner" / "trial_4" / "trial.json"
    wait_until(lambda: third_fold.exists() or proc.poll() is not None, 300)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {
        r["trial_id"]: r["seconds"] for r in read_csv(out / "trials.csv") if r["cv/fold"] != ""
    }
    assert before  # folds had finished when the kill came
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_csv(out / "trials.csv")
    folds = [(r["cv/of"], r["cv/fold"]) for r in rows if r["cv/fold"] != ""]
    assert sorted(folds) == sorted((t, str(f)) for t in ("0", "1") for f in range(3))  # once each
    after = {r["trial_id"]: r["seconds"] for r in rows}
    assert all(after[t] == s for t, s in before.items())  # finished folds were not trained again
    record = json.loads((out / "run.json").read_text())
    assert record["verdicts"]["regularization"]["covers"] == "images and training (folds)"
    assert "### Cross-validation (3 folds of every training image)" in (
        (out / "summary.md").read_text()
    )
