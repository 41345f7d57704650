"""`kregs study`: parse, build a `StudyConfig`, call `kregs.study.run_study`, print."""

import click

from kregs.checks import ARCHITECTURES
from kregs.cli import options as opt
from kregs.cli.output import run_line, values_lines
from kregs.cli.progress import Display
from kregs.cli.quiet import quiet_tensorflow
from kregs.config import CONFIG_NAMES
from kregs.run.interrupt import catching_interrupts
from kregs.run.processes import freeze_imports
from kregs.study.budget import STUDY_PRESET_NAMES, STUDY_PRESETS
from kregs.study.config import StudyConfig
from kregs.study.plan import SWEEP_GRIDS, value_text
from kregs.study.protocol import TECHNIQUES, StudyValues

DEFAULTS = StudyValues()


class SeedCount(click.ParamType):
    """`--seeds`: a number of seeds >= 1, or auto."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if value == "auto" or isinstance(value, int):
            return value
        if str(value).isdigit() and int(value) >= 1:
            return int(value)
        self.fail(f"{value!r} is not a number of seeds >= 1, nor auto", param, ctx)


class _Printer(Display):
    def values_chosen(self, values):
        for line in values_lines(values):
            self.echo(line)

    def note(self, text):
        self.echo(text)

    def run_ended(self, row, skipped):
        if not skipped:
            self.unit_done()
        self.echo(run_line(row, skipped))


def _grid(name):
    return ",".join(value_text(v) for v in SWEEP_GRIDS[name])


def _plan_lines(config):
    """What a sweep or an ablation trains, before it starts."""
    if config.kind == "sweep":
        return [
            f"sweep {s.parameter}: {', '.join(value_text(v) for v in s.values)} (added to {s.base})"
            for s in config.sweeps
        ]
    if config.kind == "ablation":
        a = config.ablation
        return [
            f"ablation of {a.run} trial {a.trial}: {a.reg.name} "
            f"(learning rate {config.budget.learning_rate:g}); "
            f"{', '.join(config.configurations())}"
        ]
    return []


@click.command()
@opt.dataset(
    "A built-in data set, or tfds:NAME.  [default: the --from-run run's, else fashion_mnist, "
    "unless --data]"
)
@opt.apply_options(*opt.DATA_OPTIONS)
@opt.preset(
    "A named budget: smoke (seconds per run), quick (about a minute per run on a CPU), "
    "overfit (the over-fitting regime: 5,400 training images, up to 40 epochs; about 15 "
    "minutes for 24 runs on 2 CPU cores), paper (the study's protocol). Options given explicitly "
    "override it.",
    STUDY_PRESET_NAMES,
)
@click.option(
    "--seeds",
    type=SeedCount(),
    default=opt.field_default(StudyConfig, "seeds"),
    help="Runs per configuration, or auto: 3, then more where a verdict is still open "
    "(99% intervals at each of up to 5 looks, so that the error rate stays 5%), up to "
    "--max-seeds or --time-budget.",
)
@click.option(
    "--max-seeds",
    type=click.IntRange(min=3),
    default=opt.field_default(StudyConfig, "max_seeds"),
    help="With --seeds auto: seeds per configuration at most.",
)
@click.option(
    "--time-budget",
    default=None,
    help="With --seeds auto: no seed is added once this much time is spent (10m, 2h), "
    "counting every session of a resumed study.",
)
@opt.seed(StudyConfig)
@opt.validation_split(StudyConfig)
@opt.apply_options(
    *opt.study_value_options(TECHNIQUES, {n: getattr(DEFAULTS, n) for n in TECHNIQUES})
)
@click.option(
    "--values-from",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Take the values above from a finished `kregs tune` output folder "
    "(the best trial that used each technique).",
)
@click.option(
    "--sweep",
    multiple=True,
    metavar="PARAM[=V1,V2,...]",
    help="Instead of the eight configurations, sweep one value with the others fixed: "
    f"l2 (default grid {_grid('l2')}), dropout ({_grid('dropout')}), weight_decay "
    f"({_grid('weight_decay')}), l2sp ({_grid('l2sp')}; with --model, fine-tuning), "
    f"label_smoothing ({_grid('label_smoothing')}) or mix ({_grid('mix')}). "
    "Repeat to sweep several, each on its own; l2 and weight_decay together also compare "
    "them.",
)
@click.option(
    "--base",
    type=click.Choice(CONFIG_NAMES),
    default=None,
    help="The configuration a sweep adds its value to.  [default: none]",
)
@click.option(
    "--from-run",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Ablate a finished `kregs tune` run: train its best configuration and that "
    "configuration minus each of its regularizers (L2, weight decay, dropout, BN, "
    "augmentation, label smoothing, MixUp/CutMix, EMA, ...), with its learning rate, data "
    "set and architecture.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Epochs per run at most (in place of the preset's --steps).",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=None,
    help="Optimizer steps per run at most: a small data set trains as many epochs as that "
    "takes.  [default: the preset's]",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Use at most this many training images (stratified).",
)
@click.option(
    "--test-limit",
    type=click.IntRange(min=1),
    default=None,
    help="Use only this many test images (stratified).",
)
@click.option("--patience", type=click.IntRange(min=1), default=None)
@click.option(
    "--learning-rate",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help=f"Adam's fixed learning rate.  [default: {STUDY_PRESETS[None].learning_rate:g}]",
)
@click.option(
    "--arch",
    type=click.Choice(ARCHITECTURES),
    default=None,
    help="kregs' own model.  [default: the --from-run run's, else cnn, unless --model]",
)
@opt.apply_options(*opt.MODEL_OPTIONS)
@opt.data_dir
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder; a study there is continued, skipping finished runs.  "
    "[default: runs/study-<dataset>-<UTC timestamp>]",
)
@opt.overwrite
@opt.precision
@opt.jit_compile
@opt.verbose
@opt.quiet
@opt.renamed_flags(*opt.RENAMED_MODEL_FLAGS)
def study(verbose, quiet, **options):
    """Train the study's eight configurations over several seeds and check its claims.

    none, l2, dropout, bn, l2+dropout, l2+bn, dropout+bn and l2+dropout+bn,
    each --seeds times, with one architecture, optimizer and protocol. Writes
    study.csv (one row per run), study.md (the table with mean +- std, the
    ablation, the paper's figures and a verdict per claim) and plots/*.png.
    Each run is saved as it finishes; the same command again skips them.

    With --sweep, trains one value over a grid instead (and checks the study's
    chosen value); with --from-run, ablates a search's best configuration.
    """
    quiet_tensorflow(verbose)  # (a --model module:function may import it)
    config = StudyConfig.create(**options)
    freeze_imports()
    from kregs.study.runner import run_study

    seeds = (
        f"{config.seeds} seeds" if config.seeds != "auto" else f"seeds auto (<= {config.max_seeds})"
    )
    click.echo(
        f"kregs study: {config.dataset.name} (preset: {options['preset'] or 'none'}, "
        f"{seeds}, {len(config.configurations())} configurations: {config.kind})"
    )
    for line in _plan_lines(config):
        click.echo(line)
    with catching_interrupts(), _Printer.for_terminal(quiet, verbose, "runs") as printer:
        result = run_study(config, printer)
    md = result.markdown
    table = md[md.index("\n## ", md.index("## Protocol") + 1) : md.index("## Plots")].strip()
    click.echo("")
    click.echo(table)
    click.echo("")
    click.echo(f"results: {result.output} (study.csv, study.md, plots/)")
    click.echo(
        f"runs trained now: {result.ran} of {len(result.rows)}; wall time: {result.seconds:.1f}s"
    )
