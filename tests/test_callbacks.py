import keras
import numpy as np

from kregs import EpochTime, GeneralizationGap, RegConfig, build_model


def test_gap_and_weight_norm_in_history():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 8, 8, 1), dtype="uint8")
    y = rng.integers(0, 2, size=64)
    model = build_model((8, 8, 1), 2, RegConfig(l2=0.01), arch="mlp")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        y,
        epochs=2,
        batch_size=16,
        validation_split=0.25,
        verbose=0,
        callbacks=[GeneralizationGap()],
    ).history
    gaps = np.array(history["accuracy"]) - np.array(history["val_accuracy"])
    np.testing.assert_allclose(history["generalization_gap"], gaps, atol=1e-6)
    norm = sum(np.sum(keras.ops.convert_to_numpy(w) ** 2) for w in model.trainable_weights)
    np.testing.assert_allclose(history["weight_norm_sq"][-1], norm, rtol=1e-5)


def test_no_gap_without_validation():
    x = np.zeros((8, 4, 4, 1), "uint8")
    model = build_model((4, 4, 1), 2, arch="mlp")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, np.zeros(8), epochs=1, verbose=0, callbacks=[GeneralizationGap()])
    assert "generalization_gap" not in history.history
    assert "weight_norm_sq" in history.history


def test_epoch_time_logs_each_epochs_wall_time(monkeypatch):
    import kregs.callbacks

    clock = [100.0]
    monkeypatch.setattr(kregs.callbacks.time, "perf_counter", lambda: clock[0])

    class Tick(keras.callbacks.Callback):
        """Each epoch takes 2.5 s by the clock EpochTime reads (it runs after EpochTime's
        on_epoch_begin and before its on_epoch_end)."""

        def on_epoch_end(self, epoch, logs=None):
            clock[0] += 2.5 * (epoch + 1)

    x = np.zeros((8, 4, 4, 1), "uint8")
    model = build_model((4, 4, 1), 2, arch="mlp")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, np.zeros(8), epochs=2, verbose=0, callbacks=[Tick(), EpochTime()])
    assert history.history["epoch_seconds"] == [2.5, 5.0]
