"""Shared helpers of the benchmark scripts: machine description and JSON output."""

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys

from kregs.run.device import prefer_onednn

# The benchmarks measure what kregs' command line runs: TensorFlow's oneDNN kernels on
# (where the variable is not set), decided before any script imports TensorFlow.
prefer_onednn()

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def fashion_subset(limit):
    """Fashion-MNIST for side-by-side training: a stratified `limit`-image training subset.

    The validation split is 10% (seed 0), the subset stratified (seed 1).

    Returns:
        `(x, y, validation, test)`: the subset's arrays, and the validation and test
        splits as batches of 256.
    """
    import numpy as np

    from kregs.data import load_dataset, pipeline, stratified_sample

    ds = load_dataset("fashion_mnist", validation_split=0.1, seed=0)
    keep = stratified_sample(ds.train[1], limit, np.random.default_rng(1))
    validation = pipeline(*ds.validation, 256, training=False)
    return ds.train[0][keep], ds.train[1][keep], validation, pipeline(*ds.test, 256, training=False)


def interval(values):
    """`(mean, low, high)`: the mean and its 95% t interval (None bounds for one value)."""
    import math
    import statistics

    from scipy import stats

    mean = statistics.mean(values)
    if len(values) < 2:
        return mean, None, None
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return mean, mean - half, mean + half


def mean_std(values):
    """`(mean, standard deviation)` of `values` (0 for one value)."""
    import statistics

    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def machine():
    """CPU model (and whether it has bfloat16 units), core count, Python and TensorFlow
    versions, and the date."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
    }
    # Versions from the installed packages' metadata: a script that only starts other
    # processes (memory, distributed, startup) need not import TensorFlow for them.
    for package in ("tensorflow", "keras", "jax", "torch"):
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    info["gpus"] = gpus()
    # What precision "auto" takes on this CPU: a host without bfloat16 units trains in float32.
    from kregs.run.device import BF16_FLAGS, cpu_flags

    info["cpu_bf16"] = any(flag in cpu_flags() for flag in BF16_FLAGS)
    try:
        info["kregs_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(RESULTS),
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def gpus():
    """The GPUs of this machine: TensorFlow's names where this process imported it, else
    `nvidia-smi -L`'s (no TensorFlow start-up); [] without either."""
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        return [d.name for d in tf.config.list_physical_devices("GPU")]
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    lines = listed.stdout.splitlines()
    return [line.split(" (UUID")[0] for line in lines if line.startswith("GPU")]


def marked_series(values, processes):
    """`values` as `"906 928 | 905 ..."`: whole numbers, `|` where the process changes."""
    return " ".join(
        ("| " if i and processes[i] != processes[i - 1] else "") + f"{v:.0f}"
        for i, v in enumerate(values)
    )


def command_line():
    """How this script was run: `python bench/<script>.py` and its arguments, less `--out`."""
    import shlex
    import sys

    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip or arg == "--out" or arg.startswith("--out="):
            skip = arg == "--out"
            continue
        args.append(arg)
    script = os.path.join("bench", os.path.basename(sys.argv[0]))
    return shlex.join(["python", script, *args])


def write_result(name, result, out=None):
    """Writes `result` (a dict) as JSON to `out` or bench/results/<name>.json; returns the path."""
    path = out or os.path.join(RESULTS, f"{name}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")
    return path
