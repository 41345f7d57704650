"""The study's training-time claim ("BN cuts training time by about 15%"), measured.

Trains kregs' CNN without regularization (`none`) and with BN alone (`bn`)
under the study's protocol (`kregs study --preset overfit` by default: Adam at a
fixed rate, early stopping on val_loss with patience 5, best weights restored),
alternating the two configurations in one process (none, bn for one seed;
bn, none for the next), so that a change in the shared host's speed falls on
both. Prints, per configuration (mean over seeds): seconds per epoch (the
median epoch, the first left out), the best epoch, the seconds until the end
of the best epoch ("time to the best epoch"), the whole run's wall and CPU
seconds, and bn's ratios to none; and the measurement's conditions (cores, the
1-minute load average before and after every run, the precision).

Usage: python bench/bn_time.py [--quick] [--preset P] [--seeds N] [--limit N]
                               [--epochs E] [--out FILE]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402

CONFIGS = ("none", "bn")
FIGURES = (
    "seconds_per_epoch",
    "best_epoch",
    "seconds_to_best",
    "train_seconds",
    "cpu_seconds",
    "test_accuracy",
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000 images, 3 epochs, 1 seed")
    parser.add_argument("--preset", default="overfit", help="the study preset (budget)")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 3)
    overrides = {
        "limit": args.limit or (2000 if args.quick else None),
        "epochs": args.epochs or (3 if args.quick else None),
        "test_limit": 2000 if args.quick else None,
    }

    import numpy as np

    from kregs.config import RegConfig
    from kregs.run.device import configure, op_determinism
    from kregs.study.config import StudyConfig
    from kregs.study.train import Trainer

    config = StudyConfig.create("fashion_mnist", preset=args.preset, seeds=seeds, **overrides)
    device = configure(config.device)
    budget = config.budget
    regs = {"none": RegConfig(), "bn": RegConfig(batch_norm="before_activation")}
    print(
        f"bn_time: none vs bn, kregs' CNN, {budget.limit or 'all'} images, up to "
        f"{budget.epochs} epochs (patience {budget.patience}), batch {budget.batch_size}, "
        f"{device.precision}, {seeds} seeds, alternated",
        flush=True,
    )
    runs = []
    with op_determinism(True):
        trainer = Trainer(config, device)
        for seed in range(seeds):
            order = CONFIGS if seed % 2 == 0 else CONFIGS[::-1]
            for name in order:
                load_before = os.getloadavg()[0]
                cpu = time.process_time()
                row = trainer.run(name, regs[name], seed)["row"]
                run = {
                    "config": name,
                    "seed": seed,
                    **{k: row[k] for k in FIGURES if k != "cpu_seconds"},
                    "cpu_seconds": round(time.process_time() - cpu, 1),
                    "load_before": round(load_before, 2),
                    "load_after": round(os.getloadavg()[0], 2),
                }
                runs.append(run)
                print(
                    f"  {name:4s} seed {seed}  {run['seconds_per_epoch']:.2f} s/epoch  best "
                    f"epoch {run['best_epoch']:2d}  to best {run['seconds_to_best']:.1f} s  "
                    f"run {run['train_seconds']:.1f} s (CPU {run['cpu_seconds']:.1f} s)  "
                    f"load {run['load_before']:.2f} -> {run['load_after']:.2f}",
                    flush=True,
                )
    summary = {
        name: {k: float(np.mean([r[k] for r in runs if r["config"] == name])) for k in FIGURES}
        for name in CONFIGS
    }
    ratios = {
        k: summary["bn"][k] / summary["none"][k]
        for k in ("seconds_per_epoch", "seconds_to_best", "train_seconds", "cpu_seconds")
    }
    loads = [r[k] for r in runs for k in ("load_before", "load_after")]
    conditions = {
        "cores": os.cpu_count(),
        "load_average_max": max(loads),
        "load_average_median": float(np.median(loads)),
        "precision": device.precision,
    }
    for name in CONFIGS:
        s = summary[name]
        print(
            f"  mean {name:4s}: {s['seconds_per_epoch']:.2f} s/epoch, best epoch "
            f"{s['best_epoch']:.1f}, {s['seconds_to_best']:.1f} s to the best epoch, "
            f"{s['train_seconds']:.1f} s per run (CPU {s['cpu_seconds']:.1f} s), "
            f"test accuracy {s['test_accuracy']:.4f}"
        )
    print(
        "  bn / none: "
        + ", ".join(f"{k} x{v:.2f}" for k, v in ratios.items())
        + "  (the study claims about x0.85 in training time)"
    )
    print(
        f"  conditions: {conditions['cores']} cores, 1-minute load average median "
        f"{conditions['load_average_median']:.2f} (max {conditions['load_average_max']:.2f})"
    )
    result = {
        "benchmark": "bn_time",
        "command": command_line(),
        "machine": machine(),
        "budget": budget.to_dict(),
        "runs": runs,
        "summary": summary,
        "ratios": ratios,
        "conditions": conditions,
    }
    print(f"  written to {write_result('bn_time', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
