"""Does pruning pay? The same `kregs tune` search with and without it, at the same time budget.

For each of `--seeds` seeds, alternated: `kregs tune --dataset fashion_mnist
--preset quick --seed S` with `--pruning median` (the preset's) and with
`--pruning none`, as a user runs them (child processes). Both have the
preset's time budget: pruning can only pay by buying more configurations in it.
It prints, per setting, mean +- std over the seeds of the refit model's test
accuracy, the wall time, and the trials run and pruned.

Usage: python bench/pruning.py [--preset quick] [--seeds 3] [--kregs-args "..."] [--out FILE]
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, mean_std, write_result  # noqa: E402
from accuracy import run_kregs  # noqa: E402

SETTINGS = ("median", "none")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--kregs-args", default="", help="more `kregs tune` options")
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    runs = {setting: [] for setting in SETTINGS}
    for seed in range(args.seeds):
        for setting in SETTINGS:
            with tempfile.TemporaryDirectory() as tmp:
                extra = [*args.kregs_args.split(), "--pruning", setting]
                r = run_kregs(args.preset, os.path.join(tmp, "run"), extra, seed)
            r["trials_run"] = sum(r["trials"].values())
            r["pruned"] = r["trials"].get("PRUNED", 0)
            runs[setting].append(r)
            print(
                f"seed {seed} pruning {setting}: test accuracy {r['test_accuracy']:.4f}, "
                f"{r['trials_run']} trials ({r['pruned']} pruned), {r['wall_s']:.0f} s",
                flush=True,
            )
    summary = {
        setting: {
            key: mean_std([r[key] for r in rs])
            for key in ("test_accuracy", "wall_s", "trials_run", "pruned")
        }
        for setting, rs in runs.items()
    }
    print(f"pruning: kregs tune --preset {args.preset}, {args.seeds} seeds")
    for setting, s in summary.items():
        print(
            f"  --pruning {setting:7s} test accuracy {s['test_accuracy'][0]:.4f} +- "
            f"{s['test_accuracy'][1]:.4f}  wall {s['wall_s'][0]:.0f} s  trials "
            f"{s['trials_run'][0]:.1f} ({s['pruned'][0]:.1f} pruned)"
        )
    result = {
        "benchmark": "pruning",
        "command": command_line(),
        "machine": machine(),
        "preset": args.preset,
        "seeds": args.seeds,
        "runs": runs,
        "summary": summary,
    }
    print(f"  written to {write_result('pruning', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
