"""The refit's start: the best trial's trained weights (the default) or fresh ones."""

import json
import shutil

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from kregs.cli.main import main
from kregs.errors import ConfigError
from kregs.tuner import TuneConfig, tune
from kregs.tuner.budget import SEARCH_PRESETS, SearchBudget
from kregs.tuner.refit import start_from


def _mlp(seed, units=8):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(units), keras.layers.Dense(3)])


def test_the_refit_takes_the_trials_weights_and_refuses_ones_that_do_not_fit():
    trained, fresh = _mlp(1), _mlp(2)
    assert not np.allclose(trained.get_weights()[0], fresh.get_weights()[0])
    assert start_from(fresh, trained.get_weights()) == "trial"
    for got, want in zip(fresh.get_weights(), trained.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    # Another architecture's weights: the refit trains from its own initial weights.
    other = _mlp(3, units=5)
    before = [w.copy() for w in other.get_weights()]
    assert start_from(other, trained.get_weights()) == "scratch"
    for got, want in zip(other.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert start_from(other, None) == "scratch"


def test_the_refit_start_is_checked_at_the_door_and_the_paper_preset_starts_fresh():
    with pytest.raises(ConfigError, match="`refit_from`: expected one of trial, scratch"):
        SearchBudget(refit_from="warm")
    assert SEARCH_PRESETS[None].refit_from == SEARCH_PRESETS["quick"].refit_from == "trial"
    assert SEARCH_PRESETS["paper"].refit_from == "scratch"  # the study's protocol
    result = CliRunner().invoke(main, ["tune", "--folds", "0", "--refit-from", "warm"])
    assert result.exit_code == 2 and "'warm' is not one of 'trial', 'scratch'" in result.output


def _config(data_dir, output, **kwargs):
    return TuneConfig.create(
        "mnist",
        data_dir=data_dir,
        folds=0,
        output=str(output),
        arch="mlp",
        space="default",
        algorithm="random",
        max_trials=1,
        epochs=2,
        batch_size=32,
        patience=2,
        **kwargs,
    )


def _record(out):
    return json.loads((out / "refit" / "model.json").read_text())


def test_a_resumed_run_trains_its_refit_again_only_when_its_start_changes(tiny_mnist, tmp_path):
    out = tmp_path / "run"
    first = tune(_config(tiny_mnist, out))
    record = _record(out)
    assert record["start"] == "trial" and first.refit == record
    trial = record["trial_id"]
    summary = (out / "summary.md").read_text()
    assert f"starting from trial {trial}'s trained weights" in summary
    assert "refit: from the best trial's weights" in summary
    # The same command again: the finished refit is loaded, not trained again.
    assert tune(_config(tiny_mnist, out)).refit == record
    # From scratch: the search's trials are kept, the refit is trained again.
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    again = tune(_config(tiny_mnist, copy, refit_from="scratch"))
    assert again.rows == first.rows
    assert _record(copy)["start"] == "scratch" == again.refit["start"]
    summary = (copy / "summary.md").read_text()
    assert "from fresh initial weights" in summary and "refit: from scratch" in summary
