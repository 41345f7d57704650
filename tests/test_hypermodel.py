import keras
import keras_tuner
import numpy as np
import pytest

from kregs import RegConfig
from kregs.errors import ConfigError
from kregs.layers import DenseBlock
from kregs.tuner import RegularizationHyperModel
from kregs.tuner.budget import ALGORITHMS
from kregs.tuner.config import Fixed
from kregs.tuner.space import SearchSpace
from kregs.tuner.tuners import make_tuner


def _space(hypermodel):
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    return {p.name: p for p in hp.space}, hp


def test_default_space():
    space, hp = _space(RegularizationHyperModel((8, 8, 1), 3))
    assert set(space) == {"use_l2", "l2", "use_dropout", "dropout", "batch_norm", "learning_rate"}
    l2 = space["l2"].get_config()
    assert (l2["min_value"], l2["max_value"], l2["sampling"]) == (1e-6, 1e-2, "log")
    dropout = space["dropout"].get_config()
    assert (dropout["min_value"], dropout["max_value"]) == (0.1, 0.7)
    assert space["batch_norm"].values == ["none", "before_activation", "after_activation"]
    assert space["learning_rate"].get_config()["sampling"] == "log"
    assert space["l2"].conditions[0].name == "use_l2"


def test_paper_space_is_the_studys_grid():
    space, _ = _space(RegularizationHyperModel((8, 8, 1), 3, space="paper"))
    assert set(space) == {"l2", "dropout", "batch_norm"}  # learning rate fixed
    assert space["l2"].values == [0.0, 0.01, 0.1, 1.0, 10.0]
    assert space["dropout"].values == [0.0, 0.2, 0.5, 0.7]
    assert space["batch_norm"].values == ["none", "before_activation"]


def _fixed(name="default", **values):
    return SearchSpace(name, Fixed(**values))


def test_fixed_dimensions_are_not_searched():
    hypermodel = RegularizationHyperModel(
        (8, 8, 1),
        3,
        space=_fixed(l2=0.0, dropout=0.25, batch_norm="after_activation", learning_rate=3e-4),
    )
    space, hp = _space(hypermodel)
    assert space == {}
    assert hypermodel.reg_config(hp) == RegConfig(0.0, 0.25, "after_activation")
    assert hypermodel.learning_rate(hp) == 3e-4


def test_reg_config_follows_the_values():
    hypermodel = RegularizationHyperModel((8, 8, 1), 3)
    _, hp = _space(hypermodel)
    hp.values.update({"use_l2": False, "use_dropout": True, "dropout": 0.4, "batch_norm": "none"})
    assert hypermodel.reg_config(hp) == RegConfig(l2=0.0, dropout=0.4)
    hp.values.update({"use_l2": True, "l2": 1e-3})
    assert hypermodel.reg_config(hp).name == "l2+dropout"


def test_build_compiles_the_kregs_model():
    hypermodel = RegularizationHyperModel(
        (8, 8, 1), 3, space=_fixed(l2=0.1, dropout=0.0, batch_norm="none")
    )
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert model.compiled and len(model.losses) == 6
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3)


@pytest.mark.parametrize("jit", [True, False])
def test_jit_compile_is_passed_to_compile(jit):
    model = RegularizationHyperModel((8, 8, 1), 3, jit_compile=jit).build(
        keras_tuner.HyperParameters()
    )
    assert model.jit_compile is jit


@pytest.mark.parametrize(
    "precision, policy, scaled",
    [
        ("float32", "float32", False),
        ("bfloat16", "mixed_bfloat16", False),
        ("float16", "mixed_float16", True),
    ],
)
def test_precision_sets_the_layers_policy_and_scales_only_float16(precision, policy, scaled):
    model = RegularizationHyperModel((8, 8, 1), 3, precision=precision).build(
        keras_tuner.HyperParameters()
    )
    assert model.get_layer("dense1").dtype_policy.name == policy
    assert model.get_layer("probabilities").dtype_policy.name == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) is scaled


def test_the_schedule_follows_the_budget_and_a_continued_trial_goes_on():
    from kregs.run.schedule import WarmupCosine

    def schedule_of(model):
        config = model.optimizer.get_config()["learning_rate"]
        assert config["class_name"] == "WarmupCosine"
        return WarmupCosine(**config["config"])

    hypermodel = RegularizationHyperModel(
        (8, 8, 1), 3, space=_fixed(learning_rate=1e-3), schedule=(10, 20)
    )
    hp = keras_tuner.HyperParameters()
    schedule = schedule_of(hypermodel.build(hp))
    assert (schedule.peak, schedule.total_steps, schedule.offset) == (1e-3, 200, 0)
    hp.values["tuner/initial_epoch"] = 4  # Hyperband continues a trial at epoch 4
    continued = schedule_of(hypermodel.build(hp))
    assert continued.offset == 80
    assert float(continued(0)) == pytest.approx(float(schedule(80)))


def test_discrete_space_gives_steps():
    space, _ = _space(
        RegularizationHyperModel((8, 8, 1), 3, space=SearchSpace("default", discrete=True))
    )
    assert space["l2"].get_config()["step"] == 10 and space["dropout"].get_config()["step"] == 0.2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"space": "huge"}, "`space`: expected one of default, extended, paper"),
        ({"l2": -1.0}, "`l2`: expected a finite float >= 0. Received: l2=-1.0"),
        ({"dropout": 1.0}, "`dropout`: expected a float in [0, 1). Received: dropout=1.0"),
        ({"batch_norm": "sometimes"}, "`batch_norm`: expected one of none"),
        ({"learning_rate": 0}, "`learning_rate`: expected a float in (0, 1)"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError) as err:
        if "space" in kwargs:
            RegularizationHyperModel((8, 8, 1), 3, space=SearchSpace(kwargs["space"]))
        else:
            RegularizationHyperModel((8, 8, 1), 3, space=_fixed(**kwargs))
    assert message in str(err.value)


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(96, 8, 8, 1), dtype=np.uint8)
    y = (x.mean(axis=(1, 2, 3)) > 127).astype(int) + (x[:, 0, 0, 0] > 127)
    return x[:64], y[:64], x[64:], y[64:]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_runs_tiny_trials(algorithm, tiny, tmp_path):
    x, y, xv, yv = tiny
    hypermodel = RegularizationHyperModel(
        (8, 8, 1), 3, arch="mlp", space=SearchSpace("default", discrete=algorithm == "grid")
    )
    tuner = make_tuner(algorithm, hypermodel, str(tmp_path), max_trials=2, epochs=2, seed=1)
    tuner.search(x, y, validation_data=(xv, yv), epochs=2, verbose=0)
    trials = tuner.oracle.trials.values()
    assert len(trials) == 2 and all(t.status == "COMPLETED" for t in trials)
    best = tuner.get_best_models(1)[0]
    assert best.predict(xv, verbose=0).shape == (32, 3)


@pytest.mark.parametrize("tuner_cls", [keras_tuner.RandomSearch, keras_tuner.BayesianOptimization])
def test_plain_kerastuner_tuners_accept_the_hypermodel(tuner_cls, tiny, tmp_path):
    x, y, xv, yv = tiny
    tuner = tuner_cls(
        RegularizationHyperModel((8, 8, 1), 3, arch="mlp"),
        objective="val_accuracy",
        max_trials=2,
        directory=str(tmp_path),
        seed=0,
    )
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    assert len(tuner.oracle.trials) == 2
    # Each trial's model is the RegConfig its hyperparameters describe, in every block.
    for trial in tuner.oracle.trials.values():
        hp = trial.hyperparameters
        blocks = [
            layer for layer in tuner.hypermodel.build(hp).layers if isinstance(layer, DenseBlock)
        ]
        expected = RegularizationHyperModel((8, 8, 1), 3, arch="mlp").reg_config(hp)
        assert len(blocks) == 2 and all(b.reg == expected for b in blocks)


def test_plain_grid_search_over_the_paper_space(tiny, tmp_path):
    x, y, xv, yv = tiny
    tuner = keras_tuner.GridSearch(
        RegularizationHyperModel((8, 8, 1), 3, arch="mlp", space="paper"),
        objective="val_accuracy",
        max_trials=3,
        directory=str(tmp_path),
    )
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, verbose=0)
    values = [t.hyperparameters.values for t in tuner.oracle.trials.values()]
    assert len(values) == 3 and len({tuple(sorted(v.items())) for v in values}) == 3


# --- every combination of fixed dimensions, in every space ----------------------------------

# One value per dimension that can be fixed: on, and off where the technique has an "off".
FIXABLE = {
    "l2": (1e-4, 0.0),
    "weight_decay": (0.01, 0.0),
    "dropout": (0.3, 0.0),
    "dropout_placement": ("stages", "head"),
    "dropout_kind": ("spatial",),
    "batch_norm": ("before_activation", "none"),
    "augment": ("shift", "none"),
    "learning_rate": (3e-4,),
}


def _combinations():
    """Every subset of the dimensions a space has (fixed to the first value), and each
    dimension alone at every value, for each space and architecture."""
    import itertools

    from kregs.config import BY_NAME

    for space in ("default", "extended", "paper"):
        names = [n for n in FIXABLE if n == "learning_rate" or BY_NAME[n].searched_in(space)]
        for k in range(len(names) + 1):
            for subset in itertools.combinations(names, k):
                for arch in ("cnn", "mlp"):
                    yield space, arch, {n: FIXABLE[n][0] for n in subset}
        for name in names:
            for value in FIXABLE[name][1:]:
                yield space, "cnn", {name: value}


def test_every_combination_of_fixed_dimensions_in_every_space_builds_its_config():
    """Regression: the extended space with a fixed dropout entered `use_dropout`'s scope
    (not defined: the dropout was not searched) and every trial failed."""
    checked = 0
    for space_name, arch, fixed in _combinations():
        space = SearchSpace(space_name, Fixed(**fixed), flips=True)
        # the first configuration (defaults), the control (every technique off), the recipe
        control = space.baseline_values(arch)
        for values in ({}, control, space.recipe_values(arch)):
            hp = keras_tuner.HyperParameters()
            space.reg_config(hp, arch)  # declares the space
            hp.values.update(values)
            reg = space.reg_config(hp, arch)
            for name, value in fixed.items():
                if name != "learning_rate":
                    assert getattr(reg, name) == value, (space_name, arch, fixed)
            searched = {p.name for p in hp.space}
            assert not searched & set(fixed), (space_name, fixed, searched)
            if values is control:  # nothing searched is on
                assert not any(
                    reg.uses(n)
                    for n in ("l2", "weight_decay", "dropout", "augment")
                    if n not in fixed
                )
            checked += 1
    assert checked > 500


def test_a_fixed_dropout_in_the_extended_space_still_searches_its_placement():
    space = SearchSpace("extended", Fixed(dropout=0.3))
    hp = keras_tuner.HyperParameters()
    assert space.reg_config(hp).dropout == 0.3
    assert "dropout_placement" in {p.name for p in hp.space}
    assert "use_dropout" not in hp.values
    hp.values["dropout_placement"] = "blocks"
    assert space.reg_config(hp).dropout_kind == "spatial"  # the kind's default, now searched
    assert SearchSpace("extended", Fixed(dropout=0.0)).reg_config(
        keras_tuner.HyperParameters()
    ) == RegConfig(l2=1e-4, batch_norm="after_activation")


@pytest.mark.parametrize(
    "space_name, flips, expected",
    [
        (
            "extended",
            True,
            RegConfig(
                weight_decay=0.01,
                dropout=0.3,
                dropout_placement="head",
                batch_norm="before_activation",
                augment="flip+shift",
            ),
        ),
        (
            "extended",
            False,
            RegConfig(
                weight_decay=0.01,
                dropout=0.3,
                dropout_placement="head",
                batch_norm="before_activation",
                augment="shift",
            ),
        ),
        ("default", True, RegConfig(dropout=0.3, batch_norm="before_activation")),
    ],
)
def test_the_recipe_is_the_well_tried_setting_as_far_as_the_space_searches_it(
    space_name, flips, expected
):
    space = SearchSpace(space_name, flips=flips)
    hp = keras_tuner.HyperParameters()
    space.reg_config(hp)
    hp.values.update(space.recipe_values())
    assert space.reg_config(hp) == expected
    assert space.learning_rate(hp) == 2e-3
    # a dimension the user fixed stays fixed; so does a fixed learning rate
    fixed = SearchSpace(space_name, Fixed(dropout=0.5, learning_rate=1e-3), flips=flips)
    values = fixed.recipe_values()
    assert "dropout" not in values and "learning_rate" not in values


def test_a_search_tries_the_control_then_the_recipe_then_its_own(tmp_path):
    hypermodel = RegularizationHyperModel((8, 8, 1), 3, space=SearchSpace("extended", flips=True))
    firsts = [hypermodel.baseline_values(), hypermodel.recipe_values()]
    tuner = make_tuner("random", hypermodel, str(tmp_path), 5, 1, first=firsts)
    assert tuner.oracle.first_trials == 2  # the time budget's reserve waits for them
    tried = []
    for i in range(4):
        trial = tuner.oracle.create_trial(f"w{i}")
        tried.append(hypermodel.reg_config(trial.hyperparameters))
    assert tried[0] == RegConfig()
    assert tried[1] == RegConfig(
        weight_decay=0.01,
        dropout=0.3,
        dropout_placement="head",
        batch_norm="before_activation",
        augment="flip+shift",
    )
    assert RegConfig() not in tried[2:] and tried[1] not in tried[2:]
