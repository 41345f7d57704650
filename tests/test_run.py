"""The run layer: budgets and presets, the run folder, atomic files, the best epoch."""

import json
import os

import pytest

from kregs.errors import ConfigError, StateError
from kregs.run import metrics
from kregs.run.budget import resolve
from kregs.run.files import read_json, write_atomic, write_json
from kregs.run.folder import RunFolder, check_writable
from kregs.study.budget import STUDY_PRESETS, StudyBudget
from kregs.tuner.budget import SEARCH_PRESETS, SearchBudget

# --- budgets --------------------------------------------------------------------------------


def test_presets_resolve_with_overrides_and_validate_once():
    quick = resolve(SEARCH_PRESETS, "quick", epochs=5)
    assert (quick.algorithm, quick.epochs, quick.batch_size) == ("random", 5, 64)
    assert (quick.trial_images, quick.refit, quick.baseline) == (10000, True, True)
    assert not SEARCH_PRESETS["smoke"].refit  # refit everywhere but smoke
    assert all(b.refit for name, b in SEARCH_PRESETS.items() if name != "smoke")
    assert resolve(SEARCH_PRESETS, "quick", epochs=None) == (SEARCH_PRESETS["quick"])
    study = resolve(STUDY_PRESETS, "smoke", test_limit=500)
    assert (study.limit, study.test_limit, study.learning_rate) == (1000, 500, 1e-3)
    with pytest.raises(ConfigError, match="`preset`: expected one of smoke, quick, paper"):
        resolve(SEARCH_PRESETS, "huge")


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (SearchBudget, {"epochs": 0}, "`epochs`: expected an int >= 1. Received: epochs=0"),
        (SearchBudget, {"limit": 2.5}, "`limit`: expected an int >= 1"),
        (SearchBudget, {"algorithm": "sa"}, "`algorithm`: expected one of hyperband"),
        (
            SearchBudget,
            {"space": "big"},
            "`space`: expected one of default, extended, paper",
        ),
        (SearchBudget, {"max_trials": True}, "`max_trials`: expected an int >= 1"),
        (StudyBudget, {"learning_rate": 1.0}, "`learning_rate`: expected a float in (0, 1)"),
        (StudyBudget, {"test_limit": 0}, "`test_limit`: expected an int >= 1"),
    ],
)
def test_a_budget_that_exists_is_valid(cls, kwargs, message):
    with pytest.raises(ConfigError) as err:
        cls(**kwargs)
    assert message in str(err.value)


# --- atomic files ---------------------------------------------------------------------------


def test_write_atomic_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    write_json(path, {"x": 1})
    write_json(path, {"x": 2})
    assert read_json(path) == {"x": 2}
    assert os.listdir(tmp_path) == ["a.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.txt"
    write_atomic(path, "old")

    class Unwritable:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(TypeError):
        write_atomic(path, Unwritable())  # not a str: the write fails midway
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_read_json_missing_is_none_corrupt_is_named(tmp_path):
    assert read_json(tmp_path / "none.json") is None
    (tmp_path / "cut.json").write_text('{"a": "unterminated')
    with pytest.raises(StateError, match=r"cut\.json is unreadable or corrupt"):
        read_json(tmp_path / "cut.json")


# --- the run folder -------------------------------------------------------------------------


def _open(folder, record, overwrite=False):
    record = {"kregs_version": "0", **record}  # (every kregs record has it)
    with folder.session(record, overwrite) as run:
        run.write_record(record)


def test_run_folder_creates_resumes_and_refuses_other_runs(tmp_path):
    folder = RunFolder(tmp_path / "run", "run.json", resumable=("max_trials",), owned=("a",))
    _open(folder, {"epochs": 2, "max_trials": 3})
    _open(folder, {"epochs": 2, "max_trials": 5})  # a larger budget resumes
    assert json.loads((tmp_path / "run" / "run.json").read_text())["max_trials"] == 5
    with pytest.raises(ConfigError, match=r"another configuration \(epochs: 2 -> 4\)"):
        _open(folder, {"epochs": 4, "max_trials": 5})
    (tmp_path / "run" / "a").write_text("written by kregs")
    (tmp_path / "run" / "mine.txt").write_text("the user's")
    _open(folder, {"epochs": 4, "max_trials": 5}, overwrite=True)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["epochs"] == 4
    # --overwrite deleted what kregs wrote, nothing else
    assert sorted(os.listdir(tmp_path / "run")) == [".kregs.lock", "mine.txt", "run.json"]


def test_run_folder_never_touches_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    folder = RunFolder(tmp_path, "run.json")
    with pytest.raises(ConfigError, match="exists and is not a kregs run"):
        _open(folder, {"epochs": 2}, overwrite=True)
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_a_failed_start_leaves_no_folder_and_temporaries_are_cleaned(tmp_path):
    folder = RunFolder(tmp_path / "run", "run.json")
    with pytest.raises(RuntimeError, match="no data"):
        with folder.session({"epochs": 2}):
            raise RuntimeError("no data")  # before anything was written
    assert not (tmp_path / "run").exists()
    _open(folder, {"epochs": 2})
    (tmp_path / "run" / ".run.json.x1y2.tmp").write_text("{")  # a killed writer's
    (tmp_path / "run" / "export" / "m" / ".tmp-export-abc").mkdir(parents=True)
    _open(folder, {"epochs": 2})
    assert not (tmp_path / "run" / ".run.json.x1y2.tmp").exists()
    assert os.listdir(tmp_path / "run" / "export" / "m") == []


def test_worker_check_names_what_differs(tmp_path):
    folder = RunFolder(tmp_path, "run.json", resumable=("max_trials",))
    with pytest.raises(ConfigError, match="holds no run.json: the chief writes it"):
        folder.check_same({"epochs": 2})
    _open(folder, {"epochs": 2, "max_trials": 3})
    folder.check_same({"kregs_version": "0", "epochs": 2, "max_trials": 9})
    with pytest.raises(ConfigError, match=r"chief's run \(epochs: chief 2, worker 3"):
        folder.check_same({"kregs_version": "0", "epochs": 3, "max_trials": 3})


# --- the best epoch -------------------------------------------------------------------------


def test_best_epoch_is_the_one_early_stopping_restores():
    import keras
    import numpy as np

    # Early stopping keeps the first epoch with the lowest val_loss; NaN never counts.
    history = {"val_loss": [0.9, float("nan"), 0.5, 0.7, 0.5, 0.8]}
    assert metrics.best_epoch(history) == 2

    class Scripted(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = history["val_loss"][epoch]

    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    model.fit(np.zeros((4, 1)), np.zeros(4), epochs=6, verbose=0, callbacks=[Scripted(), stop])
    assert stop.best_epoch == metrics.best_epoch(history)


def test_history_row_reads_every_number_at_the_best_epoch():
    history = {
        "loss": [1.0, 0.6, 0.4, 0.3],
        "accuracy": [0.5, 0.7, 0.8, 0.95],
        "val_loss": [0.9, 0.5, 0.6, 0.7],
        "val_accuracy": [0.55, 0.74, 0.76, 0.72],
        "epoch_seconds": [9.0, 2.0, 4.0, 3.0],
    }
    row = metrics.history_row(history)
    assert row["best_epoch"] == 2 and row["epochs"] == 4
    assert (row["best_val_accuracy"], row["best_val_loss"]) == (0.74, 0.5)
    assert row["generalization_gap"] == pytest.approx(0.7 - 0.74)
    assert row["final_train_accuracy"] == 0.95
    assert row["seconds_per_epoch"] == 3.0  # median of the epochs after the first
    assert row["diverged_epoch"] is None
    assert metrics.history_row({"loss": [0.5, float("nan")]})["diverged_epoch"] == 2


# --- precision and threads ------------------------------------------------------------------


@pytest.mark.parametrize(
    "gpus, flags, backend, expected",
    [
        (1, {"avx512_bf16"}, "tensorflow", "float16"),
        (1, set(), "jax", "float16"),
        (0, {"avx2", "avx512_bf16"}, "tensorflow", "bfloat16"),
        (0, {"amx_bf16", "amx_tile"}, "tensorflow", "bfloat16"),
        (0, {"avx2", "avx512f"}, "tensorflow", "float32"),
        (0, {"amx_bf16", "avx512_bf16"}, "jax", "float32"),
        (0, {"amx_bf16", "avx512_bf16"}, "torch", "float32"),
    ],
)
def test_auto_precision_takes_the_fastest_the_hardware_has(gpus, flags, backend, expected):
    from kregs.run.device import auto_precision

    assert auto_precision(gpus, flags, backend) == expected


@pytest.mark.parametrize(
    "environ, machine, modules, expected",
    [
        ({}, "x86_64", {}, "1"),  # an x86 CPU: oneDNN on
        ({}, "AMD64", {}, "1"),  # Windows' name for it
        ({"TF_ENABLE_ONEDNN_OPTS": "0"}, "x86_64", {}, "0"),  # the user's choice stays
        ({}, "aarch64", {}, None),  # not x86: TensorFlow's own default
        ({}, "x86_64", {"tensorflow": object()}, None),  # too late: TensorFlow read it
    ],
)
def test_prefer_onednn_turns_onednn_on_only_where_it_is_still_undecided(
    environ, machine, modules, expected
):
    from kregs.run.device import prefer_onednn

    unset = "TF_ENABLE_ONEDNN_OPTS" not in environ
    assert prefer_onednn(environ, machine, modules) is (expected == "1" and unset)
    assert environ.get("TF_ENABLE_ONEDNN_OPTS") == expected


def test_configure_says_how_to_turn_onednn_on_where_tensorflow_left_it_off(tmp_path):
    # A script of the user's: TensorFlow imported first, the variable unset. On a CPU where
    # TensorFlow turned oneDNN on by itself (VNNI or bfloat16 units) there is nothing to say.
    from _helpers import run_python

    code = (
        "import logging, os\n"
        "os.environ.pop('TF_ENABLE_ONEDNN_OPTS', None)\n"
        "import tensorflow\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        "from kregs.run.device import configure\n"
        "print('onednn', configure().onednn)\n"
    )
    proc = run_python(code, cwd=tmp_path, env={"KERAS_BACKEND": "tensorflow"})
    assert proc.returncode == 0, proc.stderr
    onednn = proc.stdout.split()[-1] == "True"
    hinted = "TF_ENABLE_ONEDNN_OPTS=1 set before TensorFlow is imported" in proc.stderr
    assert hinted is not onednn


def test_device_options_are_validated():
    from kregs.run.device import DeviceOptions

    with pytest.raises(ConfigError, match="`precision`: expected one of auto, float32"):
        DeviceOptions(precision="half")
    with pytest.raises(ConfigError, match="`threads`: expected an int >= 1"):
        DeviceOptions(threads=0)


# --- the learning-rate schedule -------------------------------------------------------------


def test_warmup_cosine_rises_peaks_and_decays_over_the_budget():
    from kregs.run.schedule import WarmupCosine, warmup_cosine

    s = WarmupCosine(1e-3, total_steps=100, warmup_steps=10)
    values = [float(s(t)) for t in (0, 5, 10, 55, 100, 150)]
    assert values[0] == pytest.approx(1e-4)  # a tenth of the peak
    assert values[1] == pytest.approx(1e-4 + 0.9e-3 * 5 / 10)
    assert values[2] == pytest.approx(1e-3)  # the peak, then cosine decay
    assert values[3] == pytest.approx(0.5e-3)  # half-way through the decay
    assert values[4] == pytest.approx(0.0, abs=1e-12) and values[5] == values[4]
    later = warmup_cosine(1e-3, epochs=10, steps_per_epoch=10, initial_epoch=3)
    assert float(later(0)) == pytest.approx(float(warmup_cosine(1e-3, 10, 10)(30)))
    with pytest.raises(ConfigError, match="`warmup_steps`: expected an int in"):
        WarmupCosine(1e-3, total_steps=10, warmup_steps=10)


def test_a_replanned_decay_goes_on_from_where_it_was_and_ends_at_the_new_total():
    import numpy as np

    from kregs.run.schedule import WarmupCosine

    s = WarmupCosine(1e-3, total_steps=100, warmup_steps=10)
    before = float(s(40))
    s.replan(40, 200)
    assert float(s(40)) == pytest.approx(before)  # no jump
    # A third of the decay was done at step 40 (30 of 90 steps): the rest spans 160 steps.
    assert float(s(120)) == pytest.approx(1e-3 * 0.5 * (1 + np.cos(np.pi * 2 / 3)), rel=1e-5)
    assert float(s(200)) == pytest.approx(0.0, abs=1e-9)
    again = WarmupCosine(**s.get_config())  # what a saved model's optimizer is rebuilt with
    assert float(again(120)) == pytest.approx(float(s(120)))
    with pytest.raises(ConfigError, match="total_steps"):
        s.replan(150, 150)


def test_a_compiled_train_step_follows_the_replanned_decay():
    import keras
    import numpy as np

    from kregs.compat import learning_rate_schedule
    from kregs.run.schedule import WarmupCosine

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].set_weights([np.ones((2, 1), "float32")])
    model.compile(keras.optimizers.SGD(WarmupCosine(0.1, total_steps=4)), "mse")
    x, y = np.ones((1, 2), "float32"), np.zeros((1, 1), "float32")

    class Replan(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:  # one step taken: the decay now ends after two more, not three
                learning_rate_schedule(self.model.optimizer).replan(1, 3)

    model.fit(x, y, epochs=3, verbose=0, callbacks=[Replan()])
    # The prediction p = w1 + w2 of loss p^2 shrinks by (1 - 4 lr) a step; lr(2) is the
    # new plan's (a quarter of the decay done at step 1, the rest over 2 steps).
    rates = [0.1, 0.05 * (1 + np.cos(np.pi / 4)), 0.05 * (1 + np.cos(np.pi * 0.625))]
    expected = 2.0 * np.prod([1 - 4 * r for r in rates])
    assert float(model.predict(x, verbose=0)[0, 0]) == pytest.approx(expected, rel=1e-5)


def test_check_writable_creates_nothing_and_names_the_reason(tmp_path):
    check_writable(str(tmp_path / "new" / "run"))
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError) as err:
        check_writable(str(tmp_path / "file" / "run"))
    assert str(err.value) == (
        f"cannot write to output folder {tmp_path / 'file' / 'run'}: Not a directory"
    )


def test_freeze_imports_freezes_keras_and_kerastuner_once(tmp_path):
    """In a fresh process: nothing frozen before; after, Keras' and KerasTuner's objects
    (hundreds of thousands); a second call freezes nothing more."""
    from _helpers import run_python

    proc = run_python(
        "import gc, sys\n"
        "from kregs.run.processes import freeze_imports\n"
        "before = gc.get_freeze_count()\n"
        "freeze_imports()\n"
        "first = gc.get_freeze_count()\n"
        "junk = [[] for _ in range(10)]; freeze_imports()\n"
        "print(before, first, gc.get_freeze_count(), 'keras_tuner' in sys.modules)\n",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    before, first, second, tuner = proc.stdout.split()
    assert (int(before), tuner) == (0, "True")
    assert int(first) > 100_000 and int(second) == int(first)
