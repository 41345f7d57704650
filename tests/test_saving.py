"""A kregs model survives `.keras` saving and SavedModel export."""

import json
import os

import keras
import numpy as np
import pytest
from _helpers import run_python

import kregs
from kregs import RegConfig, build_model
from kregs.layers import ConvBlock, DenseBlock

REG = RegConfig(l2=0.01, dropout=0.3, batch_norm="before_activation")


@pytest.fixture(scope="module")
def trained():
    """A small CNN trained two steps, so BN's moving statistics are not the initial ones."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(32, 12, 12, 1), dtype="uint8")
    y = rng.integers(0, 3, size=32)
    model = build_model((12, 12, 1), 3, REG)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return model, x


def test_keras_file_round_trip(trained, tmp_path):
    model, x = trained
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    blocks = [layer for layer in loaded.layers if isinstance(layer, (ConvBlock, DenseBlock))]
    assert len(blocks) == 5 and all(b.reg == REG for b in blocks)
    assert isinstance(blocks[0].steps[0].kernel_regularizer, kregs.L2Penalty)
    assert len(loaded.losses) == 6


# Whichever module a program imports first (the package, one of its modules, or Keras),
# kregs' classes are registered once Keras is there: a fresh process loads the model.
@pytest.mark.parametrize("first", ["kregs", "kregs.layers", "keras"])
def test_keras_file_loads_in_a_fresh_process_whichever_module_imports_keras_first(
    first, trained, tmp_path
):
    model, x = trained
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    code = (
        f"import {first}, kregs, keras, numpy as np\n"
        "m = keras.models.load_model('m.keras', safe_mode=True)\n"
        "np.save('p.npy', m.predict(np.load('x.npy'), verbose=0))\n"
        "print(type(m.get_layer('conv1_1')).__name__)\n"
    )
    proc = run_python(code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-1] == "ConvBlock"
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict(x, verbose=0), atol=1e-6)


def test_saved_model_predicts_identically_without_kregs(trained, tmp_path):
    model, x = trained
    export_dir = str(tmp_path / "export")
    model.export(export_dir, verbose=False)
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, json, numpy as np, tensorflow as tf\n"
        "m = tf.saved_model.load('export')\n"
        "p = m.serve(tf.constant(np.load('x.npy'))).numpy()\n"
        "np.save('p.npy', p)\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] == 'kregs')))\n"
    )
    proc = run_python(code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    assert os.path.exists(tmp_path / "export" / "saved_model.pb")
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict(x, verbose=0), atol=1e-6)
