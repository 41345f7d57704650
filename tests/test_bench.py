"""Every benchmark script runs at its smallest size and writes the JSON fields BENCHMARKS.md needs.

Timings are not checked here (they do not belong in tests); only that the
scripts run and report what they promise.
"""

import json
import os
import shlex
import subprocess
import sys

import pytest
from _helpers import REPO

COMMON = {"benchmark", "command", "machine"}
FIELDS = {
    "input_pipeline": COMMON | {"steps_per_s", "ratio", "load_seconds", "load_source", "runs"},
    "overhead": COMMON | {"samples_per_s", "ratios", "ratio", "parameters"},
    "memory": COMMON | {"after_trial", "growth_percent", "trials"},
    "startup": COMMON | {"median_seconds", "runs"},
    "tuning": COMMON | {"summary", "runs", "test_accuracy_difference"},
    "distributed": COMMON | {"summary", "runs", "speedup", "threads"},
    "precision": COMMON | {"summary", "rounds", "threads", "target_speedup"},
    "schedule": COMMON | {"summary", "histories", "precision"},
    "threads": COMMON | {"summary", "rounds", "precision"},
    "accuracy": COMMON | {"kregs", "hand_written", "targets"},
    "regularizers": COMMON | {"summary", "histories", "precision"},
    "bn_time": COMMON | {"summary", "runs", "ratios", "conditions", "budget"},
    "backends": COMMON | {"summary", "runs", "fastest", "not_installed"},
}


# The smallest size each script runs at: these tests check that the scripts run and
# report what they promise, not the figures.
SMALLEST = {
    "input_pipeline": ["--quick", "--limit", "1000", "--rounds", "1"],
    "overhead": ["--quick", "--limit", "400", "--rounds", "1"],
    "memory": ["--quick", "--trials", "2", "--limit", "300", "--epochs", "1"],
    "startup": ["--quick", "--runs", "1"],
    "tuning": ["--quick", "--limit", "300", "--epochs", "1", "--max-trials", "1"],
    "distributed": [
        "--quick",
        "--limit",
        "300",
        "--trials",
        "1",
        "--workers",
        "1",
        "--arch",
        "mlp",
    ],  # fmt: skip
    "precision": [
        "--quick",
        "--limit",
        "256",
        "--epochs",
        "2",
        "--modes",
        "float32,bfloat16",
        "--reg",
        "none",
    ],  # fmt: skip
    "schedule": ["--quick", "--limit", "300", "--epochs", "1", "--configs", "none"],
    "threads": ["--quick", "--limit", "256", "--settings", "2:1:64"],
    "regularizers": ["--quick", "--limit", "256", "--epochs", "1", "--configs", "wd,stages"],
    "bn_time": ["--quick", "--limit", "300", "--epochs", "1"],
    "backends": ["--quick", "--limit", "300", "--epochs", "1", "--backends", "jax"],
    "accuracy": [
        "--preset",
        "smoke",
        "--kregs-args=--limit=600 --max-trials=1 --epochs=1",
        "--hand-seconds",
        "1",
        "--hand-limit",
        "300",
    ],  # fmt: skip
}


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_smallest_run_writes_expected_json(name, tmp_path, request):
    if name != "startup":  # every other script measures on the real Fashion-MNIST
        request.getfixturevalue("fashion_mnist")
    out = tmp_path / f"{name}.json"
    script = os.path.join(REPO, "bench", f"{name}.py")
    proc = subprocess.run(
        [sys.executable, script, *SMALLEST[name], "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert FIELDS[name] <= set(result), FIELDS[name] - set(result)
    assert result["benchmark"] == name
    assert result["command"] == shlex.join(["python", f"bench/{name}.py", *SMALLEST[name]])
    assert {"cpu", "cores", "date", "tensorflow"} <= set(result["machine"])
    assert str(out) in proc.stdout  # it says where the figures went


def test_report_renders_every_result(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    machine = {"cpu": "x", "cores": 2, "tensorflow": "2", "python": "3", "date": "d"}
    (results / "startup.json").write_text(
        json.dumps(
            {
                "benchmark": "startup",
                "command": "python bench/startup.py",
                "machine": machine,
                "runs": 10,
                "median_seconds": {"kregs --help": 0.123},
                "target_seconds": 0.5,
            }
        )
    )
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, "bench", "report.py"),
            "--results",
            str(results),
            "--out",
            str(tmp_path / "B.md"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "B.md").read_text()
    assert "## Start-up" in text and "| `kregs --help` | 0.123 |" in text
    assert "`python bench/startup.py` on x, 2 cores, TensorFlow 2" in text
