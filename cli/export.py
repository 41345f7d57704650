"""`kregs export`: a finished run's best model (or one trial's) as a new SavedModel version."""

import click

from kregs.cli import options as opt
from kregs.cli.quiet import quiet_tensorflow


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--trial", "trial_id", default=None, help="Export this trial instead of the best.")
@opt.verbose
def export(run_dir, trial_id, verbose):
    """Export the best model (or --trial ID) of a finished run for TF Serving.

    Writes RUN_DIR/export/<dataset>/<next version>/, never overwriting a version.
    """
    quiet_tensorflow(verbose)
    from kregs.tuner.best import export_run

    click.echo(f"SavedModel: {export_run(run_dir, trial_id)}")
