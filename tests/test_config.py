import dataclasses
import itertools

import pytest

from kregs.config import CONFIG_NAMES, RegConfig
from kregs.errors import ConfigError


def test_defaults_are_no_regularization():
    cfg = RegConfig()
    assert (cfg.l2, cfg.dropout, cfg.batch_norm, cfg.name) == (0.0, 0.0, "none", "none")


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({}, "none"),
        ({"l2": 0.1}, "l2"),
        ({"dropout": 0.5}, "dropout"),
        ({"batch_norm": "before_activation"}, "bn"),
        ({"batch_norm": "after_activation"}, "bn"),
        ({"l2": 0.1, "dropout": 0.5}, "l2+dropout"),
        ({"l2": 0.1, "batch_norm": "after_activation"}, "l2+bn"),
        ({"dropout": 0.2, "batch_norm": "before_activation"}, "dropout+bn"),
        ({"l2": 1e-4, "dropout": 0.2, "batch_norm": "before_activation"}, "l2+dropout+bn"),
    ],
)
def test_name(kwargs, name):
    assert RegConfig(**kwargs).name == name


def test_config_names_are_every_combination_in_the_studys_table_order():
    """none, each technique alone, each pair, all three: as RegConfig.name spells them."""
    names = []
    for k in range(4):
        for combo in itertools.combinations(("l2", "dropout", "bn"), k):
            reg = RegConfig(
                l2=0.1 if "l2" in combo else 0.0,
                dropout=0.5 if "dropout" in combo else 0.0,
                batch_norm="before_activation" if "bn" in combo else "none",
            )
            names.append(reg.name)
    assert list(CONFIG_NAMES) == names
    for name in CONFIG_NAMES:
        assert RegConfig.from_name(name, l2=0.1, dropout=0.5).name == name


def test_from_name_refuses_a_switched_off_technique():
    with pytest.raises(ConfigError, match="'l2\\+bn'.*each technique named must be switched on"):
        RegConfig.from_name("l2+bn", l2=0.0, dropout=0.5)


def test_immutable():
    cfg = RegConfig(l2=0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.l2 = 0.2


def test_values_are_normalised_to_float():
    cfg = RegConfig(l2=1, dropout=0)
    assert isinstance(cfg.l2, float) and isinstance(cfg.dropout, float)


def test_dict_round_trip():
    cfg = RegConfig(l2=0.01, dropout=0.25, batch_norm="after_activation")
    assert cfg.to_dict() == {
        "l2": 0.01,
        "dropout": 0.25,
        "batch_norm": "after_activation",
        "weight_decay": 0.0,
        "l2sp": 0.0,
        "dropout_placement": "blocks",
        "dropout_kind": "elementwise",
        "augment": "none",
        "label_smoothing": 0.0,
        "mix": "none",
        "mix_alpha": 1.0,
        "weight_averaging": "none",
        "stochastic_depth": 0.0,
    }
    assert RegConfig.from_dict(cfg.to_dict()) == cfg


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match=r"unknown keys \['lambda'\]"):
        RegConfig.from_dict({"lambda": 0.1})


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("l2", -1.0, "a finite float >= 0"),
        ("l2", float("nan"), "a finite float >= 0"),
        ("l2", "big", "a finite float >= 0"),
        ("dropout", 1.0, "a float in [0, 1)"),
        ("dropout", 1.5, "a float in [0, 1)"),
        ("dropout", -0.1, "a float in [0, 1)"),
        ("batch_norm", "after", "one of none, before_activation, after_activation"),
        ("batch_norm", None, "one of none, before_activation, after_activation"),
    ],
)
def test_validation_message_names_field_value_and_allowed(field, value, expected):
    with pytest.raises(ValueError) as err:
        RegConfig(**{field: value})
    assert str(err.value) == (
        f"Invalid value for argument `{field}`: expected {expected}. Received: {field}={value!r}"
    )
