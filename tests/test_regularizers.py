import keras
import numpy as np
import pytest
from _helpers import gradient

import kregs
from kregs import L2Penalty


@pytest.mark.parametrize("lam", [0.0, 1e-4, 0.1, 10.0])
def test_value_is_half_lambda_times_sum_of_squares(lam):
    w = np.random.default_rng(1).normal(size=(5, 7)).astype("float32")
    value = float(L2Penalty(lam)(keras.ops.convert_to_tensor(w)))
    expected = lam / 2 * np.sum(w.astype("float64") ** 2)
    np.testing.assert_allclose(value, expected, rtol=1e-6)


@pytest.mark.parametrize("lam", [1e-3, 0.1, 3.0])
def test_gradient_is_lambda_times_w(lam):
    w = np.random.default_rng(2).normal(size=(3, 3, 2, 4)).astype("float32")
    grad = gradient(L2Penalty(lam), w)
    np.testing.assert_allclose(grad, lam * w, rtol=1e-6)


def test_equals_keras_l2_with_half_lambda():
    w = keras.ops.convert_to_tensor(np.random.default_rng(3).normal(size=(10,)).astype("float32"))
    ours = float(L2Penalty(0.3)(w))
    theirs = float(keras.regularizers.L2(0.15)(w))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", None, True])
def test_rejects_bad_lambda_naming_the_value(bad):
    with pytest.raises(ValueError) as err:
        L2Penalty(bad)
    assert str(err.value) == (
        f"Invalid value for argument `lam`: expected a finite float >= 0. Received: lam={bad!r}"
    )
    assert isinstance(err.value, kregs.ConfigError)


def test_config_round_trip():
    reg = L2Penalty(0.25)
    assert reg.get_config() == {"lam": 0.25}
    restored = keras.regularizers.deserialize(keras.regularizers.serialize(reg))
    assert isinstance(restored, L2Penalty) and restored.lam == 0.25
