"""The quick run's model in every deployment format, side by side, each in its own runtime.

Takes a finished `kregs tune` run (default runs/quick, what `make tune` writes;
with `--quick`, a tiny run made here) and exports its model, on a copy of the run
folder, with `kregs export`'s own code: the SavedModel, LiteRT, ONNX and OpenVINO
in float32, and LiteRT with dynamic-range and full-integer (int8) quantization.
Each artifact is then measured `--rounds` times, the artifacts alternated within
each round (the shared host's speed drifts): test accuracy against the Keras
model's on the run's test images, the largest difference in probabilities, size
on disk, latency per image at batch 1 (median of 50), throughput at batch 64 and
CPU time per image (medians over the rounds).

Usage: python bench/export.py [--run DIR] [--rounds R] [--quick] [--out FILE]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, write_result  # noqa: E402

PLAN = (
    (("savedmodel", "litert", "onnx", "openvino"), "none"),
    (("litert",), "dynamic"),
    (("litert",), "int8"),
)
TIMED = ("latency_ms", "throughput", "cpu_per_image_ms")


def tiny_run(folder):
    """A one-trial MLP search on 600 Fashion-MNIST images (for --quick), in this process."""
    from kregs.tuner import TuneConfig, tune

    config = TuneConfig.create(
        "fashion_mnist",
        preset="smoke",
        limit=600,
        max_trials=1,
        epochs=1,
        arch="mlp",
        output=folder,
    )
    tune(config)
    return folder


def export_all(run):
    """Each plan's `kregs export` on `run`; returns the artifacts' folders and rows."""
    from kregs.deploy import DeployOptions
    from kregs.tuner.export import export_run

    written = []
    for formats, quantize in PLAN:
        options = DeployOptions(
            export_formats=formats, quantize=quantize, accept_accuracy_drop=True
        )
        result = export_run(run, deployment=options)
        rows = {r["format"]: r for r in result.rows}
        written += [(folder, rows[fmt]) for fmt, folder in result.written.items()]
    return written


def reference_of(run):
    """The Keras model's outputs on the run's test images, and those images (for the timed
    rounds; the accuracies are those `kregs export` measured, against the model it exported)."""
    import keras

    from kregs.deploy import reference
    from kregs.run.files import read_json
    from kregs.tuner.config import TuneConfig

    config = TuneConfig.from_record(read_json(os.path.join(run, "run.json")), output=run)
    ds = config.load_data()
    path = os.path.join(run, "refit", "model.keras")
    if not os.path.exists(path):
        path = sorted(p for p in os.listdir(os.path.join(run, "best")) if p.endswith(".keras"))[0]
        path = os.path.join(run, "best", path)
    return reference(keras.models.load_model(path), *ds.test), ds.test[0]


def timed_rounds(written, ref, images, rounds):
    """`rounds` measurements of every artifact, alternated; the medians of the timings."""
    from kregs.deploy import open_artifact
    from kregs.deploy.measure import measure

    runtimes = [(open_artifact(folder), folder, row) for folder, row in written]
    seen = {folder: [] for folder, _ in written}
    for _ in range(rounds):
        for runtime, folder, row in runtimes:
            m = measure(runtime, images, ref, folder, row["quantize"], row["precision"])
            seen[folder].append(m.to_dict())
    out = []
    for folder, row in written:
        rounds_of = {k: [round(r[k], 4) for r in seen[folder]] for k in TIMED}
        medians = {k: statistics.median(values) for k, values in rounds_of.items()}
        out.append({**row, **medians, "rounds": rounds_of})
    return out


def label(row):
    names = {"savedmodel": "SavedModel", "litert": "LiteRT", "onnx": "ONNX", "openvino": "OpenVINO"}
    quant = "" if row["quantize"] == "none" else f" {row['quantize']}"
    return names[row["format"]] + quant


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/quick", help="a finished kregs tune run")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="a tiny run made here, 1 round")
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory() as work:
        if args.quick:
            source = tiny_run(os.path.join(work, "tiny"))
        elif os.path.exists(os.path.join(args.run, "run.json")):
            source = args.run
        else:
            sys.exit(f"{args.run} is not a finished run: `make tune` writes runs/quick")
        run = os.path.join(work, "run")  # a copy: the bench never adds versions to a run
        shutil.copytree(source, run, ignore=shutil.ignore_patterns("export", "tensorboard"))
        written = export_all(run)
        ref, images = reference_of(run)
        rows = timed_rounds(written, ref, images, rounds)
    keras_accuracy = rows[0]["keras_accuracy"]
    print(f"{len(ref.labels)} test images; Keras model's test accuracy {keras_accuracy:.4f}")
    print(
        f"{'artifact':<18} {'accuracy':>8} {'drop':>6} {'max diff':>9} {'MB':>6} "
        f"{'ms/img b1':>9} {'img/s b64':>9} {'CPU ms/img':>10}"
    )
    for r in rows:
        print(
            f"{label(r):<18} {r['accuracy']:>8.4f} {r['drop_points']:>+6.2f} "
            f"{r['max_difference']:>9.2g} {r['size_bytes'] / 1e6:>6.2f} {r['latency_ms']:>9.3f} "
            f"{r['throughput']:>9.0f} {r['cpu_per_image_ms']:>10.3f}"
        )
    result = {
        "benchmark": "export",
        "command": command_line(),
        "machine": machine(),
        "run": "tiny (--quick)" if args.quick else args.run,
        "rounds": rounds,
        "test_images": len(ref.labels),
        "keras_accuracy": keras_accuracy,
        "rows": rows,
    }
    print(f"  written to {write_result('export', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
