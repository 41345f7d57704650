"""Exported SavedModels as TF Serving clients see them, `kregs predict` and `kregs export`."""

import json
import os
import re
import subprocess

import keras
import numpy as np
import pytest
from _helpers import run_python, venv_script, write_idx_dataset
from click.testing import CliRunner
from PIL import Image

from kregs import RegConfig, build_model
from kregs.cli.main import main
from kregs.data import load_dataset, pipeline
from kregs.data.images import read_batch, read_image
from kregs.deploy.savedmodel import export_for_serving
from kregs.errors import DataError

REG = RegConfig(l2=1e-4, dropout=0.2, batch_norm="before_activation")


def _kregs(args):
    return CliRunner().invoke(main, args, prog_name="kregs")


@pytest.fixture(scope="module")
def fashion(fashion_mnist):
    return load_dataset("fashion_mnist", limit=3000, seed=0)


@pytest.fixture(scope="module")
def exported(fashion, tmp_path_factory):
    """A CNN trained two epochs on real Fashion-MNIST, saved as .keras and exported."""
    keras.utils.set_random_seed(0)
    model = build_model(fashion.info.input_shape, 10, REG)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(pipeline(*fashion.train, 64, training=True, seed=0), epochs=2, verbose=0)
    root = tmp_path_factory.mktemp("serving")
    model.save(root / "model.keras")
    (root / "model.json").write_text(json.dumps({"class_names": list(fashion.info.class_names)}))
    path = export_for_serving(
        model, str(root / "export" / "fashion_mnist"), fashion.info.class_names
    )
    return model, root, path


def test_saved_model_cli_shows_the_signatures(exported):
    _, _, path = exported
    proc = subprocess.run(
        [venv_script("saved_model_cli"), "show", "--all", "--dir", path],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    signatures = re.findall(r"signature_def\['(\w+)'\]", out)
    assert set(signatures) == {"__saved_model_init_op", "serving_default", "class_names"}
    serving = out.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    serving = serving.split("The MetaGraph")[0]

    def tensor(kind, name):
        block = serving.split(f"{kind}['{name}'] tensor_info:")[1]
        dtype = re.search(r"dtype: (\w+)", block).group(1)
        shape = re.search(r"shape: (\(.*?\))", block).group(1)
        return dtype, shape

    assert re.findall(r"inputs\['(\w+)'\]", serving) == ["images"]
    assert sorted(re.findall(r"outputs\['(\w+)'\]", serving)) == ["class_ids", "probabilities"]
    assert tensor("inputs", "images") == ("DT_UINT8", "(-1, 28, 28, 1)")
    assert tensor("outputs", "probabilities") == ("DT_FLOAT", "(-1, 10)")
    assert tensor("outputs", "class_ids") == ("DT_INT32", "(-1)")
    names = out.split("signature_def['class_names']")[1].split("signature_def[")[0]
    assert "outputs['class_names']" in names and "dtype: DT_STRING" in names


def test_fresh_process_without_kregs_gets_the_same_probabilities(exported, fashion, tmp_path):
    model, _, path = exported
    x = fashion.test[0][:256]
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, json, numpy as np, tensorflow as tf\n"
        f"m = tf.saved_model.load({path!r})\n"
        "out = m.signatures['serving_default'](images=tf.constant(np.load('x.npy')))\n"
        "np.save('p.npy', out['probabilities'].numpy())\n"
        "np.save('c.npy', out['class_ids'].numpy())\n"
        "names = [n.decode() for n in m.signatures['class_names']()['class_names'].numpy()]\n"
        "ours = [k for k in sys.modules if k.split('.')[0] == 'kregs']\n"
        "print(json.dumps({'names': names, 'kregs': ours}))\n"
    )
    proc = run_python(code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["kregs"] == [] and result["names"] == list(fashion.info.class_names)
    probabilities = np.load(tmp_path / "p.npy")
    expected = model.predict(x, verbose=0)
    assert np.max(np.abs(probabilities - expected)) <= 1e-5
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), expected.argmax(axis=1))
    assert (probabilities.argmax(1) == fashion.test[1][:256]).mean() > 0.5  # a real classifier


def test_class_names_asset(exported):
    _, _, path = exported
    names = open(os.path.join(path, "assets", "class_names.txt")).read().splitlines()
    assert names[0] == "T-shirt/top" and names[9] == "Ankle boot" and len(names) == 10


def _pngs(folder, images):
    paths = []
    for i, image in enumerate(images):
        path = folder / f"img{i}.png"
        Image.fromarray(image[..., 0]).save(path)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("which", ["version", "model_dir", "keras"])
def test_predict_prints_top_class_per_image(which, exported, fashion, tmp_path):
    model, root, path = exported
    target = {
        "version": path,
        "model_dir": str(root / "export" / "fashion_mnist"),
        "keras": str(root / "model.keras"),
    }[which]
    x = fashion.test[0][:3]
    result = _kregs(["predict", target, *_pngs(tmp_path, x)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    probabilities = model.predict(x, verbose=0)
    names = fashion.info.class_names
    for i, line in enumerate(lines):
        top = probabilities[i].argmax()
        assert line == f"{tmp_path / f'img{i}.png'}: {names[top]} {probabilities[i, top]:.3f}"


def test_predict_npy_batch_top_k_json(exported, fashion, tmp_path):
    model, _, path = exported
    np.save(tmp_path / "batch.npy", fashion.test[0][:4])
    result = _kregs(["predict", path, str(tmp_path / "batch.npy"), "--top-k", "3", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.strip().splitlines()]
    assert [r["input"] for r in rows] == [f"{tmp_path / 'batch.npy'}[{i}]" for i in range(4)]
    probabilities = model.predict(fashion.test[0][:4], verbose=0)
    for row, p in zip(rows, probabilities, strict=True):
        assert [t["class_id"] for t in row["top"]] == list(np.argsort(-p)[:3])
        assert row["top"][0]["probability"] == pytest.approx(p.max(), abs=1e-5)


def test_image_conversions(tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    rgb = np.stack([gray] * 3, axis=-1)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png", (28, 28, 1))[..., 0], gray)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    np.testing.assert_array_equal(read_image(tmp_path / "gray.png", (28, 28, 3)), rgb)
    Image.fromarray(np.kron(gray, np.ones((2, 2), np.uint8))).save(tmp_path / "big.png")
    assert read_image(tmp_path / "big.png", (28, 28, 1)).shape == (28, 28, 1)
    opaque = np.dstack([rgb, np.full((28, 28), 255, np.uint8)])
    Image.fromarray(opaque).save(tmp_path / "opaque.png")
    assert read_image(tmp_path / "opaque.png", (28, 28, 3)).shape == (28, 28, 3)
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", quality=95)
    assert read_image(tmp_path / "photo.jpg", (28, 28, 1)).dtype == np.uint8


def test_a_file_that_is_not_an_image_is_refused(tmp_path):
    """Images of another aspect ratio, with transparency or 16-bit pixels are read as training
    read them (tests/test_own_faults.py); a file that is no image is refused."""
    path = tmp_path / "bad.png"
    path.write_text("not an image")
    with pytest.raises(DataError, match="cannot decode image"):
        read_image(path, (28, 28, 1))


def test_npy_shapes(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((28, 28), np.uint8))
    assert read_batch(tmp_path / "one.npy", (28, 28, 1)).shape == (1, 28, 28, 1)
    np.save(tmp_path / "many.npy", np.zeros((5, 28, 28), np.uint8))
    assert read_batch(tmp_path / "many.npy", (28, 28, 1)).shape == (5, 28, 28, 1)
    np.save(tmp_path / "float.npy", np.zeros((5, 28, 28, 1), np.float32))
    with pytest.raises(DataError, match="has dtype float32; the model takes"):
        read_batch(tmp_path / "float.npy", (28, 28, 1))


def test_bad_inputs_are_one_line_exit_2(exported, tmp_path):
    _, _, path = exported
    (tmp_path / "junk.png").write_text("no image here")
    np.save(tmp_path / "wrong.npy", np.zeros((3, 32, 32, 3), np.uint8))
    cases = [
        (
            [str(tmp_path), str(tmp_path / "junk.png")],
            "not a SavedModel folder (no saved_model.pb)",
        ),
        ([path, str(tmp_path / "junk.png")], "junk.png: cannot decode image"),
        (
            [path, str(tmp_path / "wrong.npy")],
            "wrong.npy: has shape (3, 32, 32, 3); the model takes (N, 28, 28, 1) uint8",
        ),
    ]
    for args, message in cases:
        result = _kregs(["predict", *args])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and lines[0].startswith("Error: ")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from kregs.tuner import TuneConfig, tune

    root = tmp_path_factory.mktemp("run")
    write_idx_dataset(root / "data", n_train=300, n_test=50)
    config = TuneConfig.create(
        "mnist",
        data_dir=str(root / "data"),
        folds=0,
        output=str(root / "run"),
        arch="mlp",
        space="default",
        algorithm="random",
        max_trials=2,
        epochs=1,
        batch_size=32,
        keep_best=1,
    )
    tune(config)
    return root / "run"


def test_export_command_writes_the_next_version(finished_run):
    data = ["--data-dir", str(finished_run.parent / "data")]
    result = _kregs(["export", str(finished_run), *data])
    assert result.exit_code == 0, result.output
    last = result.output.strip().splitlines()[-1]
    assert last == f"SavedModel: {finished_run / 'export' / 'mnist' / '2'}"
    assert "| SavedModel | none | float32 |" in result.output  # checked in TensorFlow
    result = _kregs(["export", str(finished_run), "--trial", "1", "--no-check"])
    assert result.exit_code == 0, result.output
    meta = json.loads(
        (finished_run / "export" / "mnist" / "3" / "assets" / "kregs.json").read_text()
    )
    assert meta["trial_id"] == "1"
    assert sorted(os.listdir(finished_run / "export" / "mnist")) == ["1", "2", "3"]


def test_export_command_bad_trial(finished_run):
    result = _kregs(["export", str(finished_run), "--trial", "7"])
    assert result.exit_code == 2
    assert "Invalid value for argument `trial`: expected a completed trial of this run (0, 1)" in (
        result.output
    )


def test_export_command_not_a_run(tmp_path):
    result = _kregs(["export", str(tmp_path)])
    assert result.exit_code == 2 and "is not a kregs run (no run.json)" in result.output
