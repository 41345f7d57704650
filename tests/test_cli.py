"""The `kregs` command line: help without TensorFlow, bad input, the smoke run, resume."""

import json
import os
import re
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from _helpers import read_csv, run_python, venv_script, wait_until, write_idx_dataset
from click.testing import CliRunner

from kregs.cli.main import main
from kregs.data import load_dataset
from kregs.deploy.precision import float32_model


def _kregs(args):
    return CliRunner().invoke(main, args, prog_name="kregs")


@pytest.mark.parametrize(
    "args", [["--help"], ["tune", "--folds", "0", "--help"], ["study", "--help"]]
)
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


@pytest.mark.parametrize("given, expected", [(None, True), ("0", False)])
def test_commands_run_tensorflow_with_onednn_unless_told_otherwise(given, expected, tmp_path):
    # `kregs tune --help` runs the group's set-up (not `kregs --help`); TensorFlow imported
    # afterwards, as a command imports it, runs its oneDNN kernels on an x86 CPU.
    code = (
        "import os, sys\n"
        "os.environ.pop('TF_ENABLE_ONEDNN_OPTS', None)\n"
        f"given = {given!r}\n"
        "if given is not None:\n"
        "    os.environ['TF_ENABLE_ONEDNN_OPTS'] = given\n"
        "from click.testing import CliRunner\n"
        "from kregs.cli.main import main\n"
        "assert CliRunner().invoke(main, ['tune', '--help']).exit_code == 0\n"
        "assert 'tensorflow' not in sys.modules\n"
        "from kregs.compat.tensorflow import onednn_enabled\n"
        "from kregs.run.device import x86_cpu\n"
        "print(x86_cpu(), onednn_enabled())\n"
    )
    proc = run_python(code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    x86, onednn = proc.stdout.split()[-2:]
    assert x86 == "True", "kregs' CI runs on x86: this checks oneDNN's switch there"
    assert onednn == str(expected)


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
        # numpy refused a negative seed with a traceback
        (["--seed", "-1"], "Error: Invalid value for '--seed': -1 is not in the range x>=0."),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = _kregs(["tune", "--folds", "0", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output
    assert lines[0].endswith("(see kregs tune --help)")


def test_unwritable_output_is_one_line_and_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _kregs(["tune", "--folds", "0", "--preset", "smoke", "--output", str(blocker / "run")])
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
            "--folds",
            "0",
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


def test_smoke_preset_on_real_fashion_mnist(fashion_mnist, tmp_path):
    out = tmp_path / "run"
    result = _kregs(
        [
            "tune",
            "--folds",
            "0",
            "--preset",
            "smoke",
            "--limit",
            "1000",
            "--epochs",
            "2",
            "--output",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    trial_lines = [line for line in result.output.splitlines() if line.startswith("trial ")]
    assert len(trial_lines) == 3 and all("val_acc=" in line for line in trial_lines)
    assert "| rank | trial | config |" in result.output

    rows = read_csv(out / "trials.csv")
    assert len(rows) == 3 and all(r["status"] == "COMPLETED" for r in rows)
    best_row = max(rows, key=lambda r: float(r["best_val_accuracy"]))
    test = json.loads((out / "test_result.json").read_text())
    assert test["trial_id"] == best_row["trial_id"]
    assert test["accuracy"] > 0.5 and test["images"] == 10000  # chance is 0.1
    summary = (out / "summary.md").read_text()
    assert f"- trial {best_row['trial_id']}: {best_row['config']}" in summary
    from kregs.compat.tensorflow import onednn_enabled

    assert ("; oneDNN kernels" in summary) is onednn_enabled()  # what this process ran

    keras_file = out / "best" / f"rank1-trial{best_row['trial_id']}.keras"
    model = keras.models.load_model(keras_file)
    export = out / "export" / "fashion_mnist" / "1"
    served = tf.saved_model.load(str(export))
    x = load_dataset("fashion_mnist").test[0][:200]
    outputs = served.signatures["serving_default"](images=tf.constant(x))
    exported, precision = float32_model(model)  # served in float32, trained in bfloat16
    np.testing.assert_allclose(
        outputs["probabilities"].numpy(), exported.predict(x, verbose=0), atol=1e-5
    )
    meta = json.loads((export / "assets" / "kregs.json").read_text())
    assert meta["precision"] == precision == "float32"
    assert meta["trial_id"] == best_row["trial_id"] and meta["class_names"][9] == "Ankle boot"


def test_resume_after_kill_9_mid_trial(tmp_path):
    data_dir = tmp_path / "data"
    write_idx_dataset(data_dir, n_train=600, n_test=50)
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "kregs",
        "tune",
        "--folds",
        "0",
        "--dataset",
        "mnist",
        "--data-dir",
        str(data_dir),
        "--arch",
        "mlp",
        "--space",
        "default",
        "--algorithm",
        "random",
        "--max-trials",
        "3",
        "--epochs",
        "8",
        "--patience",
        "8",
        "--batch-size",
        "16",
        "--pruning",
        "none",  # every trial runs to its end: what is asserted is the resume
        "--quiet",
        "--recycle-after",
        "0",  # one process: the one killed
        "--output",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = out / "keras_tuner" / "trial_1" / "trial.json"
    wait_until(lambda: second.exists() or proc.poll() is not None, 240)
    os.kill(proc.pid, signal.SIGSTOP)  # frozen: what it has written is what the kill leaves
    ended = {
        path.parent.name.removeprefix("trial_")
        for path in (out / "keras_tuner").glob("trial_*/trial.json")
        if json.loads(path.read_text())["status"] == "COMPLETED"
    }
    os.kill(proc.pid, signal.SIGKILL)  # (trial 1 is almost always mid-training here)
    proc.wait()
    assert "0" in ended and "2" not in ended
    # Its lock file is left behind, naming it; the operating system released the lock.
    assert json.loads((out / ".kregs.lock").read_text())["pid"] == proc.pid
    first = out / "keras_tuner" / "trial_0" / "kregs_trial.json"
    before = (first.stat().st_mtime_ns, first.read_text())

    done = _kregs(cmd[3:])  # resumed here (the killed process was the separate one)
    assert done.exit_code == 0, done.output[-3000:]
    assert (first.stat().st_mtime_ns, first.read_text()) == before  # trial 0 not run again
    rows = read_csv(out / "trials.csv")
    assert [r["trial_id"] for r in rows] == ["0", "1", "2"]
    assert all(r["status"] == "COMPLETED" for r in rows), rows
    finished = [line for line in done.output.splitlines() if line.startswith("trial ")]
    # only the trials that had not ended at the kill ran, each once
    assert [line.split()[1] for line in finished] == sorted({"0", "1", "2"} - ended)


# --- what the terminal shows ----------------------------------------------------------------


def test_native_log_lines_are_dropped_and_everything_else_passes(tmp_path):
    code = (
        "import os, sys\n"
        "from kregs.cli.quiet import quiet_tensorflow\n"
        "quiet_tensorflow()\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are "
        "written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1795964492.493444   13788 port.cc:153] oneDNN custom "
        "operations are on.\\n')\n"
        "os.write(2, b'E0000 00:00:1795963563.225253    7788 cuda_platform.cc:52] failed "
        "call to cuInit\\n')\n"
        "os.write(2, b'To enable the following instructions: AVX2 FMA, in other operations\\n')\n"
        "os.write(2, b'F0000 00:00:1.5  1 check.cc:1] Check failed: a native crash\\n')\n"
        "print('a line of our own', file=sys.stderr)\n"
        "raise RuntimeError('a real error')\n"
    )
    proc = run_python(code, cwd=tmp_path)  # standard error is a pipe: a real descriptor 2
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == "F0000 00:00:1.5  1 check.cc:1] Check failed: a native crash"
    assert lines[1] == "a line of our own"
    assert lines[2] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: a real error"
    assert not any(k in proc.stderr for k in ("I0000", "E0000", "absl::", "To enable"))


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    write_idx_dataset(folder, n_train=300, n_test=50)
    return str(folder)


def _tiny_tune_args(data_dir, out, *extra):
    return [
        "tune",
        "--folds",
        "0",
        "--dataset",
        "mnist",
        "--data-dir",
        data_dir,
        "--arch",
        "mlp",
        "--space",
        "default",
        "--algorithm",
        "random",
        "--max-trials",
        "2",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--output",
        str(out),
        *extra,
    ]


def test_tune_shows_each_epoch_and_no_tensorflow_log_line(tiny_data, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "kregs", *_tiny_tune_args(tiny_data, tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""  # TensorFlow's start-up lines never reach the terminal
    progress = [line for line in proc.stdout.splitlines() if re.search(r" epoch \d+/\d+", line)]
    epochs = [line.split("  ")[1] for line in progress]
    assert epochs[:4] == [
        "trial 0 epoch 1/2",
        "trial 0 epoch 2/2",
        "trial 1 epoch 1/2",
        "trial 1 epoch 2/2",
    ]
    assert epochs[4:] and all(e.startswith("refit epoch ") for e in epochs[4:])
    line = next(line for line in proc.stdout.splitlines() if "trial 1 epoch 1/2" in line)
    assert re.search(
        r"val_acc=0\.\d{4}  \d+\.\d s/epoch  trial 1 ≤ \d+s left  all ≈ \d+s left$", line
    ), line


def test_quiet_prints_only_the_trials_and_the_result(tiny_data, tmp_path):
    # In this process (--recycle-after 0): the supervisor's passing on of its children's
    # lines is tests/test_recycle.py's.
    result = _kregs(_tiny_tune_args(tiny_data, tmp_path / "run", "--quiet", "--recycle-after", "0"))
    assert result.exit_code == 0, result.output
    assert not re.search(r" epoch \d+/\d+", result.output)  # no progress lines
    assert [
        line.split()[:3] for line in result.output.splitlines() if line.startswith("trial")
    ] == [["trial", "0", "completed"], ["trial", "1", "completed"]]
    assert "best: trial" in result.output


# --- one vocabulary --------------------------------------------------------------------------


def test_tune_config_defaults_are_kregs_tune_without_a_preset():
    from kregs.tuner import SEARCH_PRESETS, TuneConfig

    assert TuneConfig().budget == SEARCH_PRESETS[None] == TuneConfig.create().budget
    assert (TuneConfig().budget.algorithm, TuneConfig().budget.time_budget) == ("random", 2400)


def test_tune_help_groups_its_options_and_version_is_printed():
    runner = CliRunner()
    text = runner.invoke(main, ["tune", "--help"], prog_name="kregs").output
    headings = [line for line in text.splitlines() if line and not line.startswith(" ")]
    assert headings[-9:] == [
        "Data:",
        "Model:",
        "Search:",
        "Budget:",
        "Output:",
        "Export:",
        "Device and processes:",
        "Distributed search (several machines):",
        "Other options:",
    ]
    assert "--top-k" not in text and "--keep-best" in text and "--init" in text
    version = runner.invoke(main, ["--version"], prog_name="kregs").output
    assert version.strip() == "kregs, version 0.2.0"


def test_a_renamed_flag_works_for_one_release_with_one_line_naming_the_new_one(monkeypatch):
    import kregs.tuner.driver

    seen = {}

    def fake_tune(config, listener=None, recycle=None):
        seen["config"] = config
        raise SystemExit(0)

    monkeypatch.setattr(kregs.tuner.driver, "tune", fake_tune)
    result = CliRunner().invoke(
        main,
        ["tune", "--dataset", "mnist", "--top-k", "2", "--recycle-after", "0", "--quiet"],
        prog_name="kregs",
    )
    assert result.exit_code == 0, result.output
    assert "Warning: --top-k is now --keep-best (the old name goes in kregs 0.3)" in (result.output)
    assert seen["config"].keep_best == 2
