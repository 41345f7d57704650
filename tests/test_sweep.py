"""`kregs study --sweep` and `--from-run`: one value over a grid, and a search's best
configuration ablated; plans, reports and verdicts on made-up rows, then small real runs."""

import json
import re

import pytest
from _helpers import md_table, read_csv, write_idx_dataset
from click.testing import CliRunner

from kregs.cli.main import main
from kregs.config import RegConfig
from kregs.errors import ConfigError
from kregs.study import ablation_md, plan, stats, sweep_md
from kregs.study.config import StudyConfig
from kregs.study.runner import run_study


def _kregs(args):
    return CliRunner().invoke(main, args, prog_name="kregs")


# --- plans ----------------------------------------------------------------------------------


def test_a_sweep_sorts_its_values_and_names_its_configurations():
    sweep = plan.parse_sweep("l2=0.1,0,1e-3,0.1")
    assert sweep.values == (0.0, 1e-3, 0.1)
    assert [sweep.label(v) for v in sweep.values] == ["none", "l2=0.001", "l2=0.1"]
    assert plan.parse_sweep("dropout").values == plan.SWEEP_GRIDS["dropout"]
    assert plan.parse_sweep("weight-decay=0,0.1").parameter == "weight_decay"


@pytest.mark.parametrize(
    "text, base, message",
    [
        ("momentum", "none", "`sweep`: expected one of l2, dropout, weight_decay"),
        ("l2=0.1", "none", "`sweep l2`: expected at least two values"),
        ("l2=0,-1", "none", "`l2`: expected a finite float >= 0"),
        ("dropout=0,1", "none", "`dropout`: expected a float in [0, 1)"),
        ("l2=0,x", "none", "`sweep`: expected l2=V1,V2,... with numbers"),
        ("l2", "l2+bn", "`base`: expected a configuration without l2"),
    ],
)
def test_bad_sweeps_are_refused_naming_the_value(text, base, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan.parse_sweep(text, base)


def test_sweeps_share_their_base_and_vary_one_value_each():
    config = StudyConfig.create(sweep=("l2=0,1e-4,0.1", "weight_decay=0,0.01"), base="bn")
    configs = config.configurations()
    assert list(configs) == ["bn", "l2=0.0001", "l2=0.1", "weight_decay=0.01"]
    bn = RegConfig(batch_norm="before_activation")
    assert configs["bn"] == bn
    assert configs["l2=0.1"] == RegConfig(l2=0.1, batch_norm="before_activation")
    assert configs["weight_decay=0.01"] == RegConfig(
        weight_decay=0.01, batch_norm="before_activation"
    )
    assert config.kind == "sweep"
    assert config.record()["sweeps"][0] == {
        "parameter": "l2",
        "values": [0.0, 1e-4, 0.1],
        "base": "bn",
    }
    # A study of the eight configurations keeps its old record: no sweep, no ablation key.
    record = StudyConfig.create().record()
    assert "sweeps" not in record and "ablation" not in record


def _tune_run(folder, rows, dataset="mnist", arch="mlp"):
    """A finished tune run's two files, as `kregs tune` writes them."""
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"dataset": dataset, "arch": arch}))
    header = (
        "trial_id,status,config,l2,weight_decay,dropout,dropout_placement,dropout_kind,"
        "batch_norm,augment,learning_rate,best_val_accuracy\n"
    )
    (folder / "trials.csv").write_text(header + "".join(",".join(r) + "\n" for r in rows))
    return str(folder)


BEST = (
    "02",
    "COMPLETED",
    "wd+dropout+bn+aug",
    "0",
    "0.01",
    "0.3",
    "head",
    "spatial",
    "after_activation",
    "shift",
    "0.0005",
    "0.93",
)


def test_an_ablation_takes_the_best_trial_and_removes_each_regularizer(tmp_path):
    run = _tune_run(
        tmp_path / "run",
        [
            (
                "00",
                "COMPLETED",
                "none",
                "0",
                "0",
                "0",
                "blocks",
                "elementwise",
                "none",
                "none",
                "0.001",
                "0.90",
            ),
            BEST,
            (
                "03",
                "FAILED",
                "l2",
                "0.1",
                "0",
                "0",
                "blocks",
                "elementwise",
                "none",
                "none",
                "0.001",
                "",
            ),
        ],
    )
    config = StudyConfig.create(from_run=run, preset="smoke")
    a = config.ablation
    assert (a.trial, a.learning_rate, config.dataset.name, config.arch) == (
        "02",
        5e-4,
        "mnist",
        "mlp",
    )
    assert config.budget.learning_rate == 5e-4
    assert a.reg == RegConfig(
        weight_decay=0.01,
        dropout=0.3,
        dropout_placement="head",
        dropout_kind="spatial",
        batch_norm="after_activation",
        augment="shift",
    )
    configs = config.configurations()
    assert list(configs) == [
        "best",
        "without weight decay",
        "without dropout",
        "without BN",
        "without augmentation",
    ]
    assert configs["without dropout"] == RegConfig(
        weight_decay=0.01,
        batch_norm="after_activation",
        augment="shift",
        dropout_placement="head",
        dropout_kind="spatial",
    )
    assert configs["without BN"].name == "wd+dropout+aug"
    # Explicit options win over the run's.
    explicit = StudyConfig.create(from_run=run, learning_rate=0.01, dataset="fashion_mnist")
    assert (explicit.budget.learning_rate, explicit.dataset.name) == (0.01, "fashion_mnist")
    assert explicit.record()["ablation"]["config"]["weight_decay"] == 0.01


def test_an_ablation_of_an_unregularized_best_is_refused(tmp_path):
    run = _tune_run(
        tmp_path / "run",
        [
            (
                "00",
                "COMPLETED",
                "none",
                "0",
                "0",
                "0",
                "blocks",
                "elementwise",
                "none",
                "none",
                "0.001",
                "0.95",
            )
        ],
    )
    with pytest.raises(ConfigError, match="uses no regularization: there is nothing to ablate"):
        StudyConfig.create(from_run=run)
    with pytest.raises(ConfigError, match="`from_run`: expected the output folder"):
        StudyConfig.create(from_run=str(tmp_path))


# --- reports on made-up rows ----------------------------------------------------------------


def _row(config, seed, acc, val=None, gap=0.02):
    return {
        "config": config,
        "seed": seed,
        "test_accuracy": acc,
        "best_val_accuracy": acc if val is None else val,
        "generalization_gap": gap,
        "best_epoch": 5,
        "epochs": 10,
        "seconds_per_epoch": 2.0,
        "train_images": 9000,
        "test_images": 10000,
    }


def _record(sweeps):
    return {
        "dataset": "fashion_mnist",
        "arch": "cnn",
        "learning_rate": 1e-3,
        "batch_size": 128,
        "epochs": 40,
        "patience": 5,
        "limit": 10000,
        "validation_split": 0.1,
        "deterministic": True,
        "sweeps": [s.to_dict() for s in sweeps],
    }


def test_sweep_report_checks_the_studys_lambda_and_compares_l2_with_decay():
    from kregs.data import dataset_info

    l2 = plan.Sweep("l2", (0, 1e-4, 0.01, 0.1, 1, 10))
    wd = plan.Sweep("weight_decay", (0, 0.01, 0.1))
    means = {
        "none": 0.88,
        "l2=0.0001": 0.90,
        "l2=0.01": 0.89,
        "l2=0.1": 0.87,
        "l2=1": 0.80,
        "l2=10": 0.50,
        "weight_decay=0.01": 0.895,
        "weight_decay=0.1": 0.91,
    }
    rows = [_row(name, s, m + 0.002 * s) for s in range(3) for name, m in means.items()]
    md = sweep_md.markdown(_record([l2, wd]), rows, dataset_info("fashion_mnist"))
    table = {r[0]: r for r in md_table(md, "## Test accuracy against the L2 lambda")[2:]}
    assert table["0.1"][2] == "87.20 ± 0.20" and table["0.1"][9] == "the study's"
    assert table["0.0001"][9] == "best (validation)"
    assert table["0.1"][3].startswith("-1.00 [")
    claims = {r[0]: (r[1], r[2]) for r in md_table(md, "## The study's choices")[2:]}
    best_of_grid = claims["L2 lambda 0.1 is the best of {0.01, 0.1, 1, 10}"]
    assert best_of_grid[0].startswith("-2.00 [") and "best other (0.01)" in best_of_grid[0]
    assert best_of_grid[1] == stats.CONTRADICTED
    assert claims["L2 lambda 0.1 improves test accuracy over none"][1] == stats.CONTRADICTED
    best_l2, best_wd, d = sweep_md.l2_vs_decay(l2, wd, rows)
    assert (best_l2, best_wd) == (1e-4, 0.1) and d.verdict == stats.CONTRADICTED
    assert "decoupled weight decay regularizes this network better" in md
    assert "![L2 lambda](plots/sweep-l2.png)" in md


def test_the_best_value_is_chosen_on_validation_not_test():
    sweep = plan.Sweep("dropout", (0, 0.3, 0.5))
    rows = [
        _row("dropout=0.3", 0, acc=0.95, val=0.80),
        _row("dropout=0.5", 0, acc=0.85, val=0.90),
        _row("none", 0, acc=0.99, val=0.99),
    ]
    assert sweep_md.best_value(sweep, rows) == 0.5  # 0 (the base) is not a value of dropout
    assert sweep_md.best_value(sweep, rows, nonzero=False) == 0.0


def test_ablation_report_says_which_regularizer_earned_its_place():
    from kregs.data import dataset_info

    means = {"best": 0.92, "without dropout": 0.90, "without BN": 0.925, "without L2": 0.921}
    rows = [_row(name, s, m + 0.001 * s) for s in range(3) for name, m in means.items()]
    record = {
        **_record([]),
        "ablation": {
            "run": "runs/x",
            "trial": "07",
            "config": RegConfig(l2=1e-4, dropout=0.3, batch_norm="before_activation").to_dict(),
            "learning_rate": 1e-3,
        },
    }
    md = ablation_md.markdown(record, rows, dataset_info("fashion_mnist"))
    table = {r[0]: r for r in md_table(md, "## Which regularizer earned its place")[2:]}
    assert table["without dropout"][3].startswith("+2.00 [")
    assert table["without dropout"][4] == "earned its place"
    assert table["without BN"][4] == "costs accuracy: the model is better without it"
    assert table["without L2"][4] == stats.NOT_SHOWN
    assert "trial 07 of `runs/x` (l2 0.0001, dropout 0.3" in md


# --- small real runs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist")
    write_idx_dataset(folder, n_train=300, n_test=60)
    return str(folder)


def test_a_sweep_study_trains_every_value_resumes_and_plots(tiny_mnist, tmp_path):
    out = tmp_path / "sweep"
    args = dict(
        dataset="mnist",
        data_dir=tiny_mnist,
        arch="mlp",
        seeds=2,
        epochs=2,
        batch_size=32,
        patience=2,
        sweep=("l2=0,0.01", "weight_decay=0,0.1"),
        output=str(out),
    )
    result = run_study(StudyConfig.create(**args))
    rows = read_csv(out / "study.csv")
    assert [(r["config"], r["seed"]) for r in rows] == [
        (name, str(s)) for s in (0, 1) for name in ("none", "l2=0.01", "weight_decay=0.1")
    ]
    assert {(r["config"], r["l2"], r["weight_decay"]) for r in rows} == {
        ("none", "0.0", "0.0"),
        ("l2=0.01", "0.01", "0.0"),
        ("weight_decay=0.1", "0.0", "0.1"),
    }
    assert all(float(r["seconds_to_best"]) > 0 for r in rows)
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "sweep-l2.png",
        "sweep-weight_decay.png",
    ]
    assert "## L2 against decoupled weight decay" in result.markdown
    assert result.ran == 6
    again = run_study(StudyConfig.create(**args))
    assert again.ran == 0 and again.markdown == result.markdown
    # Another grid in the same folder is another protocol: refused, nothing lost.
    with pytest.raises(ConfigError, match="protocol"):
        run_study(StudyConfig.create(**{**args, "sweep": ("l2=0,0.1",)}))
    assert len(list((out / "runs").iterdir())) == 6


def test_cli_ablates_a_runs_best_configuration(tiny_mnist, tmp_path):
    run = _tune_run(tmp_path / "run", [BEST])
    out = tmp_path / "ablation"
    result = _kregs(
        [
            "study",
            "--from-run",
            run,
            "--data-dir",
            tiny_mnist,
            "--preset",
            "smoke",
            "--limit",
            "300",
            "--epochs",
            "1",
            "--seeds",
            "1",
            "--output",
            str(out),
            "--quiet",
        ]
    )
    assert result.exit_code == 0, result.output
    assert f"ablation of {run} trial 02: wd+dropout+bn+aug (learning rate 0.0005)" in result.output
    assert "## Which regularizer earned its place" in result.output
    rows = read_csv(out / "study.csv")
    assert len(rows) == 5
    assert {r["config"] for r in rows} == {
        "best",
        "without weight decay",
        "without dropout",
        "without BN",
        "without augmentation",
    }
    assert (out / "plots" / "ablation.png").stat().st_size > 1000
    assert (out / "runs" / "without-BN-seed0.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sweep", "momentum"], "Error: Invalid value for argument `sweep`: expected one of"),
        (["--sweep", "l2", "--base", "l2"], "Error: Invalid value for argument `base`"),
    ],
)
def test_cli_bad_sweeps_are_one_line_and_exit_2(args, message, tmp_path):
    result = _kregs(["study", *args, "--output", str(tmp_path / "s")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.output
