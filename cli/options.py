"""Options that several commands share, as decorators; their choices come from the library."""

import dataclasses

import click

from kregs.checks import ARCHITECTURES
from kregs.data import DATASETS
from kregs.run.budget import PRESET_NAMES
from kregs.run.device import PRECISIONS, DeviceOptions
from kregs.tuner.config import TuneConfig


def field_default(cls, name):
    """The library's default of a dataclass field: the command line never restates one."""
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


dataset = click.option(
    "--dataset", type=click.Choice(list(DATASETS)), default=field_default(TuneConfig, "dataset")
)
arch = click.option(
    "--arch", type=click.Choice(ARCHITECTURES), default=field_default(TuneConfig, "arch")
)
data_dir = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder with the data set's files (IDX .gz, mnist.npz, cifar-10-batches-py/).",
)
overwrite = click.option(
    "--overwrite", is_flag=True, help="Delete the run in --output (only a kregs run) first."
)
precision = click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=field_default(DeviceOptions, "precision"),
    help="Compute precision: auto is float16 (mixed) on a GPU, bfloat16 (mixed) on a CPU "
    "with bfloat16 units (AVX512_BF16, AMX), float32 elsewhere.",
)
jit_compile = click.option(
    "--jit-compile/--no-jit-compile",
    default=None,
    help="XLA compilation.  [default: on with a GPU, off on CPU]",
)


def preset(help_text, names=PRESET_NAMES):
    """`--preset smoke|quick|paper` (or `names`) with a command's own description."""
    return click.option("--preset", type=click.Choice(names), default=None, help=help_text)


def apply_options(*options):
    """One decorator applying click options in the order given (the first shown first)."""

    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


verbose = click.option(
    "--verbose", is_flag=True, help="Show TensorFlow's own log lines (and Keras' progress bars)."
)
quiet = click.option(
    "--quiet", is_flag=True, help="No per-epoch progress: only each finished line and the result."
)
