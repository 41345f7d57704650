"""Does `kregs tune --preset quick` beat a Keras CNN written by hand, given the same time?

One run, side by side, on Fashion-MNIST, for each of `--seeds` seeds (the three
methods alternate seed by seed, so a host that changes speed slows all alike):

1. `kregs tune --dataset fashion_mnist --preset quick --seed S` (a child process,
   as a user runs it): its wall time (search, then refit), the search's best
   model's test accuracy and the refit model's (the one exported).
2. The hand-written CNN of earlier rounds: conv 32, conv 32, pool, conv 64,
   conv 64, pool, dense 128, softmax, with Keras' own L2 1e-4,
   BatchNormalization and Dropout 0.25 everywhere, Adam 1e-3, early stopping
   on val_loss (patience 5, best weights restored), float32, batch 64, trained
   until early stopping or until it has used the kregs run's wall time.
3. A careful engineer's single model: the same CNN with BN, dropout (0.3) in
   the head only, AdamW (weight decay 5e-4), a one-epoch warm-up (from a tenth
   of the peak) then cosine decay from a peak of 2e-3, horizontal flips and
   2-pixel shifts, bfloat16 (float32 on a CPU without bfloat16 units, where
   bfloat16 is emulated), batch 64, on the 54,000 training images, no search at
   all. Its epochs fill the kregs run's wall time, from loading the data to the
   test: re-planned from its own pace after every epoch, its cosine decay
   stretched or compressed to end with them, by the callback that paces a kregs
   refit under a time budget (`kregs.tuner.refit.paced`; a timing of the first
   steps, used until 2026-12-06, misjudged an epoch's time on a shared host by a
   third either way).

Each prints its test accuracy and wall time; then mean +- std over the seeds.
Targets on 2 CPU cores: quick >= 93.5% mean test accuracy in <= 10 minutes,
above the careful model.

`--methods kregs,careful` leaves the hand-written CNN out (a shorter run).

Usage: python bench/accuracy.py [--preset quick] [--seeds 3] [--kregs-args "..."]
       [--methods kregs,hand_written,careful] [--hand-limit N] [--out FILE]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, mean_std, write_result  # noqa: E402

PEAK = 2e-3  # the careful model's peak learning rate
TEST_SECONDS = 5.0  # its time kept for the test, after its last epoch
MOST_EPOCHS = 1000  # its epochs at most: as many as fit


def run_kregs(preset, output, extra, seed=0, source=("--dataset", "fashion_mnist")):
    """Runs `kregs tune` on `source` (its data options) with `preset` ("default": none, the
    command's own defaults); returns its wall and CPU seconds and its records."""
    cmd = [sys.executable, "-m", "kregs", "tune", *source]
    if preset != "default":  # "default": kregs tune's own defaults, no --preset
        cmd += ["--preset", preset]
    cmd += ["--seed", str(seed), "--quiet", "--output", output, *extra]
    start, cpu = time.perf_counter(), os.times()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    ended = os.times()
    cpu_s = ended.children_user - cpu.children_user + ended.children_system - cpu.children_system
    if proc.returncode != 0:
        raise SystemExit(f"kregs tune failed ({proc.returncode}): {proc.stderr[-2000:]}")
    with open(os.path.join(output, "test_result.json")) as f:
        search_test = json.load(f)
    refit_file = os.path.join(output, "refit", "model.json")
    refit = None
    if os.path.exists(refit_file):
        with open(refit_file) as f:
            refit = json.load(f)
    return {
        "command": " ".join(cmd[2:]),
        "wall_s": wall,
        "cpu_s": cpu_s,
        "search_s": wall - (refit["seconds"] if refit else 0.0),
        "refit_s": refit["seconds"] if refit else 0.0,
        "search_best_test_accuracy": search_test["accuracy"],
        "refit": refit,
        "trials": _trial_counts(os.path.join(output, "trials.csv")),
        "test_accuracy": (refit or {"test": search_test})["test"]["accuracy"],
        "printed": proc.stdout.splitlines(),  # what the user saw (--quiet)
        "summary_time": _time_lines(os.path.join(output, "summary.md")),
    }


def _time_lines(path):
    """The lines of summary.md's "Time" section (why the search stopped among them)."""
    with open(path) as f:
        text = f.read()
    section = text.split("## Time", 1)[1] if "## Time" in text else ""
    return [line for line in section.split("\n## ", 1)[0].splitlines() if line.startswith("- ")]


def _trial_counts(path):
    import csv

    with open(path, newline="") as f:
        statuses = [row["status"] for row in csv.DictReader(f)]
    return {status: statuses.count(status) for status in sorted(set(statuses))}


def hand_written_cnn(seconds, seed=0, limit=None):
    """The plain Keras CNN, trained for at most `seconds` (on `limit` images); its figures."""
    import keras

    from kregs.data import load_dataset

    ds = load_dataset("fashion_mnist", validation_split=0.1, seed=seed)
    x, y = ds.train[0][:limit], ds.train[1][:limit]
    keras.utils.set_random_seed(seed)
    l2 = keras.regularizers.L2(1e-4)

    def conv(filters):
        return [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=l2),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dropout(0.25),
        ]

    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            *conv(32),
            *conv(32),
            keras.layers.MaxPooling2D(),
            *conv(64),
            *conv(64),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(128, use_bias=False, kernel_regularizer=l2),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    class Deadline(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            per_epoch = (time.perf_counter() - self.start) / (epoch + 1)
            if time.perf_counter() - self.start + per_epoch > seconds:
                self.model.stop_training = True  # the next epoch would not fit

    stop = keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)
    start, cpu = time.perf_counter(), time.process_time()
    history = model.fit(
        x,
        y,
        validation_data=ds.validation,
        batch_size=64,
        epochs=1000,
        callbacks=[stop, Deadline()],
        verbose=0,
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    _, accuracy = model.evaluate(*ds.test, verbose=0)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "epochs": len(history.history["loss"]),
        "test_accuracy": float(accuracy),
    }


def careful_model(seconds, seed=0, limit=None):
    """The careful single model (see the module's docstring), its epochs filling `seconds`
    (on `limit` training images: None, all): everything from loading the data to the
    test, as the kregs run's wall time counts it."""
    import keras
    import numpy as np

    from kregs.data import load_dataset, pipeline
    from kregs.run.device import POLICIES, auto_precision, cpu_flags
    from kregs.run.schedule import WarmupCosine
    from kregs.tuner.clock import FINISH_SECONDS, TimeBudget
    from kregs.tuner.refit import RefitPlan, paced

    start, cpu = time.perf_counter(), time.process_time()
    ds = load_dataset("fashion_mnist", validation_split=0.1, seed=seed)
    keras.utils.set_random_seed(seed)
    previous = keras.config.dtype_policy()
    # The fastest precision this CPU has, as the careful engineer would pick it.
    keras.config.set_dtype_policy(POLICIES[auto_precision(0, cpu_flags())] or "float32")
    try:
        model = _careful_cnn(keras)
    finally:
        keras.config.set_dtype_policy(previous)
    augment = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomTranslation(2 / 28, 2 / 28, fill_mode="constant", seed=seed),
        ]
    )
    x, y = ds.train[0][:limit], ds.train[1][:limit]
    steps = int(np.ceil(len(y) / 64))
    batches = pipeline(x, y, 64, training=True, seed=seed).map(
        lambda a, b: (augment(a, training=True), b)
    )
    # One epoch of warm-up, then a cosine decay over the epochs that fit, re-planned
    # from the model's own pace after every epoch.
    schedule = WarmupCosine(PEAK, total_steps=2 * steps, warmup_steps=steps)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=5e-4),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # kregs' own pacing of a refit under a time budget (`kregs.tuner.refit.paced`): the
    # budget keeps `FINISH_SECONDS` for a refit's test and export after its last epoch,
    # where this model needs `TEST_SECONDS` for its test: its deadline is the same.
    clock = TimeBudget(
        seconds - TEST_SECONDS + FINISH_SECONDS,
        max_epochs=1,
        started=start,
        clock=time.perf_counter,
    )
    plan = RefitPlan(2, MOST_EPOCHS, steps, schedule)
    fill = paced(keras, clock, plan)
    model.fit(batches, epochs=plan.most, callbacks=[fill], verbose=0)
    _, accuracy = model.evaluate(pipeline(*ds.test, 256, training=False), verbose=0)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "epochs": len(fill.seconds),
        "epoch_s": [round(t, 1) for t in fill.seconds],
        "test_accuracy": float(accuracy),
    }


def _careful_cnn(keras):
    def conv(filters):
        return [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
        ]

    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Rescaling(1 / 255),
            *conv(32),
            *conv(32),
            keras.layers.MaxPooling2D(),
            *conv(64),
            *conv(64),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(128, use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(10, activation="softmax", dtype="float32"),
        ]
    )


# The peers kregs is compared with: name -> (train(seconds, seed, limit), the option
# limiting its images, its label in the seed lines).
PEERS = {
    "hand_written": (hand_written_cnn, "hand_limit", "hand-written"),
    "careful": (careful_model, "careful_limit", "careful"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--hand-seconds", type=float, default=None, help="default: the kregs run's wall time"
    )
    parser.add_argument("--kregs-args", default="", help="more `kregs tune` options")
    parser.add_argument("--hand-limit", type=int, default=None, help="hand-written: images")
    parser.add_argument("--careful-limit", type=int, default=None, help="careful: images")
    parser.add_argument(
        "--methods",
        default="kregs,hand_written,careful",
        help="comma-separated, kregs first: kregs, hand_written, careful (the peers are given "
        "the kregs run's time)",
    )
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    if methods[0] != "kregs" or not set(methods[1:]) <= set(PEERS):
        parser.error(
            f"--methods {args.methods!r}: expected kregs first, then hand_written or careful"
        )
    runs = {name: [] for name in methods}
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            ours = run_kregs(args.preset, os.path.join(tmp, "run"), args.kregs_args.split(), seed)
        runs["kregs"].append(ours)
        budget = args.hand_seconds or ours["wall_s"]
        line = (
            f"seed {seed}: kregs tune {ours['test_accuracy']:.4f} in {ours['wall_s']:.0f} s "
            f"(search {ours['search_s']:.0f} s, refit {ours['refit_s']:.0f} s, trials "
            f"{ours['trials']})"
        )
        for name in list(runs)[1:]:
            train, limit, label = PEERS[name]
            peer = train(budget, seed=seed, limit=getattr(args, limit))
            runs[name].append(peer)
            line += f"; {label} {peer['test_accuracy']:.4f} ({peer['epochs']} epochs, "
            line += f"{peer['wall_s']:.0f} s)"
        print(line, flush=True)
    summary = {
        name: {key: mean_std([r[key] for r in rs]) for key in ("test_accuracy", "wall_s", "cpu_s")}
        for name, rs in runs.items()
    }
    print(f"accuracy: Fashion-MNIST, {args.seeds} seeds, each method given the kregs run's time")
    labels = {
        "kregs": f"kregs tune --preset {args.preset}",
        "hand_written": "hand-written CNN",
        "careful": "careful single model",
    }
    for name, label in labels.items():
        if name not in summary:
            continue
        s = summary[name]
        print(
            f"  {label:28s} test accuracy {s['test_accuracy'][0]:.4f} +- "
            f"{s['test_accuracy'][1]:.4f}  wall {s['wall_s'][0]:.0f} +- {s['wall_s'][1]:.0f} s  "
            f"CPU {s['cpu_s'][0]:.0f} s"
        )
    result = {
        "benchmark": "accuracy",
        "command": command_line(),
        "machine": machine(),
        "preset": args.preset,
        "seeds": args.seeds,
        "runs": runs,
        "summary": summary,
        "targets": {"quick_test_accuracy": 0.935, "quick_wall_s": 600},
    }
    print(f"  written to {write_result('accuracy', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
