"""`kregs export`: a finished run's best model (or one trial's) as a new SavedModel version."""

import click

from kregs.cli import options as opt
from kregs.cli.quiet import quiet_tensorflow


def _tensorflow_backend():
    """A SavedModel is TensorFlow's: this command loads the run's models under TensorFlow,
    whatever backend trained them (a `.keras` model is the same under every backend)."""
    import os
    import sys

    from kregs.run.device import tensorflow_available

    if not tensorflow_available():
        from kregs.errors import ConfigError

        raise ConfigError(
            "kregs export writes a TensorFlow SavedModel: it needs TensorFlow, not installed "
            "here (pip install tensorflow), or run it on a machine that has it"
        )
    if "keras" not in sys.modules:  # (a test runner may have imported it already)
        os.environ["KERAS_BACKEND"] = "tensorflow"


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--trial", "trial_id", default=None, help="Export this trial instead of the best.")
@opt.verbose
def export(run_dir, trial_id, verbose):
    """Export the best model (or --trial ID) of a finished run for TF Serving.

    Writes RUN_DIR/export/<dataset>/<next version>/, never overwriting a version.
    """
    quiet_tensorflow(verbose)
    _tensorflow_backend()
    from kregs.tuner.best import export_run

    click.echo(f"SavedModel: {export_run(run_dir, trial_id)}")
