"""Trials per minute with 1 and with N workers on KerasTuner's chief/worker engine.

Runs the same smoke-sized random search (`kregs tune --preset smoke
--algorithm random`, a Fashion-MNIST subset, `--trials` trials of `--epochs`
epochs) as one process, and through `kregs tune --workers W` for each W in
`--workers`, alternating the order every round, each worker with `--threads`
TensorFlow threads. It reports, per mode, the whole command's wall time
(start-up of the chief and workers, the search, the test measurement and the
export included), the trials completed, trials per minute of that wall time,
and the mean seconds of one trial as the workers measured it.

Usage: python bench/distributed.py [--quick] [--workers 1,2] [--rounds N] [--trials N]
                                    [--epochs E] [--limit N] [--threads T] [--out FILE]
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import command_line, machine, write_result  # noqa: E402


def run_once(mode, workers, args, folder):
    """Runs one search; returns its wall time, completed trials and mean trial seconds."""
    out = os.path.join(folder, f"{mode}")
    cmd = [sys.executable, "-m", "kregs", "tune", "--preset", "smoke", "--algorithm", "random"]
    cmd += ["--max-trials", str(args.trials), "--epochs", str(args.epochs)]
    cmd += ["--limit", str(args.limit), "--arch", args.arch, "--output", out, "--overwrite"]
    if workers:
        cmd += ["--workers", str(workers), "--threads", str(args.threads)]
    else:
        cmd += ["--threads", str(args.threads)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    with open(os.path.join(out, "trials.csv")) as f:
        rows = [r for r in csv.DictReader(f) if r["status"] == "COMPLETED"]
    return {
        "wall_seconds": round(wall, 2),
        "trials": len(rows),
        "trials_per_minute": round(60 * len(rows) / wall, 3),
        "mean_trial_seconds": round(statistics.mean(float(r["seconds"]) for r in rows), 2),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run that proves the script")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--arch", default="cnn", help="kregs' network (mlp: the smallest run)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    defaults = (1, 2, 1, 600) if args.quick else (2, 8, 2, 3000)
    for name, value in zip(("rounds", "trials", "epochs", "limit"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    counts = [int(w) for w in args.workers.split(",")]
    modes = [("single", None)] + [(f"workers={w}", w) for w in counts]

    runs = {mode: [] for mode, _ in modes}
    with tempfile.TemporaryDirectory() as folder:
        for r in range(args.rounds):
            order = modes if r % 2 == 0 else modes[::-1]
            for mode, workers in order:
                result = run_once(mode, workers, args, folder)
                runs[mode].append(result)
                print(
                    f"round {r + 1} {mode:10s} {result['trials']} trials in "
                    f"{result['wall_seconds']:.1f} s: {result['trials_per_minute']:.2f} trials/min "
                    f"(one trial {result['mean_trial_seconds']:.1f} s)",
                    flush=True,
                )
    summary = {
        mode: {
            "trials_per_minute": statistics.median(x["trials_per_minute"] for x in rs),
            "wall_seconds": statistics.median(x["wall_seconds"] for x in rs),
            "mean_trial_seconds": statistics.median(x["mean_trial_seconds"] for x in rs),
        }
        for mode, rs in runs.items()
    }
    base = summary[f"workers={counts[0]}"]["trials_per_minute"]
    speedup = {mode: round(s["trials_per_minute"] / base, 3) for mode, s in summary.items()}
    print(
        f"\nsmoke-sized search: {args.trials} trials x up to {args.epochs} epochs, "
        f"{args.limit} images, {args.threads} thread(s) per worker, median of {args.rounds} "
        "round(s)"
    )
    for mode, s in summary.items():
        print(
            f"  {mode:10s} {s['trials_per_minute']:6.2f} trials/min  "
            f"(wall {s['wall_seconds']:.1f} s, one trial {s['mean_trial_seconds']:.1f} s)  "
            f"x{speedup[mode]:.2f} vs workers={counts[0]}"
        )
    path = write_result(
        "distributed",
        {
            "benchmark": "distributed",
            "command": command_line(),
            "machine": machine(),
            "trials": args.trials,
            "epochs": args.epochs,
            "limit": args.limit,
            "threads": args.threads,
            "arch": args.arch,
            "rounds": args.rounds,
            "runs": runs,
            "summary": summary,
            "speedup": speedup,
        },
        args.out,
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
