"""kregs.tuner.tune: output folder, failed trials, resume, refusal, export."""

import csv
import json
import os

import keras
import keras_tuner
import numpy as np
import pytest
from _helpers import write_idx_dataset
from kregs.tuner import RegularizationHyperModel, tune
from kregs.tuner.search import _rows, make_tuner

from kregs.errors import ConfigError
from kregs.export import export_for_serving, latest_export


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist")
    write_idx_dataset(folder, n_train=300, n_test=50)
    return str(folder)


def _tiny_tune(data_dir, output, **kwargs):
    args = dict(
        dataset="mnist",
        data_dir=data_dir,
        output=str(output),
        arch="mlp",
        algorithm="random",
        max_trials=2,
        epochs=2,
        batch_size=32,
        patience=1,
        top_k=2,
    )
    args.update(kwargs)
    return tune(**args)


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_output_folder(tiny_mnist, tmp_path):
    seen = []
    result = _tiny_tune(tiny_mnist, tmp_path / "run", on_trial_end=seen.append)
    out = tmp_path / "run"
    rows = _csv(out / "trials.csv")
    assert [r["trial_id"] for r in rows] == ["0", "1"] and [r["trial_id"] for r in seen] == [
        "0",
        "1",
    ]
    for column in [
        "status",
        "config",
        "l2",
        "dropout",
        "batch_norm",
        "learning_rate",
        "best_val_accuracy",
        "best_val_loss",
        "final_train_accuracy",
        "generalization_gap",
        "epochs",
        "seconds",
        "peak_rss_mb",
        "error",
    ]:
        assert column in rows[0]
    for r in rows:
        assert r["status"] == "COMPLETED" and 1 <= int(r["epochs"]) <= 2
        gap = float(r["generalization_gap"])
        assert -1 <= gap <= 1 and float(r["seconds"]) > 0
        assert 0 < float(r["seconds_per_epoch"]) < float(r["seconds"])
        assert 0 < float(r["rss_mb"]) <= float(r["peak_rss_mb"])
    best_files = sorted(os.listdir(out / "best"))
    assert len(best_files) == 4 and best_files[0].startswith("rank1-trial")
    meta = json.loads((out / "best" / best_files[0]).read_text())
    assert (
        meta["trial_id"] == result.best["trial_id"] and "learning_rate" in meta["hyperparameters"]
    )
    assert (out / "keras_tuner" / "oracle.json").exists()
    assert result.export_path == str(out / "export" / "mnist" / "1")
    assert (out / "export" / "mnist" / "1" / "saved_model.pb").exists()
    summary = (out / "summary.md").read_text()
    assert "## Top 5 by validation accuracy" in summary
    assert (
        f"test accuracy: {result.test['accuracy']:.4f}" in summary and result.test["images"] == 50
    )
    run = json.loads((out / "run.json").read_text())
    assert run["dataset"] == "mnist" and run["algorithm"] == "random"


def test_resume_does_not_rerun_finished_trials(tiny_mnist, tmp_path):
    _tiny_tune(tiny_mnist, tmp_path, max_trials=1)
    extras = tmp_path / "keras_tuner" / "trial_0" / "kregs_trial.json"
    before = (extras.stat().st_mtime_ns, extras.read_text())
    result = _tiny_tune(tiny_mnist, tmp_path, max_trials=3)  # more trials: allowed on resume
    assert (extras.stat().st_mtime_ns, extras.read_text()) == before
    assert [r["trial_id"] for r in result.rows] == ["0", "1", "2"]
    assert len(_csv(tmp_path / "trials.csv")) == 3


def test_rerunning_a_finished_run_keeps_its_export(tiny_mnist, tmp_path):
    first = _tiny_tune(tiny_mnist, tmp_path)
    again = _tiny_tune(tiny_mnist, tmp_path)
    assert again.export_path == first.export_path and again.test == first.test
    assert os.listdir(tmp_path / "export" / "mnist") == ["1"]


def test_other_configuration_is_refused_and_overwrite_starts_afresh(tiny_mnist, tmp_path):
    _tiny_tune(tiny_mnist, tmp_path, max_trials=1)
    with pytest.raises(
        ConfigError, match=r"holds a run with another configuration \(epochs: 2 -> 3\)"
    ):
        _tiny_tune(tiny_mnist, tmp_path, max_trials=1, epochs=3)
    result = _tiny_tune(tiny_mnist, tmp_path, max_trials=1, epochs=3, overwrite=True)
    assert json.loads((tmp_path / "run.json").read_text())["epochs"] == 3
    assert len(result.rows) == 1


def test_folder_that_is_not_a_run_is_never_touched(tiny_mnist, tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="exists and is not a kregs run"):
        _tiny_tune(tiny_mnist, tmp_path, overwrite=True)
    assert (tmp_path / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dataset": "imagenet"}, "`name`: expected one of mnist, fashion_mnist, cifar10"),
        ({"algorithm": "annealing"}, "`algorithm`: expected one of hyperband, bayesian"),
        ({"l2": -0.5}, "`l2`: expected a finite float >= 0"),
        ({"dropout": 1.0}, "`dropout`: expected a float in [0, 1)"),
        ({"epochs": 0}, "`epochs`: expected an int >= 1"),
    ],
)
def test_bad_arguments_fail_before_any_work(kwargs, message, tmp_path):
    with pytest.raises(ConfigError) as err:
        _tiny_tune("/nonexistent", tmp_path / "out", **kwargs)
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


class _Troubled(RegularizationHyperModel):
    """Trial by trial: one that trains, one whose loss is NaN, one whose build raises."""

    def build(self, hp):
        mode = hp.Choice("mode", ["ok", "nan", "raise"])
        if mode == "raise":
            raise ValueError("this configuration cannot be built")
        model = super().build(hp)
        if mode == "nan":
            model.compile(
                optimizer="adam",
                loss=lambda y, p: keras.ops.log(-p[:, 0]),  # log of a negative: NaN
                metrics=["accuracy"],
            )
        return model


def test_nan_and_raising_trials_are_failed_with_reason_and_the_search_goes_on(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 8, 8, 1), dtype=np.uint8)
    y = rng.integers(0, 3, size=64)
    hypermodel = _Troubled(
        (8, 8, 1), 3, arch="mlp", l2=0.0, dropout=0.0, batch_norm="none", learning_rate=1e-3
    )
    tuner = make_tuner("grid", hypermodel, str(tmp_path), max_trials=3, epochs=2)
    tuner.search(
        x,
        y,
        validation_data=(x, y),
        epochs=2,
        verbose=0,
        callbacks=[keras.callbacks.TerminateOnNaN()],
    )
    rows = {r["mode"]: r for r in _rows(tuner, hypermodel)}
    assert set(rows) == {"ok", "nan", "raise"}
    assert rows["ok"]["status"] == "COMPLETED" and rows["ok"]["error"] == ""
    assert rows["nan"]["status"] == "FAILED"
    assert rows["nan"]["error"] == (
        "keras_tuner.src.errors.FailedTrialError: diverged: the loss became NaN in epoch 1 "
        "and TerminateOnNaN stopped the trial"
    )
    assert rows["nan"]["epochs"] == 1
    assert rows["raise"]["status"] == "FAILED"
    assert rows["raise"]["error"] == "ValueError: this configuration cannot be built"
    assert tuner.oracle.get_best_trials(1)[0].hyperparameters.values["mode"] == "ok"
    assert isinstance(tuner.oracle, keras_tuner.oracles.GridSearchOracle)


def test_export_versions_never_overwrite(tmp_path):
    model = keras.Sequential(
        [keras.Input((2, 2, 1), dtype="uint8"), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    names = ["a", "b"]
    first = export_for_serving(model, str(tmp_path / "m"), names, metadata={"trial_id": "3"})
    second = export_for_serving(model, str(tmp_path / "m"), names)
    assert (first, second) == (str(tmp_path / "m" / "1"), str(tmp_path / "m" / "2"))
    assert sorted(os.listdir(tmp_path / "m")) == ["1", "2"]  # no temporary folder left
    assert latest_export(str(tmp_path / "m")) == (2, {})
    assert json.loads((tmp_path / "m" / "1" / "assets" / "kregs.json").read_text()) == {
        "trial_id": "3"
    }


def test_failed_export_leaves_no_version(tmp_path):
    class Broken(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(Exception):  # noqa: B017 - whatever Keras raises for an unbuilt model
        export_for_serving(Broken(), str(tmp_path / "m"), ["a"])
    assert os.listdir(tmp_path / "m") == []


@pytest.mark.parametrize(
    "flags, policy",
    [({}, "float32"), ({"mixed_precision": True, "jit_compile": True}, "mixed_float16")],
)
def test_mixed_precision_and_xla_flags(flags, policy, tiny_mnist, tmp_path):
    # On this CPU-only machine both default to off; asked for, they apply to every trial.
    _tiny_tune(tiny_mnist, tmp_path, max_trials=1, top_k=1, **flags)
    model = keras.models.load_model(next((tmp_path / "best").glob("*.keras")))
    assert model.get_layer("dense1").dtype_policy.name == policy
    assert model.output.dtype == "float32"  # the softmax stays float32
    assert keras.config.dtype_policy().name == "float32"  # restored after the search
