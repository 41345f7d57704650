"""What a deployed model does in its runtime: accuracy against the Keras model's, speed, size.

`reference(model, images, labels)` runs the Keras model once over the test
images; `measure(runtime, ...)` runs a deployed artifact over the same images and
times it: latency per image at batch 1 (median of `LATENCY_RUNS`), throughput at
batch 64 (the whole pass), wall and CPU time alike.
"""

import dataclasses
import os
import statistics
import time

import numpy as np

BATCH = 64
LATENCY_RUNS = 50
WARM_UP = 5


@dataclasses.dataclass
class Reference:
    """The Keras model's outputs on the test images: what every artifact is compared with.

    Attributes:
        probabilities: float32 `(N, classes)`.
        labels: int `(N,)`.
        accuracy: float, the Keras model's test accuracy on them.
    """

    probabilities: np.ndarray
    labels: np.ndarray
    accuracy: float


@dataclasses.dataclass
class Measurement:
    """One artifact in its runtime (see the module docstring); `to_dict` is its report row."""

    format: str
    quantize: str
    path: str
    precision: str
    computes_in: str
    accuracy: float
    keras_accuracy: float
    max_difference: float
    size_bytes: int
    latency_ms: float
    throughput: float
    cpu_per_image_ms: float
    images: int

    @property
    def drop_points(self):
        """How far (percentage points) its accuracy is below the Keras model's (< 0: above)."""
        return 100 * (self.keras_accuracy - self.accuracy)

    def to_dict(self):
        return {**dataclasses.asdict(self), "drop_points": round(self.drop_points, 4)}


def batches(images, size=BATCH):
    """`images` (an array or `kregs.data.ImageFiles`) as uint8 arrays of `size`, in order."""
    from kregs.data import ImageFiles

    for start in range(0, len(images), size):
        part = images[start : start + size]
        yield part.decode() if isinstance(part, ImageFiles) else np.asarray(part)


def reference(model, images, labels):
    """The Keras model's probabilities and accuracy on `images` (see `Reference`)."""
    outputs = [np.asarray(model.predict_on_batch(x), dtype=np.float32) for x in batches(images)]
    probabilities = np.concatenate(outputs)
    labels = np.asarray(labels)
    return Reference(probabilities, labels, float(np.mean(probabilities.argmax(1) == labels)))


def size_on_disk(folder, files):
    """Bytes of the model's `files` (folders counted whole) in `folder`."""
    total = 0
    for name in files:
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                total += sum(os.path.getsize(os.path.join(root, n)) for n in names)
        elif os.path.exists(path):
            total += os.path.getsize(path)
    return total


def measure(runtime, images, ref, folder, quantize="none", precision="float32", label=None):
    """Runs `runtime` over `images` (batches of 64) and 50 single images; returns a `Measurement`.

    Args:
        runtime: a `kregs.deploy.runtimes.Runtime`.
        images: the test images the Keras reference `ref` was computed on.
        ref: `Reference`.
        folder: str, the artifact's folder (its size on disk).
        quantize, precision: str, recorded.
        label: str or None, the folder as the report names it (default `folder`).
    """
    from kregs.deploy.formats import FORMATS

    first = next(batches(images))
    for _ in range(WARM_UP):
        runtime.predict(first[:1])
    runtime.predict(first)
    wall, cpu = time.perf_counter(), time.process_time()
    outputs = np.concatenate([runtime.predict(x) for x in batches(images)])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    latencies = []
    for i in range(LATENCY_RUNS):
        one = first[i % len(first) : i % len(first) + 1]
        start = time.perf_counter()
        runtime.predict(one)
        latencies.append(time.perf_counter() - start)
    n = len(ref.labels)
    return Measurement(
        format=runtime.format,
        quantize=quantize,
        path=label or folder,
        precision=precision,
        computes_in=runtime.computes_in or (precision if quantize == "none" else quantize),
        accuracy=float(np.mean(outputs.argmax(1) == ref.labels)),
        keras_accuracy=ref.accuracy,
        max_difference=float(np.max(np.abs(outputs - ref.probabilities))),
        size_bytes=size_on_disk(folder, FORMATS[runtime.format].files),
        latency_ms=1000 * statistics.median(latencies),
        throughput=n / wall,
        cpu_per_image_ms=1000 * cpu / n,
        images=n,
    )


def table(rows):
    """A markdown table of `Measurement.to_dict()` rows."""
    from kregs.deploy.formats import FORMATS

    lines = [
        "| format | quantize | precision (runtime's) | test accuracy | Keras model's | "
        "drop, points | "
        "largest probability difference | size, MB | latency at batch 1, ms | "
        "images/s at batch 64 | CPU ms per image | folder |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {FORMATS[r['format']].label} | {r['quantize']} | {r['precision']}"
            + (
                f" ({r['computes_in']})"
                if r.get("computes_in", r["precision"]) != r["precision"]
                else ""
            )
            + " | "
            f"{100 * r['accuracy']:.2f}% | {100 * r['keras_accuracy']:.2f}% | "
            f"{r['drop_points']:+.2f} | {r['max_difference']:.2g} | "
            f"{r['size_bytes'] / 1e6:.2f} | {r['latency_ms']:.2f} | {r['throughput']:.0f} | "
            f"{r['cpu_per_image_ms']:.3f} | {r['path']} |"
        )
    return "\n".join(lines)
