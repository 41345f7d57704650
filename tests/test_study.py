"""`kregs study`: statistics, values, report, and a smoke study on real Fashion-MNIST."""

import json
import math
import os
import re
import struct

import numpy as np
import pytest
from _helpers import md_table, read_csv, write_idx_dataset
from click.testing import CliRunner

from kregs.cli.main import main
from kregs.config import CONFIG_NAMES, DIMENSIONS, RegConfig
from kregs.errors import ConfigError
from kregs.run.events import Listener
from kregs.run.progress import Tracker
from kregs.study import paper, protocol, stats, study_md
from kregs.study.budget import StudyBudget
from kregs.study.config import StudyConfig
from kregs.study.runner import run_study


def _kregs(args):
    return CliRunner().invoke(main, args, prog_name="kregs")


TEXT_COLUMNS = ("config", "diverged", *(d.name for d in DIMENSIONS if not d.numeric))


def _study_rows(path):
    """study.csv's rows with numbers as numbers."""
    ints = {"seed", "epochs", "best_epoch", "train_images", "test_images"}
    rows = []
    for raw in read_csv(path):
        row = {}
        for k, v in raw.items():
            if k in TEXT_COLUMNS or v == "":
                row[k] = v or None
            else:
                row[k] = int(v) if k in ints else float(v)
        rows.append(row)
    return rows


# --- statistics -----------------------------------------------------------------------------


def test_summary_is_mean_and_sample_std():
    s = stats.summarize([0.90, 0.92, 0.94])
    assert s.n == 3 and s.mean == pytest.approx(0.92) and s.std == pytest.approx(0.02)
    assert stats.summarize([0.5]).std == 0.0
    assert stats.summarize([]).n == 0


def test_welch_interval_matches_scipys_welch_test():
    a, b = [0.91, 0.92, 0.93], [0.88, 0.90]
    # means 0.92 and 0.89; se^2 = 1e-4/3 + 2e-4/2; Welch-Satterthwaite df = 1.684
    d = stats.difference(a, b)
    assert d.diff == pytest.approx(0.03)
    # scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(), scipy 1.17:
    assert (d.low, d.high) == pytest.approx((-0.0297700, 0.0897700), abs=1e-6)
    assert d.verdict == stats.NOT_SHOWN
    # a symmetric case by hand: se = sqrt(2 * 1e-4 / 3), df = 4, t(0.975, 4) = 2.776445
    d = stats.difference([0.91, 0.92, 0.93], [0.88, 0.89, 0.90])
    half = 2.776445 * math.sqrt(2e-4 / 3)
    assert (d.low, d.high) == pytest.approx((0.03 - half, 0.03 + half), abs=1e-6)
    assert d.verdict == stats.CONFIRMED


@pytest.mark.parametrize(
    "a, b, verdict",
    [
        ([0.91, 0.92, 0.93], [0.80, 0.81, 0.82], stats.CONFIRMED),
        ([0.80, 0.81, 0.82], [0.91, 0.92, 0.93], stats.CONTRADICTED),
        ([0.80, 0.90, 0.85], [0.84, 0.86, 0.85], stats.NOT_SHOWN),
        ([0.9], [0.8], stats.NOT_SHOWN),  # one seed: no interval at all
    ],
)
def test_verdicts_follow_the_interval(a, b, verdict):
    assert stats.difference(a, b).verdict == verdict


# --- values and budgets ---------------------------------------------------------------------


def test_values_default_explicit_and_sources():
    v = protocol.resolve_values()
    assert (v.l2, v.dropout, v.batch_norm) == (1e-4, 0.25, "before_activation")
    assert set(v.sources.values()) == {"default"}
    v = protocol.resolve_values(l2=0.1, dropout=0.5, batch_norm="after_activation")
    assert v.sources == {"l2": "--l2", "dropout": "--dropout", "batch_norm": "--batch-norm"}
    configs = protocol.configurations(v)
    assert list(configs) == list(CONFIG_NAMES)
    assert configs["l2+bn"] == RegConfig(l2=0.1, batch_norm="after_activation")
    assert all(configs[name].name == name for name in CONFIG_NAMES)


def _fake_tune_run(folder, rows):
    os.makedirs(folder)
    (folder / "run.json").write_text(json.dumps({"dataset": "fashion_mnist"}))
    header = "trial_id,status,config,l2,dropout,batch_norm,learning_rate,best_val_accuracy\n"
    (folder / "trials.csv").write_text(header + "".join(",".join(r) + "\n" for r in rows))


def test_values_from_a_tune_run_take_the_best_trial_using_each_technique(tmp_path):
    run = tmp_path / "run"
    _fake_tune_run(
        run,
        [
            ("0", "COMPLETED", "bn", "0", "0", "after_activation", "0.001", "0.93"),
            ("1", "COMPLETED", "l2", "3e-05", "0", "none", "0.001", "0.91"),
            ("2", "COMPLETED", "l2+dropout", "0.002", "0.4", "none", "0.001", "0.89"),
            ("3", "FAILED", "dropout", "0", "0.6", "none", "0.001", ""),
        ],
    )
    v = protocol.resolve_values(values_from=str(run), dropout=0.3)
    assert (v.l2, v.dropout, v.batch_norm) == (3e-05, 0.3, "after_activation")
    assert v.sources["l2"] == f"{run} trial 1 (fashion_mnist)"
    assert v.sources["batch_norm"] == f"{run} trial 0 (fashion_mnist)"
    assert v.sources["dropout"] == "--dropout"


def test_values_from_a_run_without_a_technique_fall_back_to_the_default(tmp_path):
    run = tmp_path / "run"
    _fake_tune_run(run, [("0", "COMPLETED", "bn", "0", "0", "before_activation", "0.001", "0.9")])
    v = protocol.resolve_values(values_from=str(run))
    assert v.l2 == protocol.DEFAULT_L2
    assert v.sources["l2"] == f"default (no trial of {run} used it)"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"l2": 0.0}, "`l2`: expected a value that switches L2 on"),
        ({"l2": -1.0}, "`l2`: expected a finite float >= 0"),
        ({"dropout": 0.0}, "`dropout`: expected a value that switches dropout on"),
        ({"batch_norm": "none"}, "`batch_norm`: expected a value that switches BN on"),
        (
            {"values_from": "/nonexistent"},
            "`values_from`: expected the output folder of a `kregs tune`",
        ),
    ],
)
def test_bad_values_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        protocol.resolve_values(**kwargs)


def test_study_config_takes_the_preset_and_overrides():
    config = StudyConfig.create(preset="quick", epochs=7, l2=0.1)
    assert (config.budget.epochs, config.budget.limit, config.budget.batch_size) == (7, 10000, 128)
    assert config.values.l2 == 0.1 and config.values.sources["l2"] == "--l2"
    record = config.record()
    assert record["values"] == {"l2": 0.1, "dropout": 0.25, "batch_norm": "before_activation"}
    assert (record["epochs"], record["seeds"], record["deterministic"]) == (7, 3, True)
    with pytest.raises(ConfigError, match="`preset`"):
        StudyConfig.create(preset="huge")
    with pytest.raises(ConfigError, match="`learning_rate`"):
        StudyConfig.create(learning_rate=2.0)
    with pytest.raises(ConfigError, match="`seed`: expected an int >= 0"):
        StudyConfig.create(seed=-1)


# --- the report -----------------------------------------------------------------------------


def _row(config, seed, acc):
    return {
        "config": config,
        "seed": seed,
        "test_accuracy": acc,
        "best_val_accuracy": acc,
        "final_train_accuracy": acc + 0.02,
        "generalization_gap": 0.02,
        "epochs": 5,
        "seconds_per_epoch": 10.0,
        "train_seconds": 50.0 if "bn" not in config else 40.0 + seed,
        "train_images": 9000,
        "test_images": 10000,
    }


def _study(dataset="fashion_mnist"):
    return {
        "dataset": dataset,
        "arch": "cnn",
        "learning_rate": 1e-3,
        "batch_size": 128,
        "epochs": 5,
        "patience": 3,
        "limit": 10000,
        "validation_split": 0.1,
        "deterministic": True,
        "values": {"l2": 1e-4, "dropout": 0.25, "batch_norm": "before_activation"},
        "sources": {"l2": "default", "dropout": "default", "batch_norm": "default"},
    }


def test_markdown_shows_paper_figures_as_claims_and_verdicts():
    from kregs.data import dataset_info

    # Every configuration better than none by 1 point per technique, tightly.
    bump = {name: 0.01 * len(name.split("+")) if name != "none" else 0 for name in CONFIG_NAMES}
    rows = [_row(name, s, 0.90 + bump[name] + 0.001 * s) for s in range(3) for name in CONFIG_NAMES]
    md = study_md.markdown(_study(), rows, dataset_info("fashion_mnist"))
    table = {r[0]: r for r in md_table(md, "## Test accuracy")[2:]}
    assert table["none"][2] == "90.10 ± 0.10" and table["none"][9] == "90.0-90.2"
    assert table["l2+dropout+bn"][2] == "93.10 ± 0.10"
    assert table["l2+dropout+bn"][3].startswith("+3.00 [")
    assert table["l2+dropout+bn"][9] == "92.5" and table["l2+dropout+bn"][10] == "+2.4"
    claims = {r[0]: r[2] for r in md_table(md, "## The study's claims")[2:]}
    assert claims["l2 improves test accuracy over none"] == stats.CONFIRMED
    assert claims["l2+dropout+bn is the best configuration"] == stats.CONFIRMED
    assert claims["removing BN from l2+dropout+bn costs accuracy"] == stats.CONFIRMED
    ablation = {r[0]: r for r in md_table(md, "## Ablation")[2:]}
    assert ablation["dropout"][1] == "l2+bn" and ablation["dropout"][3].startswith("+1.00 [")
    assert ablation["dropout"][5] == "+0.8" and ablation["dropout"][6] == "+2.8"
    time_claim = next(k for k in claims if k.startswith("BN cuts training time"))
    assert claims[time_claim] == stats.CONFIRMED  # 41 s vs 50 s, every seed


def test_without_removes_one_technique():
    assert study_md.without("l2+dropout+bn", "dropout") == "l2+bn"
    assert study_md.without("l2", "l2") == "none"
    assert paper.format_figure((90.0, 90.2)) == "90.0-90.2"


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_same_numbers(tmp_path):
    from kregs.run.device import configure, op_determinism
    from kregs.study.train import Trainer

    write_idx_dataset(tmp_path, n_train=200, n_test=40)
    budget = StudyBudget(epochs=2, batch_size=32, patience=2)
    config = StudyConfig("mnist", budget, arch="mlp", data_dir=str(tmp_path))
    reg = RegConfig(l2=1e-3, dropout=0.3, batch_norm="before_activation")
    events = _Epochs()
    with op_determinism(True):
        trainer = Trainer(config, configure(), events, Tracker(total=3))
        first, second = (trainer.run("l2+dropout+bn", reg, seed=3) for _ in range(2))
        other = trainer.run("l2+dropout+bn", reg, seed=4)
    # Progress: every epoch of every run, counted against the runs planned.
    assert [(p.unit, p.epoch, p.epochs, p.done, p.total) for p in events.epochs] == [
        ("l2+dropout+bn seed 3", 1, 2, 0, 3),
        ("l2+dropout+bn seed 3", 2, 2, 0, 3),
        ("l2+dropout+bn seed 3", 1, 2, 1, 3),
        ("l2+dropout+bn seed 3", 2, 2, 1, 3),
        ("l2+dropout+bn seed 4", 1, 2, 2, 3),
        ("l2+dropout+bn seed 4", 2, 2, 2, 3),
    ]
    assert events.epochs[-1].unit_left == 0 and events.epochs[-1].total_left == 0
    assert events.epochs[0].val_accuracy == first["history"]["val_accuracy"][0]
    timing = {"train_seconds", "train_cpu_seconds", "seconds_per_epoch", "seconds_to_best"}
    assert {k: v for k, v in first["row"].items() if k not in timing} == {
        k: v for k, v in second["row"].items() if k not in timing
    }
    assert first["history"]["loss"] == second["history"]["loss"]
    assert first["history"]["loss"] != other["history"]["loss"]


# --- a smoke study on real Fashion-MNIST ----------------------------------------------------


class _Stop(Exception):
    pass


class _Epochs(Listener):
    def __init__(self):
        self.epochs = []

    def epoch_ended(self, progress):
        self.epochs.append(progress)


class _OnRunEnd(Listener):
    def __init__(self, call):
        self.call = call

    def run_ended(self, row, skipped):
        self.call(row, skipped)


@pytest.fixture(scope="module")
def smoke_study(fashion_mnist, tmp_path_factory):
    """A smoke study of the MLP on real Fashion-MNIST, two seeds, interrupted after five runs,
    then resumed (the MLP: the same study machinery at a third of the CNN's tracing time)."""
    out = tmp_path_factory.mktemp("study") / "out"
    finished = []

    def stop_after_five(row, skipped):
        finished.append((row["config"], row["seed"]))
        if len(finished) == 5:
            raise _Stop

    config = StudyConfig.create(
        "fashion_mnist",
        preset="smoke",
        arch="mlp",
        seeds=2,
        limit=400,
        test_limit=500,
        output=str(out),
    )
    with pytest.raises(_Stop):
        run_study(config, _OnRunEnd(stop_after_five))
    runs = sorted((out / "runs").iterdir())
    first = {p.name: p.stat().st_mtime_ns for p in runs}
    seen = []
    result = run_study(
        config, _OnRunEnd(lambda row, skipped: seen.append((row["config"], row["seed"], skipped)))
    )
    return {"out": out, "result": result, "first": first, "finished": finished, "seen": seen}


def test_smoke_study_resume_skips_finished_runs(smoke_study):
    out, result = smoke_study["out"], smoke_study["result"]
    assert smoke_study["finished"] == [(name, 0) for name in CONFIG_NAMES[:5]]
    assert len(smoke_study["first"]) == 5
    assert result.ran == 11
    skipped = [(c, s) for c, s, was_skipped in smoke_study["seen"] if was_skipped]
    assert skipped == smoke_study["finished"]
    for name, mtime in smoke_study["first"].items():  # not retrained, not rewritten
        assert (out / "runs" / name).stat().st_mtime_ns == mtime


def test_smoke_study_csv_has_every_configuration_and_seed(smoke_study):
    rows = _study_rows(smoke_study["out"] / "study.csv")
    assert len(rows) == 16
    assert sorted((r["config"], r["seed"]) for r in rows) == sorted(
        (name, s) for name in CONFIG_NAMES for s in (0, 1)
    )
    for r in rows:
        assert (r["train_images"], r["test_images"]) == (360, 500)  # 400, less 10% held out
        record = json.loads(
            (smoke_study["out"] / "runs" / f"{r['config']}-seed{r['seed']}.json").read_text()
        )
        h = record["history"]
        # the epoch early stopping restored: the lowest val_loss among the epochs
        # after the minimum number of steps (`best_candidate` 1)
        best = min(
            (i for i, c in enumerate(h["best_candidate"]) if c), key=lambda i: h["val_loss"][i]
        )
        assert (r["epochs"], r["best_epoch"]) == (len(h["loss"]), best + 1)
        assert r["best_val_accuracy"] == pytest.approx(h["val_accuracy"][best])
        assert r["generalization_gap"] == pytest.approx(
            h["accuracy"][best] - h["val_accuracy"][best]
        )
        assert r["test_accuracy"] == record["row"]["test_accuracy"]
    assert all(r["test_accuracy"] > 0.3 for r in rows)  # it learns: chance is 0.1
    none = [r for r in rows if r["config"] == "none"]
    assert all(r["l2"] == 0 and r["dropout"] == 0 and r["batch_norm"] == "none" for r in none)
    full = [r for r in rows if r["config"] == "l2+dropout+bn"]
    assert all(r["l2"] == 1e-4 and r["dropout"] == 0.25 for r in full)


def test_smoke_study_markdown_agrees_with_csv(smoke_study):
    rows = _study_rows(smoke_study["out"] / "study.csv")
    md = (smoke_study["out"] / "study.md").read_text()
    assert md == smoke_study["result"].markdown
    table = {r[0]: r for r in md_table(md, "## Test accuracy")[2:]}
    assert list(table) == list(CONFIG_NAMES)
    acc = {n: np.array([r["test_accuracy"] for r in rows if r["config"] == n]) for n in table}
    for name, values in acc.items():
        assert table[name][1] == "2"
        assert table[name][2] == f"{100 * values.mean():.2f} ± {100 * values.std(ddof=1):.2f}"
        if name != "none":
            diff = 100 * (values.mean() - acc["none"].mean())
            assert table[name][3].startswith(f"{diff:+.2f} [")
    ablation = {r[0]: r for r in md_table(md, "## Ablation")[2:]}
    diff = 100 * (acc["l2+dropout+bn"].mean() - acc["dropout+bn"].mean())
    assert ablation["L2"][3].startswith(f"{diff:+.2f} [")
    claims = md_table(md, "## The study's claims")[2:]
    assert len(claims) == 12
    for claim, measured, verdict in claims:  # each verdict follows its interval
        interval = re.search(r"\[([+-][\d.]+)(?: s)?, ([+-][\d.]+)(?: s)?\]", measured)
        low, high = float(interval.group(1)), float(interval.group(2))
        if 0 in (low, high):  # a bound rounded to 0 in the text: its sign is not shown
            continue
        expected = (
            stats.CONFIRMED if low > 0 else stats.CONTRADICTED if high < 0 else stats.NOT_SHOWN
        )
        assert verdict == expected, claim


def _png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_smoke_study_plots_are_real_pngs(smoke_study):
    from PIL import Image

    plots = smoke_study["out"] / "plots"
    assert sorted(os.listdir(plots)) == [
        "generalization_gap.png",
        "learning_curves.png",
        "test_accuracy.png",
    ]
    for name in os.listdir(plots):
        path = plots / name
        width, height = _png_size(path)
        assert width >= 400 and height >= 250
        assert path.stat().st_size > 10_000
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:  # not a blank canvas
            assert len(image.convert("L").getcolors(maxcolors=1 << 16) or range(257)) > 16


def test_cli_study_continues_a_finished_study_without_training(smoke_study):
    out = smoke_study["out"]
    result = _kregs(
        [
            "study",
            "--preset",
            "smoke",
            "--arch",
            "mlp",
            "--seeds",
            "2",
            "--limit",
            "400",
            "--test-limit",
            "500",
            "--output",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("(finished earlier, skipped)") == 16
    assert "runs trained now: 0 of 16" in result.output
    assert "| l2+dropout+bn | 2 |" in result.output
    assert "l2: 0.0001  (default)" in result.output


def test_cli_study_refuses_another_protocol_in_the_same_folder(smoke_study):
    result = _kregs(
        [
            "study",
            "--preset",
            "smoke",
            "--arch",
            "mlp",
            "--epochs",
            "3",
            "--output",
            str(smoke_study["out"]),
        ]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: output folder") and "epochs: 2 -> 3" in lines[-1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--l2", "0"], "Error: Invalid value for '--l2': 0.0 is not in the range x>0."),
        (["--batch-norm", "none"], "Error: Invalid value for '--batch-norm': 'none' is not"),
        (
            ["--seeds", "0"],
            "Error: Invalid value for '--seeds': '0' is not a number of seeds >= 1, nor auto",
        ),
        (
            ["--seeds", "some"],
            "Error: Invalid value for '--seeds': 'some' is not a number of seeds",
        ),
        (["--max-seeds", "2"], "Error: Invalid value for '--max-seeds'"),
    ],
)
def test_cli_study_bad_input_is_one_line_and_exit_2(args, message):
    result = _kregs(["study", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output


def test_cli_study_from_a_folder_that_is_not_a_run(tmp_path):
    result = _kregs(["study", "--from-run", str(tmp_path), "--output", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert (
        result.output.strip()
        .splitlines()[-1]
        .startswith("Error: Invalid value for argument `from_run`: expected the output folder")
    )
