"""Does `kregs study --seeds auto` keep its error rate, and what does it buy?

Two measurements, from seeded runs of the study's own trainer and the study's own
sequential rule (`kregs.study.sequential.review`, as `kregs study --seeds auto` applies it):

- **A/A**: one configuration trained with `--pool` seeds (the study's `--preset`, `none`);
  `--resamples` times, two disjoint random sets of `--max-seeds` of those runs stand for
  two identical configurations, and the rule looks at them as the study does (3, 5, 8,
  12, 20 seeds). The share declared decided is the rule's false-decision rate; beside it
  the same looks at 95% each (no correction for the looks) and one look at 3 seeds.
  Resamples of one pool are not independent: the margin printed is the binomial one of
  the resamples and understates the pool's own noise.
- **Power** (`--study FOLDER`, a finished study, e.g. the `overfit` preset's): for each
  `--effect` of that study against none (default dropout+bn), samples drawn
  from each side's recorded test accuracies (a normal with their mean and standard
  deviation, and a bootstrap of the runs) are judged by `--seeds auto` and by a fixed
  count of seeds (3, and `--max-seeds`), each at its confidence: the share detected
  (interval above 0) and the CPU seconds each spends (the study's mean CPU seconds per
  run times the runs it takes).

Usage: python bench/seeds.py [--preset smoke] [--pool 60] [--max-seeds 20]
       [--resamples 2000] [--study FOLDER] [--effect NAME ...] [--out FILE]
"""

import argparse
import csv
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402

from kregs.study import sequential, stats  # noqa: E402
from kregs.verdicts import wilson  # noqa: E402


def pool_accuracies(preset, seeds, limit=None):
    """Test accuracies of `seeds` runs of `none` under the study's `preset`; their CPU s."""
    from kregs import RegConfig
    from kregs.run import device as device_setup
    from kregs.study.config import StudyConfig
    from kregs.study.train import Trainer

    overrides = {"limit": limit} if limit else {}
    config = StudyConfig.create("fashion_mnist", preset=preset, seeds=1, **overrides)
    device = device_setup.configure(config.device)
    accuracies, cpu = [], []
    with device_setup.op_determinism(config.deterministic):
        trainer = Trainer(config, device)
        for seed in range(seeds):
            row = trainer.run("none", RegConfig(), seed)["row"]
            accuracies.append(row["test_accuracy"])
            cpu.append(row["train_cpu_seconds"])
            print(f"pool: seed {seed} test accuracy {row['test_accuracy']:.4f}", flush=True)
    return accuracies, cpu


def sequential_verdict(a, b, max_seeds):
    """What `--seeds auto` decides of `a` against `b` (seeds in order): `(state, seeds)`."""
    found = [sequential.Comparison("a", "b", "a differs from b")]
    for look in sequential.looks(max_seeds):
        sequential.review(found, {"a": a[:look], "b": b[:look]}, max_seeds)
        if found[0].state != sequential.OPEN:
            break
    return found[0].state, found[0].seeds


def decided_at(a, b, seeds, level):
    """Whether a `level` interval over the first `seeds` of each side excludes 0 (its sign)."""
    return stats.difference(a[:seeds], b[:seeds], level).sign


def aa(pool, max_seeds, resamples, rng):
    """The A/A shares: `--seeds auto`, 95% at every look, one look at 3 seeds."""
    counts = {"auto": 0, "every look at 95%": 0, "3 seeds at 95%": 0}
    seeds_used = []
    for _ in range(resamples):
        order = rng.permutation(len(pool))
        a = [pool[i] for i in order[:max_seeds]]
        b = [pool[i] for i in order[max_seeds : 2 * max_seeds]]
        state, used = sequential_verdict(a, b, max_seeds)
        counts["auto"] += state == sequential.DECIDED
        seeds_used.append(used)
        looks = sequential.looks(max_seeds)
        counts["every look at 95%"] += any(decided_at(a, b, n, 0.95) for n in looks)
        counts["3 seeds at 95%"] += bool(decided_at(a, b, 3, 0.95))
    return {name: _share(count, resamples) for name, count in counts.items()} | {
        "auto_mean_seeds": statistics.fmean(seeds_used)
    }


def _share(count, n):
    low, high = wilson(count, n)
    return {"decided": count, "of": n, "share": count / n, "low": low, "high": high}


def study_pools(folder, effect, base="none"):
    """`(effect's accuracies, base's, mean CPU seconds per run)` from a study's study.csv."""
    with open(os.path.join(folder, "study.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if not r.get("failed")]
    pick = {
        name: [float(r["test_accuracy"]) for r in rows if r["config"] == name]
        for name in (effect, base)
    }
    cpu = [float(r["train_cpu_seconds"]) for r in rows if r.get("train_cpu_seconds")]
    wall = [float(r["train_seconds"]) for r in rows]
    return pick[effect], pick[base], statistics.fmean(cpu) if cpu else None, statistics.fmean(wall)


def power(effect, base, max_seeds, resamples, rng, draw):
    """Detection shares and mean seeds: `--seeds auto` and fixed counts, `draw` 'normal' or
    'bootstrap'."""

    def sample(values, n):
        if draw == "bootstrap":
            return list(rng.choice(values, size=n, replace=True))
        return list(rng.normal(statistics.fmean(values), statistics.stdev(values), size=n))

    fixed = sorted({3, max_seeds})
    detected = {"auto": 0, **{f"{n} seeds": 0 for n in fixed}}
    used = []
    for _ in range(resamples):
        a, b = sample(effect, max_seeds), sample(base, max_seeds)
        state, seeds = sequential_verdict(a, b, max_seeds)
        d = stats.difference(a[:seeds], b[:seeds], sequential.confidence(max_seeds))
        detected["auto"] += state == sequential.DECIDED and d.low > 0
        used.append(seeds)
        for n in fixed:
            detected[f"{n} seeds"] += decided_at(a, b, n, 0.95) > 0
    seeds = {"auto": statistics.fmean(used), **{f"{n} seeds": n for n in fixed}}
    return {k: {**_share(v, resamples), "seeds": seeds[k]} for k, v in detected.items()}


def effect_power(study, name, max_seeds, resamples, rng):
    """The power of `--seeds auto` and of fixed seed counts for `name` against none, from
    the runs of `study` (both draws), printed and returned."""
    effect, base, cpu, wall = study_pools(study, name)
    found = {"study": os.path.abspath(study), "effect": name}
    found["runs"] = {name: effect, "none": base}
    found["cpu_seconds_per_run"] = cpu
    found["wall_seconds_per_run"] = wall
    difference = statistics.fmean(effect) - statistics.fmean(base)
    print(
        f"power: {name} against none in {study} ({len(effect)} and {len(base)} runs, "
        f"{difference * 100:+.2f} points; {cpu or wall:.0f} {'CPU' if cpu else 'wall'} s a run)"
    )
    for draw in ("normal", "bootstrap"):
        shares = found[draw] = power(effect, base, max_seeds, resamples, rng, draw)
        for rule, s in shares.items():
            cost = 2 * s["seeds"] * (cpu or wall)
            s["cpu_seconds" if cpu else "wall_seconds"] = cost
            print(
                f"  {draw:9s} {rule:9s} detected {s['share']:.1%} "
                f"[{s['low']:.1%}, {s['high']:.1%}] with {s['seeds']:.1f} seeds a side, "
                f"{cost / 60:.0f} {'CPU' if cpu else 'wall'} min"
            )
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smoke", help="the A/A pool's study preset")
    parser.add_argument("--pool", type=int, default=60, help="runs in the A/A pool")
    parser.add_argument("--limit", type=int, default=None, help="training images of a pool run")
    parser.add_argument("--max-seeds", type=int, default=20)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--study", default=None, help="a finished study folder (power)")
    parser.add_argument(
        "--effect",
        action="append",
        default=None,
        help="a configuration compared with none (repeatable; default dropout+bn)",
    )
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    if args.pool < 2 * args.max_seeds:
        parser.error(f"--pool {args.pool} holds fewer than two sets of --max-seeds")
    rng = np.random.default_rng(0)
    started, cpu_started = time.perf_counter(), time.process_time()
    pool, pool_cpu = pool_accuracies(args.preset, args.pool, args.limit)
    shares = aa(pool, args.max_seeds, args.resamples, rng)
    print(
        f"A/A ({args.pool} runs of none, study preset {args.preset}; "
        f"{args.resamples} resamples of two sets of {args.max_seeds}):"
    )
    for name, s in shares.items():
        if isinstance(s, dict):
            print(
                f"  {name:18s} decided {s['share']:.1%} [{s['low']:.1%}, {s['high']:.1%}]"
                + (f", {shares['auto_mean_seeds']:.1f} seeds on average" if name == "auto" else "")
            )
    result = {
        "benchmark": "seeds",
        "command": command_line(),
        "machine": machine(),
        "preset": args.preset,
        "max_seeds": args.max_seeds,
        "resamples": args.resamples,
        "pool": pool,
        "pool_std": statistics.stdev(pool),
        "pool_cpu_seconds": statistics.fmean(pool_cpu),
        "aa": shares,
    }
    if args.study:
        result["power"] = [
            effect_power(args.study, name, args.max_seeds, args.resamples, rng)
            for name in args.effect or ["dropout+bn"]
        ]
    result["seconds"] = time.perf_counter() - started
    result["cpu_seconds"] = time.process_time() - cpu_started
    print(f"  written to {write_result('seeds', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
