"""kregs.tuner.tune: the output folder, the best epoch, failed trials, resume, refusal, export."""

import json
import os

import keras
import keras_tuner
import numpy as np
import pytest
from _helpers import read_csv

import kregs.deploy.savedmodel
from kregs.data import Splits, load_dataset
from kregs.deploy.formats import latest_export
from kregs.deploy.savedmodel import export_for_serving
from kregs.errors import ConfigError
from kregs.run.events import Listener
from kregs.tuner import RegularizationHyperModel, TuneConfig, tune
from kregs.tuner.config import Fixed
from kregs.tuner.search import trial_subset
from kregs.tuner.space import SearchSpace
from kregs.tuner.trials_csv import effective_values, trial_row, write_trials_csv
from kregs.tuner.tuners import make_tuner
from kregs.tuner.verdicts import comparisons


def _config(data_dir, output, **kwargs):
    args = dict(
        data_dir=data_dir,
        output=str(output),
        arch="mlp",
        space="default",  # the machinery's tests; tiny_run searches the extended space
        algorithm="random",
        max_trials=2,
        epochs=2,
        batch_size=32,
        patience=1,
        keep_best=2,
        refit=False,  # the search's machinery; tiny_run refits
        folds=0,  # (the cross-validation has tests of its own)
    )
    args.update(kwargs)
    return TuneConfig.create("mnist", **args)


class _Rows(Listener):
    def __init__(self):
        self.rows = []

    def trial_ended(self, row):
        self.rows.append(row)


@pytest.fixture(scope="module")
def tiny_run(tiny_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    listener = _Rows()
    result = tune(
        _config(tiny_mnist, out, epochs=3, patience=3, space="extended", refit=True), listener
    )
    return out, result, listener.rows


def test_output_folder_holds_every_record(tiny_run):
    out, result, seen = tiny_run
    rows = read_csv(out / "trials.csv")
    assert [r["trial_id"] for r in rows] == ["0", "1"] == [r["trial_id"] for r in seen]
    assert list(rows[0])[:17] == [
        "trial_id",
        "status",
        "config",
        "l2",
        "weight_decay",
        "l2sp",
        "dropout",
        "dropout_placement",
        "dropout_kind",
        "batch_norm",
        "augment",
        "label_smoothing",
        "mix",
        "mix_alpha",
        "weight_averaging",
        "stochastic_depth",
        "learning_rate",
    ]
    assert all(r["status"] == "COMPLETED" and r["error"] == "" for r in rows)
    best_files = sorted(os.listdir(out / "best"))
    assert best_files == [
        f"rank{i}-trial{t}{ext}"
        for i, t in enumerate(_ranked(rows), start=1)
        for ext in (".json", ".keras")
    ]
    meta = json.loads((out / "best" / best_files[0]).read_text())
    assert meta["trial_id"] == result.best["trial_id"] == _ranked(rows)[0]
    assert (out / "export" / "mnist" / "1" / "saved_model.pb").exists()
    assert result.export_path == str(out / "export" / "mnist" / "1")
    summary = (out / "summary.md").read_text()
    assert f"- test accuracy: {result.test['accuracy']:.4f}" in summary
    assert result.test["images"] == 50
    record = json.loads((out / "run.json").read_text())
    assert (record["dataset"], record["algorithm"], record["max_trials"]) == ("mnist", "random", 2)
    assert record["space"] == "extended"
    assert "## Accuracy against over-fitting" in summary  # 2 trials: no importance, said so
    assert "Too few completed trials (2; at least 6)" in summary
    assert sorted(os.listdir(out / "plots")) == ["tradeoff.png"]


def _ranked(rows):
    return [r["trial_id"] for r in sorted(rows, key=lambda r: -float(r["best_val_accuracy"]))]


def test_every_number_is_read_at_the_epoch_early_stopping_restored(tiny_run):
    out, _, _ = tiny_run
    for row in read_csv(out / "trials.csv"):
        extras = json.loads(
            (out / "keras_tuner" / f"trial_{row['trial_id']}" / "kregs_trial.json").read_text()
        )
        h = extras["history"]
        best = int(np.argmin(h["val_loss"]))  # EarlyStopping keeps the first lowest val_loss
        assert int(row["best_epoch"]) == best + 1 and int(row["epochs"]) == len(h["loss"])
        assert float(row["best_val_accuracy"]) == pytest.approx(h["val_accuracy"][best], 1e-5)
        assert float(row["best_val_loss"]) == pytest.approx(h["val_loss"][best], 1e-5)
        # training accuracy on unmixed images where MixUp/CutMix mixed the batches
        train = h["unmixed_accuracy"] if "unmixed_accuracy" in h else h["accuracy"]
        gap = train[best] - h["val_accuracy"][best]
        assert float(row["generalization_gap"]) == pytest.approx(gap, abs=1e-5)
        assert float(row["final_train_accuracy"]) == pytest.approx(train[-1], 1e-5)
        assert 0 < float(row["seconds_per_epoch"]) < float(row["seconds"])
        assert 0 < float(row["rss_mb"]) <= float(row["peak_rss_mb"])


def test_every_trial_writes_tensorboard_logs_with_its_hyperparameters(tiny_run):
    import tensorflow as tf

    out, _, _ = tiny_run

    def tags(folder):
        found = {}
        for path in folder.glob("events.out.tfevents.*"):
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for value in event.summary.value:
                    found.setdefault(value.tag, []).append(value.metadata.plugin_data.plugin_name)
        return found

    for row in read_csv(out / "trials.csv"):
        run = out / "tensorboard" / row["trial_id"] / "execution0"
        train, validation = tags(run / "train"), tags(run / "validation")
        epochs = int(row["epochs"])
        assert len(train["epoch_loss"]) == len(validation["epoch_accuracy"]) == epochs
        assert len(train["epoch_generalization_gap"]) == epochs
        hparams = tags(run)  # KerasTuner's HParams record of the trial
        assert set(hparams) >= {"_hparams_/session_start_info", "_hparams_/session_end_info"}
        assert set(hparams["_hparams_/session_start_info"]) == {"hparams"}


def test_the_kept_model_is_the_restored_one(tiny_run, tiny_mnist):
    """best/'s model scores on the validation split what trials.csv says for its best epoch."""
    out, result, _ = tiny_run
    ds = load_dataset("mnist", data_dir=tiny_mnist, validation_split=0.1, seed=0)
    model = keras.models.load_model(out / "best" / f"rank1-trial{result.best['trial_id']}.keras")
    _, accuracy = model.evaluate(*ds.validation, verbose=0)
    row = next(r for r in result.rows if r["trial_id"] == result.best["trial_id"])
    assert accuracy == pytest.approx(row["best_val_accuracy"], abs=1e-6)


class _Failing(keras_tuner.HyperModel):
    def build(self, hp):
        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])

    def fit(self, hp, model, *args, **kwargs):
        raise ValueError("this model cannot be trained")


def test_plain_kerastuner_behaves_as_upstream_after_a_kregs_search(tiny_run, tmp_path, capsys):
    """kregs replaces KerasTuner's functions only inside its own search (scoped), and its
    oracle and tuner classes override the rest: a user's own KerasTuner search in the same
    process, afterwards, prints a failed trial's traceback (upstream's `config.DEBUG`) and
    keeps its state as upstream does."""
    from kregs.compat import scoped

    assert scoped.active() == []  # the search is over (tiny_run): nothing replaced
    tuner = keras_tuner.RandomSearch(
        _Failing(),
        objective="val_loss",
        max_trials=1,
        directory=str(tmp_path),
        seed=0,
        max_consecutive_failed_trials=1,
    )
    with pytest.raises(RuntimeError, match="Number of consecutive failures exceeded"):
        tuner.search(np.zeros((4, 2)), np.zeros(4), epochs=1, verbose=0)
    assert "ValueError: this model cannot be trained" in capsys.readouterr().err  # upstream
    # upstream leaves the trial as it was saved when the failure limit stopped the search
    trial = json.loads((tmp_path / "untitled_project" / "trial_0" / "trial.json").read_text())
    assert trial["status"] == "RUNNING"
    assert not list(tmp_path.rglob("*.tmp"))  # upstream writes in place, no kregs temporaries


def test_resume_does_not_rerun_finished_trials(tiny_mnist, tmp_path):
    tune(_config(tiny_mnist, tmp_path, max_trials=1))
    extras = tmp_path / "keras_tuner" / "trial_0" / "kregs_trial.json"
    before = (extras.stat().st_mtime_ns, extras.read_text())
    result = tune(_config(tiny_mnist, tmp_path, max_trials=3))  # more trials: allowed on resume
    assert (extras.stat().st_mtime_ns, extras.read_text()) == before
    assert [r["trial_id"] for r in result.rows] == ["0", "1", "2"]
    assert len(read_csv(tmp_path / "trials.csv")) == 3


def test_trials_csv_lists_trials_by_number_after_a_resume_with_more_trials(tmp_path):
    """KerasTuner pads ids to the width of max_trials: 3 trials then 12 give "0", "1", "2",
    "03", ..., "11", which sorted as text put "03" before "1"."""
    ids = ["11", "0", "03", "2", "10", "1", "04"]
    rows = [{"trial_id": i, "status": "COMPLETED", "config": "none"} for i in ids]
    write_trials_csv(tmp_path / "trials.csv", rows)
    listed = [r["trial_id"] for r in read_csv(tmp_path / "trials.csv")]
    assert listed == ["0", "1", "2", "03", "04", "10", "11"]


def test_rerunning_a_finished_run_keeps_its_export(tiny_mnist, tmp_path):
    first = tune(_config(tiny_mnist, tmp_path, max_trials=1, keep_best=1))
    again = tune(_config(tiny_mnist, tmp_path, max_trials=1, keep_best=1))
    assert again.export_path == first.export_path and again.test == first.test
    assert os.listdir(tmp_path / "export" / "mnist") == ["1"]


def test_other_configuration_is_refused_and_overwrite_starts_afresh(tiny_mnist, tmp_path):
    tune(_config(tiny_mnist, tmp_path, max_trials=1, keep_best=1))
    with pytest.raises(
        ConfigError, match=r"holds a run with another configuration \(epochs: 2 -> 3\)"
    ):
        tune(_config(tiny_mnist, tmp_path, max_trials=1, epochs=3, keep_best=1))
    result = tune(
        _config(tiny_mnist, tmp_path, max_trials=1, epochs=3, keep_best=1, overwrite=True)
    )
    assert json.loads((tmp_path / "run.json").read_text())["epochs"] == 3
    assert len(result.rows) == 1


def test_folder_that_is_not_a_run_is_never_touched(tiny_mnist, tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="exists and is not a kregs run"):
        tune(_config(tiny_mnist, tmp_path, overwrite=True))
    assert (tmp_path / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dataset": "imagenet"}, "`dataset`: expected one of mnist, fashion_mnist, cifar10"),
        ({"algorithm": "annealing"}, "`algorithm`: expected one of hyperband, bayesian"),
        ({"l2": -0.5}, "`l2`: expected a finite float >= 0"),
        ({"dropout": 1.0}, "`dropout`: expected a float in [0, 1)"),
        ({"epochs": 0}, "`epochs`: expected an int >= 1"),
        ({"keep_best": 0}, "`keep_best`: expected an int >= 1"),
    ],
)
def test_bad_arguments_fail_before_any_work(kwargs, message, tmp_path):
    dataset = kwargs.pop("dataset", "mnist")
    with pytest.raises(ConfigError) as err:
        TuneConfig.create(dataset, output=str(tmp_path / "out"), **kwargs)
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
    fixed = Fixed(l2=0.0, dropout=0.0, batch_norm="none", learning_rate=1e-3)
    hypermodel = _Troubled((8, 8, 1), 3, arch="mlp", space=SearchSpace("default", fixed))
    tuner = make_tuner("grid", hypermodel, str(tmp_path), max_trials=3, epochs=2)
    tuner.search(
        x,
        y,
        validation_data=(x, y),
        epochs=2,
        verbose=0,
        callbacks=[keras.callbacks.TerminateOnNaN()],
    )
    rows = {}
    for trial in tuner.oracle.trials.values():
        row = trial_row(
            trial, effective_values(hypermodel, trial), tuner.read_extras(trial.trial_id)
        )
        rows[row["mode"]] = row
    assert rows["ok"]["status"] == "COMPLETED" and rows["ok"]["error"] == ""
    assert rows["nan"]["status"] == "FAILED"
    assert rows["nan"]["error"] == (
        "FailedTrialError: diverged: the loss became NaN in epoch 1 "
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
    assert latest_export(str(tmp_path / "m")) == (2, {"precision": "float32"})
    assert json.loads((tmp_path / "m" / "1" / "assets" / "kregs.json").read_text()) == {
        "trial_id": "3",
        "precision": "float32",
    }


def test_failed_export_leaves_no_version(tmp_path, monkeypatch):
    model = keras.Sequential(
        [keras.Input((2, 2, 1), dtype="uint8"), keras.layers.Flatten(), keras.layers.Dense(2)]
    )

    def full_disk(model, path, class_names):
        os.makedirs(os.path.join(path, "variables"))  # half written, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kregs.deploy.savedmodel, "write_serving_model", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        export_for_serving(model, str(tmp_path / "m"), ["a", "b"])
    assert os.listdir(tmp_path / "m") == []


@pytest.mark.parametrize(
    "flags, policy",
    [
        ({"precision": "float32"}, "float32"),
        ({"precision": "bfloat16", "jit_compile": True}, "mixed_bfloat16"),
        ({"precision": "float16"}, "mixed_float16"),
    ],
)
def test_precision_and_xla_flags(flags, policy, tiny_mnist, tmp_path):
    # Asked for, a precision applies to every trial and is recorded in run.json.
    tune(_config(tiny_mnist, tmp_path, max_trials=1, keep_best=1, **flags))
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["precision"] == flags["precision"]
    model = keras.models.load_model(next((tmp_path / "best").glob("*.keras")))
    assert model.get_layer("dense1").dtype_policy.name == policy
    assert model.output.dtype == "float32"  # the softmax stays float32
    assert keras.config.dtype_policy().name == "float32"  # the global policy is untouched


def test_first_trial_is_the_unregularized_control_and_the_refit_is_what_is_exported(tiny_run):
    out, result, _ = tiny_run
    rows = read_csv(out / "trials.csv")
    control = rows[0]
    assert (control["config"], control["l2"], control["dropout"], control["batch_norm"]) == (
        "none",
        "0",
        "0",
        "none",
    )
    assert float(control["learning_rate"]) == 1e-3  # the default rate
    # The refit trained the best trial's configuration on train + validation, planned for
    # the epochs its best trial needed; the time budget (the preset's 40 minutes: plenty)
    # gave it up to 1.5 times the trials' epoch budget (3): 4. It is the model exported.
    record = json.loads((out / "refit" / "model.json").read_text())
    best = next(r for r in rows if r["trial_id"] == result.best["trial_id"])
    assert record["trial_id"] == best["trial_id"]
    assert record["planned_epochs"] == int(best["best_epoch"]) and record["epochs"] == 4
    assert record["images"] == 300  # every training image: the 270 trained on and 30 held out
    assert record["start"] == "trial"  # from the best trial's trained weights (the default)
    assert result.refit == record
    meta_file = next((out / "export").glob("*/*/assets/kregs.json"))
    assert json.loads(meta_file.read_text())["refit"] is True
    summary = (out / "summary.md").read_text()
    assert "## Does regularization pay?" in summary
    assert f"test accuracy {record['test']['accuracy']:.4f}" in summary


def test_the_control_is_compared_with_the_best_regularized_trial_with_its_interval():
    def row(trial_id, config, val, status="COMPLETED"):
        return dict(trial_id=trial_id, config=config, status=status, best_val_accuracy=val)

    rows = [row("0", "none", 146 / 150), row("1", "bn", 149 / 150), row("2", "l2", 0.99, "FAILED")]
    control = np.array([True] * 146 + [False] * 4)
    best = np.array([True] * 149 + [False])
    found = comparisons(rows, {"0": control, "1": best}, images=1497)
    entry = found["regularization"]
    assert (entry["only_b"], entry["only_a"], entry["n"]) == (3, 0, 150)
    assert entry["verdict"] == "not shown at this size"
    assert entry["text"] == (
        "regularization, trial 1 (bn, val_acc 0.9933) against the control, trial 0 (none, "
        "val_acc 0.9733): +2.00 points (97.33% -> 99.33%) on 150 validation images, 3 of them "
        "classified differently (3 for, 0 against); 95% interval [-1.1, +5.9], McNemar "
        "p = 0.25: not shown at this size"
    )
    assert entry["note"].endswith(
        "--folds 5 would train the control and the best configurations on all 1,497 training "
        "images, fold by fold, and cover training too."
    )
    assert found["runner_up"]["what"].startswith("the best, trial 1 (bn")
    assert comparisons([row("1", "bn", 0.85)], {"1": best}) == {}  # no control: no verdict


def test_trials_train_on_a_stratified_subset_and_are_judged_on_all_validation():
    x = np.arange(1000).reshape(1000, 1)
    y = np.repeat(np.arange(10), 100)
    ds = Splits((x, y), (x[:50], y[:50]), (x[:20], y[:20]), None)
    sub = trial_subset(ds, 200, seed=0)
    assert np.bincount(sub.train[1]).tolist() == [20] * 10
    assert sub.validation is ds.validation and sub.test is ds.test
    assert trial_subset(ds, None, seed=0) is ds and trial_subset(ds, 5000, seed=0) is ds
