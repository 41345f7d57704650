"""Faults: two writers, failed searches, a full disk, corrupt state, lost processes, huge
images, interrupts. Each asserts the exit status, the one line, and that no finished trial
is lost or run twice."""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import zlib

import pytest
from _helpers import read_csv, start_kregs, wait_until, write_idx_dataset
from click.testing import CliRunner

from kregs.cli.main import main
from kregs.run.lock import LOCK_FILE
from kregs.tuner.distributed.addressing import free_port

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    write_idx_dataset(folder, n_train=600, n_test=50)
    return str(folder)


def _tune_args(data_dir, out, *extra, trials=3, epochs=2):
    return [
        "tune",
        "--folds",
        "0",
        "--dataset",
        "mnist",
        "--data-dir",
        data_dir,
        "--arch",
        "mlp",
        "--space",
        "default",
        "--algorithm",
        "random",
        "--max-trials",
        str(trials),
        "--epochs",
        str(epochs),
        "--batch-size",
        "16",
        "--patience",
        "5",
        "--quiet",
        "--output",
        str(out),
        "--recycle-after",
        "0",
        "--no-refit",
        *extra,
    ]  # (one process: the tests reach into it, or name it as the folder's holder;
    #               no refit: these tests are about the search's records)


def _start(args, **kwargs):
    return start_kregs(args, **kwargs)


def _run(args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "kregs", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
    )


def _kregs(args):
    return CliRunner().invoke(main, args, prog_name="kregs")


def _one_error_line(proc):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return lines[0]


def _ended_trials(out):
    return sorted(r["trial_id"] for r in read_csv(out / "trials.csv"))


# --- one writer per run folder ---------------------------------------------------------------


def test_a_second_run_on_the_same_folder_is_refused_naming_the_holder(tiny, tmp_path):
    out = tmp_path / "run"
    first = _start(_tune_args(tiny, out, trials=2, epochs=3))
    lock = out / LOCK_FILE
    holder = wait_until(
        lambda: lock.exists() and lock.read_text() and json.loads(lock.read_text()), 120
    )
    assert holder["pid"] == first.pid
    second = _kregs(_tune_args(tiny, out, trials=2, epochs=3))  # refused in well under a second
    assert second.exit_code == 2
    assert _one_error_line(second) == (
        f"Error: output folder {out} is in use by another kregs process (pid {first.pid} on "
        f"{holder['host']}, since {holder['since']}); wait for it to end, or choose another "
        "--output (see kregs tune --help)"
    )
    assert first.wait(timeout=300) == 0, first.stderr.read()[-3000:]
    assert _ended_trials(out) == ["0", "1"]  # the second run trained nothing


def test_a_second_worker_with_a_taken_id_is_refused(tiny, tmp_path):
    out, port = tmp_path / "run", free_port()
    common = [*_tune_args(tiny, out, trials=4, epochs=3), "--oracle", f"127.0.0.1:{port}"]
    chief = _start([*common, "--role", "chief"])
    first = _start([*common, "--role", "worker", "--worker-id", "a"])
    try:
        wait_until(lambda: (out / "workers" / "worker-a.json").exists(), 120)
        second = _kregs([*common, "--role", "worker", "--worker-id", "a"])  # refused at once
        assert second.exit_code == 2
        assert _one_error_line(second).startswith(
            f"Error: worker id a is taken by a running worker (pid {first.pid} on "
        )
        assert first.wait(timeout=300) == 0 and chief.wait(timeout=120) == 0
    finally:
        for p in (chief, first):
            if p.poll() is None:
                p.kill()
    assert _ended_trials(out) == [str(i) for i in range(4)]


# --- failures fail ---------------------------------------------------------------------------


def test_a_validation_split_too_small_is_refused_before_training(tiny, tmp_path):
    result = _kregs(_tune_args(tiny, tmp_path / "run", "--limit", "5"))
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: 5 training images with validation_split 0.1 leave 0 for validation and 5 for "
        "training: too few to train and measure a model (at least 20 validation images and "
        "every one of the 10 classes in both are needed); use more images (--limit), or a "
        "larger --validation-split (see kregs tune --help)"
    )
    assert not (tmp_path / "run").exists()  # nothing written, not even run.json


def test_too_few_trial_images_are_refused_as_a_limit_is(tiny, tmp_path):
    """--trial-images 5 (5 images for 10 classes) was accepted and exported a 12% model."""
    result = _kregs(_tune_args(tiny, tmp_path / "run", "--trial-images", "5"))
    assert result.exit_code == 2
    assert _one_error_line(result) == (
        "Error: 5 training images (of 540) and 60 for validation: too few to train and "
        "measure a model (at least 20 validation images and every one of the 10 classes in "
        "both are needed); use more images (--trial-images) (see kregs tune --help)"
    )
    assert not (tmp_path / "run").exists()


def test_a_label_outside_the_classes_is_refused_at_load_naming_the_file(tmp_path):
    import numpy as np
    from _helpers import write_idx

    folder = tmp_path / "data"
    arrays = write_idx_dataset(folder, n_train=200, n_test=20)
    labels = arrays["train"][1].copy()
    labels[7] = 200
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    result = _kregs(_tune_args(str(folder), tmp_path / "run"))
    assert result.exit_code == 2
    assert _one_error_line(result) == (
        f"Error: {folder}/train-labels-idx1-ubyte.gz: label 200 at index 7 is outside 0..9 "
        "(1 such labels of 200); the file is damaged or not this data set's "
        "(see kregs tune --help)"
    )
    assert not (tmp_path / "run").exists()
    assert np.all(arrays["t10k"][1] < 10)


def test_a_failed_trial_keeps_its_real_reason_not_a_tensorflow_node(tmp_path):
    """Labels outside the classes reach a trial through the Python API: its reason in
    trials.csv says so (KerasTuner's traceback ends with a node's name)."""
    import numpy as np

    from kregs.tuner import RegularizationHyperModel
    from kregs.tuner.trials_csv import trial_row
    from kregs.tuner.tuners import make_tuner

    x = np.zeros((32, 4, 4, 1), np.uint8)
    y = np.arange(32) % 3
    y[5] = 200
    tuner = make_tuner(
        "random", RegularizationHyperModel((4, 4, 1), 3, arch="mlp"), str(tmp_path), 1, 1
    )
    tuner.search(x, y, validation_data=(x, y % 3), epochs=1, verbose=0)
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "FAILED"
    assert trial.message.strip().splitlines()[-1].lstrip().startswith("[[")  # a node's name
    row = trial_row(trial, {}, tuner.read_extras(trial.trial_id))
    assert row["error"].startswith("InvalidArgumentError: Received a label value of 200 ")


def test_a_search_whose_every_trial_failed_fails_and_exports_nothing(tiny, tmp_path, monkeypatch):
    from kregs.tuner.hypermodel import RegularizationHyperModel

    def broken(self, hp, model, *args, **kwargs):
        raise ValueError("this model cannot be trained")

    monkeypatch.setattr(RegularizationHyperModel, "fit", broken)
    out = tmp_path / "run"
    result = _kregs(_tune_args(tiny, out, trials=2))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: every trial failed (2); the first, trial 0: ValueError: this model cannot be "
        f"trained (every reason is in {out / 'trials.csv'})"
    ]
    assert [r["status"] for r in read_csv(out / "trials.csv")] == ["FAILED", "FAILED"]
    assert not (out / "best").exists() and not (out / "export").exists()
    exported = _kregs(["export", str(out)])
    assert exported.exit_code == 2 and "has no completed trial to export" in exported.output


# --- a full disk and corrupt state -----------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MiB tmpfs (needs root's mount), grown to 300 MiB on demand."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")

    def grow():
        subprocess.run(["mount", "-o", "remount,size=300m", str(mount)], check=True)

    yield mount, grow
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_the_run_resumes_once_there_is_space(tiny, small_disk):
    mount, grow = small_disk
    out = mount / "run"
    full = _kregs(_tune_args(tiny, out))
    assert full.exit_code == 2, full.output[-3000:]
    line = _one_error_line(full)
    assert line.startswith(f"Error: no space left on device while writing {mount}")
    assert line.endswith("; free space and run the same command to resume (see kregs tune --help)")
    finished = set(_ended_trials(out)) if (out / "trials.csv").exists() else set()
    grow()
    done = _kregs(_tune_args(tiny, out))
    assert done.exit_code == 0, done.output[-3000:]
    rows = read_csv(out / "trials.csv")
    assert [r["trial_id"] for r in rows] == ["0", "1", "2"]  # each once, none lost
    assert all(r["status"] in ("COMPLETED", "PRUNED") for r in rows)  # pruned: the median rule
    ran_again = {line.split()[1] for line in done.stdout.splitlines() if line.startswith("trial ")}
    assert not ran_again & finished  # a trial finished before the disk filled is not rerun


def test_a_full_disk_injected_anywhere_is_one_line(tiny, tmp_path, monkeypatch):
    """The same on any machine: the disk 'fills' while best/ is written."""
    import errno

    import keras

    def no_space(self, filepath, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(filepath))

    monkeypatch.setattr(keras.Model, "save", no_space)
    out = tmp_path / "run"
    result = _kregs(_tune_args(tiny, out, trials=1))
    assert result.exit_code == 2
    line = result.output.strip().splitlines()[-1]
    assert line.startswith(f"Error: no space left on device while writing {out}/.tmp-best-")
    assert "Traceback" not in result.output
    assert [r["status"] for r in read_csv(out / "trials.csv")] == ["COMPLETED"]


def test_export_to_a_read_only_or_full_disk_is_one_line_and_keeps_the_versions(tiny, small_disk):
    mount, grow = small_disk
    grow()  # room for a run
    out = mount / "run"
    assert _kregs(_tune_args(tiny, out, trials=1, epochs=1)).exit_code == 0
    versions = out / "export" / "mnist"
    before = sorted(p.relative_to(out) for p in versions.rglob("*"))
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    try:
        result = _kregs(["export", str(out), "--no-check"])
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
    assert result.exit_code == 2, result.output[-3000:]
    line = _one_error_line(result)
    assert line.startswith(f"Error: cannot write to {out}") and "Read-only file system" in line
    free = os.statvfs(mount)
    (mount / "filler").write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 4096))
    result = _kregs(["export", str(out), "--no-check"])
    assert result.exit_code == 2, result.output[-3000:]
    assert _one_error_line(result).startswith(f"Error: no space left on device while writing {out}")
    assert sorted(p.relative_to(out) for p in versions.rglob("*")) == before  # intact
    (mount / "filler").unlink()
    assert _kregs(["export", str(out), "--no-check"]).exit_code == 0  # space again: version 2
    assert sorted(os.listdir(versions)) == ["1", "2"]


@pytest.fixture(scope="module")
def finished(tiny, tmp_path_factory):
    """A finished search of 2 trials of 1 epoch, which the tests below copy and damage."""
    out = tmp_path_factory.mktemp("finished") / "run"
    assert _kregs(_tune_args(tiny, out, trials=2, epochs=1)).exit_code == 0
    return out


@pytest.mark.parametrize(
    "damaged, remedy, follow",
    [
        ("run.json", "holds a corrupt run.json; use --overwrite to start afresh", "--overwrite"),
        ("keras_tuner/oracle.json", "run the same command with --overwrite", "--overwrite"),
        ("keras_tuner/trial_0/trial.json", "delete the folder", "delete"),
        ("keras_tuner/trial_0/checkpoint.weights.h5", "delete the folder", "delete"),
    ],
)
def test_a_corrupt_state_file_is_named_with_advice_that_works(
    damaged, remedy, follow, tiny, finished, tmp_path
):
    """The advice for each damaged file, followed, gives a finished run again (deleting a
    trial's folder used to end every rerun in `KeyError: '0'`; a truncated checkpoint was an
    h5py traceback)."""
    out = tmp_path / "run"
    shutil.copytree(finished, out)  # a finished run (a copy resumes as the original does)
    args = _tune_args(tiny, out, trials=2, epochs=1)
    path = out / damaged
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut, as a full disk does
    result = _kregs(args)
    assert result.exit_code == 2, result.output[-3000:]
    line = _one_error_line(result)
    assert line.startswith("Error: ") and remedy in line
    assert damaged.split("/")[-1] in line or "run.json" in line
    if follow == "delete":
        assert f"delete the folder {out / 'keras_tuner' / 'trial_0'} and run the same" in line
        shutil.rmtree(out / "keras_tuner" / "trial_0")
        again = _kregs(args)
    else:
        again = _kregs([*args, follow])
    assert again.exit_code == 0, again.output[-3000:]
    rows = read_csv(out / "trials.csv")
    assert [(r["trial_id"], r["status"]) for r in rows] == [("0", "COMPLETED"), ("1", "COMPLETED")]


def test_overwrite_deletes_only_what_kregs_wrote(tiny, tmp_path):
    """Files the user put beside kregs' own, even inside its folders, survive --overwrite."""
    out = tmp_path / "run"
    args = _tune_args(tiny, out, trials=1, epochs=1)
    assert _kregs(args).exit_code == 0
    mine = [
        out / "notes.txt",
        out / "best" / "mine.txt",
        out / "export" / "mnist" / "1" / "prod.txt",
        out / "export" / "mnist" / "99" / "prod.txt",
        out / "plots" / "my-plot.png",
    ]
    for path in mine:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("the user's")
    result = _kregs([*args, "--overwrite"])
    assert result.exit_code == 0, result.output
    assert all(path.read_text() == "the user's" for path in mine)
    # kregs' own files were replaced: one export (a new version), one best model
    assert sorted(os.listdir(out / "export" / "mnist")) == ["1", "100", "99"]
    assert not (out / "export" / "mnist" / "1" / "saved_model.pb").exists()
    assert sorted(p.name for p in (out / "best").iterdir()) == [
        "mine.txt",
        "rank1-trial0.json",
        "rank1-trial0.keras",
    ]


@pytest.mark.parametrize("record", ['{"foo": 1}', "{}", "[]"])
def test_a_run_json_that_is_not_a_kregs_record_is_not_a_run(record, tiny, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(record)
    (out / "notes.txt").write_text("the user's")
    result = _kregs(_tune_args(tiny, out, "--overwrite", trials=1, epochs=1))
    assert result.exit_code == 2
    assert _one_error_line(result) == (
        f"Error: output folder {out} holds a run.json that is not a kregs run's record; "
        "choose another --output (see kregs tune --help)"
    )
    assert sorted(os.listdir(out)) == ["notes.txt", "run.json"]


# --- lost processes --------------------------------------------------------------------------


def test_a_lost_chief_stops_its_worker_in_one_line_and_restarts_on_its_port(tiny, tmp_path):
    out, port = tmp_path / "run", free_port()
    common = [*_tune_args(tiny, out, trials=3, epochs=3), "--oracle", f"127.0.0.1:{port}"]
    worker_args = [*common, "--role", "worker", "--worker-id", "0", "--oracle-timeout", "5"]
    chief = _start([*common, "--role", "chief"])
    worker = _start(worker_args)
    try:
        wait_until(lambda: (out / "trials.csv").exists(), 180)  # a trial has ended
        chief.kill()  # while its worker is connected: the port's connections in TIME_WAIT
        chief.wait()
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 2
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
        assert lines[0].startswith(f"Error: lost the chief oracle at 127.0.0.1:{port} (")
        assert "; finished trials are kept: start the chief again, then this worker" in lines[0]
        finished = set(_ended_trials(out))
        chief = _start([*common, "--role", "chief"])  # at once, on the same port
        worker = _run(worker_args)
        assert chief.wait(timeout=120) == 0, chief.stderr.read()[-3000:]
        assert worker.returncode == 0, worker.stderr[-3000:]
    finally:
        for p in (chief, worker):
            if isinstance(p, subprocess.Popen) and p.poll() is None:
                p.kill()
    rows = read_csv(out / "trials.csv")
    assert [r["trial_id"] for r in rows] == ["0", "1", "2"]  # each once
    assert all(r["status"] in ("COMPLETED", "PRUNED") for r in rows)  # pruned: the median rule
    ran_again = {
        line.split()[1] for line in worker.stdout.splitlines() if line.startswith("trial ")
    }
    assert not ran_again & {str(int(t)) for t in finished}


def test_killing_the_workers_parent_stops_the_chief_and_workers(tiny, tmp_path):
    out = tmp_path / "run"
    parent = _start([*_tune_args(tiny, out, trials=20, epochs=6), "--workers", "2"])
    beats = out / "workers"
    wait_until(lambda: beats.exists() and len(list(beats.glob("*.json"))) == 2, 180)
    children = [json.loads(p.read_text())["pid"] for p in beats.glob("*.json")]
    children.append(json.loads((out / LOCK_FILE).read_text())["pid"])  # the chief
    parent.kill()  # kill -9: the supervisor cannot clean up
    parent.wait()

    def gone():
        alive = []
        for pid in children:
            try:
                os.kill(pid, 0)
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().split(")")[1].split()[0] != "Z":
                        alive.append(pid)
            except (ProcessLookupError, FileNotFoundError):
                pass
        return not alive

    wait_until(gone, 60, "a child outlived its killed parent")


# --- images ----------------------------------------------------------------------------------


def _png_header_claiming(path, width, height):
    """A PNG whose header claims `width` x `height` (8-bit gray), with a little zlib data."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1) * 16)  # the first rows only
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat))
        f.write(chunk(b"IEND", b""))


@pytest.mark.parametrize(
    "size, message",
    [
        (20000, "refused as a decompression bomb"),
        (12000, "12000x12000 pixels, more than --max-pixels 16777216; refused before decoding"),
    ],
)
def test_huge_images_are_refused_before_decoding(size, message, tmp_path):
    from kregs.data.images import read_inputs

    path = tmp_path / "huge.png"
    _png_header_claiming(path, size, size)
    from kregs.errors import DataError

    with pytest.raises(DataError, match=message):
        read_inputs([str(path)], (28, 28, 1))


def test_predict_refuses_a_huge_image_in_one_line(tmp_path):
    import keras

    from kregs import build_model

    model = build_model((28, 28, 1), 10, arch="mlp")
    model.save(tmp_path / "m.keras")
    _png_header_claiming(tmp_path / "huge.png", 12000, 12000)
    result = _kregs(["predict", str(tmp_path / "m.keras"), str(tmp_path / "huge.png")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path / 'huge.png'}: 12000x12000 pixels, more than --max-pixels 16777216; "
        "refused before decoding (see kregs predict --help)"
    ]
    keras.backend.clear_session()


# --- interrupts ------------------------------------------------------------------------------


def test_ctrl_c_exits_130_saying_how_to_resume_and_temporaries_go(tiny, tmp_path):
    out = tmp_path / "run"
    # Trials long enough (6 epochs) that the signal lands while one trains.
    proc = _start(_tune_args(tiny, out, epochs=6))
    wait_until(lambda: (out / "keras_tuner" / "trial_0").exists() or proc.poll() is not None, 120)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert stderr.strip().splitlines()[-1] == "interrupted; run the same command to resume"
    stray = [out / ".tmp-best-x", out / "export" / "mnist" / ".tmp-export-y"]
    for path in stray:  # what a kill in the middle of writing best/ or an export leaves
        path.mkdir(parents=True)
    done = _kregs(_tune_args(tiny, out, epochs=6))
    assert done.exit_code == 0, done.output[-3000:]
    assert not any(p.exists() for p in stray)
    assert _ended_trials(out) == ["0", "1", "2"]


# --- kregs predict on models and inputs it cannot read as a kregs export -----------------------


def _keras_file(path, inputs, outputs):
    import keras

    keras.Model(inputs, outputs).save(path)
    return str(path)


def test_predict_refuses_a_model_that_does_not_take_images(tmp_path):
    import keras
    import numpy as np

    x = keras.Input((784,))
    model = _keras_file(tmp_path / "flat.keras", x, keras.layers.Dense(3, "softmax")(x))
    np.save(tmp_path / "batch.npy", np.zeros((2, 28, 28, 1), np.uint8))
    result = _kregs(["predict", model, str(tmp_path / "batch.npy")])
    assert result.exit_code == 2
    assert _one_error_line(result) == (
        f"Error: {model}: the model takes inputs of shape (None, 784); kregs predict feeds "
        "images of a fixed size, (batch, height, width, 1 or 3 channels) "
        "(see kregs predict --help)"
    )


def test_predict_labels_scores_of_a_model_without_softmax(tmp_path):
    import keras
    import numpy as np

    x = keras.Input((4, 4, 1))
    logits = keras.layers.Dense(
        3, kernel_initializer="ones", bias_initializer=keras.initializers.Constant([0, 1, 2])
    )(keras.layers.Flatten()(x))
    model = _keras_file(tmp_path / "logits.keras", x, logits)
    np.save(tmp_path / "batch.npy", np.ones((2, 4, 4, 1), np.uint8))
    result = _kregs(["predict", model, str(tmp_path / "batch.npy")])
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (
        f"note: {model} outputs scores, not probabilities (they do not sum to 1 per image; "
        "logits?): shown as scores"
    )
    assert result.stdout.splitlines() == [
        f"{tmp_path / 'batch.npy'}[0]: 2 18.000 (score)",
        f"{tmp_path / 'batch.npy'}[1]: 2 18.000 (score)",
    ]


def test_predict_refuses_an_empty_batch(tmp_path):
    import keras
    import numpy as np

    x = keras.Input((4, 4, 1))
    model = _keras_file(
        tmp_path / "m.keras", x, keras.layers.Dense(3, "softmax")(keras.layers.Flatten()(x))
    )
    np.save(tmp_path / "empty.npy", np.zeros((0, 4, 4, 1), np.uint8))
    result = _kregs(["predict", model, str(tmp_path / "empty.npy")])
    assert result.exit_code == 2
    assert _one_error_line(result) == (
        f"Error: {tmp_path / 'empty.npy'}: holds no images (shape (0, 4, 4, 1)) "
        "(see kregs predict --help)"
    )
