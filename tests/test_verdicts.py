"""Verdicts against known cases: paired intervals, McNemar, Wilson, the corrected resampled t."""

import json
import math

import numpy as np
import pytest

from kregs.verdicts import pack, paired, resampled, unpack, wilson


def _outcomes(both, only_a, only_b, neither):
    a = np.array([True] * both + [True] * only_a + [False] * only_b + [False] * neither)
    b = np.array([True] * both + [False] * only_a + [True] * only_b + [False] * neither)
    return a, b


def test_two_models_that_agree_everywhere_differ_by_nothing_shown():
    a, _ = _outcomes(140, 0, 0, 10)
    result = paired(a, a)
    assert result.difference == 0 and result.discordant == 0 and result.p_value == 1.0
    assert result.low < 0 < result.high and result.low == pytest.approx(-result.high)
    assert result.verdict == "not shown at this size"


def test_three_images_of_150_are_not_shown():
    """The issue's case: 'regularization wins by 2.00 points' was 3 images of 150."""
    a, b = _outcomes(146, 0, 3, 1)
    result = paired(a, b)
    assert result.difference == pytest.approx(0.02)
    assert (round(100 * result.low, 1), round(100 * result.high, 1)) == (-1.1, 5.9)
    assert result.p_value == pytest.approx(0.25)  # the binomial test of 3 of 3 at 1/2
    assert result.verdict == "not shown at this size"


def test_a_large_difference_is_shown():
    a, b = _outcomes(5000, 40, 160, 800)  # 120 images net on 6,000
    result = paired(a, b)
    assert result.difference == pytest.approx(0.02)
    assert 0.013 < result.low < 0.02 < result.high < 0.027
    assert result.p_value < 1e-15 and result.verdict == "shown"
    worse = paired(b, a)  # the other way round: the same, negative
    assert worse.verdict == "shown" and worse.high == pytest.approx(-result.low)


def test_the_interval_is_newcombes_square_and_add_where_the_outcomes_are_uncorrelated():
    """With e*h - f*g at most n/2 the (continuity-corrected) correlation is 0, and Newcombe's
    interval is the difference of the two Wilson intervals added in quadrature."""
    a, b = _outcomes(10, 5, 3, 2)  # e*h - f*g = 20 - 15 = 5 <= n/2 = 10
    result = paired(a, b)
    n, p1, p2 = 20, 13 / 20, 15 / 20
    l1, u1 = wilson(13, n)
    l2, u2 = wilson(15, n)
    assert result.difference == pytest.approx(p1 - p2)
    assert result.low == pytest.approx(p1 - p2 - math.hypot(p1 - l1, u2 - p2))
    assert result.high == pytest.approx(p1 - p2 + math.hypot(u1 - p1, p2 - l2))


def test_wilson_interval_known_values():
    assert [round(v, 4) for v in wilson(149, 150)] == [0.9632, 0.9988]
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(1.0)
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_outcomes_survive_json():
    correct = np.random.default_rng(0).random(1001) < 0.9
    np.testing.assert_array_equal(unpack(pack(correct), 1001), correct)


def test_the_corrected_resampled_t_is_wider_than_the_plain_one():
    from scipy import stats

    diffs = [0.012, 0.004, 0.010, -0.002, 0.008]
    result = resampled(diffs, test_share=1 / 4)  # 5-fold: a fold's test is a quarter of its train
    plain = stats.ttest_1samp(diffs, 0).confidence_interval(0.95)
    assert result.difference == pytest.approx(0.0064)
    assert result.low < plain.low and result.high > plain.high  # the variance x (1/5 + 1/4) * 5
    se = math.sqrt((1 / 5 + 1 / 4) * np.var(diffs, ddof=1))
    assert result.high - result.difference == pytest.approx(stats.t.ppf(0.975, 4) * se)
    assert result.verdict == "not shown at this size"
    assert resampled([0.01, 0.012, 0.011, 0.009, 0.010], 0.25).verdict == "shown"
    assert resampled([0.01], 0.25).verdict == "not shown at this size"  # one fold: no interval


# --- kregs compare ----------------------------------------------------------------------------


def _models_and_data(tmp_path, classes=3):
    import keras

    from kregs import build_model

    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    x = (rng.integers(0, 60, (120, 8, 8)) + 60 * y[:, None, None]).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:60], y_test=y[:60])
    paths = []
    for name, n in (("a", 3), ("b", classes)):
        keras.utils.set_random_seed(len(paths))
        model = build_model((8, 8, 1), n, arch="mlp")
        if n == 3:  # one of them learns a little: they disagree on some images
            model.compile("adam", "sparse_categorical_crossentropy")
            model.fit(x[..., None], y, epochs=1 + 4 * len(paths), verbose=0)
        model.save(tmp_path / f"{name}.keras")
        paths.append(str(tmp_path / f"{name}.keras"))
    return paths


def test_compare_two_models_on_the_same_test_images(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from kregs.cli.main import main

    a, b = _models_and_data(tmp_path)
    sheet = tmp_path / "sheet.png"
    result = CliRunner().invoke(
        main, ["compare", a, b, "--data", str(tmp_path / "d.npz"), "--sheet", str(sheet)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == [f"A: {a}", f"B: {b}"]
    assert lines[2].startswith("B against A: ") and " on 60 test images, " in lines[2]
    assert lines[2].endswith((": shown", ": not shown at this size"))
    assert lines[3] == (
        "The interval covers which images were measured, not the randomness of training."
    )
    assert lines[4] == f"contact sheet: {sheet}" and Image.open(sheet).format == "PNG"
    as_json = CliRunner().invoke(
        main, ["compare", a, b, "--data", str(tmp_path / "d.npz"), "--sheet", str(sheet), "--json"]
    )
    found = json.loads(as_json.output)
    assert found["n"] == 60 and found["only_a"] + found["only_b"] == found["discordant"]


def test_compare_refuses_models_of_other_classes_in_one_line(tmp_path):
    from click.testing import CliRunner

    from kregs.cli.main import main

    a, b = _models_and_data(tmp_path, classes=4)
    result = CliRunner().invoke(
        main, ["compare", a, b, "--data", str(tmp_path / "d.npz")], prog_name="kregs"
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: {a} and {b} were not trained for the same classes (3 and 4 classes; class 3 "
        "is absent in one, '3' in the other): their accuracies on the same images cannot "
        "be compared (see kregs compare --help)"
    )
