"""Every benchmark script runs at its smallest size and writes the JSON fields BENCHMARKS.md needs.

Timings are not compared with targets here (they do not belong in tests); what is
checked is that the scripts run, report what they promise, and that their figures
are sane: accuracies in (0.1, 1] where a model was tested, times and rates positive,
every ratio the ratio of the figures it is computed from.
"""

import json
import math
import os
import shlex
import statistics
import subprocess
import sys

import pytest
from _helpers import REPO

# Not in `make test` (the suite a developer waits for): `make test-bench`, which CI runs next.
pytestmark = pytest.mark.bench

BENCH = os.path.join(REPO, "bench")
COMMON = {"benchmark", "command", "machine"}
FIELDS = {
    "input_pipeline": COMMON | {"steps_per_s", "ratio", "load_seconds", "load_source", "runs"},
    "overhead": COMMON | {"samples_per_s", "ratios", "ratio", "parameters"},
    "memory": COMMON | {"after_trial", "growth_percent", "trials"},
    "startup": COMMON | {"median_seconds", "runs"},
    "tuning": COMMON | {"summary", "runs", "time_budget"},
    "pruning": COMMON | {"summary", "runs", "seeds"},
    "stopping": COMMON | {"summary", "runs", "seeds", "data"},
    "regret": COMMON | {"runs", "preset", "summary", "data"},
    "seeds": COMMON | {"aa", "pool", "max_seeds", "resamples", "power", "seconds", "cpu_seconds"},
    "distributed": COMMON | {"summary", "runs", "speedup", "threads"},
    "precision": COMMON
    | {"summary", "rounds", "threads", "target_speedup", "matmul_gflops", "ops_cpu_ms"},
    "schedule": COMMON | {"summary", "histories", "precision"},
    "onednn": COMMON | {"summary", "rounds", "onednn_default", "children_onednn", "seeds"},
    "threads": COMMON | {"summary", "rounds", "precision"},
    "accuracy": COMMON | {"runs", "summary", "seeds", "targets"},
    "regularizers": COMMON | {"summary", "histories", "precision", "seeds", "equal_time_seconds"},
    "bn_time": COMMON | {"summary", "runs", "ratios", "conditions", "budget"},
    "backends": COMMON | {"summary", "runs", "fastest", "not_installed"},
    "streaming": COMMON | {"summary", "runs", "ratio", "within_budget", "budget_mib", "data_mib"},
    "finetune": COMMON | {"summary", "runs", "values", "source_test_accuracy"},
    "export": COMMON | {"rows", "rounds", "test_images", "keras_accuracy", "run"},
    "verdicts": COMMON | {"aa", "coverage", "data", "summary", "seconds", "cpu_seconds"},
}


# The smallest size each script runs at: these tests check that the scripts run and
# report what they promise, not the figures.
SMALLEST = {
    "input_pipeline": ["--quick", "--limit", "1000", "--rounds", "1"],
    "overhead": ["--quick", "--limit", "400", "--rounds", "1"],
    "memory": ["--quick", "--trials", "2", "--limit", "300", "--epochs", "1"],
    "startup": ["--quick", "--runs", "1"],
    # Seed 4: TPE's first draw over kregs' space averages the weights (EMA) at seeds 0-3, and
    # ten steps leave the averaged weights near their start, at chance (0.1) on the test.
    "tuning": [
        "--quick",
        "--first-seed",
        "4",
        "--limit",
        "300",
        "--epochs",
        "1",
        "--time-budget",
        "5s",
    ],
    "pruning": [
        "--preset",
        "smoke",
        "--seeds",
        "1",
        "--kregs-args=--limit=600 --max-trials=3 --epochs=3 --arch=mlp",
    ],
    "stopping": [
        "--preset",
        "smoke",
        "--seeds",
        "1",
        "--kregs-args=--limit=600 --max-trials=3 --epochs=3 --arch=mlp",
    ],
    "regret": [
        "--preset",
        "smoke",
        "--kregs-args=--limit=600 --max-trials=4 --epochs=3 --arch=mlp",
    ],
    "seeds": [
        "--pool",
        "6",
        "--limit",
        "300",
        "--max-seeds",
        "3",
        "--resamples",
        "20",
        "--study",
        os.path.join(REPO, "examples", "study-fashion-mnist", "overfit"),
    ],
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
    ],
    "precision": [
        "--quick",
        "--limit",
        "256",
        "--epochs",
        "2",
        "--modes",
        "float32,bfloat16",
        "--reg",
        "none,l2+dropout+bn",
        "--seeds",
        "2",
        "--ops-batch",
        "8",
    ],
    "schedule": ["--quick", "--limit", "300", "--epochs", "1", "--configs", "none"],
    "onednn": ["--limit", "256", "--epochs", "2", "--seeds", "1"],
    "threads": ["--quick", "--limit", "256", "--settings", "2:1:64"],
    "regularizers": [
        "--quick",
        "--limit",
        "2000",
        "--epochs",
        "3",
        "--seeds",
        "2",
        "--configs",
        "bn,ema",
    ],
    "bn_time": ["--quick", "--limit", "300", "--epochs", "1"],
    "backends": ["--quick", "--limit", "300", "--epochs", "1", "--backends", "jax"],
    "streaming": ["--quick", "--images", "300", "--size", "16"],
    "finetune": [
        "--quick",
        "--per-class",
        "40",
        "--pretrain-limit",
        "500",
        "--epochs",
        "1",
        "--trials",
        "1",
        "--methods",
        "none,l2sp,search",
    ],
    "export": ["--quick"],
    "verdicts": ["--quick", "--limit", "300"],
    "accuracy": [
        "--preset",
        "smoke",
        "--kregs-args=--limit=600 --max-trials=1 --epochs=1 --arch=mlp",
        "--hand-seconds",
        "1",
        "--hand-limit",
        "300",
        "--careful-limit",
        "300",
        "--seeds",
        "1",
    ],
}


# The scripts that measure in their own process only: at their smallest size most of a
# run is TensorFlow's start-up, so one interpreter runs them one after the other (each
# `main(argv)` with its own `sys.argv` and standard output). The others start processes.
IN_ONE_INTERPRETER = (
    "bn_time",
    "export",
    "finetune",
    "input_pipeline",
    "overhead",
    "precision",
    "regularizers",
    "schedule",
    "seeds",
    "tuning",
)
RUN_IN_ONE_INTERPRETER = """
import contextlib, json, runpy, sys, traceback
from kregs.run.processes import freeze_imports
freeze_imports()  # as the kregs command and the test workers do
runs, folder = json.loads(sys.argv[1]), sys.argv[2]
for name, args in runs:
    script = f"{bench}/{name}.py"
    sys.argv = [script, *args, "--out", f"{folder}/{name}.json"]
    with open(f"{folder}/{name}.out", "w") as out, contextlib.redirect_stdout(out):
        try:
            runpy.run_path(script, run_name="bench_" + name)["main"](sys.argv[1:])
        except BaseException:
            print(traceback.format_exc())
            raise
"""


def _numbers(obj, path=()):
    """`(path, value)` of every number in a JSON document (booleans left out)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _numbers(value, (*path, str(key)))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _numbers(value, (*path, i))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj


TIMES = ("seconds", "_s")  # >= 0 (a step that did not run took 0 s)
RATES = ("per_s", "per_minute", "per_cpu_s")  # > 0
TESTED = ("test_accuracy", "accuracy")  # the last key of a tested model's accuracy


def _check_figures(result):
    for path, value in _numbers(result):
        keys = [p for p in path if isinstance(p, str)]
        last = keys[-1]
        if last.startswith("target") or keys[0] in ("targets", "budget", "conditions"):
            continue
        if keys[0] == "summary" and path[-1] == 1:  # (mean, std): a spread
            assert math.isfinite(value) and value >= 0, (path, value)
            continue
        if "accuracy" in last and "points" not in last and "difference" not in last:
            assert math.isfinite(value) and 0 <= value <= 1, (path, value)
            if last in TESTED and keys[0] != "histories":
                assert 0.1 < value <= 1, (path, value)  # better than guessing one of 10
        if last.endswith(RATES):
            assert math.isfinite(value) and value > 0, (path, value)
        elif last.endswith(TIMES) or "seconds" in last:
            assert math.isfinite(value) and value >= 0, (path, value)


def _check_ratios(name, r):
    approx = pytest.approx
    if name == "input_pipeline":
        rates = r["steps_per_s"]
        assert r["ratio"] == approx(rates["pipeline"] / rates["arrays"])
        assert rates["pipeline"] == approx(statistics.median(r["runs"]["pipeline"]))
    elif name == "overhead":
        rates = r["samples_per_s"]
        expected = [k / p for k, p in zip(rates["kregs"], rates["plain"], strict=True)]
        assert r["ratios"] == approx(expected) and r["ratio"] == approx(statistics.median(expected))
    elif name == "precision":
        summary = r["summary"]
        for key, s in summary.items():
            base = summary[f"{key.split('/')[0]}/float32"]
            assert s["speedup"] == approx(s["samples_per_s"] / base["samples_per_s"])
            assert s["test_accuracy"] == approx(statistics.mean(s["test_accuracies"]))
            assert s["gflops"] == approx(s["training_flops_per_image"] * s["samples_per_s"] / 1e9)
        assert set(r["matmul_gflops"]) == {"float32", "bfloat16"}
        assert set(r["ops_cpu_ms"]) == {"float32", "bfloat16"}
        assert all(ms > 0 for costs in r["ops_cpu_ms"].values() for ms in costs.values())
        for mode, ms in r["regularization_cpu_ms_per_image"].items():
            reg = next(k for k in summary if k.endswith(f"/{mode}") and not k.startswith("none"))
            expected = 1e3 / summary[reg]["samples_per_cpu_s"]
            assert ms == approx(expected - 1e3 / summary[f"none/{mode}"]["samples_per_cpu_s"])
    elif name == "onednn":  # each child ran as its variable said
        assert r["children_onednn"] == {"0": False, "1": True}
        for config in r["configs"]:
            off, on = r["summary"][f"{config}/onednn=0"], r["summary"][f"{config}/onednn=1"]
            assert on["speedup"] == approx(on["samples_per_s"] / off["samples_per_s"])
            assert on["cpu_speedup"] == approx(on["samples_per_cpu_s"] / off["samples_per_cpu_s"])
            rounds = r["rounds"][f"{config}/onednn=1/seed0"]
            assert len(rounds) == r["epochs"] and on["samples_per_s"] == rounds[1]["wall"]
    elif name == "bn_time":
        bn, none = r["summary"]["bn"], r["summary"]["none"]
        for key, ratio in r["ratios"].items():
            assert ratio == approx(bn[key] / none[key], rel=1e-6), key
    elif name == "streaming":
        s = r["summary"]
        assert r["ratio"] == approx(s["stream"]["samples_per_s"] / s["memory"]["samples_per_s"])
        assert r["data_mib"] == approx(300 * 16 * 16 * 3 / 2**20)
        assert (s["memory"]["streamed"], s["stream"]["streamed"]) == (False, True)
    elif name == "export":
        artifacts = {(x["format"], x["quantize"]) for x in r["rows"]}
        floats = {(fmt, "none") for fmt in ("savedmodel", "litert", "onnx", "openvino")}
        assert artifacts == floats | {("litert", "dynamic"), ("litert", "int8")}
        for x in r["rows"]:
            assert x["drop_points"] == approx(100 * (r["keras_accuracy"] - x["accuracy"]))
            assert x["latency_ms"] == approx(statistics.median(x["rounds"]["latency_ms"]))
    elif name == "tuning":  # every peer searched, each seed, and at most its trials pruned
        assert set(r["runs"]) == {"kregs", "usual", "optuna", "optuna_kregs"}
        for runs in r["runs"].values():
            assert len(runs) == r["seeds"]
            assert all(0 <= run["pruned"] <= run["trials"] >= 1 for run in runs)
    elif name == "distributed":
        first = next(m for m in r["summary"] if m.startswith("workers="))
        base = r["summary"][first]["trials_per_minute"]
        for mode, s in r["summary"].items():
            assert r["speedup"][mode] == approx(s["trials_per_minute"] / base, abs=1e-3)


def _check_result(name, out, stdout):
    result = json.loads(out.read_text())
    assert FIELDS[name] <= set(result), FIELDS[name] - set(result)
    _check_figures(result)
    _check_ratios(name, result)
    assert result["benchmark"] == name
    assert result["command"] == shlex.join(["python", f"bench/{name}.py", *SMALLEST[name]])
    assert {"cpu", "cpu_bf16", "cores", "date", "tensorflow"} <= set(result["machine"])
    assert str(out) in stdout  # it says where the figures went


def test_single_process_scripts_write_expected_json(fashion_mnist, tmp_path):
    runs = [(name, SMALLEST[name]) for name in IN_ONE_INTERPRETER]
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            RUN_IN_ONE_INTERPRETER.replace("{bench}", BENCH),
            json.dumps(runs),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    if proc.returncode != 0:  # the last script that started is the one that failed
        ran = [n for n in IN_ONE_INTERPRETER if (tmp_path / f"{n}.out").exists()]
        said = (tmp_path / f"{ran[-1]}.out").read_text() if ran else ""
        pytest.fail(f"bench/{ran[-1] if ran else '?'}.py failed:\n{said}{proc.stderr[-3000:]}")
    for name in IN_ONE_INTERPRETER:
        _check_result(name, tmp_path / f"{name}.json", (tmp_path / f"{name}.out").read_text())


@pytest.mark.parametrize("name", sorted(set(FIELDS) - set(IN_ONE_INTERPRETER)))
def test_smallest_run_writes_expected_json(name, tmp_path, request):
    if name != "startup":  # every other script measures on the real Fashion-MNIST
        request.getfixturevalue("fashion_mnist")
    out = tmp_path / f"{name}.json"
    proc = subprocess.run(
        [sys.executable, os.path.join(BENCH, f"{name}.py"), *SMALLEST[name], "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_result(name, out, proc.stdout)


def test_report_renders_every_result(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    machine = {"cpu": "x", "cores": 2, "tensorflow": "2", "python": "3", "date": "d"}
    for name, host, seconds in (
        ("startup.json", machine, 0.123),
        ("startup.no-bf16.json", {**machine, "cpu": "y", "cpu_bf16": False}, 0.456),
    ):  # a second host's result of the same benchmark: its own lines under the same heading
        (results / name).write_text(
            json.dumps(
                {
                    "benchmark": "startup",
                    "command": "python bench/startup.py",
                    "machine": host,
                    "runs": 10,
                    "median_seconds": {"kregs --help": seconds},
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
    assert text.count("## Start-up") == 1 and "| `kregs --help` | 0.123 |" in text
    assert "`python bench/startup.py` on x, 2 cores, TensorFlow 2" in text
    second = "`python bench/startup.py` on y (no bfloat16 units: float32), 2 cores"
    assert text.index("| 0.123 |") < text.index(second) < text.index("| 0.456 |")


def test_the_digits_folder_is_the_one_the_benches_describe(tmp_path):
    folder = tmp_path / "digits"
    script = os.path.join(BENCH, "digits_folder.py")
    proc = subprocess.run([sys.executable, script, str(folder)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == f"{folder}: 1497 training and 300 test images"
    from PIL import Image

    for split, total in (("train", 1497), ("test", 300)):
        classes = sorted(os.listdir(folder / split))
        assert classes == [str(d) for d in range(10)]
        assert sum(len(os.listdir(folder / split / c)) for c in classes) == total
    first = sorted(os.listdir(folder / "test" / "0"))[0]
    with Image.open(folder / "test" / "0" / first) as im:
        assert im.size == (24, 24) and im.mode == "L"
    again = subprocess.run([sys.executable, script, str(folder)], capture_output=True, text=True)
    assert again.returncode != 0 and "exists" in again.stderr  # never written over
