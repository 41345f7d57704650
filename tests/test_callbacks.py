import keras
import numpy as np
import pytest

from kregs import BestEpoch, EpochTime, GeneralizationGap, RegConfig, build_model
from kregs.run import metrics


def test_gap_and_weight_norm_in_history():
    """With a learning rate of 0 the weights never move, so the training accuracy Keras
    reports during an epoch is the model's accuracy on the training images, measured
    here apart (`evaluate`), as is the validation accuracy: the gap is their difference."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 8, 8, 1), dtype="uint8")
    y = rng.integers(0, 2, size=64)
    model = build_model((8, 8, 1), 2, RegConfig(l2=0.01), arch="mlp")
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    train_acc = model.evaluate(x[:48], y[:48], verbose=0)[1]
    val_acc = model.evaluate(x[48:], y[48:], verbose=0)[1]
    history = model.fit(
        x[:48],
        y[:48],
        epochs=2,
        batch_size=16,
        shuffle=False,
        validation_data=(x[48:], y[48:]),
        verbose=0,
        callbacks=[GeneralizationGap()],
    ).history
    assert train_acc != val_acc  # the test can tell a gap from its absence
    np.testing.assert_allclose(history["generalization_gap"], [train_acc - val_acc] * 2, atol=1e-6)
    norm = sum(np.sum(keras.ops.convert_to_numpy(w) ** 2) for w in model.trainable_weights)
    np.testing.assert_allclose(history["weight_norm_sq"][-1], norm, rtol=1e-5)


def _fake_training(callback, val_losses):
    """Runs `callback` over epochs whose val_loss is given; epoch i's weights are all i."""
    model = build_model((4, 4, 1), 2, arch="mlp")
    callback.set_model(model)
    model.stop_training = False  # (fit sets it)
    callback.on_train_begin()
    for epoch, loss in enumerate(val_losses):
        model.set_weights([np.full(w.shape, float(epoch)) for w in model.get_weights()])
        callback.on_epoch_end(epoch, {"val_loss": loss})
        if model.stop_training:
            break
    callback.on_train_end()
    return model, epoch + 1


@pytest.mark.parametrize(
    "losses",
    [
        [float("nan"), 0.5, 0.4, 0.6],  # a NaN first epoch: Keras' EarlyStopping keeps epoch 1
        [0.5, 0.3, 0.3, 0.4],  # a tie keeps the earlier epoch
        [0.9, float("inf"), 0.8, 0.85],
    ],
)
def test_best_epoch_restores_the_epoch_kregs_tables_report(losses):
    model, _ = _fake_training(BestEpoch(), losses)
    best = metrics.best_epoch({"val_loss": losses})
    assert all(np.all(w == best) for w in model.get_weights())


def test_best_epoch_stops_after_patience_epochs_without_a_lower_loss():
    _, epochs = _fake_training(BestEpoch(patience=2), [0.5, 0.4, 0.45, 0.41, 0.3, 0.2])
    assert epochs == 4


class _Scramble(keras.callbacks.Callback):
    """Ruins the weights at the start of the last epoch: that epoch cannot be the best."""

    def __init__(self, last):
        super().__init__()
        self.last = last

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.last:
            self.model.set_weights([w * 50.0 for w in self.model.get_weights()])


def test_a_trial_keeps_and_scores_its_best_epoch_without_early_stopping_given(tmp_path):
    """KregsTrials.run_trial owns the contract: a plain `search` without kregs' callbacks
    still saves the best epoch's weights and reads its score there (it saved the last
    epoch's weights while reading the score at the lowest val_loss)."""
    from kregs.tuner import RegularizationHyperModel
    from kregs.tuner.config import Fixed
    from kregs.tuner.space import SearchSpace
    from kregs.tuner.tuners import make_tuner

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(96, 8, 8, 1), dtype=np.uint8)
    y = (x.mean(axis=(1, 2, 3)) > 127).astype(int)
    space = SearchSpace("default", Fixed(l2=0.0, dropout=0.0, batch_norm="none"))
    hypermodel = RegularizationHyperModel((8, 8, 1), 2, arch="mlp", space=space)
    tuner = make_tuner("random", hypermodel, str(tmp_path), max_trials=1, epochs=4, seed=0)
    tuner.search(
        x[:64],
        y[:64],
        validation_data=(x[64:], y[64:]),
        epochs=4,
        verbose=0,
        callbacks=[_Scramble(last=3)],
    )
    (trial,) = tuner.oracle.trials.values()
    history = tuner.read_extras(trial.trial_id)["history"]  # (KerasTuner copies callbacks)
    best = metrics.best_epoch(history)
    assert len(history["val_loss"]) == 4 and best is not None and best < 3
    assert trial.score == pytest.approx(history["val_accuracy"][best])
    model = tuner.load_model(trial)
    loss = model.evaluate(x[64:], y[64:], verbose=0)[0]
    assert loss == pytest.approx(history["val_loss"][best], rel=1e-4)


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
