"""Deploy beyond the SavedModel: LiteRT (with int8), ONNX and OpenVINO, each in its runtime."""

import json
import os

import keras
import numpy as np
import pytest
from _helpers import write_idx_dataset
from click.testing import CliRunner

from kregs import RegConfig, build_model
from kregs.cli.main import main
from kregs.deploy import DeployOptions, deploy, formats, next_version, replace_section
from kregs.deploy.precision import float32_model
from kregs.deploy.predictor import Predictor
from kregs.errors import ConfigError

NAMES = ["dark", "grey", "light"]


def _kregs(args):
    return CliRunner().invoke(main, args, prog_name="kregs")


def _images(n, seed):
    """3 classes of 12 x 12 grayscale images: their brightness, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = (rng.integers(0, 50, (n, 12, 12, 1)) + 70 * y[:, None, None, None]).astype(np.uint8)
    return x, y


@pytest.fixture(scope="module")
def trained():
    """A small CNN (BN, dropout) trained in bfloat16 on easy data; validation and test splits."""
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_model((12, 12, 1), 3, RegConfig(dropout=0.1, batch_norm="before_activation"))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x, y = _images(600, 0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    return model, _images(120, 1), _images(90, 2)


def test_a_bfloat16_model_exports_as_a_float32_copy_with_the_same_weights(trained):
    model, _, (x, _) = trained
    copy, precision = float32_model(model)
    assert precision == "float32" and copy is not model
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    for a, b in zip(model.get_weights(), copy.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), atol=0.02)
    assert float32_model(copy) == (copy, "float32")  # a float32 model is its own copy


def test_every_format_round_trips_in_its_own_runtime(trained, tmp_path):
    """Written, checked on the test images, put in place; kregs predict reads each."""
    model, (xv, _), test = trained
    options = DeployOptions(export_formats=("savedmodel", "litert", "onnx", "openvino"))
    result = deploy(
        model,
        str(tmp_path),
        "toy",
        NAMES,
        options,
        test=test,
        calibration=xv,
        metadata={"trial_id": "4"},
    )
    assert result.version == 1 and result.refused == {}
    folders = {
        "savedmodel": "toy",
        "litert": "toy-litert",
        "onnx": "toy-onnx",
        "openvino": "toy-openvino",
    }
    assert result.written == {f: str(tmp_path / d / "1") for f, d in folders.items()}
    files = {
        "savedmodel": "saved_model.pb",
        "litert": "model.tflite",
        "onnx": "model.onnx",
        "openvino": "model.xml",
    }
    f32, _ = float32_model(model)
    expected = f32.predict(test[0], verbose=0)
    keras_accuracy = np.mean(model.predict(test[0], verbose=0).argmax(1) == test[1])
    rows = {r["format"]: r for r in result.rows}
    for fmt, folder in result.written.items():
        assert os.path.isfile(os.path.join(folder, files[fmt]))
        predictor = Predictor(folder)
        assert predictor.input_shape == (12, 12, 1) and predictor.class_names == NAMES
        got = predictor.predict(test[0])
        # (OpenVINO computes in bfloat16 on a CPU with bfloat16 units: its default)
        close = 1e-4 if rows[fmt]["computes_in"] == "float32" else 5e-3
        np.testing.assert_allclose(got, expected, atol=close, err_msg=fmt)
        row = rows[fmt]
        assert row["accuracy"] == pytest.approx(np.mean(got.argmax(1) == test[1]))
        assert row["keras_accuracy"] == pytest.approx(keras_accuracy) and row["images"] == 90
        assert row["size_bytes"] > 1000 and row["latency_ms"] > 0 and row["throughput"] > 0
        assert row["path"] == f"{folders[fmt]}/1"
    meta = json.loads((tmp_path / "toy-onnx" / "1" / "kregs.json").read_text())
    assert (meta["trial_id"], meta["format"], meta["precision"]) == ("4", "onnx", "float32")
    assert meta["check"]["accuracy"] == rows["onnx"]["accuracy"]
    assert Predictor(str(tmp_path / "toy-litert" / "1" / "model.tflite")).class_names == NAMES
    report = (tmp_path / "REPORT.md").read_text()
    assert report.count("| toy") == 4 and "on the same 90 test images" in report
    assert not [n for n in os.listdir(tmp_path / "toy-onnx") if n.startswith(".")]


def test_int8_is_calibrated_on_validation_images_and_keeps_uint8_in_float_out(trained, tmp_path):
    model, (xv, _), test = trained
    options = DeployOptions(export_formats=("litert",), quantize="int8")
    result = deploy(model, str(tmp_path), "toy", NAMES, options, test=test, calibration=xv)
    folder = tmp_path / "toy-litert-int8" / "1"
    assert result.written == {"litert": str(folder)}
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(folder / "model.tflite"))
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert {"QUANTIZE", "CONV_2D"} <= ops  # integer convolutions between quantize/dequantize
    runner = interpreter.get_signature_runner()
    assert runner.get_input_details()["images"]["dtype"] == np.uint8
    assert runner.get_output_details()["probabilities"]["dtype"] == np.float32
    (row,) = result.rows
    assert row["quantize"] == "int8" and row["accuracy"] >= row["keras_accuracy"] - 0.05
    dynamic = deploy(
        model,
        str(tmp_path),
        "toy",
        NAMES,
        DeployOptions(export_formats=("litert",), quantize="dynamic"),
        test=test,
    )
    assert dynamic.version == 2  # one number per call, across formats
    float_size = os.path.getsize(
        deploy(
            model, str(tmp_path), "toy", NAMES, DeployOptions(export_formats=("litert",))
        ).written["litert"]
        + "/model.tflite"
    )
    assert os.path.getsize(folder / "model.tflite") < float_size / 2
    assert next_version(str(tmp_path), "toy") == 4


def test_an_artifact_that_loses_accuracy_is_refused_unless_accepted(trained, tmp_path, monkeypatch):
    model, _, test = trained
    import kregs.deploy

    broken = keras.models.clone_model(float32_model(model)[0])  # fresh weights: ~1/3 right
    monkeypatch.setattr(kregs.deploy, "model_to_export", lambda m, precision: (broken, "float32"))
    options = DeployOptions(export_formats=("onnx",), max_accuracy_drop=0.5)
    result = deploy(model, str(tmp_path), "toy", NAMES, options, test=test)
    assert result.written == {} and result.rows == []
    assert not (tmp_path / "report.json").exists()
    accuracy = 100 * np.mean(broken.predict(test[0], verbose=0).argmax(1) == test[1])
    reference = 100 * np.mean(model.predict(test[0], verbose=0).argmax(1) == test[1])
    assert reference - accuracy > 0.5
    assert result.refused == {
        "onnx": f"ONNX: test accuracy {accuracy:.2f}% is {reference - accuracy:.2f} points "
        f"below the Keras model's {reference:.2f}% (more than 0.5); not written "
        "(--accept-accuracy-drop keeps it)"
    }
    assert os.listdir(tmp_path / "toy-onnx") == []  # nothing in place, no temporary left
    kept = deploy(
        model,
        str(tmp_path),
        "toy",
        NAMES,
        DeployOptions(export_formats=("onnx",), accept_accuracy_drop=True),
        test=test,
    )
    assert kept.refused == {} and os.path.isfile(kept.written["onnx"] + "/model.onnx")


def test_a_missing_runtime_is_one_line_naming_its_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(formats, "_installed", lambda module: module != "onnxruntime")
    with pytest.raises(ConfigError) as err:
        DeployOptions(export_formats=("onnx",))
    assert str(err.value) == (
        '--format onnx needs its extra: pip install "kregs[onnx]" (onnxruntime not installed here)'
    )
    result = _kregs(["export", str(tmp_path), "--export-format", "onnx"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        'Error: --format onnx needs its extra: pip install "kregs[onnx]" (onnxruntime not '
        "installed here) (see kregs export --help)"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["export", ".", "--quantize", "int8"],
            "--quantize int8 is for --format litert (LiteRT's quantization)",
        ),
        (
            ["tune", "--folds", "0", "--quantize", "dynamic"],
            "Invalid value for argument `quantize`: expected none without --export-format litert "
            "(it quantizes LiteRT). Received: quantize='dynamic'",
        ),
    ],
)
def test_quantization_without_litert_is_refused(args, message):
    result = _kregs(args)
    assert result.exit_code == 2 and f"Error: {message}" in result.stderr, result.output


def test_int8_without_calibration_images_is_refused(trained, tmp_path):
    """int8 is calibrated on validation images: none given is one line, and `kregs export
    --no-check` (which loads no data) cannot quantize to int8."""
    model, _, _ = trained
    with pytest.raises(ConfigError, match="^int8 quantization needs calibration images"):
        deploy(
            model,
            str(tmp_path),
            "toy",
            NAMES,
            DeployOptions(export_formats=("litert",), quantize="int8"),
        )
    assert not (tmp_path / "toy-litert-int8" / "1").exists()
    result = _kregs(
        ["export", str(tmp_path), "--export-format", "litert", "--quantize", "int8", "--no-check"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: int8 is calibrated on the run's validation images: drop --no-check"
    )


def test_the_deploy_section_of_summary_md_is_replaced():
    text = "# run\n\n## Best model\n\n- x\n\n## Deploy\n\nold\n\n## Importance\n\n- y\n"
    assert replace_section(text, ["## Deploy", "", "new"]) == (
        "# run\n\n## Best model\n\n- x\n\n## Importance\n\n- y\n\n## Deploy\n\nnew\n"
    )


@pytest.fixture(scope="module")
def deployed_run(tmp_path_factory):
    """`kregs tune --export-format litert --export-format onnx --quantize int8` on small data."""
    root = tmp_path_factory.mktemp("deployed")
    write_idx_dataset(root / "data", n_train=300, n_test=60)
    out = root / "run"
    result = _kregs(
        [
            "tune",
            "--folds",
            "0",
            "--dataset",
            "mnist",
            "--data-dir",
            str(root / "data"),
            "--arch",
            "mlp",
            "--max-trials",
            "1",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--no-refit",
            "--quiet",
            "--recycle-after",
            "0",
            "--output",
            str(out),
            "--export-format",
            "litert",
            "--export-format",
            "onnx",
            "--quantize",
            "int8",
            "--accept-accuracy-drop",
        ]
    )
    return root, out, result


def test_tune_writes_the_formats_beside_its_savedmodel(deployed_run):
    root, out, result = deployed_run
    assert result.exit_code == 0, result.output[-3000:]
    export = out / "export"
    assert sorted(os.listdir(export)) == [
        "REPORT.md",
        "mnist",
        "mnist-litert-int8",
        "mnist-onnx",
        "report.json",
    ]
    assert f"LiteRT: {export / 'mnist-litert-int8' / '1'} (test accuracy" in result.output
    summary = (out / "summary.md").read_text()
    section = summary.split("## Deploy")[1]
    assert "Version 1 in each format" in section and section.count("| mnist") == 3
    assert "Created TensorFlow Lite XNNPACK" not in result.output + result.stderr
    # `kregs export` writes another version in another format, and the section follows it
    again = _kregs(
        ["export", str(out), "--export-format", "openvino", "--data-dir", str(root / "data")]
    )
    assert again.exit_code == 0, again.output[-3000:]
    assert again.output.strip().splitlines()[-1] == f"OpenVINO: {export / 'mnist-openvino' / '2'}"
    section = (out / "summary.md").read_text().split("## Deploy")[1]
    assert "Version 2 in each format" in section and "| mnist-openvino/2 |" in section
    assert (export / "REPORT.md").read_text().count("| mnist") == 4


def test_predict_reads_every_exported_format(deployed_run, tmp_path):
    """Each format's class for the same test images, and the float formats' agree."""
    from kregs.data import load_dataset

    root, out, _ = deployed_run
    x = load_dataset("mnist", data_dir=str(root / "data")).test[0][:4]
    np.save(tmp_path / "x.npy", x)
    classes = {}
    for folder in ("mnist", "mnist-litert-int8", "mnist-onnx/1/model.onnx"):
        result = _kregs(["predict", str(out / "export" / folder), str(tmp_path / "x.npy")])
        assert result.exit_code == 0 and "scores" not in result.output, result.output
        lines = result.output.strip().splitlines()
        assert [line.split(": ")[0] for line in lines] == [
            f"{tmp_path / 'x.npy'}[{i}]" for i in range(4)
        ]
        classes[folder] = [line.split(": ")[1].split(" ")[0] for line in lines]
    assert classes["mnist"] == classes["mnist-onnx/1/model.onnx"]
    assert all(c in [str(i) for i in range(10)] for v in classes.values() for c in v)
