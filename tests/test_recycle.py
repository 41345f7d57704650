"""Flat memory: trials in a child process that a fresh one replaces, no trial lost or run twice."""

import json
import os
import signal
import subprocess
import sys
import types

import pytest
from _helpers import read_csv, run_python, wait_until, write_idx_dataset

from kregs.errors import ConfigError
from kregs.tuner.recycle import (
    ENV_VAR,
    EXIT_RECYCLE,
    ProcessRecycled,
    RecyclePolicy,
    Recycler,
    supervise,
)


def test_policy_is_due_after_its_trials_or_past_its_memory_growth():
    policy = RecyclePolicy(trials=3, rss_growth=0.02)
    assert not policy.due(trials_run=2, first_rss=1000, rss=1020)  # exactly +2%: not past it
    assert policy.due(trials_run=2, first_rss=1000, rss=1021)
    assert policy.due(trials_run=3, first_rss=1000, rss=900)
    assert RecyclePolicy.from_env({ENV_VAR: policy.to_env()}) == policy
    assert RecyclePolicy.from_env({}) is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"trials": 0}, "trials"),
        ({"rss_growth": -0.1}, "rss_growth"),
        ({"rss_growth": True}, "rss_growth"),
    ],
)
def test_policy_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RecyclePolicy(**kwargs)


def test_policy_from_a_bad_environment_value_names_it():
    with pytest.raises(ConfigError, match=f"{ENV_VAR}.*'ten'"):
        RecyclePolicy.from_env({ENV_VAR: "ten"})


def test_recycler_ends_the_process_after_the_trial_that_makes_it_due():
    rss = iter([800.0, 810.0, 830.0])  # +1.25% after trial 2, +3.75% after trial 3
    recycler = Recycler(RecyclePolicy(trials=10, rss_growth=0.02), memory=lambda: next(rss))
    recycler(None, None)
    recycler(None, None)
    with pytest.raises(ProcessRecycled, match="3 trials"):
        recycler(None, None)


def test_no_fresh_process_after_the_last_trial():
    tuner = types.SimpleNamespace(remaining_trials=1)  # KerasTuner's Tuner property
    recycler = Recycler(RecyclePolicy(trials=1), memory=lambda: 800.0)
    with pytest.raises(ProcessRecycled):
        recycler(tuner, None)  # one trial left: a fresh process runs it
    tuner.remaining_trials = 0
    recycler(tuner, None)  # none left: this process finishes the run
    tuner.remaining_trials = None  # unknown (Hyperband): due is due
    with pytest.raises(ProcessRecycled):
        recycler(tuner, None)


def test_supervise_starts_fresh_processes_until_one_is_done(tmp_path):
    counter = tmp_path / "starts"
    child = (
        "import os, pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        f"print(n, sys.argv[1:], os.environ[{ENV_VAR!r}])\n"
        f"sys.exit({EXIT_RECYCLE} if n < 3 else 7)\n"
    )
    lines, commands = [], []

    def next_command(previous):
        commands.append(previous)
        return [a for a in previous if a != "--first"]

    code = supervise(
        [sys.executable, "-c", child, "--first", "x"],
        RecyclePolicy(trials=2, rss_growth=0.5),
        on_fresh_process=next_command,
        on_line=lambda line, err: lines.append((line, err)),
    )
    assert code == 7  # the last child's status
    assert lines == [
        ("1 ['--first', 'x'] 2,0.5", False),
        ("2 ['x'] 2,0.5", False),
        ("3 ['x'] 2,0.5", False),
    ]
    assert len(commands) == 2


def test_supervisor_passes_ctrl_c_on_to_its_child_once(tmp_path):
    # The child counts the SIGINTs it gets and ends with 130; the supervisor returns that.
    marks = tmp_path / "marks"
    child = (  # waits for its Ctrl-C (an event, not a time), marks it, ends with 130
        "import pathlib, signal, sys\n"
        f"p = pathlib.Path({str(marks)!r})\n"
        "def got(s, f):\n"
        "    p.write_text(p.read_text() + 'I')\n"
        "    sys.exit(130)\n"
        "signal.signal(signal.SIGINT, got)\n"
        "p.write_text('ready')\n"
        "while True:\n"
        "    signal.pause()\n"
    )
    code = (
        "import sys\n"
        "from kregs.tuner.recycle import RecyclePolicy, supervise\n"
        f"sys.exit(supervise([sys.executable, '-c', {child!r}], RecyclePolicy()))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    wait_until(lambda: marks.exists() and marks.read_text().startswith("ready"), 60)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert marks.read_text() == "readyI"


def test_a_supervised_search_runs_each_trial_once_in_fresh_processes(tmp_path):
    write_idx_dataset(tmp_path / "data", n_train=300, n_test=40)
    out = tmp_path / "run"
    code = (
        "from kregs.cli.main import main\n"
        "main(['tune', '--folds', '0', '--dataset', 'mnist', '--data-dir', 'data', '--arch', 'mlp',"
        " '--space', 'default', '--algorithm', 'random', '--max-trials', '2', '--epochs', '2',"
        " '--batch-size', '32',"
        " '--no-refit', '--quiet', '--recycle-after', '1', '--overwrite', '--output', 'run'],"
        " prog_name='kregs')\n"
    )
    proc = run_python(code, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_csv(out / "trials.csv")
    assert [r["trial_id"] for r in rows] == ["0", "1"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    pids = {
        json.loads((out / "keras_tuner" / f"trial_{i}" / "kregs_trial.json").read_text())["pid"]
        for i in range(2)
    }
    assert len(pids) == 2 and os.getpid() not in pids  # a fresh process per trial
    ended = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("trial ")]
    assert ended == ["0", "1"]  # each trial ran once
    assert proc.stdout.count("kregs tune: mnist") == 1  # one header, from the supervisor
    assert "best: trial" in proc.stdout and "wall time:" in proc.stdout
