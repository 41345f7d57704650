"""kregs under JAX with TensorFlow absent: tune, --workers, study and predict run; the
SavedModel is written afterwards by `kregs export` where TensorFlow is; device set-up.

Each command runs as a child process with `KERAS_BACKEND=jax` and
`tests/no_tensorflow/` on its path, which makes `import tensorflow` fail as it
does where TensorFlow is not installed (the GPU machine's case).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from _helpers import REPO, read_csv, write_idx_dataset

NO_TENSORFLOW = os.path.join(REPO, "tests", "no_tensorflow")


def _jax(args, timeout=600):
    """`python -m kregs ARGS` under JAX, TensorFlow absent."""
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        PYTHONPATH=os.pathsep.join([NO_TENSORFLOW, os.environ.get("PYTHONPATH", "")]),
        JAX_PLATFORMS="cpu",
    )
    return subprocess.run(
        [sys.executable, "-m", "kregs", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    write_idx_dataset(folder, n_train=400, n_test=60)
    return str(folder)


TUNE = [
    "--dataset",
    "mnist",
    "--arch",
    "mlp",
    "--preset",
    "smoke",
    "--max-trials",
    "2",
    "--epochs",
    "2",
    "--limit",
    "400",
    "--batch-size",
    "32",
    "--keep-best",
    "1",
]


@pytest.fixture(scope="module")
def jax_run(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("jax") / "run"
    proc = _jax(["tune", "--folds", "0", *TUNE, "--data-dir", tiny, "--output", str(out)])
    return out, proc


def test_tune_runs_under_jax_without_tensorflow(jax_run):
    out, proc = jax_run
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = read_csv(out / "trials.csv")
    assert [r["status"] for r in rows] == ["COMPLETED", "COMPLETED"]
    assert json.loads((out / "run.json").read_text())["precision"] in ("float32", "bfloat16")
    assert len(list((out / "best").glob("*.keras"))) == 1
    # No SavedModel here, and one line that says why and what writes it.
    assert not (out / "export").exists()
    line = next(x for x in proc.stdout.splitlines() if x.startswith("SavedModel:"))
    assert line == (
        "SavedModel: none: a SavedModel needs TensorFlow (this run trained with jax): "
        f"`kregs export {out}` on a machine with TensorFlow writes it from the saved model"
    )


def test_a_jax_run_exports_where_tensorflow_is(jax_run, tiny, tmp_path):
    """The other machine's half: TensorFlow present, `kregs export` writes the SavedModel
    with the same signature as a TensorFlow run's; it gives the .keras model's numbers."""
    from click.testing import CliRunner

    from kregs.cli.main import main
    from kregs.deploy.predictor import Predictor

    out, proc = jax_run
    assert proc.returncode == 0
    result = CliRunner().invoke(main, ["export", str(out), "--data-dir", tiny], prog_name="kregs")
    assert result.exit_code == 0, result.output
    version = out / "export" / "mnist" / "1"
    assert result.output.strip().splitlines()[-1] == f"SavedModel: {version}"
    saved = Predictor(str(version))
    keras_model = Predictor(str(next((out / "best").glob("*.keras"))))
    assert saved.input_shape == keras_model.input_shape == (28, 28, 1)
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    np.testing.assert_allclose(saved.predict(images), keras_model.predict(images), atol=1e-2)
    assert saved.class_names == [str(i) for i in range(10)]


def test_predict_under_jax_takes_keras_models_and_refuses_savedmodels(jax_run, tmp_path):
    out, _ = jax_run
    images = tmp_path / "x.npy"
    np.save(images, np.zeros((2, 28, 28, 1), np.uint8))
    model = next((out / "best").glob("*.keras"))
    proc = _jax(["predict", str(model), str(images)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [line.split(":")[0] for line in proc.stdout.splitlines()] == [
        f"{images}[0]",
        f"{images}[1]",
    ]
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    proc = _jax(["predict", str(tmp_path / "sm"), str(images)])
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"Error: {tmp_path / 'sm'}: a SavedModel needs TensorFlow to run, not installed here; "
        "give the run's .keras model (best/*.keras) instead (see kregs predict --help)"
    ]


def test_export_without_tensorflow_is_one_line_and_exit_2(jax_run):
    out, _ = jax_run
    proc = _jax(["export", str(out)])
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "Error: kregs export writes from TensorFlow: it needs TensorFlow, not installed "
        "here (pip install tensorflow), or run it on a machine that has it "
        "(see kregs export --help)"
    ]


def test_workers_run_under_jax_without_tensorflow(tiny, tmp_path):
    out = tmp_path / "run"
    args = [
        "tune",
        "--folds",
        "0",
        *TUNE,
        "--data-dir",
        tiny,
        "--output",
        str(out),
        "--workers",
        "2",
    ]
    proc = _jax([*args, "--max-trials", "3", "--epochs", "1", "--quiet"])
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = read_csv(out / "trials.csv")
    assert sorted(r["trial_id"] for r in rows) == ["0", "1", "2"]
    assert all(r["status"] == "COMPLETED" for r in rows)


def test_study_runs_under_jax_without_tensorflow(tiny, tmp_path):
    # A sweep of two values: the study's runs, records and plots at a quarter of the eight
    # configurations' JAX compilations (tests/test_study.py runs those under TensorFlow).
    out = tmp_path / "study"
    proc = _jax(
        [
            "study",
            "--dataset",
            "mnist",
            "--data-dir",
            tiny,
            "--arch",
            "mlp",
            "--preset",
            "smoke",
            "--limit",
            "400",
            "--epochs",
            "1",
            "--seeds",
            "1",
            "--sweep",
            "l2=0,0.001",
            "--output",
            str(out),
            "--quiet",
        ]
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = read_csv(out / "study.csv")
    assert [r["config"] for r in rows] == ["none", "l2=0.001"]
    assert {r["train_images"] for r in rows} == {"360"}  # 400, less 10% held out
    assert (out / "plots" / "sweep-l2.png").stat().st_size > 1000


def test_device_set_up_per_backend():
    code = (
        "from kregs.run.device import configure, DeviceOptions\n"
        "d = configure(DeviceOptions(precision='auto', threads=2))\n"
        "print(d.backend, d.gpus, d.jit_compile, d.threads, d.precision)\n"
        "import sys; print('tensorflow' in sys.modules)\n"
    )
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        PYTHONPATH=os.pathsep.join([NO_TENSORFLOW, os.environ.get("PYTHONPATH", "")]),
        JAX_PLATFORMS="cpu",
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.split("\n")
    assert lines[0] == "jax 0 True 2 float32"  # bfloat16 does not pay on a CPU under JAX
    assert lines[1] == "False"  # TensorFlow never imported
