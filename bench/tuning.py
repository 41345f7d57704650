"""Does kregs tune better than the searches a user would write instead, given the same time?

On the same stratified Fashion-MNIST subset, for each of `--seeds` seeds:

(a) `kregs.tuner.tune` with the quick preset (random search with the control
    first, median pruning, a time budget `--time-budget`, the refit): its test
    accuracy is the refit model's, the one it exports;
(b) KerasTuner's `RandomSearch` over the same three knobs written the usual way
    (a build function with `hp.Float`/`hp.Boolean`, plain Keras layers, Adam at
    1e-3, fixed epochs, no early stopping), given (a)'s wall time: no trial
    starts after it;
(c) Optuna, as its documentation shows: an objective with `trial.suggest_*`
    over the same knobs and model, the TPE sampler, the `MedianPruner` through
    `optuna_integration.KerasPruningCallback` on val_accuracy, and
    `study.optimize(timeout=...)` with (a)'s wall time;
(d) the same Optuna set-up (TPE, MedianPruner, KerasPruningCallback, the
    timeout) over kregs' own search space, model and training: each trial's
    hyperparameters are drawn by TPE where kregs' HyperModel asks for them
    (`OptunaHyperParameters`), the model is built and trained as a kregs
    trial is (its precision, batch, early stopping, mixing and EMA). (b) and
    (c) compare kregs with what a user would write instead; (d) compares the
    search alone, on the same space, model and training.

For (b), (c) and (d) the best trial (by validation accuracy) is tested. It prints
mean +- std over the seeds of the best validation accuracy, the test accuracy,
the trials and the wall time.

Usage: python bench/tuning.py [--quick] [--seeds N] [--first-seed S] [--limit N] [--epochs E]
       [--time-budget 5m] [--out FILE]
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import command_line, machine, mean_std, write_result  # noqa: E402


def cnn(l2, dropout, batch_norm):
    """The CNN every peer searches, with plain Keras layers, compiled (Adam 1e-3)."""
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), dtype="uint8")
    x = layers.Rescaling(1 / 255)(inputs)
    for filters in (32, 64):
        for _ in range(2):
            x = layers.Conv2D(
                filters, 3, padding="same", kernel_regularizer=keras.regularizers.L2(l2)
            )(x)
            if batch_norm:
                x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
            x = layers.Dropout(dropout)(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu", kernel_regularizer=keras.regularizers.L2(l2))(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def usual_build(hp):
    """A KerasTuner build function as users write it: the CNN, three knobs."""
    return cnn(
        hp.Float("l2", 1e-6, 1e-2, sampling="log"),
        hp.Float("dropout", 0.0, 0.7),
        hp.Boolean("batch_norm"),
    )


def run_kregs(seed, limit, epochs, time_budget, work):
    from kregs.tuner import TuneConfig, tune

    start = time.perf_counter()
    config = TuneConfig.create(
        "fashion_mnist",
        preset="quick",
        output=os.path.join(work, f"kregs-{seed}"),
        limit=limit,
        trial_images=limit,
        epochs=epochs,
        time_budget=time_budget,
        seed=seed,
        keep_best=1,
    )
    result = tune(config)
    done = [r for r in result.rows if r["status"] == "COMPLETED"]
    return {
        "best_val_accuracy": max(r["best_val_accuracy"] for r in done),
        "test_accuracy": (result.refit or {"test": result.test})["test"]["accuracy"],
        "trials": len(result.rows),
        "pruned": sum(r["status"] == "PRUNED" for r in result.rows),
        "seconds": time.perf_counter() - start,
    }


def run_usual(seed, limit, epochs, seconds, work):
    import keras
    import keras_tuner

    from kregs.data import load_dataset

    keras.utils.set_random_seed(seed)
    ds = load_dataset("fashion_mnist", limit=limit, seed=seed)
    start = time.perf_counter()

    class TimeUp(keras_tuner.errors.FatalError):
        """Ends the search loop: the time is spent."""

    class TimedRandomSearch(keras_tuner.RandomSearch):
        """RandomSearch in which no trial starts once `seconds` have passed."""

        def pre_create_trial(self):
            if time.perf_counter() - start > seconds:
                raise TimeUp()
            super().pre_create_trial()

    tuner = TimedRandomSearch(
        usual_build,
        objective="val_accuracy",
        max_trials=1000,
        seed=seed,
        directory=os.path.join(work, f"usual-{seed}"),
    )
    try:
        tuner.search(
            *ds.train, validation_data=ds.validation, epochs=epochs, batch_size=64, verbose=0
        )
    except TimeUp:
        pass
    best = tuner.get_best_models(1)[0]
    test_accuracy = best.evaluate(*ds.test, verbose=0)[1]
    return {
        "best_val_accuracy": tuner.oracle.get_best_trials(1)[0].score,
        "test_accuracy": float(test_accuracy),
        "trials": len(tuner.oracle.trials),
        "pruned": 0,
        "seconds": time.perf_counter() - start,
    }


def optimize(objective, seed, seconds):
    """Optuna's study as its documentation shows (TPE, MedianPruner) for `seconds`; the best
    trial's figures (its objective reports the test accuracy as `test_accuracy`)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(),
    )
    study.optimize(objective, timeout=seconds)
    states = [t.state for t in study.trials]
    return {
        "best_val_accuracy": study.best_value,
        "test_accuracy": study.best_trial.user_attrs["test_accuracy"],
        "trials": len(study.trials),
        "pruned": states.count(optuna.trial.TrialState.PRUNED),
        "seconds": time.perf_counter() - start,
    }


def run_optuna(seed, limit, epochs, seconds):
    """Optuna as its documentation shows: TPE, MedianPruner, KerasPruningCallback."""
    import keras
    from optuna_integration import KerasPruningCallback

    from kregs.data import load_dataset

    keras.utils.set_random_seed(seed)
    ds = load_dataset("fashion_mnist", limit=limit, seed=seed)

    def objective(trial):
        keras.backend.clear_session()
        model = cnn(
            trial.suggest_float("l2", 1e-6, 1e-2, log=True),
            trial.suggest_float("dropout", 0.0, 0.7),
            trial.suggest_categorical("batch_norm", [False, True]),
        )
        history = model.fit(
            *ds.train,
            validation_data=ds.validation,
            epochs=epochs,
            batch_size=64,
            callbacks=[KerasPruningCallback(trial, "val_accuracy")],
            verbose=0,
        )
        trial.set_user_attr("test_accuracy", float(model.evaluate(*ds.test, verbose=0)[1]))
        return max(history.history["val_accuracy"])

    return optimize(objective, seed, seconds)


def optuna_hyperparameters(trial):
    """KerasTuner `HyperParameters` whose active values TPE draws from Optuna's `trial`.

    Each `Float`, `Int`, `Choice` or `Boolean` is declared as KerasTuner
    declares it (its conditional scope decides whether it is active); an
    active one takes the value `trial.suggest_*` draws for it.
    """
    import keras_tuner

    class OptunaHyperParameters(keras_tuner.HyperParameters):
        def _drawn(self, name, value, draw):
            if value is None:  # inactive: its parent's condition does not hold
                return None
            self.values[name] = draw()
            return self.values[name]

        def Float(self, name, min_value, max_value, step=None, sampling="linear", **kw):  # noqa: N802
            value = super().Float(name, min_value, max_value, step, sampling, **kw)
            log = sampling == "log"
            return self._drawn(
                name, value, lambda: trial.suggest_float(name, min_value, max_value, log=log)
            )

        def Int(self, name, min_value, max_value, step=None, sampling="linear", **kw):  # noqa: N802
            value = super().Int(name, min_value, max_value, step, sampling, **kw)
            log = sampling == "log"
            return self._drawn(
                name, value, lambda: trial.suggest_int(name, min_value, max_value, log=log)
            )

        def Choice(self, name, values, **kw):  # noqa: N802
            value = super().Choice(name, values, **kw)
            return self._drawn(name, value, lambda: trial.suggest_categorical(name, values))

        def Boolean(self, name, **kw):  # noqa: N802
            value = super().Boolean(name, **kw)
            return self._drawn(name, value, lambda: trial.suggest_categorical(name, [False, True]))

    return OptunaHyperParameters()


def run_optuna_kregs(seed, limit, epochs, seconds):
    """Optuna (TPE, MedianPruner, KerasPruningCallback) over kregs' space, model and training."""
    import keras
    from optuna_integration import KerasPruningCallback

    from kregs.data import load_dataset
    from kregs.run.device import configure
    from kregs.run.train import evaluate, fit_arguments
    from kregs.tuner.budget import SEARCH_PRESETS
    from kregs.tuner.hypermodel import RegularizationHyperModel
    from kregs.tuner.space import SearchSpace

    budget = dataclasses.replace(SEARCH_PRESETS["quick"], epochs=epochs)
    keras.utils.set_random_seed(seed)
    ds = load_dataset("fashion_mnist", limit=limit, seed=seed)
    device = configure()
    steps = -(-len(ds.train[1]) // budget.batch_size)
    hypermodel = RegularizationHyperModel(
        ds.info.input_shape,
        ds.info.num_classes,
        space=SearchSpace(budget.space, flips=True),
        precision=device.precision,
        schedule=(budget.epochs, steps),
    )

    def objective(trial):
        keras.backend.clear_session()
        hp = optuna_hyperparameters(trial)
        model = hypermodel.build(hp)
        kwargs = fit_arguments(ds, budget, seed, [KerasPruningCallback(trial, "val_accuracy")])
        history = hypermodel.fit(hp, model, **kwargs)
        test = evaluate(model, *ds.test, budget.batch_size)
        trial.set_user_attr("test_accuracy", test["accuracy"])
        return max(history.history["val_accuracy"])

    return optimize(objective, seed, seconds)


PEERS = (
    ("kregs", "kregs tune --preset quick"),
    ("usual", "KerasTuner RandomSearch"),
    ("optuna", "Optuna TPE + MedianPruner"),
    ("optuna_kregs", "Optuna over kregs' space"),
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 1000 images, 2 epochs")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--first-seed", type=int, default=0, help="the seeds start here")
    parser.add_argument("--limit", type=int, default=None, help="training images")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial at most")
    parser.add_argument("--time-budget", default=None, help="kregs' (e.g. 5m); the peers' time")
    parser.add_argument("--out", default=None, help="JSON output file")
    args = parser.parse_args(argv)
    seeds = args.seeds or (1 if args.quick else 3)
    limit = args.limit or (1000 if args.quick else 6000)
    epochs = args.epochs or (2 if args.quick else 6)
    time_budget = args.time_budget or ("40s" if args.quick else "5m")

    runs = {name: [] for name, _ in PEERS}
    with tempfile.TemporaryDirectory() as work:
        for seed in range(args.first_seed, args.first_seed + seeds):
            k = run_kregs(seed, limit, epochs, time_budget, work)
            u = run_usual(seed, limit, epochs, k["seconds"], work)
            o = run_optuna(seed, limit, epochs, k["seconds"])
            s = run_optuna_kregs(seed, limit, epochs, k["seconds"])
            for name, r in zip(runs, (k, u, o, s), strict=True):
                runs[name].append(r)
            print(
                f"seed {seed}: "
                + "; ".join(
                    f"{name} test {r['test_accuracy']:.4f}, {r['trials']} trials "
                    f"({r['pruned']} pruned), {r['seconds']:.0f}s"
                    for name, r in zip(runs, (k, u, o, s), strict=True)
                )
            )
    summary = {
        name: {
            key: mean_std([r[key] for r in rs])
            for key in ("best_val_accuracy", "test_accuracy", "trials", "pruned", "seconds")
        }
        for name, rs in runs.items()
    }
    print(
        f"tuning: {seeds} seeds, {limit} training images, up to {epochs} epochs per trial, "
        f"kregs' time budget {time_budget}, the others given kregs' wall time"
    )
    print("  search                       best val acc        test acc         trials   seconds")
    for name, label in PEERS:
        s = summary[name]
        print(
            f"  {label:28s} {s['best_val_accuracy'][0]:.4f} +- {s['best_val_accuracy'][1]:.4f}"
            f"   {s['test_accuracy'][0]:.4f} +- {s['test_accuracy'][1]:.4f}"
            f"   {s['trials'][0]:6.1f}   {s['seconds'][0]:7.1f}"
        )
    result = {
        "benchmark": "tuning",
        "command": command_line(),
        "machine": machine(),
        "seeds": seeds,
        "limit": limit,
        "epochs_per_trial": epochs,
        "time_budget": time_budget,
        "runs": runs,
        "summary": summary,
    }
    print(f"  written to {write_result('tuning', result, args.out)}")
    return result


if __name__ == "__main__":
    main()
