"""A folder bigger than memory: streamed from its files against loaded into memory.

Writes a folder of PNG images (Fashion-MNIST's, enlarged and tinted by class:
`--images` of `--size` x `--size` RGB) whose decoded pixels take at least 4 times
the memory budget (`--budget`), then measures two things:

- memory: kregs' CNN trains one epoch on the whole folder in a fresh process per
  mode, `memory` (the folder loaded into memory) and `stream` (`--max-memory` the
  budget: decoded batch by batch); each reports its resident memory before any
  pixel was read (the baseline: TensorFlow, the model built and trained on one batch
  of zeros) and at its peak;
- speed: in one process, the same model trains epochs of `--speed-images` images fed
  both ways, alternated `--rounds` times (this shared host's speed changes from
  minute to minute: only alternation in one process compares them fairly);
  samples/s and samples per CPU-second, medians.

Targets: the streamed run's memory above its baseline within the budget, its
samples/s at least 0.8 of the in-memory feed's.

Usage: python bench/streaming.py [--quick] [--images N] [--size PX] [--budget MIB]
       [--speed-images N] [--rounds R] [--folder DIR] [--out FILE]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402

MODES = ("memory", "stream")


def make_folder(folder, images, size):
    """`images` PNGs of Fashion-MNIST, `size` x `size` RGB, one subfolder per class."""
    import numpy as np
    from PIL import Image

    from kregs.data import load_dataset, stratified_sample

    ds = load_dataset("fashion_mnist", validation_split=0.0)
    keep = stratified_sample(ds.train[1], images, np.random.default_rng(0))
    names = ds.info.class_names
    tints = np.random.default_rng(1).uniform(0.5, 1.0, (len(names), 3))
    for i in keep:
        label = int(ds.train[1][i])
        gray = Image.fromarray(ds.train[0][i, ..., 0]).resize((size, size), Image.BILINEAR)
        rgb = (np.asarray(gray, np.float32)[..., None] * tints[label]).astype(np.uint8)
        folder_of = os.path.join(folder, names[label].replace("/", "-"))
        os.makedirs(folder_of, exist_ok=True)
        Image.fromarray(rgb).save(os.path.join(folder_of, f"{i}.png"))


def _setup(size, batch_size):
    """The device set-up and kregs' CNN for `size` x `size` RGB, trained on one batch of
    zeros (its graph traced, its buffers allocated)."""
    import keras
    import numpy as np

    import kregs
    from kregs.data import pipeline
    from kregs.run import device as device_setup
    from kregs.run.train import compile_model

    device = device_setup.configure(device_setup.DeviceOptions())
    keras.utils.set_random_seed(0)
    model = kregs.build_model((size, size, 3), 10, dtype_policy=device.dtype_policy)
    compile_model(model, 1e-3)
    zeros = np.zeros((batch_size, size, size, 3), np.uint8)
    model.fit(
        pipeline(zeros, np.zeros(batch_size, np.int64), batch_size, training=True),
        epochs=1,
        verbose=0,
    )
    return model


def run_memory(mode, folder, budget, batch_size, size):
    """One epoch on the whole folder in this process: its memory (one JSON line)."""
    import psutil

    from kregs.data import Dataset, pipeline

    process = psutil.Process()
    dataset = Dataset.from_directory(folder)
    model = _setup(size, batch_size)
    baseline = process.memory_info().rss
    peak = [baseline]
    stop = threading.Event()

    def sample():
        while not stop.wait(0.05):
            peak[0] = max(peak[0], process.memory_info().rss)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    max_memory = budget if mode == "stream" else 1 << 40
    splits = dataset.load(validation_split=0.0, max_memory=max_memory, seed=0)
    model.fit(pipeline(*splits.train, batch_size, training=True, seed=0), epochs=1, verbose=0)
    stop.set()
    watcher.join()
    return {
        "mode": mode,
        "streamed": splits.info.streamed,
        "images": len(splits.train[1]),
        "baseline_rss_mib": baseline / 2**20,
        "peak_rss_mib": peak[0] / 2**20,
        "above_baseline_mib": (peak[0] - baseline) / 2**20,
    }


def run_speed(folder, images, rounds, batch_size, size):
    """Epochs of `images` images fed from memory and streamed, alternated in this process."""
    from kregs.data import Dataset, pipeline

    dataset = Dataset.from_directory(folder)
    feeds = {
        "memory": dataset.load(validation_split=0.0, seed=0, limit=images).train,
        "stream": dataset.load(validation_split=0.0, seed=0, limit=images, max_memory=1).train,
    }
    model = _setup(size, batch_size)
    runs = []
    for round_ in range(rounds):
        for mode, (x, y) in feeds.items():
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit(pipeline(x, y, batch_size, training=True, seed=round_), epochs=1, verbose=0)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            runs.append(
                {
                    "round": round_,
                    "mode": mode,
                    "samples_per_s": len(y) / wall,
                    "samples_per_cpu_s": len(y) / cpu,
                }
            )
    return runs


def _child(args, which):
    """Runs this script in a fresh process for one measurement; returns its JSON line."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", which, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"the {which} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT ") :])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 images of 32 x 32, 1 round")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--size", type=int, default=None, help="side of the square images")
    parser.add_argument("--budget", type=float, default=None, help="memory budget, MiB")
    parser.add_argument("--speed-images", type=int, default=None, help="images per timed epoch")
    parser.add_argument("--rounds", type=int, default=None, help="alternated speed rounds")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--folder", default=None, help="write (or reuse) the folder here")
    parser.add_argument("--child", choices=(*MODES, "speed"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    images = args.images or (2000 if args.quick else 40000)
    size = args.size or (32 if args.quick else 64)
    data_mib = images * size * size * 3 / 2**20
    budget = args.budget or data_mib / 5
    speed_images = min(images, args.speed_images or (1000 if args.quick else 4000))
    rounds = args.rounds or (1 if args.quick else 3)
    if args.child:
        if args.child == "speed":
            figures = run_speed(args.folder, speed_images, rounds, args.batch_size, size)
        else:
            figures = run_memory(
                args.child, args.folder, int(budget * 2**20), args.batch_size, size
            )
        print("RESULT " + json.dumps(figures), flush=True)
        return figures
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or os.path.join(scratch, "images")
        if not os.path.isdir(folder):
            start = time.perf_counter()
            make_folder(folder, images, size)
            print(f"wrote {images} PNGs of {size}x{size} in {time.perf_counter() - start:.0f} s")
        common = [
            "--folder",
            folder,
            "--images",
            str(images),
            "--size",
            str(size),
            "--budget",
            str(budget),
            "--batch-size",
            str(args.batch_size),
            "--speed-images",
            str(speed_images),
            "--rounds",
            str(rounds),
        ]
        memory = {mode: _child(common, mode) for mode in MODES}
        speed = _child(common, "speed")
    summary = {
        mode: {
            **{
                k: memory[mode][k]
                for k in ("baseline_rss_mib", "peak_rss_mib", "above_baseline_mib", "streamed")
            },
            **{
                k: statistics.median(r[k] for r in speed if r["mode"] == mode)
                for k in ("samples_per_s", "samples_per_cpu_s")
            },
        }
        for mode in MODES
    }
    ratio = summary["stream"]["samples_per_s"] / summary["memory"]["samples_per_s"]
    within = summary["stream"]["above_baseline_mib"] <= budget
    print(
        f"streaming: {images} images of {size}x{size} RGB, {data_mib:.0f} MiB decoded, "
        f"budget {budget:.0f} MiB (x{data_mib / budget:.1f}); speed: {rounds} alternated "
        f"round(s) of {speed_images} images"
    )
    for mode in MODES:
        s = summary[mode]
        print(
            f"  {mode:6s} {s['samples_per_s']:7.0f} samples/s  {s['samples_per_cpu_s']:6.0f} per "
            f"CPU-s  peak RSS {s['peak_rss_mib']:6.0f} MiB, {s['above_baseline_mib']:+6.0f} "
            f"over its baseline"
        )
    print(
        f"  stream / memory samples/s: {ratio:.2f} (target >= 0.8); streamed memory over the "
        f"baseline {'within' if within else 'OVER'} the budget"
    )
    result = {
        "benchmark": "streaming",
        "command": command_line(),
        "machine": machine(),
        "images": images,
        "size": size,
        "data_mib": data_mib,
        "budget_mib": budget,
        "speed_images": speed_images,
        "rounds": rounds,
        "runs": [{"round": None, **memory[m]} for m in MODES] + speed,
        "summary": summary,
        "ratio": ratio,
        "within_budget": within,
        "targets": {"ratio": 0.8, "data_over_budget": 4},
    }
    print(f"  written to {write_result('streaming', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
