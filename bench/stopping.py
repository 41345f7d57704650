"""Does `--stop auto` pay? The same `kregs tune` search with `--stop auto` and `--stop never`.

For each of `--seeds` seeds, alternated: `kregs tune --preset quick --seed S` with
`--stop auto` and with `--stop never`, as a user runs them (child processes), on
Fashion-MNIST or on a folder (`--data`). Both have the preset's time budget; a search
that stops hands the time left to the refit. It prints, per setting, mean +- std over
the seeds of the refit model's test accuracy, the wall and CPU time, the trials run and,
for `auto`, why the search stopped.

Usage: python bench/stopping.py [--preset quick] [--seeds 3] [--data FOLDER] [--out FILE]
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, mean_std, write_result  # noqa: E402
from accuracy import run_kregs  # noqa: E402

SETTINGS = ("auto", "never")
KEYS = ("test_accuracy", "wall_s", "cpu_s", "search_s", "trials_run")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", default=None, help="a folder of images (else Fashion-MNIST)")
    parser.add_argument("--kregs-args", default="", help="more `kregs tune` options")
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    source = ("--data", args.data) if args.data else ("--dataset", "fashion_mnist")
    runs = {setting: [] for setting in SETTINGS}
    for seed in range(args.seeds):
        for setting in SETTINGS if seed % 2 == 0 else SETTINGS[::-1]:  # alternate the order
            with tempfile.TemporaryDirectory() as tmp:
                extra = [*args.kregs_args.split(), "--stop", setting]
                r = run_kregs(args.preset, os.path.join(tmp, "run"), extra, seed, source)
            r["trials_run"] = sum(r["trials"].values())
            r["stopped"] = next((t for t in r["summary_time"] if "--stop auto" in t), None)
            runs[setting].append(r)
            print(
                f"seed {seed} --stop {setting}: test accuracy {r['test_accuracy']:.4f}, "
                f"{r['trials_run']} trials, search {r['search_s']:.0f} s, wall "
                f"{r['wall_s']:.0f} s, CPU {r['cpu_s']:.0f} s"
                + (f"\n    {r['stopped']}" if r["stopped"] else ""),
                flush=True,
            )
    summary = {
        setting: {key: mean_std([r[key] for r in rs]) for key in KEYS}
        for setting, rs in runs.items()
    }
    summary["auto"]["stopped_early"] = sum(bool(r["stopped"]) for r in runs["auto"])
    where = args.data or "Fashion-MNIST"
    print(f"stopping: kregs tune --preset {args.preset} on {where}, {args.seeds} seeds")
    for setting in SETTINGS:
        s = summary[setting]
        print(
            f"  --stop {setting:5s} test accuracy {s['test_accuracy'][0]:.4f} +- "
            f"{s['test_accuracy'][1]:.4f}  wall {s['wall_s'][0]:.0f} s  CPU "
            f"{s['cpu_s'][0]:.0f} s  search {s['search_s'][0]:.0f} s  trials "
            f"{s['trials_run'][0]:.1f}"
        )
    print(f"  --stop auto stopped the search early in {summary['auto']['stopped_early']} runs")
    result = {
        "benchmark": "stopping",
        "command": command_line(),
        "machine": machine(),
        "preset": args.preset,
        "data": where,
        "seeds": args.seeds,
        "runs": runs,
        "summary": summary,
    }
    name = "stopping" if not args.data else "stopping.folder"
    print(f"  written to {write_result(name, result, args.out)}")
    return result


if __name__ == "__main__":
    main()
