"""Writes BENCHMARKS.md from bench/results/*.json (never edit BENCHMARKS.md by hand).

Usage: python bench/report.py [--results DIR] [--out FILE]
"""

import argparse
import glob
import json
import os
import statistics

from _common import marked_series

HERE = os.path.dirname(os.path.abspath(__file__))


def _machine(m):
    units = {True: " (bfloat16 units)", False: " (no bfloat16 units: float32)"}.get(
        m.get("cpu_bf16"), ""
    )  # older results do not record it
    return (
        f"{m.get('cpu', '?')}{units}, {m.get('cores', '?')} cores, "
        f"TensorFlow {m.get('tensorflow', '?')}, "
        f"Python {m.get('python', '?')}, {m.get('date', '?')}, commit {m.get('kregs_commit', '?')}"
    )


def _input_pipeline(r):
    rows = [
        f"| pipeline (`kregs.data.pipeline`) | {r['steps_per_s']['pipeline']:.1f} |",
        f"| in-memory arrays (Keras adapter) | {r['steps_per_s']['arrays']:.1f} |",
    ]
    return [
        f"{r['images']} images, batch {r['batch_size']}, median of {r['rounds']} epochs each "
        "(alternated).",
        "",
        "| feed | steps/s |",
        "|---|---|",
        *rows,
        "",
        f"**Ratio pipeline / arrays: {r['ratio']:.3f}** (target >= {r['target']}).",
    ] + (
        [f"Loading the whole Fashion-MNIST from `{r['load_source']}`: {r['load_seconds']:.2f} s."]
        if "load_seconds" in r
        else []
    )


def _overhead(r):
    med = {k: statistics.median(v) for k, v in r["samples_per_s"].items()}
    return [
        f"{r['images']} images, batch {r['batch_size']}, {r['rounds']} rounds A B, "
        f"{r['parameters']} parameters in both.",
        "",
        "| model | samples/s (median) |",
        "|---|---|",
        f"| kregs.build_model | {med['kregs']:.0f} |",
        f"| plain Keras | {med['plain']:.0f} |",
        "",
        f"**Median ratio kregs / plain: {r['ratio']:.3f}** (target >= {r['target']}).",
    ]


def _memory(r):
    recycle = r.get("recycle_after", "absent")
    lines = [
        f"{r['trials']} trials of random search, {r['limit']} training images, "
        f"{r['epochs']} epochs each"
        + (
            {
                "bn-fixed": ", BN's placement fixed (every trial builds the CNN with BN; "
                "L2 and dropout searched, each on or off)",
                "mixed": ", the extended space (models of different sizes)",
            }.get(r.get("models"), "")
        )
        + (
            f"; `kregs tune` as a user runs it (`--recycle-after` "
            f"{'default' if recycle is None else recycle}): each row is the process that ran "
            "that trial."
            if recycle != "absent"
            else "."
        ),
        "",
        "| after trial | RSS MiB | peak RSS MiB |",
        "|---|---|---|",
    ]
    for n, v in sorted(r["after_trial"].items(), key=lambda kv: int(kv[0])):
        lines.append(f"| {n} | {v['rss_mb']:.1f} | {v['peak_rss_mb']:.1f} |")
    g = r["growth_percent"]
    if "highest" in r:
        lines += [
            "",
            f"Highest after any trial: {r['highest']['rss_mb']:.1f} MiB (trial "
            f"{r['highest']['trial']}, {g['highest_rss']:+.1f}% over trial 1); "
            f"{r['processes']} processes ran the trials.",
        ]
    if "rss_mb_series" in r:
        marked = marked_series(r["rss_mb_series"], r["process_series"])
        lines += ["", f"RSS MiB after each trial ('|': a fresh process): {marked}."]
    lines += [
        "",
        f"**Growth trial 1 -> {r['trials']}: RSS {g['rss']:+.1f}%, peak RSS "
        f"{g['peak_rss']:+.1f}%** (target < {r['target_percent']}%).",
    ]
    return lines


def _startup(r):
    lines = [f"Median of {r['runs']} runs.", "", "| command | seconds |", "|---|---|"]
    lines += [f"| `{k}` | {v:.3f} |" for k, v in r["median_seconds"].items()]
    lines += ["", f"Target for kregs' help: < {r['target_seconds']} s."]
    return lines


def _tuning(r):
    if "time_budget" not in r:
        return _tuning_by_epochs(r)
    lines = [
        f"{r['seeds']} seeds, {r['limit']} training images, up to {r['epochs_per_trial']} epochs "
        f"per trial; kregs tune --preset quick with --time-budget {r['time_budget']}, the others "
        "given its wall time; mean +- std over the seeds.",
        "",
        "| search | best val accuracy | test accuracy | trials (pruned) | seconds |",
        "|---|---|---|---|---|",
    ]
    labels = {
        "kregs": "kregs tune --preset quick (refit model)",
        "usual": "KerasTuner RandomSearch, the usual way",
        "optuna": "Optuna: TPE, MedianPruner (KerasPruningCallback)",
        "optuna_kregs": "Optuna the same way, over kregs' space, model and training",
    }
    for name, label in labels.items():
        if name not in r["summary"]:  # a result from before that peer
            continue
        s = r["summary"][name]
        lines.append(
            f"| {label} | {s['best_val_accuracy'][0]:.4f} +- {s['best_val_accuracy'][1]:.4f} "
            f"| {s['test_accuracy'][0]:.4f} +- {s['test_accuracy'][1]:.4f} "
            f"| {s['trials'][0]:.1f} ({s['pruned'][0]:.1f}) | {s['seconds'][0]:.0f} |"
        )
    return lines


def _tuning_by_epochs(r):
    lines = [
        f"{r['seeds']} seeds, {r['limit']} training images, up to {r['epochs_per_trial']} epochs "
        "per trial; equal budget = the same number of training epochs.",
        "",
        "| search | best val accuracy | test accuracy | epochs | seconds |",
        "|---|---|---|---|---|",
    ]
    labels = {"kregs": "kregs tune (defaults)", "usual": "KerasTuner RandomSearch, the usual way"}
    for name, label in labels.items():
        s = r["summary"][name]
        lines.append(
            f"| {label} | {s['best_val_accuracy'][0]:.4f} +- {s['best_val_accuracy'][1]:.4f} "
            f"| {s['test_accuracy'][0]:.4f} +- {s['test_accuracy'][1]:.4f} "
            f"| {s['epochs'][0]:.1f} | {s['seconds'][0]:.0f} |"
        )
    lines += ["", f"**Test accuracy kregs - usual: {r['test_accuracy_difference']:+.4f}**."]
    return lines


def _distributed(r):
    lines = [
        f"The same random search ({r['trials']} trials, up to {r['epochs']} epochs, "
        f"{r['limit']} Fashion-MNIST images), {r['threads']} TensorFlow thread(s) per worker, "
        f"median of {r['rounds']} alternated round(s). Wall time is the whole command.",
        "",
        "| mode | trials/min | wall seconds | seconds per trial | vs the first worker count |",
        "|---|---|---|---|---|",
    ]
    for mode, s in r["summary"].items():
        lines.append(
            f"| {mode} | {s['trials_per_minute']:.2f} | {s['wall_seconds']:.1f} "
            f"| {s['mean_trial_seconds']:.1f} | x{r['speedup'][mode]:.2f} |"
        )
    return lines


def _precision_ops(r):
    """The operations' CPU table and the regularization's CPU per image, when measured."""
    ops = r.get("ops_cpu_ms")
    if not ops:
        return []
    lines = [
        f"One conv block's operations alone on {r['ops_batch']} x 28 x 28 x 32 activations "
        "(CPU ms, median of 20 calls):",
        "",
        "| operation | float32 | bfloat16 | float32 / bfloat16 |",
        "|---|---|---|---|",
    ]
    for name, f32 in ops["float32"].items():
        bf16 = ops["bfloat16"][name]
        lines.append(f"| {name} | {f32:.2f} | {bf16:.2f} | x{f32 / bf16:.2f} |")
    overhead = r.get("regularization_cpu_ms_per_image") or {}
    if overhead:
        each = ", ".join(f"{m} {ms:.3f} ms" for m, ms in overhead.items())
        lines += ["", f"CPU per image the regularization adds to the plain CNN: {each}."]
    return [*lines, ""]


def _precision(r):
    seeds = len(r.get("seeds") or [0])
    peaks = r.get("matmul_gflops")
    lines = [
        f"kregs' CNN ({', '.join(r.get('configs') or [r.get('config')])}), {r['images']} "
        f"Fashion-MNIST images, batch "
        f"{r['batch_size']}, {r['threads']} TensorFlow threads, {r['epochs']} alternated rounds "
        f"in one process, {seeds} seed{'s' if seeds != 1 else ''} per mode (median of the "
        "rounds after the first)"
        + {
            "cosine": "; Adam warms up then decays to 0 along a cosine over the rounds",
            "constant": "; Adam at 1e-3 throughout",
        }.get(r.get("schedule"), "")
        + "; test accuracy on all 10,000 test images after the last round"
        + (
            ", mean over the seeds, difference to float32 with its 95% t interval"
            if seeds > 1
            else ""
        )
        + ".",
        "",
        "| configuration/mode | samples/s | samples per CPU-second | cores busy "
        "| vs float32 (wall) | vs float32 (CPU) | GFLOP/s (per CPU-second) | test accuracy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode, s in r["summary"].items():
        base = r["summary"][f"{mode.split('/')[0]}/float32"]
        low, high = s.get("accuracy_points_interval_vs_first") or (None, None)
        first = mode.endswith("/float32")
        span = f" [{low:+.2f}, {high:+.2f}]" if low is not None and not first else ""
        flops = s.get("training_flops_per_image")
        gflops = f"{s['gflops']:.1f} ({flops * s['samples_per_cpu_s'] / 1e9:.1f})" if flops else "-"
        lines.append(
            f"| {mode} | {s['samples_per_s']:.0f} | {s['samples_per_cpu_s']:.0f} "
            f"| {s['cores_busy']:.2f} | x{s['speedup']:.2f} "
            f"| x{s['samples_per_cpu_s'] / base['samples_per_cpu_s']:.2f} | {gflops} "
            f"| {s['test_accuracy']:.4f} ({s['accuracy_points_vs_first']:+.2f} pt{span}) |"
        )
    lines += [""]
    lines += _precision_ops(r)
    stepped = _stepped_wall_times(r)
    lines += [*stepped, ""] if stepped else []
    if peaks:
        lines += [
            f"A 2048x2048 matrix product on the same machine: {peaks['float32']:.0f} GFLOP/s in "
            f"float32, {peaks['bfloat16']:.0f} GFLOP/s in bfloat16 (GFLOP/s of training: the "
            "model's training FLOPs per image, from its graph's convolutions and matrix "
            "products, times samples/s).",
            "",
        ]
    lines += [
        f"Targets: bfloat16 >= {r['target_speedup']} x float32 wall, accuracy within "
        f"{r['target_accuracy_points']} points.",
    ]
    return lines


def _stepped_wall_times(r):
    """A note where a third or more of the epochs took a multiple of 10.24 s of wall time."""
    rounds = [x for rs in (r.get("rounds") or {}).values() for x in rs if isinstance(x, dict)]
    snapped = [
        x
        for x in rounds
        if abs(r["images"] / x["wall"] / 10.24 - round(r["images"] / x["wall"] / 10.24)) < 0.005
        and r["images"] / x["wall"] > 5
    ]
    if not rounds or len(snapped) < len(rounds) / 3:
        return []
    return [
        f"{len(snapped)} of the {len(rounds)} epochs took a multiple of 10.24 s of wall time "
        "to 0.05 s (10.24 or 20.48 s) while their CPU time varied: on this host a busy "
        "process' wall time moves in steps of 10.24 s, so the wall columns do not compare "
        "the settings here; the CPU-second ones do.",
    ]


def _onednn(r):
    seeds = len(r["seeds"])
    default = "on" if r["onednn_default"] else "off"
    lines = [
        f"kregs' CNN ({', '.join(r['configs'])}), {r['images']} Fashion-MNIST images, batch "
        f"{r['batch_size']}, {r['precision']}, a child process per setting "
        "(`TF_ENABLE_ONEDNN_OPTS=0` and `=1`) and seed, alive side by side and trained in "
        f"{r['epochs']} alternated rounds (median of the rounds after the first, over "
        f"{seeds} seeds); test accuracy on all 10,000 test images after the last round, "
        "mean over the seeds, difference on - off with its 95% t interval. TensorFlow's "
        f"own default on this CPU (the variable unset): oneDNN {default}.",
        "",
        "| configuration | oneDNN | samples/s | samples per CPU-second | cores busy "
        "| on vs off (wall) | on vs off (CPU) | test accuracy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, s in r["summary"].items():
        config, setting = key.split("/onednn=")
        on = setting == "1"
        low, high = s.get("accuracy_points_interval_vs_off") or (None, None)
        span = f" [{low:+.2f}, {high:+.2f}]" if low is not None else ""
        accuracy = f"{statistics.mean(s['test_accuracies']):.4f}"
        if on:
            accuracy += f" ({s['accuracy_points_vs_off']:+.2f} pt{span})"
        wall, cpu = (f"x{s['speedup']:.2f}", f"x{s['cpu_speedup']:.2f}") if on else ("-", "-")
        lines.append(
            f"| {config} | {'on' if on else 'off'} | {s['samples_per_s']:.0f} "
            f"| {s['samples_per_cpu_s']:.0f} | {s['cores_busy']:.2f} | {wall} | {cpu} "
            f"| {accuracy} |"
        )
    stepped = _stepped_wall_times(r)
    return [*lines, "", *stepped] if stepped else lines


def _threads(r):
    lines = [
        f"kregs' CNN, {r['images']} images, {r['precision']}, a process per setting, "
        f"{r['rounds']} alternated round(s).",
        "",
        "| setting | samples/s | samples per CPU-second | cores busy |",
        "|---|---|---|---|",
    ]
    for setting, s in r["summary"].items():
        lines.append(f"| {setting} | {s['wall']:.0f} | {s['cpu']:.0f} | {s['busy']:.2f} |")
    return lines


def _schedule(r):
    lines = [
        f"kregs' CNN, {r['images']} training images, {r['epochs']} epochs, batch "
        f"{r['batch_size']}, {r['precision']}, Adam peak 1e-3, the same initial weights and "
        "batches per pair; numbers at the epoch early stopping would restore.",
        "",
        "| configuration / schedule | best epoch | val accuracy | gap | test accuracy "
        "| last epoch's val accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in r["summary"].items():
        last = r["histories"][name][-1]["val_accuracy"]  # what the refit keeps
        lines.append(
            f"| {name} | {s['best_epoch']} | {s['val_accuracy']:.4f} | {s['gap']:+.4f} "
            f"| {s['test_accuracy']:.4f} | {last:.4f} |"
        )
    lines += [
        "",
        "The refit trains without validation and keeps its last epoch's weights: there the "
        "schedule matters most.",
    ]
    return lines


def _regularizers(r):
    equal = r.get("equal_time_seconds")
    time_text = (
        f"the same CPU time ({equal:.0f} CPU s of training steps: bn's {r['epochs']} epochs; "
        "the others as many epochs as fit in it, each one's CPU time per step measured first; "
        "CPU time because this shared host switches between two speeds, which wall time "
        "follows)"
        if equal
        else f"{r['epochs']} epochs each"
    )
    lines = [
        f"Each regularizer alone on top of BN (before the activation), {r['images']} training "
        f"images, {time_text}, warm-up + cosine (peak 1e-3), batch {r['batch_size']}, "
        f"{r['precision']}; seeds {r['seeds']} alternated, the same batches for every "
        "configuration of a seed; numbers at the epoch early stopping would restore. The CNN "
        "is kregs'; `resnet` is a small residual CNN with BN (four basic blocks) and "
        "`resnet-sd` the same with stochastic depth 0.2 (`kregs.regularize`). Label smoothing "
        "0.1; MixUp and CutMix alpha 1; RandAugment 2 operations at magnitude 0.5; EMA "
        "momentum 0.99. Gap: training minus validation accuracy (training accuracy on unmixed "
        "images for MixUp and CutMix).",
        "",
        "| configuration | epochs | s/epoch | CPU s/epoch | test accuracy, % [95% t interval] "
        "| vs its reference, points [95% Welch interval] | val accuracy, % | gap, points "
        "| best epoch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    summary = r["summary"]
    order = sorted(
        summary, key=lambda n: (summary[n].get("model") == "resnet", n not in ("bn", "resnet"), n)
    )
    for name in order:
        s = summary[name]
        reference = "resnet" if s.get("model") == "resnet" else "bn"
        base = summary.get(reference)
        versus = ""
        if base is not None and name != reference:
            d = _welch(
                [x["test_accuracy"] for x in s["runs"]], [x["test_accuracy"] for x in base["runs"]]
            )
            versus = f"{100 * d[0]:+.2f} [{100 * d[1]:+.2f}, {100 * d[2]:+.2f}]"
        ci = (
            f" [{100 * s['test_low']:.2f}, {100 * s['test_high']:.2f}]"
            if s.get("test_low") is not None
            else ""
        )
        lines.append(
            f"| {name} | {s['epochs']} | {s['seconds_per_epoch']:.1f} "
            f"| {s['cpu_seconds_per_epoch']:.1f} "
            f"| {100 * s['test_accuracy']:.2f}{ci} | {versus} | {100 * s['val_accuracy']:.2f} "
            f"| {100 * s['gap']:+.2f} | {s['best_epoch']:.1f} |"
        )
    return lines


def _welch(a, b):
    """`(a mean - b mean, low, high)`: the difference with its 95% Welch interval."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        d = sum(a) / len(a) - sum(b) / len(b)
        return d, d, d
    interval = stats.ttest_ind(a, b, equal_var=False).confidence_interval()
    return sum(a) / len(a) - sum(b) / len(b), interval.low, interval.high


def _placement(r):
    lines = [
        f"kregs' CNN with BN before the activation, {r['images']} training images, "
        f"{r['epochs']} epochs of warm-up + cosine (peak 1e-3), batch {r['batch_size']}, "
        f"{r['precision']}, the same seed and batches; numbers at the epoch early stopping "
        "would restore. Dropout 0.3, L2 lambda 1e-4, decoupled decay 0.05.",
        "",
        "| configuration | best epoch | val accuracy | gap | test accuracy | s/epoch |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in r["summary"].items():
        lines.append(
            f"| {name} | {s['best_epoch']} | {s['val_accuracy']:.4f} | {s['gap']:+.4f} "
            f"| {s['test_accuracy']:.4f} | {s['seconds_per_epoch']:.1f} |"
        )
    return lines


def _bn_time(r):
    b, c = r["budget"], r["conditions"]
    lines = [
        f"kregs' CNN, none against bn (BN before the activation), the study's protocol: "
        f"{b['limit'] or 'all'} training images, up to {b['epochs']} epochs, patience "
        f"{b['patience']}, batch {b['batch_size']}, Adam {b['learning_rate']:g} fixed, "
        f"{c['precision']}; {len({x['seed'] for x in r['runs']})} seeds, the two "
        "configurations alternated in one process. Means over seeds.",
        "",
        "| configuration | s/epoch | best epoch | s to the best epoch | s per run | CPU s per run "
        "| test accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in r["summary"].items():
        lines.append(
            f"| {name} | {s['seconds_per_epoch']:.2f} | {s['best_epoch']:.1f} "
            f"| {s['seconds_to_best']:.1f} | {s['train_seconds']:.1f} | {s['cpu_seconds']:.1f} "
            f"| {s['test_accuracy']:.4f} |"
        )
    ratios = r["ratios"]
    lines += [
        "",
        f"bn / none: {ratios['seconds_per_epoch']:.2f}x seconds per epoch, "
        f"{ratios['seconds_to_best']:.2f}x time to the best epoch, "
        f"{ratios['train_seconds']:.2f}x per run (the study claims about 0.85x). Conditions: "
        f"{c['cores']} cores, 1-minute load average median {c['load_average_median']:.2f} "
        f"(max {c['load_average_max']:.2f}) around the runs.",
    ]
    return lines


def _backends(r):
    lines = [
        f"kregs' CNN with BN, {r['images']} training images, batch {r['batch_size']}, "
        f"{r['epochs']} epochs per measurement, {r['rounds']} rounds with the backends "
        "alternated, each in its own process; medians. Steady epochs (the first, which "
        "compiles, left out).",
        "",
        "| backend | precision | XLA | samples/s | samples per CPU-second | first epoch after, s "
        "| val accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in r["summary"].items():
        lines.append(
            f"| {name} | {s['precision']} | {'on' if s['jit_compile'] else 'off'} "
            f"| {s['samples_per_s']:.0f} | {s['samples_per_cpu_s']:.0f} "
            f"| {s['first_epoch_s']:.1f} | {s['val_accuracy']:.4f} |"
        )
    if r.get("not_installed"):
        lines += ["", f"Not installed when measured: {', '.join(r['not_installed'])}."]
    return lines


def _accuracy(r):
    labels = {
        "kregs": f"`kregs tune --preset {r['preset']}`, refit model (exported)",
        "hand_written": "hand-written Keras CNN (Adam, float32, early stopping)",
        "careful": "careful single model (AdamW, warm-up + cosine, flips, shifts, bfloat16)",
    }
    lines = [
        f"Fashion-MNIST, {r['seeds']} seeds, the methods alternated seed by seed; each "
        "method is given the kregs run's wall time. Mean +- std over the seeds.",
        "",
        "| model | test accuracy | wall s | CPU s | per seed |",
        "|---|---|---|---|---|",
    ]
    for name, label in labels.items():
        if name not in r["summary"]:
            continue
        s = r["summary"][name]
        seeds = ", ".join(f"{x['test_accuracy']:.4f}" for x in r["runs"][name])
        lines.append(
            f"| {label} | {s['test_accuracy'][0]:.4f} +- {s['test_accuracy'][1]:.4f} "
            f"| {s['wall_s'][0]:.0f} +- {s['wall_s'][1]:.0f} | {s['cpu_s'][0]:.0f} | {seeds} |"
        )
    lines += [""]
    for seed, k in enumerate(r["runs"]["kregs"]):
        trials = ", ".join(f"{n} {status.lower()}" for status, n in k["trials"].items())
        lines.append(
            f"- kregs, seed {seed}: search {k['search_s']:.0f} s ({trials}), refit "
            f"{k['refit_s']:.0f} s ({(k.get('refit') or {}).get('epochs', '-')} epochs); the "
            f"search's best model (trained on its trial subset) tests at "
            f"{k['search_best_test_accuracy']:.4f}"
        )
    t = r["targets"]
    lines += [
        "",
        f"Targets: quick >= {t['quick_test_accuracy']:.3f} mean test accuracy in <= "
        f"{t['quick_wall_s']} s of wall time, above the careful model.",
    ]
    return lines


def _pruning(r):
    lines = [
        f"`kregs tune --preset {r['preset']}` with and without pruning, {r['seeds']} seeds "
        "alternated, each at the preset's time budget; mean +- std over the seeds.",
        "",
        "| --pruning | test accuracy (refit model) | wall s | trials | pruned |",
        "|---|---|---|---|---|",
    ]
    for setting, s in r["summary"].items():
        lines.append(
            f"| {setting} | {s['test_accuracy'][0]:.4f} +- {s['test_accuracy'][1]:.4f} "
            f"| {s['wall_s'][0]:.0f} | {s['trials_run'][0]:.1f} | {s['pruned'][0]:.1f} |"
        )
    return lines


def _stopping(r):
    lines = [
        f"`kregs tune --preset {r['preset']}` on {r['data']} with `--stop auto` and "
        f"`--stop never`, {r['seeds']} seeds alternated, each at the preset's time budget; "
        "mean +- std over the seeds.",
        "",
        "| --stop | test accuracy (refit model) | wall s | CPU s | search s | trials |",
        "|---|---|---|---|---|---|",
    ]
    for setting in ("auto", "never"):
        s = r["summary"][setting]
        lines.append(
            f"| {setting} | {s['test_accuracy'][0]:.4f} +- {s['test_accuracy'][1]:.4f} "
            f"| {s['wall_s'][0]:.0f} | {s['cpu_s'][0]:.0f} | {s['search_s'][0]:.0f} "
            f"| {s['trials_run'][0]:.1f} |"
        )
    stopped = [x["stopped"] for x in r["runs"]["auto"] if x["stopped"]]
    lines += ["", f"`--stop auto` stopped the search early in {len(stopped)} of {r['seeds']} runs."]
    return lines + [f"- {x.lstrip('- ')}" for x in stopped]


def _seeds(r):
    def share(s):
        return f"{s['share']:.1%} [{s['low']:.1%}, {s['high']:.1%}]"

    aa = r["aa"]
    lines = [
        f"A/A: {len(r['pool'])} runs of `none` at the study's `{r['preset']}` preset (test "
        f"accuracy std {r['pool_std'] * 100:.2f} points); {r['resamples']} times two disjoint "
        f"sets of {r['max_seeds']} runs judged as two identical configurations. Share "
        "declared decided, 95% Wilson interval of the resamples (resamples of one pool: the "
        "margin understates the pool's own noise).",
        "",
        "| rule | decided (false) |",
        "|---|---|",
        f"| `--seeds auto` (looks {sequential_looks(r['max_seeds'])}, Bonferroni) "
        f"| {share(aa['auto'])}, {aa['auto_mean_seeds']:.1f} seeds on average |",
        f"| the same looks at 95% each (no correction) | {share(aa['every look at 95%'])} |",
        f"| one look at 3 seeds, 95% | {share(aa['3 seeds at 95%'])} |",
    ]
    for p in r.get("power") or []:
        runs = p["runs"]
        cost = "cpu_seconds" if p.get("cpu_seconds_per_run") else "wall_seconds"
        lines += [
            "",
            f"Power: {p['effect']} against none as recorded by `{os.path.basename(p['study'])}` "
            f"({len(runs[p['effect']])} and {len(runs['none'])} runs); samples drawn from "
            "each side's runs (normal: their mean and std; bootstrap: the runs), "
            f"{r['resamples']} times.",
            "",
            f"| draw | rule | detected | seeds a side | {cost.replace('_', ' ')} |",
            "|---|---|---|---|---|",
        ]
        for draw in ("normal", "bootstrap"):
            for rule, s in p[draw].items():
                lines.append(f"| {draw} | {rule} | {share(s)} | {s['seeds']:.1f} | {s[cost]:.0f} |")
    return lines


def sequential_looks(max_seeds):
    from kregs.study.sequential import looks

    return ", ".join(str(n) for n in looks(max_seeds))


def _regret(r):
    lines = [
        "Pruning rules replayed on searches whose every trial ran to its end "
        f"(`--pruning none`, `--preset {r['preset']}`), trial after trial in the order they "
        "ran, with kregs' own pruning code. *Lost*: pruned trials that at their end beat the "
        "trial the rule let win.",
        "",
        "| run | rule | pruned | regret, points | lost | epochs trained | training s |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, run in enumerate(r["runs"]):
        for rule, j in run["rules"].items():
            lost = "; ".join(
                f"{t['id']} {t['name']} (pruned at epoch {t['pruned_at']}, {t['score']:.4f})"
                for t in j["late_winners_lost"]
            )
            lines.append(
                f"| {i} ({run['trials']} trials) | {rule} | {j['pruned']} "
                f"| {j['regret'] * 100:.2f} | {lost or 'none'} | {j['epochs']} "
                f"| {j['seconds']:.0f} |"
            )
    for rule, t in (r.get("summary") or {}).items():
        lines += [
            "",
            f"**{rule}**, over the {len(r['runs'])} searches: {t['pruned']} trials pruned, "
            f"{t['late_winners_lost']} of them beat the trial the rule let win; mean regret "
            f"{t['regret_points']:.2f} points; {t['epochs']} epochs ({t['seconds']:.0f} s) of "
            "training.",
        ]
    return lines


def _streaming(r):
    s = r["summary"]
    rows = [
        f"| {mode} | {s[mode]['samples_per_s']:.0f} | {s[mode]['samples_per_cpu_s']:.0f} "
        f"| {s[mode]['baseline_rss_mib']:.0f} | {s[mode]['peak_rss_mib']:.0f} "
        f"| {s[mode]['above_baseline_mib']:+.0f} |"
        for mode in ("memory", "stream")
    ]
    return [
        f"A folder of {r['images']} PNG images, {r['size']}x{r['size']} RGB: "
        f"{r['data_mib']:.0f} MiB decoded, {r['data_mib'] / r['budget_mib']:.1f} times the "
        f"memory budget ({r['budget_mib']:.0f} MiB). Memory: kregs' CNN trains one epoch on "
        "the whole folder, loaded into memory or streamed from its files, in a fresh process "
        "each; the baseline is the process' memory before any pixel was read (TensorFlow, the "
        "model built and trained on one batch of zeros). Speed: in one process, epochs of "
        f"{r['speed_images']} images fed both ways, alternated {r['rounds']} times (medians).",
        "",
        "| mode | samples/s | per CPU-s | baseline RSS, MiB | peak RSS, MiB | above baseline |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"**Streamed / in memory samples/s: {r['ratio']:.2f}** (target >= "
        f"{r['targets']['ratio']}); the streamed run's memory above its baseline is "
        f"{'within' if r['within_budget'] else 'over'} the budget.",
    ]


def _finetune(r):
    rows = []
    for method, s in r["summary"].items():
        ci = f"[{100 * s['low']:.2f}, {100 * s['high']:.2f}]" if s["low"] is not None else "-"
        rows.append(f"| {method} | {100 * s['mean']:.2f} | {ci} | {s['seconds']:.0f} |")
    picks = sorted({p for p in (x.get("pick") for x in r["runs"]) if p})
    v = r["values"]
    return [
        f"kregs' CNN pre-trained on five Fashion-MNIST classes ({r['pretrain_epochs']} epochs; "
        f"{100 * r['source_test_accuracy']:.2f}% on their test images), fine-tuned on the "
        f"other five from {r['per_class']} images of each, {r['epochs']} epochs, tested on "
        f"their 5,000 test images; {r['seeds']} seeds. L2 lambda {v['l2']:g}, weight decay "
        f"{v['weight_decay']:g}, L2-SP alpha {v['alpha']:g}; the search: {v['trials']} "
        "trials of the extended space (its refit model).",
        "",
        "| method | test accuracy, % | 95% interval | seconds per run |",
        "|---|---|---|---|",
        *rows,
        "",
        f"The search picked: {', '.join(picks) if picks else '-'}.",
    ]


def _export(r):
    names = {"savedmodel": "SavedModel", "litert": "LiteRT", "onnx": "ONNX", "openvino": "OpenVINO"}
    rows = []
    for x in r["rows"]:
        runs_in = "" if x["computes_in"] == x["precision"] else f" ({x['computes_in']})"
        quant = "" if x["quantize"] == "none" else f" {x['quantize']}"
        rows.append(
            f"| {names[x['format']]}{quant} | {x['precision']}{runs_in} | "
            f"{100 * x['accuracy']:.2f} | {x['drop_points']:+.2f} | {x['max_difference']:.2g} | "
            f"{x['size_bytes'] / 1e6:.2f} | {x['latency_ms']:.3f} | {x['throughput']:.0f} | "
            f"{x['cpu_per_image_ms']:.3f} |"
        )
    return [
        f"The run's model ({r['run']}; the Keras model tests {100 * r['keras_accuracy']:.2f}% "
        f"on the {r['test_images']:,} test images) written by `kregs export` in each format "
        "and run in its own runtime (TensorFlow, the LiteRT interpreter, ONNX Runtime, "
        "OpenVINO on the CPU). int8: full-integer LiteRT calibrated on 300 validation images. "
        f"Timings: medians of {r['rounds']} rounds, the artifacts alternated in each; latency "
        "is the median of 50 single images, throughput a pass over the test images in batches "
        "of 64 on every core; a precision in brackets is the one the runtime chose.",
        "",
        "| artifact | precision | test accuracy, % | drop, points | largest probability "
        "difference | size, MB | ms per image at batch 1 | images/s at batch 64 | CPU ms per "
        "image |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]


def _verdicts(r):
    d, cover = r["data"], r["coverage"]
    lines = [
        f"kregs' {d.get('arch', 'mlp').upper()} for {d['epochs']} epochs on "
        f"{d['train_images']:,} Fashion-MNIST images "
        f"(10% of them validation), {d['test_images']:,} test images. Three paths: the "
        "validation images of one split (within-run, as `kregs tune` compares its control "
        f"and best trial), the test images (`kregs compare`), {d['folds']} folds of every "
        "training image (`kregs tune --folds`).",
        "",
        "**A/A**: one configuration (no regularization) against itself with another seed: the "
        "share of comparisons a path calls *shown* (its false-positive rate; at most 5% plus "
        "its sampling margin).",
        "",
        "| path | shown | share | at most, at a true 5% |",
        "|---|---|---|---|",
    ]
    for path, a in r["aa"].items():
        lines.append(
            f"| {path} | {a['shown']} of {a['runs']} | {100 * a['share']:.1f}% | {a['margin']} |"
        )
    lines += [
        "",
        f"**Coverage**: {d['pair'][0]} against {d['pair'][1]}; the long-run difference (the "
        f"mean of their test accuracy differences over {cover['seeds']} seeds) is "
        f"{100 * cover['long_run_difference']:+.2f} points. How often one run's 95% interval "
        "holds it:",
        "",
        "| path | covered | share | mean width, points |",
        "|---|---|---|---|",
    ]
    for path in ("within-run", "compare", "folds"):
        c = cover[path]
        if c["runs"]:
            lines.append(
                f"| {path} | {c['covered']} of {c['runs']} | {100 * c['share']:.0f}% "
                f"| {100 * c['mean_width']:.2f} |"
            )
    lines += [
        "",
        f"{r['seconds'] / 60:.0f} minutes ({r['cpu_seconds'] / 60:.0f} CPU minutes).",
    ]
    return lines


SECTIONS = {
    "accuracy": ("Quick search against a hand-written CNN", _accuracy),
    "precision": ("Precision: float32, bfloat16, XLA", _precision),
    "onednn": ("TensorFlow's oneDNN kernels on a CPU without VNNI or bfloat16 units", _onednn),
    "threads": ("Thread settings", _threads),
    "schedule": ("Learning-rate schedule", _schedule),
    "regularizers": (
        "Today's regularizers, each alone on BN: label smoothing, MixUp/CutMix, RandAugment, "
        "AugMix, EMA, stochastic depth",
        _regularizers,
    ),
    "placement": ("Dropout placement, penalties, augmentation (one seed)", _placement),
    "bn_time": ("Does BN cut training time? (the study's claim)", _bn_time),
    "backends": ("Keras backends: TensorFlow, JAX, PyTorch", _backends),
    "input_pipeline": ("Input pipeline", _input_pipeline),
    "overhead": ("Training overhead", _overhead),
    "tuning": ("Tuning at an equal budget", _tuning),
    "pruning": ("Pruning at an equal time budget", _pruning),
    "stopping": ("A search that stops: --stop auto against never", _stopping),
    "regret": ("Pruning and late winners", _regret),
    "seeds": ("Seeds where a verdict is open: --seeds auto, its A/A and its power", _seeds),
    "memory": ("Memory across trials", _memory),
    "startup": ("Start-up", _startup),
    "distributed": ("Distributed tuning", _distributed),
    "streaming": ("A folder bigger than memory: streamed or loaded", _streaming),
    "finetune": ("Fine-tuning: L2, weight decay, L2-SP", _finetune),
    "export": ("Deployment formats: SavedModel, LiteRT, ONNX, OpenVINO", _export),
    "verdicts": ("Honest verdicts: false 'shown' in A/A, and coverage", _verdicts),
}


# The GPU check runs on the device machine (no TensorFlow there: JAX); its figures are
# added here when a session that has the machine runs it.
GPU_CHECK = [
    "## GPU check",
    "",
    "The GPU machine that this workplace lends some sessions (one H200; JAX, PyTorch, "
    "CUDA, no TensorFlow, nothing downloadable) runs kregs under JAX from carried wheels. "
    "Here: `bench/device/prepare.sh` (fills the git-ignored `bench/device/carry/`: the "
    "keras, keras-tuner, kt-legacy, namex and optree wheels for Python 3.12, kregs' wheel "
    "and the four Fashion-MNIST files, 32 MiB; it refuses more than 48). There, in one "
    "call of the device tool:",
    "",
    "```",
    'run(command="bench/device/run.sh", carry=["bench/device/carry"], timeout_s=420)',
    "```",
    "",
    "It prints, within 6 minutes: samples/s of kregs' CNN in float32 and bfloat16 on the "
    "GPU, the quick preset's search time and test accuracy, a smoke study's time, and "
    "trials per minute with `--workers 2` against 1 on the one GPU (`bench/device/run.sh "
    "--quick` runs the same steps at tiny sizes on a CPU; tested here under JAX without "
    "TensorFlow).",
    "",
    "**Not run yet**: no session so far was lent the machine. Its figures go here when one is.",
    "",
]


def _defaults(r):
    """The figures behind kregs' defaults (bench/results/defaults.json, kept by hand)."""
    return [
        "## Figures behind the defaults",
        "",
        r["note"],
        "",
        "| code | figure | measured |",
        "|---|---|---|",
        *(f"| `{e['code']}` | {e['figure']} | {e['measured']} |" for e in r["entries"]),
        "",
    ]


def render(results_dir):
    out = [
        "# Benchmarks",
        "",
        "Generated by `python bench/report.py` from `bench/results/*.json`; "
        "each section names the command that produced it.",
        "",
    ]
    results = {}  # benchmark -> its results (several: e.g. one per kind of host), by file name
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        with open(path) as f:
            r = json.load(f)
        results.setdefault(r["benchmark"], []).append(r)
    for key, (title, fn) in SECTIONS.items():
        out += [f"## {title}", ""] if key in results else []
        for r in results.get(key, ()):
            note = [r["note"], ""] if r.get("note") else []
            out += [f"`{r['command']}` on {_machine(r['machine'])}", "", *fn(r), *note, ""]
    for r in results.get("defaults", ()):
        out += _defaults(r)
    return "\n".join(out + GPU_CHECK)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    parser.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    text = render(args.results)
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
