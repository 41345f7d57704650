"""Does pruning stop late winners? Pruning rules replayed on trials that all ran to their end.

`kregs tune --dataset fashion_mnist --preset quick --seed S --pruning none --stop never`
(or `--run FOLDER`, a finished run without pruning) trains every trial of the search to
its end. The pruning rules are then replayed on those recorded curves, trial after trial
in the order they ran, with kregs' own code (`kregs.tuner.epochs.why_prune`):

- `median`: Optuna's median rule after 2 epochs, every trial judged alike (kregs 0.1);
- `median, slow starters later`: today's rule: a slow starter (`kregs.tuner.pruning.
  slow_start`: MixUp, CutMix, strong augmentation, label smoothing, heavy dropout) judged
  after 40% of its epochs and against its peers.

For each rule it prints the trials pruned, the pruned trials that at their end beat the
trial the rule let win (late winners lost), the regret (the best trial's validation
accuracy minus the rule's winner's) and the epochs and seconds of training the rule
leaves (the time it saves).

The replay keeps the order of the trials as they ran unpruned: exact for a random search,
an approximation for a Bayesian one (whose later proposals learn from earlier scores).

Usage: python bench/regret.py [--seeds 1] [--preset quick] [--data FOLDER]
       [--kregs-args "..."] [--run FOLDER] [--out FILE]
"""

import argparse
import csv
import glob
import json
import os
import sys
import tempfile
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402
from accuracy import run_kregs  # noqa: E402

RULES = ("median", "median, slow starters later")


def recorded_trials(run):
    """The search's trials of a finished run, in the order they ran: dicts with `id`,
    `config` (a `kregs.RegConfig`), `score` (trials.csv's best_val_accuracy), `curve`
    and `seconds` (`{epoch: value}`)."""
    from kregs import RegConfig
    from kregs.config import DIMENSIONS

    with open(os.path.join(run, "trials.csv"), newline="") as f:
        rows = {r["trial_id"]: r for r in csv.DictReader(f) if r["status"] == "COMPLETED"}
    trials = []
    for path in sorted(glob.glob(os.path.join(run, "**", "trial.json"), recursive=True)):
        with open(path) as f:
            t = json.load(f)
        row = rows.get(t["trial_id"])
        if row is None or "cv/fold" in t["hyperparameters"]["values"]:
            continue
        metrics = t["metrics"]["metrics"]

        def series(name, metrics=metrics):
            return {o["step"]: o["value"][-1] for o in metrics[name]["observations"]}

        reg = RegConfig(**{d.name: d.parse(row.get(d.name)) for d in DIMENSIONS})
        trials.append(
            {
                "id": t["trial_id"],
                "config": reg,
                "name": row["config"],
                "score": float(row["best_val_accuracy"]),
                "curve": series("epoch_val_accuracy"),
                "seconds": series("epoch_seconds"),
            }
        )
    return sorted(trials, key=lambda t: t["id"])


def replay(trials, rule, epochs):
    """Each trial's pruned epoch (None: it ran to its end) under `rule`, the trials judged
    in the order they ran by `kregs.tuner.epochs.why_prune` (a sequential search)."""
    from keras_tuner.engine.hyperparameters import HyperParameters
    from keras_tuner.engine.trial import Trial

    from kregs.tuner.epochs import ACCURACY, why_prune
    from kregs.tuner.pruning import MedianPruner, slow_start

    by_id = {t["id"]: t for t in trials}
    oracle = types.SimpleNamespace(trials={}, pruner=MedianPruner(), trial_epochs=epochs)
    if rule == RULES[1]:
        oracle.slow_start = lambda trial: slow_start(by_id[trial.trial_id]["config"])
    pruned = {}
    for t in trials:
        trial = Trial(HyperParameters(), trial_id=t["id"], status="RUNNING")
        trial.metrics.register(ACCURACY, direction="max")
        oracle.trials[t["id"]] = trial
        pruned[t["id"]] = None
        for epoch in sorted(t["curve"]):
            trial.metrics.update(ACCURACY, t["curve"][epoch], step=epoch)
            if why_prune(oracle, trial, epoch) is not None:
                pruned[t["id"]] = epoch
                break
        trial.status = "STOPPED" if pruned[t["id"]] else "COMPLETED"
    return pruned


def judge(trials, pruned):
    """What a rule's decisions cost and saved."""
    kept = [t for t in trials if pruned[t["id"]] is None]
    winner = max(kept, key=lambda t: t["score"])
    best = max(trials, key=lambda t: t["score"])
    lost = [t for t in trials if pruned[t["id"]] and t["score"] > winner["score"]]
    epochs = {t["id"]: pruned[t["id"]] or max(t["curve"]) for t in trials}
    return {
        "pruned": sum(1 for e in pruned.values() if e),
        "winner": winner["id"],
        "winner_score": winner["score"],
        "regret": best["score"] - winner["score"],
        "late_winners_lost": [
            {"id": t["id"], "name": t["name"], "pruned_at": pruned[t["id"]], "score": t["score"]}
            for t in lost
        ],
        "epochs": sum(epochs.values()),
        "seconds": sum(s for t in trials for e, s in t["seconds"].items() if e <= epochs[t["id"]]),
    }


def totals(judged):
    """One rule's decisions over several searches: sums, and the mean regret in points."""
    return {
        "pruned": sum(j["pruned"] for j in judged),
        "late_winners_lost": sum(len(j["late_winners_lost"]) for j in judged),
        "regret_points": 100 * sum(j["regret"] for j in judged) / len(judged),
        "epochs": sum(j["epochs"] for j in judged),
        "seconds": sum(j["seconds"] for j in judged),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--preset",
        default="quick",
        help="kregs tune's preset, or default (no preset: its own defaults)",
    )
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--data", default=None, help="a folder of images (else Fashion-MNIST)")
    parser.add_argument("--kregs-args", default="", help="more `kregs tune` options")
    parser.add_argument("--run", action="append", default=[], help="a finished run, unpruned")
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    source = ("--data", args.data) if args.data else ("--dataset", "fashion_mnist")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = list(args.run)
        for seed in range(args.seeds if not runs else 0):
            out = os.path.join(tmp, f"seed{seed}")
            extra = [*args.kregs_args.split(), "--pruning", "none", "--stop", "never"]
            r = run_kregs(args.preset, out, extra, seed, source)
            print(f"seed {seed}: {sum(r['trials'].values())} trials in {r['wall_s']:.0f} s")
            runs.append(out)
        for run in runs:
            trials = recorded_trials(run)
            epochs = max(max(t["curve"]) for t in trials)
            found = {
                "run": run,
                "trials": len(trials),
                "curves": {
                    t["id"]: {"name": t["name"], "score": t["score"], "curve": t["curve"]}
                    for t in trials
                },
                "rules": {},
            }
            for rule in RULES:
                found["rules"][rule] = j = judge(trials, replay(trials, rule, epochs))
                lost = ", ".join(
                    f"{t['id']} {t['name']} (pruned at {t['pruned_at']}, ended {t['score']:.4f})"
                    for t in j["late_winners_lost"]
                )
                print(
                    f"  {rule}: {j['pruned']} of {len(trials)} pruned; winner trial "
                    f"{j['winner']} {j['winner_score']:.4f}, regret {j['regret'] * 100:.2f} "
                    f"points; {j['epochs']} epochs, {j['seconds']:.0f} s of training; "
                    f"late winners lost: {lost or 'none'}"
                )
            results.append(found)
    total = {rule: totals([r["rules"][rule] for r in results]) for rule in RULES}
    print(f"regret: {len(results)} searches, every trial run to its end, the rules replayed")
    for rule, t in total.items():
        print(
            f"  {rule}: {t['pruned']} trials pruned, {t['late_winners_lost']} of them beat the "
            f"trial the rule let win; regret {t['regret_points']:.2f} points a search "
            f"(mean); {t['epochs']} epochs, {t['seconds']:.0f} s of training"
        )
    result = {
        "benchmark": "regret",
        "command": command_line(),
        "machine": machine(),
        "preset": args.preset,
        "data": args.data or "Fashion-MNIST",
        "runs": results,
        "summary": total,
    }
    print(f"  written to {write_result('regret', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
