"""The `kregs` command group; one module per command beside it.

Only click and TensorFlow-free parts of kregs are imported at module level;
each command imports TensorFlow, Keras and KerasTuner inside its body, so
`kregs --help` answers at once.
"""

import click

import kregs
from kregs.cli.compare import compare
from kregs.cli.errors import OneLineErrors
from kregs.cli.export import export
from kregs.cli.predict import predict
from kregs.cli.study import study
from kregs.cli.tune import tune
from kregs.run.device import prefer_onednn


@click.group(
    cls=OneLineErrors,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
@click.version_option(kregs.__version__, prog_name="kregs")
def main():
    """kregs: search and study regularization (L2, weight decay, dropout, batch norm and
    today's regularizers) for Keras models, each verdict with its uncertainty."""
    # Before any command imports TensorFlow; the processes a command starts inherit it.
    prefer_onednn()


for command in (tune, study, export, predict, compare):
    main.add_command(command)
