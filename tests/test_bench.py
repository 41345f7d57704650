"""Every benchmark script runs in --quick mode and writes the JSON fields BENCHMARKS.md needs.

Timings are not checked here (they do not belong in tests); only that the
scripts run and report what they promise.
"""

import json
import os
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
}


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_quick_mode_writes_expected_json(name, tmp_path):
    out = tmp_path / f"{name}.json"
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "bench", f"{name}.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert FIELDS[name] <= set(result), FIELDS[name] - set(result)
    assert result["benchmark"] == name and result["command"].endswith("--quick")
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
