"""How fast does the command line answer? Median wall time of `kregs --help` and friends.

Runs each command N times (default 10) in a fresh process and prints the
median wall time, with `python -c "import tensorflow"` for comparison
(target: kregs' help < 0.5 s).

Usage: python bench/startup.py [--quick] [--runs N] [--out FILE]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import command_line, machine, write_result  # noqa: E402


def _time(cmd, runs):
    times = []
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs each")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 10)
    beside = os.path.join(os.path.dirname(sys.executable), "kregs")  # the same environment's
    kregs = beside if os.path.exists(beside) else shutil.which("kregs") or "kregs"
    commands = {
        "kregs --help": [kregs, "--help"],
        "kregs tune --help": [kregs, "tune", "--help"],
        'python -c "import tensorflow"': [sys.executable, "-c", "import tensorflow"],
    }
    medians, all_times = {}, {}
    print(f"startup: median wall time of {runs} runs")
    for name, cmd in commands.items():
        all_times[name] = _time(cmd, runs)
        medians[name] = statistics.median(all_times[name])
        print(f"  {name:32s} {medians[name]:6.3f} s")
    result = {
        "benchmark": "startup",
        "command": command_line(),
        "machine": machine(),
        "runs": runs,
        "median_seconds": medians,
        "times": all_times,
        "target_seconds": 0.5,
    }
    print(f"  written to {write_result('startup', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
