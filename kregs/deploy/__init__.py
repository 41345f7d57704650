"""Deploy a model beyond the SavedModel: LiteRT (with int8), ONNX, OpenVINO, each checked.

`deploy` writes one model in several formats as one version number, each
atomically (a temporary folder renamed into place) beside the SavedModel:

    export/<name>/<version>/                  SavedModel (TF Serving's layout)
    export/<name>-litert[-dynamic|-int8]/<version>/model.tflite
    export/<name>-onnx/<version>/model.onnx
    export/<name>-openvino/<version>/model.xml, model.bin

each with `class_names.txt` and `kregs.json` (what it is). Every artifact is run
in its own runtime right after it is written (`kregs.deploy.measure`): its test
accuracy against the Keras model's, the largest difference in probabilities,
size, latency and throughput. One whose accuracy falls more than `max_accuracy_drop`
points below the Keras model's is refused (not put in place) unless
`accept_accuracy_drop`. The figures go to `export/report.json` and `export/REPORT.md`.

Example:
>>> result = deploy(model, "runs/quick/export", "fashion_mnist", ["litert", "onnx"],
...                 class_names, test=ds.test, calibration=ds.validation[0])
>>> result.rows[0]["accuracy"], result.refused
"""

import dataclasses
import functools
import json
import logging
import os
import shutil

from kregs.deploy.convert import write_artifact
from kregs.deploy.formats import (
    CALIBRATION_IMAGES,
    FORMATS,
    MAX_DROP,
    QUANTIZATIONS,
    DeployOptions,
    artifact_files,
    check_quantize,
    folder_name,
    next_version,
    require,
)
from kregs.deploy.measure import Measurement, Reference, measure, reference, table
from kregs.deploy.precision import PRECISIONS, model_to_export
from kregs.deploy.runtimes import artifact_format, open_artifact
from kregs.run.files import new_folder, read_json, write_atomic, write_json

logger = logging.getLogger(__name__)

REPORT_JSON = "report.json"
REPORT_MD = "REPORT.md"

__all__ = [
    "CALIBRATION_IMAGES",
    "FORMATS",
    "MAX_DROP",
    "PRECISIONS",
    "QUANTIZATIONS",
    "DeployOptions",
    "DeployResult",
    "Measurement",
    "Reference",
    "artifact_files",
    "artifact_format",
    "check_quantize",
    "deploy",
    "next_version",
    "open_artifact",
    "reference",
    "replace_section",
    "report_section",
    "require",
]


@dataclasses.dataclass
class DeployResult:
    """What `deploy` did.

    Attributes:
        version: int, the version number every format was written as.
        written: dict `{format: folder}` of the artifacts in place (new or already there).
        rows: list of dict, the measurements (`Measurement.to_dict`) of this version.
        refused: dict `{format: reason}` of the artifacts refused for their accuracy.
    """

    version: int
    written: dict
    rows: list
    refused: dict


def deploy(
    model,
    export_dir,
    name,
    class_names,
    options=None,
    *,
    version=None,
    test=None,
    calibration=None,
    metadata=None,
):
    """Writes `model` in each of `options.export_formats` as one version, checking each in its
    runtime.

    Args:
        model: a `keras.Model` taking uint8 images, giving probabilities.
        export_dir: str, the run's `export/` folder.
        name: str, the model's name (the data set's).
        class_names: sequence of str, in class-id order.
        options: `DeployOptions` (formats, quantization, precision, refusal).
        version: int or None, None: `next_version`. A format whose folder of this
            version exists is not written again (it is measured if it was not).
        test: `(images, labels)` or None: the test images every artifact is
            checked on (None: written unchecked).
        calibration: uint8 images for int8 (the validation split's; at most
            `CALIBRATION_IMAGES` are used).
        metadata: dict, recorded in each artifact's `kregs.json`.

    Returns:
        `DeployResult`.
    """
    options = options or DeployOptions()
    exported, used = model_to_export(model, options.export_precision)
    version = version or next_version(export_dir, name)
    ref = reference(model, *test) if test is not None else None
    if calibration is not None:
        calibration = calibration[:CALIBRATION_IMAGES]
    report = read_json(os.path.join(export_dir, REPORT_JSON)) or {}
    result = DeployResult(version, {}, [], {})
    for fmt in options.export_formats:
        quant = options.quantize if fmt == "litert" else "none"
        rel = f"{folder_name(name, fmt, quant)}/{version}"
        target = os.path.join(export_dir, rel)
        check = functools.partial(
            _check, test=test, ref=ref, quantize=quant, precision=used, label=rel
        )
        if os.path.isdir(target):
            row = report.get(rel) or check(target)
        else:
            meta = {
                **(metadata or {}),
                "format": fmt,
                "quantize": quant,
                "precision": used,
                "version": version,
                "class_names": list(class_names),
            }
            row, refusal = _write(exported, target, calibration, meta, check, options)
            if refusal:
                result.refused[fmt] = refusal
                continue
        result.written[fmt] = target
        if row:
            report[rel] = row
            result.rows.append(row)
    _write_report(export_dir, report)
    return result


def _write(model, target, calibration, meta, check, options):
    """Writes one artifact into a temporary folder beside `target`, checks it there and
    renames it into place, unless its accuracy refuses it: `(row, refusal or None)`.

    A refused or half-written artifact is never where a server or `kregs predict`
    would load it.
    """
    fmt = meta["format"]
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    with new_folder(parent, "export") as tmp:
        write_artifact(model, fmt, tmp, meta["class_names"], meta["quantize"], calibration)
        row = check(tmp)
        if row and row["drop_points"] > options.max_accuracy_drop:
            if not options.accept_accuracy_drop:
                shutil.rmtree(tmp, ignore_errors=True)
                return None, refusal_text(row, options.max_accuracy_drop)
        meta_file = os.path.join(tmp, "assets" if fmt == "savedmodel" else "", "kregs.json")
        write_json(meta_file, {**meta, "check": row})
        os.rename(tmp, target)  # fails where another process wrote this version meanwhile
    logger.info("exported %s", target)
    return row, None


def _check(folder, test, ref, quantize, precision, label):
    """The artifact in `folder` measured in its runtime (a report row); None without `ref`."""
    if ref is None:
        return None
    runtime = open_artifact(folder)
    return measure(runtime, test[0], ref, folder, quantize, precision, label=label).to_dict()


def refusal_text(row, max_drop):
    """The one line that says why an artifact was refused, with its figures."""
    label = FORMATS[row["format"]].label + (
        "" if row["quantize"] == "none" else f" {row['quantize']}"
    )
    return (
        f"{label}: test accuracy {100 * row['accuracy']:.2f}% is {row['drop_points']:.2f} points "
        f"below the Keras model's {100 * row['keras_accuracy']:.2f}% (more than {max_drop:g}); "
        "not written (--accept-accuracy-drop keeps it)"
    )


SECTION = "## Deploy"


def report_section(result):
    """summary.md's lines on `result` (a `DeployResult`): its table and its refusals."""
    lines = [SECTION, ""]
    if result.rows:
        lines += [
            f"Version {result.version} in each format, run in its own runtime on the "
            f"{result.rows[0]['images']:,} test images (all versions: export/{REPORT_MD}).",
            "",
            table(result.rows),
        ]
    else:
        lines.append(f"Version {result.version}, written without a check (no test images).")
    lines += [f"- refused: {text}" for text in result.refused.values()]
    return lines


def replace_section(text, lines):
    """`text` (a markdown file) with its `## Deploy` section replaced by `lines`, or added."""
    kept, skipping = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            skipping = line.strip() == SECTION
        if not skipping:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join([*kept, "", *lines, ""])


def _write_report(export_dir, report):
    """export/report.json (every artifact's row) and export/REPORT.md (its table, newest first)."""
    if not report:
        return
    os.makedirs(export_dir, exist_ok=True)
    order = sorted(report, key=lambda rel: (-int(rel.rsplit("/", 1)[1]), rel))
    write_atomic(
        os.path.join(export_dir, REPORT_JSON), json.dumps(report, indent=2, sort_keys=True)
    )
    rows = [report[rel] for rel in order]
    any_row = rows[0]
    text = "\n".join(
        [
            "# Deployed models",
            "",
            f"Each artifact run in its own runtime on the same {any_row['images']:,} test "
            "images as the Keras model (`kregs export`, `kregs tune --export-format`); "
            "latency: the median of 50 single images; throughput: batches of 64, every core.",
            "",
            table(rows),
            "",
        ]
    )
    write_atomic(os.path.join(export_dir, REPORT_MD), text)
