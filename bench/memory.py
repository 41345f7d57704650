"""Does memory grow from trial to trial? Resident memory over a smoke-sized search.

Runs `kregs tune` as a user does (a child process, default options: trials in
a process that a fresh one replaces, `--recycle-after`) on a Fashion-MNIST
subset for N trials (random search, so every trial builds a new model) and
prints the resident memory of the process that ran each trial (now, and its
peak) after trials 1, 10 and N, the highest after any trial, and the growth
from trial 1 to N in percent (target: < 5%). `--recycle-after 0` shows the
growth of one process.

What a process holds after a trial depends on the models it built, not only
on how many: a fresh process whose first model is the CNN with BN and dropout
holds about 9% more than one whose first is the bare CNN (TensorFlow keeps
each model's traced functions). `--models bn-fixed` (the default) therefore
fixes BN's placement and searches L2 and dropout, each on or off (the default
space): every trial builds the CNN with BN, so the figure is mostly the growth
of the processes, what recycling bounds. `--models mixed` searches the
extended space (BN, dropout placement, augmentation: models of different
sizes), where the figure also holds the difference between the first and the
last model.

Usage: python bench/memory.py [--quick] [--trials N] [--models bn-fixed|mixed]
                              [--recycle-after K] [--out FILE]
"""

import argparse
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, marked_series, write_result  # noqa: E402

MODELS = {
    "bn-fixed": ["--space", "default", "--batch-norm", "before_activation"],
    "mixed": ["--space", "extended"],
}


def _trial_processes(out):
    """{trial number: the process id that ran it}, from kregs' record of each trial."""
    pids = {}
    for path in glob.glob(os.path.join(out, "keras_tuner", "trial_*", "kregs_trial.json")):
        trial = int(os.path.basename(os.path.dirname(path)).rsplit("_", 1)[1])
        with open(path) as f:
            pids[trial] = json.load(f)["pid"]
    return pids


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 trials on 1000 images")
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None, help="training images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--recycle-after", type=int, default=None, help="kregs tune's option (default: its own)"
    )
    parser.add_argument(
        "--models",
        choices=sorted(MODELS),
        default="bn-fixed",
        help="bn-fixed: BN fixed, L2 and dropout searched; mixed: the extended space",
    )
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    trials = args.trials or (5 if args.quick else 20)
    limit = args.limit or (1000 if args.quick else 3000)

    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "kregs", "tune", "--dataset", "fashion_mnist"]
        cmd += ["--algorithm", "random", "--max-trials", str(trials), "--epochs", str(args.epochs)]
        cmd += ["--limit", str(limit), "--batch-size", "64", "--patience", "2", "--keep-best", "1"]
        cmd += [*MODELS[args.models], "--no-refit", "--quiet", "--output", out]
        if args.recycle_after is not None:
            cmd += ["--recycle-after", str(args.recycle_after)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"kregs tune failed ({proc.returncode}): {proc.stderr[-2000:]}")
        with open(os.path.join(out, "trials.csv"), newline="") as f:
            rows = [
                {**r, "rss_mb": float(r["rss_mb"]), "peak_rss_mb": float(r["peak_rss_mb"])}
                for r in csv.DictReader(f)
            ]
        pids = _trial_processes(out)
        for r in rows:
            r["pid"] = pids.get(int(r["trial_id"]))
    rows = sorted(rows, key=lambda r: int(r["trial_id"]))
    marks = sorted({1, min(10, trials), trials})
    recycle = args.recycle_after if args.recycle_after is not None else "default"
    print(
        f"memory: `kregs tune`, {trials} trials, {limit} training images, {args.epochs} epochs "
        f"each, models {args.models}, recycle after {recycle}, {len({r['pid'] for r in rows})} "
        "processes"
    )
    print("  after trial   rss MiB   peak rss MiB")
    for n in marks:
        row = rows[n - 1]
        print(f"  {n:11d} {row['rss_mb']:9.1f} {row['peak_rss_mb']:14.1f}")
    first, last = rows[0], rows[trials - 1]
    highest = max(rows, key=lambda r: r["rss_mb"])
    growth = {
        "rss": 100 * (last["rss_mb"] / first["rss_mb"] - 1),
        "peak_rss": 100 * (last["peak_rss_mb"] / first["peak_rss_mb"] - 1),
        "highest_rss": 100 * (highest["rss_mb"] / first["rss_mb"] - 1),
    }
    series = marked_series([r["rss_mb"] for r in rows], [r["pid"] for r in rows])
    print(f"  rss MiB after each trial ('|': a fresh process): {series}")
    print(
        f"  highest after any trial: {highest['rss_mb']:.1f} MiB (trial "
        f"{int(highest['trial_id']) + 1}), {growth['highest_rss']:+.1f}% over trial 1"
    )
    print(
        f"  growth trial 1 -> {trials}: rss {growth['rss']:+.1f}%, "
        f"peak rss {growth['peak_rss']:+.1f}%  (target < 5%)"
    )
    result_json = {
        "benchmark": "memory",
        "command": command_line(),
        "machine": machine(),
        "trials": trials,
        "limit": limit,
        "epochs": args.epochs,
        "recycle_after": args.recycle_after,
        "models": args.models,
        "processes": len({r["pid"] for r in rows}),
        "highest": {"trial": int(highest["trial_id"]) + 1, "rss_mb": highest["rss_mb"]},
        "rss_mb_series": [row["rss_mb"] for row in rows],
        "process_series": [row["pid"] for row in rows],
        "config_series": [row["config"] for row in rows],
        "after_trial": {
            str(n): {"rss_mb": rows[n - 1]["rss_mb"], "peak_rss_mb": rows[n - 1]["peak_rss_mb"]}
            for n in marks
        },
        "growth_percent": growth,
        "target_percent": 5,
    }
    print(f"  written to {write_result('memory', result_json, args.out)}")
    return result_json


if __name__ == "__main__":
    main()
