"""The `kregs` command line: help without TensorFlow, bad input, the smoke run, resume."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from _helpers import run_python, venv_script, write_idx_dataset
from click.testing import CliRunner

from kregs.cli.main import main
from kregs.data import load_dataset


def _kregs(args):
    return CliRunner().invoke(main, args, prog_name="kregs")


@pytest.mark.parametrize("args", [["--help"], ["tune", "--help"], ["study", "--help"]])
def test_help_does_not_import_tensorflow(args, tmp_path):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from kregs.cli.main import main\n"
        f"result = CliRunner().invoke(main, {args!r})\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'keras_tuner') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    proc = run_python(code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_console_script_help():
    proc = subprocess.run(
        [venv_script("kregs"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "tune" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--dataset", "imagenet"],
            "Error: Invalid value for '--dataset': 'imagenet' is not one of",
        ),
        (["--l2", "-0.1"], "Error: Invalid value for '--l2': -0.1 is not in the range x>=0."),
        (
            ["--dropout", "1"],
            "Error: Invalid value for '--dropout': 1.0 is not in the range 0<=x<1.",
        ),
        (
            ["--algorithm", "annealing"],
            "Error: Invalid value for '--algorithm': 'annealing' is not",
        ),
        (["--max-trials", "0"], "Error: Invalid value for '--max-trials': 0 is not in the range"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = _kregs(["tune", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output
    assert lines[0].endswith("(see kregs tune --help)")


def test_unwritable_output_is_one_line_and_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _kregs(["tune", "--preset", "smoke", "--output", str(blocker / "run")])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: cannot write to output folder {blocker / 'run'}: Not a directory "
        "(see kregs tune --help)"
    ]
    assert "Traceback" not in result.output


def test_missing_data_is_one_line_and_exit_2(tmp_path):
    result = _kregs(
        [
            "tune",
            "--dataset",
            "cifar10",
            "--data-dir",
            str(tmp_path),
            "--output",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"Error: no cifar10 files in --data-dir {tmp_path}: expected cifar-10-batches-py/ "
        "(data_batch_1..5, test_batch) (see kregs tune --help)"
    )


def test_smoke_preset_on_real_fashion_mnist(tmp_path):
    out = tmp_path / "run"
    result = _kregs(["tune", "--preset", "smoke", "--output", str(out)])
    assert result.exit_code == 0, result.output
    trial_lines = [line for line in result.output.splitlines() if line.startswith("trial ")]
    assert len(trial_lines) == 3 and all("val_acc=" in line for line in trial_lines)
    assert "| rank | trial | config |" in result.output

    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all(r["status"] == "COMPLETED" for r in rows)
    best_row = max(rows, key=lambda r: float(r["best_val_accuracy"]))
    test = json.loads((out / "test_result.json").read_text())
    assert test["trial_id"] == best_row["trial_id"]
    assert test["accuracy"] > 0.5 and test["images"] == 10000  # chance is 0.1
    summary = (out / "summary.md").read_text()
    assert f"- trial {best_row['trial_id']}: {best_row['config']}" in summary

    keras_file = out / "best" / f"rank1-trial{best_row['trial_id']}.keras"
    model = keras.models.load_model(keras_file)
    export = out / "export" / "fashion_mnist" / "1"
    served = tf.saved_model.load(str(export))
    x = load_dataset("fashion_mnist").test[0][:200]
    outputs = served.signatures["serving_default"](images=tf.constant(x))
    np.testing.assert_allclose(
        outputs["probabilities"].numpy(), model.predict(x, verbose=0), atol=1e-5
    )
    meta = json.loads((export / "assets" / "kregs.json").read_text())
    assert meta["trial_id"] == best_row["trial_id"] and meta["class_names"][9] == "Ankle boot"


def test_resume_after_kill_9_mid_trial(tmp_path):
    data_dir = tmp_path / "data"
    write_idx_dataset(data_dir, n_train=600, n_test=50)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-c",
        "from kregs.cli.main import main; main()",
        "tune",
        "--dataset",
        "mnist",
        "--data-dir",
        str(data_dir),
        "--algorithm",
        "random",
        "--max-trials",
        "3",
        "--epochs",
        "4",
        "--patience",
        "4",
        "--batch-size",
        "16",
        "--output",
        str(out),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = out / "keras_tuner" / "trial_1" / "trial.json"
    deadline = time.monotonic() + 240
    while not second.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert second.exists(), "the second trial never started"
    time.sleep(1.0)  # well inside the second trial's training
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads(second.read_text())["status"] == "RUNNING"  # killed mid-trial
    first = out / "keras_tuner" / "trial_0" / "kregs_trial.json"
    before = (first.stat().st_mtime_ns, first.read_text())

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (first.stat().st_mtime_ns, first.read_text()) == before  # trial 0 not run again
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["trial_id"] for r in rows] == ["0", "1", "2"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    finished = [line for line in done.stdout.splitlines() if line.startswith("trial ")]
    assert [line.split()[1] for line in finished] == ["1", "2"]  # only the rest ran
