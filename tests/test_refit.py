"""The refit's start: the best trial's trained weights (the default) or fresh ones."""

import json
import shutil
from types import SimpleNamespace

import keras
import keras_tuner
import numpy as np
import pytest
from click.testing import CliRunner

from kregs.cli.main import main
from kregs.compat import learning_rate_schedule
from kregs.errors import ConfigError
from kregs.run.budget import SEARCH_PRESETS, SearchBudget
from kregs.tuner import RegularizationHyperModel, TuneConfig, tune
from kregs.tuner.refit import WARM_PEAK, refit_model, start_from


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
    result = CliRunner().invoke(main, ["tune", "--refit-from", "warm"])
    assert result.exit_code == 2 and "'warm' is not one of 'trial', 'scratch'" in result.output


def test_a_refit_that_continues_a_trial_warms_up_to_a_share_of_its_peak():
    hypermodel = RegularizationHyperModel((8, 8, 1), 3, arch="mlp")
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)  # declares the space's hyperparameters at their defaults
    peak = hypermodel.learning_rate(hp)
    for scale in (1.0, WARM_PEAK):
        model = hypermodel.with_schedule((4, 10), scale).build(hp)
        schedule = learning_rate_schedule(model.optimizer)
        assert schedule.peak == pytest.approx(scale * peak)
        assert float(schedule(0)) == pytest.approx(0.1 * scale * peak)  # its warm-up's start
    assert 0 < WARM_PEAK < 1
    for bad in (0, 1.5, "half", True):
        with pytest.raises(ConfigError, match="`peak_scale`: expected a float in"):
            RegularizationHyperModel((8, 8, 1), 3, peak_scale=bad)


def test_a_refit_whose_trial_weights_do_not_fit_starts_fresh_at_the_whole_peak(monkeypatch):
    hypermodel = RegularizationHyperModel((8, 8, 1), 3, arch="mlp")
    hp = keras_tuner.HyperParameters()
    trial_model = hypermodel.build(hp)
    search = SimpleNamespace(
        hypermodel_for=hypermodel.with_schedule, config=SimpleNamespace(seed=0)
    )
    _, model, start, scale = refit_model(search, hp, (4, 10), trial_model.get_weights())
    assert (start, scale) == ("trial", WARM_PEAK)
    for got, want in zip(model.get_weights(), trial_model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    _, model, start, scale = refit_model(search, hp, (4, 10), _mlp(0).get_weights())
    assert (start, scale) == ("scratch", 1.0)
    peak = learning_rate_schedule(model.optimizer).peak
    assert peak == pytest.approx(hypermodel.learning_rate(hp))
    # A share of 1.0 still continues the trial's weights.
    monkeypatch.setattr("kregs.tuner.refit.WARM_PEAK", 1.0)
    _, model, start, scale = refit_model(search, hp, (4, 10), trial_model.get_weights())
    assert (start, scale) == ("trial", 1.0)
    np.testing.assert_array_equal(model.get_weights()[0], trial_model.get_weights()[0])


def _config(data_dir, output, **kwargs):
    return TuneConfig.create(
        "mnist", data_dir=data_dir, output=str(output), arch="mlp", space="default",
        algorithm="random", max_trials=1, epochs=2, batch_size=32, patience=2, **kwargs,
    )  # fmt: skip


def _record(out):
    return json.loads((out / "refit" / "model.json").read_text())


def test_a_resumed_run_trains_its_refit_again_only_when_its_start_changes(tiny_mnist, tmp_path):
    out = tmp_path / "run"
    first = tune(_config(tiny_mnist, out))
    record = _record(out)
    assert record["start"] == "trial" and first.refit == record
    assert record["peak_scale"] == WARM_PEAK
    trial = record["trial_id"]
    summary = (out / "summary.md").read_text()
    assert f"starting from trial {trial}'s trained weights at {WARM_PEAK:g} of its peak" in summary
    assert "refit: from the best trial's weights" in summary
    # The same command again: the finished refit is loaded, not trained again.
    assert tune(_config(tiny_mnist, out)).refit == record
    # From scratch: the search's trials are kept, the refit is trained again.
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    again = tune(_config(tiny_mnist, copy, refit_from="scratch"))
    assert again.rows == first.rows
    assert _record(copy)["start"] == "scratch" == again.refit["start"]
    assert again.refit["peak_scale"] == 1.0
    summary = (copy / "summary.md").read_text()
    assert "from fresh initial weights" in summary and "refit: from scratch" in summary
