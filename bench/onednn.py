"""Does TensorFlow's oneDNN pay on this CPU, and is a model trained with it as accurate?

TensorFlow turns its oneDNN kernels on by itself only on x86 CPUs with
AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX; elsewhere (AVX2-only CPUs, most
laptops and many cloud hosts) it runs its own Eigen kernels unless
TF_ENABLE_ONEDNN_OPTS=1 is set before TensorFlow is imported.
`kregs.run.device.prefer_onednn` sets it for kregs' processes.

The setting is read once per process, so each setting trains in a child
process of its own (TF_ENABLE_ONEDNN_OPTS=0 and =1), both alive side by side:
each round, every child trains one more epoch, off then on, so that a host
switching speeds slows both alike. Per configuration (the plain CNN and the
quick preset's recipe: BN, dropout 0.3 in the head, AdamW, warm-up + cosine to
2e-3, flips and shifts) and seed: the same initial weights and batches in both
children. Prints the median over rounds and seeds (the first round, with
tracing, left out) of samples/s (wall) and samples per CPU-second, the ratios
on/off, and after the last round the mean test accuracy over the seeds with
the difference on - off and its 95% interval.

Usage: python bench/onednn.py [--limit N] [--epochs E] [--seeds S]
       [--configs plain,recipe] [--precision float32] [--out FILE]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, interval, machine, write_result  # noqa: E402

CONFIGS = ("plain", "recipe")
SETTINGS = ("0", "1")  # TF_ENABLE_ONEDNN_OPTS: off, on
BATCH = 64


def child(config, seed, limit, epochs, precision):
    """One child process: builds the model, then answers "epoch" and "test" on stdin with
    one JSON line each on stdout."""
    import keras

    from kregs import RegConfig, build_model
    from kregs.compat.tensorflow import onednn_enabled
    from kregs.data import load_dataset, pipeline
    from kregs.run.device import DeviceOptions, configure
    from kregs.run.schedule import warmup_cosine
    from kregs.run.train import compile_model, fit_for
    from kregs.tuner.space import RECIPE, RECIPE_LEARNING_RATE

    device = configure(DeviceOptions(precision=precision))
    ds = load_dataset("fashion_mnist", validation_split=0.0, seed=0)
    x, y = ds.train[0][:limit], ds.train[1][:limit]
    reg = RegConfig(**RECIPE) if config == "recipe" else RegConfig()
    keras.utils.set_random_seed(seed)
    model = build_model((28, 28, 1), 10, reg, dtype_policy=device.dtype_policy)
    steps = -(-len(y) // BATCH)
    rate = warmup_cosine(RECIPE_LEARNING_RATE, epochs, steps) if config == "recipe" else 1e-3
    compile_model(model, rate, device.loss_scale, reg=reg)
    _reply({"onednn": onednn_enabled(), "precision": device.precision})
    for epoch, line in enumerate(sys.stdin):
        if line.strip() == "test":
            batches = pipeline(*ds.test, 256, training=False)
            _reply({"accuracy": float(model.evaluate(batches, verbose=0)[1])})
            return
        batches = pipeline(x, y, BATCH, training=True, seed=1000 * seed + epoch)
        fit = {"x": batches, "epochs": 1, "verbose": 0, "shuffle": False}
        kwargs = fit_for(reg, fit, 10, seed=seed)
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(**kwargs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        _reply({"wall": len(y) / wall, "cpu": len(y) / cpu, "busy": cpu / wall})


def _reply(record):
    print(json.dumps(record), flush=True)


class Child:
    """A child process of one setting, configuration and seed."""

    def __init__(self, setting, config, seed, args):
        env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=setting, TF_CPP_MIN_LOG_LEVEL="3")
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            config,
            "--seed",
            str(seed),
            "--limit",
            str(args.limit),
            "--epochs",
            str(args.epochs),
            "--precision",
            args.precision,
        ]
        self.process = subprocess.Popen(
            command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.ready = None

    def ask(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.read()

    def read(self):
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"child exited with {self.process.wait()}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=12800, help="training images")
    parser.add_argument("--epochs", type=int, default=4, help="rounds: epochs per child")
    parser.add_argument("--seeds", type=int, default=3, help="models per setting")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--precision", default="float32", help="float32 or auto")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.seed, args.limit, args.epochs, args.precision)
    configs, seeds = args.configs.split(","), list(range(args.seeds))
    children = {
        (config, seed, setting): Child(setting, config, seed, args)
        for config in configs
        for seed in seeds
        for setting in SETTINGS
    }
    for process in children.values():  # started side by side, then waited for
        process.ready = process.read()
    states = {s: children[(configs[0], 0, s)].ready for s in SETTINGS}
    default = _default_state()
    print(
        f"onednn: kregs' CNN ({', '.join(configs)}), {args.limit} images, batch {BATCH}, "
        f"{args.epochs} alternated rounds, {len(seeds)} seeds, {states['1']['precision']}; "
        f"TensorFlow's own choice here (TF_ENABLE_ONEDNN_OPTS unset): "
        f"oneDNN {'on' if default else 'off'}; "
        f"children: =0 {states['0']['onednn']}, =1 {states['1']['onednn']}"
    )
    rounds = {key: [] for key in children}
    for _ in range(args.epochs):
        for key, process in children.items():
            rounds[key].append(process.ask("epoch"))
    accuracy = {key: process.ask("test")["accuracy"] for key, process in children.items()}
    summary = {}
    for config in configs:
        for setting in SETTINGS:
            steady = [r for seed in seeds for r in rounds[(config, seed, setting)][1:]]
            summary[f"{config}/onednn={setting}"] = {
                "samples_per_s": statistics.median(r["wall"] for r in steady),
                "samples_per_cpu_s": statistics.median(r["cpu"] for r in steady),
                "cores_busy": statistics.median(r["busy"] for r in steady),
                "test_accuracies": [accuracy[(config, seed, setting)] for seed in seeds],
            }
        off, on = summary[f"{config}/onednn=0"], summary[f"{config}/onednn=1"]
        pairs = zip(on["test_accuracies"], off["test_accuracies"], strict=True)
        diffs = [100 * (a - b) for a, b in pairs]
        mean, low, high = interval(diffs)
        on["speedup"] = on["samples_per_s"] / off["samples_per_s"]
        on["cpu_speedup"] = on["samples_per_cpu_s"] / off["samples_per_cpu_s"]
        on["accuracy_points_vs_off"] = mean
        on["accuracy_points_interval_vs_off"] = [low, high]
        for setting, s in (("off", off), ("on", on)):
            ratio = (
                f"  x{s['speedup']:.2f} wall, x{s['cpu_speedup']:.2f} per CPU-s" if s is on else ""
            )
            accuracies = ", ".join(f"{a:.4f}" for a in s["test_accuracies"])
            print(
                f"  {config:7s} oneDNN {setting:3s} {s['samples_per_s']:6.0f} samples/s  "
                f"{s['samples_per_cpu_s']:5.0f} per CPU-s  {s['cores_busy']:4.2f} cores busy"
                f"{ratio}  test accuracy {statistics.mean(s['test_accuracies']):.4f} "
                f"({accuracies})"
            )
        span = "" if low is None else f" [{low:+.2f}, {high:+.2f}]"
        print(f"  {config:7s} on - off: {mean:+.2f} points{span}")
    result = {
        "benchmark": "onednn",
        "command": command_line(),
        "machine": machine(),
        "onednn_default": default,
        "children_onednn": {setting: states[setting]["onednn"] for setting in SETTINGS},
        "images": args.limit,
        "epochs": args.epochs,
        "batch_size": BATCH,
        "precision": states["1"]["precision"],
        "configs": configs,
        "seeds": seeds,
        "rounds": {f"{c}/onednn={s}/seed{seed}": r for (c, seed, s), r in rounds.items()},
        "summary": summary,
    }
    print(f"  written to {write_result('onednn', result, args.out)}")
    return result


def _default_state():
    """Whether TensorFlow turns oneDNN on by itself here (TF_ENABLE_ONEDNN_OPTS unset)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    code = "from kregs.compat.tensorflow import onednn_enabled; print(onednn_enabled())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(env, TF_CPP_MIN_LOG_LEVEL="3"),
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1] == "True"


if __name__ == "__main__":
    main()
