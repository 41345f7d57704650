"""Distributed tuning on KerasTuner's chief/worker engine, on loopback only (127.0.0.1)."""

import json
import os
import re
import signal
import socket

import keras_tuner
import pytest
from _helpers import (
    make_folder,
    read_csv,
    run_python,
    start_kregs,
    wait_until,
    write_idx_dataset,
)
from click.testing import CliRunner

from kregs import compat
from kregs.cli.main import main
from kregs.errors import ConfigError
from kregs.run.files import read_json, write_json
from kregs.tuner import RegularizationHyperModel
from kregs.tuner.distributed import addressing
from kregs.tuner.distributed.health import (
    Heartbeat,
    WorkerMonitor,
    claim_worker_id,
    hand_back_held_trials,
    heartbeat_path,
)
from kregs.tuner.epochs import ACCURACY
from kregs.tuner.pruning import MedianPruner
from kregs.tuner.tuners import ChiefUnreachable, FailFastOracle, make_tuner

# A smoke-sized search: 600 Fashion-MNIST images, random search (the real end-to-end run).
SMOKE = ["--preset", "smoke", "--algorithm", "random", "--limit", "600"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small synthetic MNIST-like set and the MLP: trials of about a second each."""
    folder = tmp_path_factory.mktemp("tiny")
    write_idx_dataset(folder, n_train=600, n_test=50)
    return [
        "--dataset",
        "mnist",
        "--data-dir",
        str(folder),
        "--arch",
        "mlp",
        "--space",
        "default",
        "--algorithm",
        "random",
        "--batch-size",
        "16",
        "--patience",
        "5",
        "--no-refit",  # these tests are about the search
    ]


@pytest.fixture(scope="module")
def tiny_folder(tiny, tmp_path_factory):
    """`tiny` on your own data: a folder of 3 classes of 200 PNG images (12x10 grayscale)."""
    folder = make_folder(tmp_path_factory.mktemp("images"), per_class=200)
    options = tiny[tiny.index("--arch") :]
    return ["--data", folder, *options]


def _kregs(args):
    return CliRunner().invoke(main, args, prog_name="kregs")


def _kregs_process(args, **kwargs):
    return start_kregs(args, **kwargs)


def _trials(out):
    return read_csv(out / "trials.csv")


def _heartbeats(out):
    folder = out / "workers"
    return {p.stem: read_json(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


# --- pieces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, expected",
    [
        ("127.0.0.1:8000", ("127.0.0.1", 8000)),
        ("[::1]:9", ("::1", 9)),
        ("node-7:65535", ("node-7", 65535)),
    ],
)
def test_parse_oracle(address, expected):
    assert addressing.parse_oracle(address) == expected


@pytest.mark.parametrize("address", ["127.0.0.1", "host:0", "host:70000", ":80", None])
def test_parse_oracle_refuses_malformed_addresses(address):
    with pytest.raises(ConfigError, match="`oracle`: expected"):
        addressing.parse_oracle(address)


def test_exposure_warning_only_off_loopback():
    assert addressing.exposure_warning("127.0.0.1") is None
    assert addressing.exposure_warning("localhost") is None
    assert addressing.exposure_warning("::1") is None
    warning = addressing.exposure_warning("0.0.0.0")
    assert warning.startswith("Warning: the chief oracle listens on 0.0.0.0")
    assert "no authentication" in warning and "steer" in warning


@pytest.mark.parametrize("bad", ["", "a b", "chief", "x" * 65, "w/1"])
def test_worker_ids_are_checked(bad):
    with pytest.raises(ConfigError, match="`worker_id`"):
        addressing.tuner_id("worker", bad)


def test_oracle_env_sets_kerastuner_variables_and_restores_them(monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "before")
    monkeypatch.delenv("KERASTUNER_ORACLE_IP", raising=False)
    with addressing.oracle_env("worker", "127.0.0.1", 8123, worker_id="3"):
        assert os.environ["KERASTUNER_TUNER_ID"] == "worker-3"
        assert os.environ["KERASTUNER_ORACLE_IP"] == "127.0.0.1"
        assert os.environ["KERASTUNER_ORACLE_PORT"] == "8123"
    assert os.environ["KERASTUNER_TUNER_ID"] == "before"
    assert "KERASTUNER_ORACLE_IP" not in os.environ


def test_check_bind_names_the_busy_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"cannot listen on 127\.0\.0\.1:{port}: Address"):
            addressing.check_bind("127.0.0.1", port)
    addressing.check_bind("127.0.0.1", port)  # free again


def test_heartbeat_counts_up_and_says_when_done(tmp_path):
    beat = Heartbeat(str(tmp_path), "worker-0", interval=0.05).start()
    beat.trial_id = "07"
    path = heartbeat_path(str(tmp_path), "worker-0")
    running = wait_until(lambda: (b := read_json(path)) and b["beat"] >= 3 and b, timeout=30)
    assert running["trial_id"] == "07" and running["pid"] == os.getpid()
    beat.stop()
    done = read_json(path)
    assert done["done"] is True and done["trial_id"] is None and done["beat"] > running["beat"]


def _oracle_with_trials(tmp_path, max_trials):
    tuner = make_tuner(
        "random", RegularizationHyperModel((4, 4, 1), 2, arch="mlp"), str(tmp_path), max_trials, 1
    )
    space = keras_tuner.HyperParameters()
    space.Float("x", 0.0, 1.0)
    tuner.oracle.update_space(space)
    return tuner.oracle


def _end(oracle, tuner_id):
    """`tuner_id` reports its trial completed, as a worker does (a copy, over gRPC)."""
    trial = compat.workers_known(oracle)[tuner_id]
    oracle.update_trial(trial, {"val_accuracy": 0.5})
    report = keras_tuner.engine.trial.Trial.from_state(oracle.trials[trial].get_state())
    report.status = "COMPLETED"
    oracle.end_trial(report)


def _write_beats(folder, beats):
    """Heartbeats of worker-0, worker-1, ... with these counters."""
    (folder / "workers").mkdir(exist_ok=True)
    for i, beat in enumerate(beats):
        write_json(heartbeat_path(str(folder), f"worker-{i}"), {"beat": beat})


def test_monitor_requeues_only_the_silent_worker(tmp_path):
    oracle = _oracle_with_trials(tmp_path, max_trials=5)
    held = [oracle.create_trial(f"worker-{i}").trial_id for i in range(2)]
    assert compat.workers_known(oracle) == {"worker-0": held[0], "worker-1": held[1]}
    events = []
    monitor = WorkerMonitor(oracle, str(tmp_path), timeout=30, on_event=events.append)
    for now, beats in [(0, (1, 1)), (20, (2, 1)), (29, (3, 1))]:
        _write_beats(tmp_path, beats)
        assert monitor.check(now) == []
    _write_beats(tmp_path, (4,))
    assert monitor.check(30) == ["worker-1"]  # unchanged since t=0
    assert compat.workers_known(oracle) == {"worker-0": held[0]}
    assert monitor.requeued == [("worker-1", held[1])]
    assert events == [
        f"worker-1 silent for 30 s during trial {held[1]}: the trial goes back to the queue "
        "and will be run again from its first epoch"
    ]
    # KerasTuner's own retry path: the next worker to ask gets the trial back.
    assert oracle.create_trial("worker-2").trial_id == held[1]


@pytest.mark.parametrize("hold", [True, False])
def test_a_worker_with_no_new_trial_waits_while_others_hold_trials(tmp_path, hold):
    """The chief (`hold_workers`) keeps a survivor waiting for a trial that may come back."""
    oracle = _oracle_with_trials(tmp_path, max_trials=2)
    oracle.hold_workers = hold
    held = [oracle.create_trial(f"worker-{i}").trial_id for i in range(2)]
    _end(oracle, "worker-1")
    answer = oracle.create_trial("worker-1")  # no new trial: worker-0 still holds one
    if not hold:  # KerasTuner's own answer: leave
        assert answer.status == "STOPPED" and "worker-1" not in compat.workers_known(oracle)
        return
    assert answer.status == "IDLE" and compat.workers_known(oracle) == {
        "worker-0": held[0],
        "worker-1": None,
    }
    assert compat.requeue_trial(oracle, "worker-0") == held[0]  # worker-0 fell silent
    again = oracle.create_trial("worker-1")
    assert (again.status, again.trial_id) == ("RUNNING", held[0])
    _end(oracle, "worker-1")
    assert oracle.create_trial("worker-1").status == "STOPPED"
    assert compat.workers_known(oracle) == {}


def test_monitor_lets_a_silent_waiting_worker_leave(tmp_path):
    oracle = _oracle_with_trials(tmp_path, max_trials=2)
    oracle.hold_workers = True
    held = oracle.create_trial("worker-0").trial_id
    oracle.create_trial("worker-1")
    _end(oracle, "worker-1")
    assert oracle.create_trial("worker-1").status == "IDLE"
    events = []
    monitor = WorkerMonitor(oracle, str(tmp_path), timeout=10, on_event=events.append)
    for now, beats in [(0, (1, 1)), (5, (2, 1)), (10, (3, 1))]:
        _write_beats(tmp_path, beats)
        assert monitor.check(now) == ([] if now < 10 else ["worker-1"])
    assert compat.workers_known(oracle) == {"worker-0": held}
    assert monitor.requeued == []
    assert events == [
        "worker-1 silent for 10 s while waiting for a trial: the search goes on without it"
    ]


def test_two_workers_claiming_one_id_at_once_get_it_once(tmp_path):
    """The claim is a lock, not a look at the heartbeats: of two workers started at the same
    moment (no heartbeat yet), one gets the id (both were accepted)."""
    first = claim_worker_id(str(tmp_path), "worker-a")
    with pytest.raises(ConfigError, match="worker id a is taken by a running worker"):
        claim_worker_id(str(tmp_path), "worker-a")
    claim_worker_id(str(tmp_path), "worker-b").release()  # another id: free
    first.release()  # the first worker ended (or died: the system releases its lock)
    claim_worker_id(str(tmp_path), "worker-a").release()


def test_a_restarted_chief_gives_a_trial_back_to_the_worker_that_trains_it(tmp_path):
    """A chief restarted while worker-0 trains trial 0: KerasTuner's reload queues trial 0
    for a retry, and worker-0, or another, trained it twice ("4 trials run here" of 3)."""
    oracle = _oracle_with_trials(tmp_path, max_trials=3)
    held = oracle.create_trial("worker-0").trial_id
    oracle.save()
    write_json(tmp_path / "keras_tuner" / "tuner0.json", {})  # the chief's, as it saves it
    (tmp_path / "workers").mkdir()
    beat = {
        "tuner_id": "worker-0",
        "beat": 3,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "trial_id": held,
        "done": False,
    }
    write_json(heartbeat_path(str(tmp_path), "worker-0"), beat)
    restarted = _oracle_with_trials(tmp_path, max_trials=3)  # reloads oracle.json
    assert hand_back_held_trials(restarted, str(tmp_path)) == [("worker-0", held)]
    assert compat.workers_known(restarted) == {"worker-0": held}
    assert restarted.create_trial("worker-1").trial_id != held  # not handed out again
    _end(restarted, "worker-0")  # worker-0 finishes it
    assert restarted.trials[held].status == "COMPLETED" and restarted.end_order == [held]


def test_a_trial_reported_ended_twice_counts_once(tmp_path):
    oracle = _oracle_with_trials(tmp_path, max_trials=3)
    held = oracle.create_trial("worker-0").trial_id
    _end(oracle, "worker-0")
    # A second worker, handed the trial while the first was taken for dead, reports it too.
    again = keras_tuner.engine.trial.Trial.from_state(oracle.trials[held].get_state())
    oracle.end_trial(again)
    assert oracle.end_order == [held] and oracle.trials[held].status == "COMPLETED"


def _report(oracle, trial_id, accuracies):
    """A worker's epoch reports (`EpochReport`), each answer as it crosses gRPC (a proto)."""
    answers = []
    for epoch, accuracy in enumerate(accuracies, 1):
        answer = oracle.update_trial(trial_id, {ACCURACY: accuracy}, step=epoch)
        answers.append(keras_tuner.engine.trial.Trial.from_proto(answer.to_proto()).status)
    return answers


def test_the_chief_prunes_a_worker_trial_from_the_other_workers_reports(tmp_path):
    oracle = _oracle_with_trials(tmp_path, max_trials=5)
    oracle.pruner = MedianPruner(warmup=2, min_trials=2)
    for worker, accuracies in (("worker-0", [0.80, 0.85, 0.88]), ("worker-1", [0.70, 0.80, 0.86])):
        trial = oracle.create_trial(worker).trial_id
        assert _report(oracle, trial, accuracies) == ["RUNNING"] * 3
        _end(oracle, worker)
    # worker-2 is judged against what worker-0 and worker-1 reported (median 0.87 by epoch 3).
    behind = oracle.create_trial("worker-2").trial_id
    assert _report(oracle, behind, [0.30, 0.40, 0.44]) == ["RUNNING", "RUNNING", "STOPPED"]
    ahead = oracle.create_trial("worker-0").trial_id
    assert _report(oracle, ahead, [0.82, 0.86, 0.90]) == ["RUNNING"] * 3
    # The stopped worker ends its trial as every trial ends; the chief records it pruned.
    report = keras_tuner.engine.trial.Trial.from_state(oracle.trials[behind].get_state())
    report.status = "COMPLETED"
    oracle.end_trial(report)
    assert oracle.trials[behind].status == "STOPPED"
    assert oracle.trials[behind].message == (
        "pruned at epoch 3: val_accuracy 0.4400 by epoch 3, below the median 0.8700 "
        "of 2 completed trials"
    )
    assert oracle.trials[ahead].status == "RUNNING"


class _LostChief:
    """An oracle whose chief is gone when a trial ends: update_trial fails as gRPC does."""

    def __init__(self, oracle):
        self.oracle, self.calls = oracle, []

    def __getattr__(self, name):
        import grpc

        value = getattr(self.oracle, name)
        if name not in ("update_trial", "end_trial"):
            return value

        def call(*args, **kwargs):
            self.calls.append(name)
            raise grpc.RpcError()

        return call


def test_a_worker_stops_at_its_first_failed_call_to_the_chief(tmp_path):
    """KerasTuner took the failed update_trial for the trial's failure and called the chief
    again (end_trial): a worker waited twice --oracle-timeout before it said so."""
    import numpy as np

    tuner = make_tuner(
        "random", RegularizationHyperModel((4, 4, 1), 2, arch="mlp"), str(tmp_path), 2, 1
    )
    lost = _LostChief(tuner.oracle)
    tuner.oracle = FailFastOracle(lost)
    x, y = np.zeros((8, 4, 4, 1), np.uint8), np.arange(8) % 2
    with pytest.raises(ChiefUnreachable):
        tuner.search(x, y, validation_data=(x, y), epochs=1, verbose=0)
    assert lost.calls == ["update_trial"]  # one call to the lost chief, not two


# --- bad input, bad ports, no chief ---------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--role", "worker", "--oracle", "127.0.0.1:1", "--output", "x"],
            "--role worker needs --worker-id",
        ),
        (["--role", "chief", "--output", "x"], "--role chief needs --oracle HOST:PORT"),
        (["--oracle", "127.0.0.1:1"], "--oracle and --worker-id need --role"),
        (
            ["--workers", "2", "--role", "chief"],
            "--workers starts its own chief and workers; drop --role",
        ),
        (
            ["--role", "chief", "--oracle", "nowhere", "--output", "x"],
            "Invalid value for argument `oracle`",
        ),
        (["--workers", "0"], "Invalid value for '--workers': 0 is not in the range x>=1."),
    ],
)
def test_distributed_bad_input_is_one_line_and_exit_2(args, message):
    result = _kregs(["tune", "--folds", "0", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {message}"), result.output


def test_chief_that_cannot_bind_exits_2_and_warns_off_loopback(tiny, tmp_path):
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            main,
            [
                "tune",
                "--folds",
                "0",
                *tiny,
                "--role",
                "chief",
                "--oracle",
                f"0.0.0.0:{port}",
                "--output",
                str(tmp_path / "run"),
            ],
            prog_name="kregs",
        )
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith("Warning: the chief oracle listens on 0.0.0.0")
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: the chief oracle cannot listen on 0.0.0.0:{port}: Address already in use; "
        "choose another --oracle port or address (see kregs tune --help)"
    )
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_worker_that_cannot_reach_the_chief_exits_2(tiny, tmp_path):
    port = addressing.free_port()
    result = _kregs(
        [
            "tune",
            "--folds",
            "0",
            *tiny,
            "--role",
            "worker",
            "--worker-id",
            "0",
            "--oracle",
            f"127.0.0.1:{port}",
            "--oracle-timeout",
            "2",
            "--output",
            str(tmp_path / "run"),
        ]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"Error: cannot reach the chief oracle at 127.0.0.1:{port} within 2 s; start "
        "`kregs tune --role chief` first, or check --oracle (see kregs tune --help)"
    )
    # (It waited the 2 s it was given, named in the line, not the default 60 s.)


# --- a chief and two workers ----------------------------------------------------------------


def test_chief_with_two_workers_runs_every_trial_once(fashion_mnist, tmp_path):
    out = tmp_path / "run"
    proc = _kregs_process(
        [
            "tune",
            "--folds",
            "0",
            *SMOKE,
            "--epochs",
            "1",
            "--max-trials",
            "4",
            "--workers",
            "2",
            "--output",
            str(out),
        ]
    )
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stdout + stderr[-3000:]
    threads = max(1, (os.cpu_count() or 1) // 2)
    assert stdout.splitlines()[0] == (
        f"kregs tune: a chief and 2 workers on this machine, {threads} TensorFlow "
        f"thread{'s' if threads != 1 else ''} each"
    )
    rows = _trials(out)
    assert sorted(r["trial_id"] for r in rows) == ["0", "1", "2", "3"]
    assert all(r["status"] == "COMPLETED" for r in rows)
    # Every worker's epoch reports reached the chief's oracle (what its pruner reads).
    for r in rows:
        trial = json.loads(
            (out / "keras_tuner" / f"trial_{r['trial_id']}" / "trial.json").read_text()
        )
        history = trial["metrics"]["metrics"]["epoch_val_accuracy"]["observations"]
        assert [o["step"] for o in history] == [1]
    trial_lines = re.findall(
        r"^\[(worker-\d)\] trial (\d) completed .* \((worker-\d)\)$", stdout, re.M
    )
    assert sorted(t for _, t, _ in trial_lines) == ["0", "1", "2", "3"]  # each once
    assert all(prefix == by for prefix, _, by in trial_lines)
    assert "True" not in stdout.splitlines()  # KerasTuner's stray print is silenced
    # The output folder of a single-process run, plus the workers' heartbeats.
    assert sorted(os.listdir(out)) == [
        ".kregs.lock",
        "best",
        "export",
        "keras_tuner",
        "plots",
        "run.json",
        "summary.md",
        "tensorboard",
        "test_result.json",
        "time.json",
        "trials.csv",
        "workers",
    ]
    best = json.loads((out / "test_result.json").read_text())
    assert any(
        name.startswith(f"rank1-trial{best['trial_id']}") for name in os.listdir(out / "best")
    )
    assert (out / "export" / "fashion_mnist" / "1" / "saved_model.pb").is_file()
    beats = _heartbeats(out)
    assert sorted(beats) == ["worker-0", "worker-1"] and all(b["done"] for b in beats.values())
    assert "[chief] best: trial" in stdout


def _wait_for_trial(out, timeout=240):
    """Waits until a worker runs a trial; returns its tuner id and heartbeat.

    Whichever worker is first: on a loaded machine one worker may start late and
    find every trial taken.
    """

    def running():
        return next(
            ((tid, beat) for tid, beat in _heartbeats(out).items() if beat.get("trial_id")), None
        )

    return wait_until(running, timeout, "no worker started a trial")


def test_killed_worker_is_restarted_and_its_trial_run_again(tiny_folder, tmp_path):
    out = tmp_path / "run"
    proc = _kregs_process(
        [
            "tune",
            "--folds",
            "0",
            *tiny_folder,
            "--epochs",
            "3",
            "--max-trials",
            "3",
            "--workers",
            "2",
            "--output",
            str(out),
        ]
    )
    victim, beat = _wait_for_trial(out)
    os.kill(beat["pid"], signal.SIGKILL)  # it holds a trial: killed mid-trial
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stdout + stderr[-3000:]
    assert (
        f"[kregs] {victim} ended with signal SIGKILL; starting it again under its id "
        "(restart 1 of 2)" in stdout
    )
    rows = _trials(out)
    assert sorted(r["trial_id"] for r in rows) == ["0", "1", "2"]
    assert all(r["status"] in ("COMPLETED", "PRUNED") for r in rows)  # pruned: the median rule
    killed = beat["trial_id"]
    runs_of_killed = re.findall(
        rf"^\[worker-\d\] trial {int(killed)} (?:completed|pruned)", stdout, re.M
    )
    assert len(runs_of_killed) == 1  # run again once, reported once


def test_silent_worker_trial_goes_to_another_worker(tiny_folder, tmp_path):
    """Several machines: no supervisor restarts the killed worker; the chief's monitor acts.

    On a folder of images: each worker reads the files, which the chief's run.json names."""
    out = tmp_path / "run"
    port = addressing.free_port()
    common = [
        *tiny_folder,
        "--epochs",
        "3",
        "--max-trials",
        "3",
        "--oracle",
        f"127.0.0.1:{port}",
        "--output",
        str(out),
    ]
    chief = _kregs_process(
        ["tune", "--folds", "0", *common, "--role", "chief", "--worker-timeout", "6"]
    )
    workers = [
        _kregs_process(
            [
                "tune",
                "--folds",
                "0",
                *common,
                "--role",
                "worker",
                "--worker-id",
                str(i),
                "--threads",
                "1",
            ]
        )
        for i in range(2)
    ]
    try:
        victim, beat = _wait_for_trial(out)
        os.kill(beat["pid"], signal.SIGKILL)
        stdout, stderr = chief.communicate(timeout=600)
        survivor = "worker-1" if victim == "worker-0" else "worker-0"
        survivor_out, _ = workers[int(survivor[-1])].communicate(timeout=60)
    finally:
        for p in (chief, *workers):
            if p.poll() is None:
                p.kill()
    assert chief.returncode == 0, stdout + stderr[-3000:]
    killed = beat["trial_id"]
    assert f"{victim} silent for 6 s during trial {killed}" in stdout
    dataset = read_json(out / "run.json")["dataset"]
    assert (dataset["kind"], dataset["location"]) == ("folder", tiny_folder[1])
    assert len(dataset["fingerprint"]) == 16
    assert re.search(
        rf"^trial {int(killed)} (completed|pruned) .* \({survivor}\)$", survivor_out, re.M
    )
    rows = _trials(out)
    assert sorted(r["trial_id"] for r in rows) == [str(i) for i in range(3)]
    assert all(r["status"] in ("COMPLETED", "PRUNED") for r in rows)  # pruned: the median rule


# --- multi-GPU trials -----------------------------------------------------------------------


def test_mirrored_strategy_scales_the_batch_per_replica(tiny, tmp_path):
    tiny_dir = tiny[tiny.index("--data-dir") + 1]
    code = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from kregs.tuner import TuneConfig, tune
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
result = tune(TuneConfig.create("mnist", data_dir={str(tiny_dir)!r}, arch="mlp", space="default",
              output={str(tmp_path / "run")!r}, algorithm="random", epochs=1, max_trials=1, folds=0,
              batch_size=32, strategy=strategy))
print("replicas", result.replicas, result.rows[0]["status"])
"""
    proc = run_python(code, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "replicas 2 COMPLETED" in proc.stdout
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "- strategy: 2 replicas per trial, global batch 64 (32 per replica)" in summary


def _processes_using(path):
    """Process ids whose command line mentions `path` (the run's output folder)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if str(path).encode() in f.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


def test_ctrl_c_stops_every_process_and_the_run_resumes(tiny, tmp_path):
    out = tmp_path / "run"
    # Trials long enough (8 epochs) that the signal lands while they train.
    args = ["tune", "--folds", "0", *tiny, "--epochs", "8", "--patience", "8", "--max-trials", "3"]
    args += ["--workers", "2"]
    proc = _kregs_process([*args, "--output", str(out)])
    _wait_for_trial(out)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground command
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == (
        f"interrupted: every process stopped; finished trials are kept in {out}; "
        "run the same command to resume"
    )
    assert _processes_using(out) == []  # chief and workers are gone
    proc = _kregs_process([*args, "--output", str(out)])
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stdout + stderr[-3000:]
    rows = _trials(out)
    assert sorted(r["trial_id"] for r in rows) == ["0", "1", "2"]
    assert all(r["status"] in ("COMPLETED", "PRUNED") for r in rows)  # pruned: the median rule
