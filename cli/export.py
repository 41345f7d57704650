"""`kregs export`: a finished run's best model (or one trial's) in the formats a user deploys."""

import click

from kregs.cli import options as opt
from kregs.cli.quiet import quiet_tensorflow


def _tensorflow_backend():
    """Every format is written from TensorFlow: this command loads the run's models under
    TensorFlow, whatever backend trained them (a `.keras` model is the same under every one)."""
    import os
    import sys

    from kregs.run.device import tensorflow_available

    if not tensorflow_available():
        from kregs.errors import ConfigError

        raise ConfigError(
            "kregs export writes from TensorFlow: it needs TensorFlow, not installed "
            "here (pip install tensorflow), or run it on a machine that has it"
        )
    if "keras" not in sys.modules:  # (a test runner may have imported it already)
        os.environ["KERAS_BACKEND"] = "tensorflow"


def _deployment(export_formats, **options):
    """The `DeployOptions` of the command line (the SavedModel where no --export-format is
    given)."""
    from kregs.deploy import DeployOptions

    return DeployOptions.create(export_formats=export_formats or ("savedmodel",), **options)


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--trial", "trial_id", default=None, help="Export this trial instead of the best.")
@opt.deploy_options(
    "--export-format",
    "--export-precision",
    format_help="A format to write (repeatable; default: savedmodel)",
)
@opt.data_dir
@click.option(
    "--no-check",
    is_flag=True,
    help="Write without checking each format on the run's test images (no data needed here).",
)
@opt.verbose
@opt.renamed_flags(
    ("--format", "export_formats", "--export-format", None),
    ("--precision", "export_precision", "--export-precision", None),
)
def export(run_dir, trial_id, data_dir, no_check, verbose, **deploy):
    """Export the best model (or --trial ID) of a finished run: the SavedModel for TF
    Serving, or (--export-format) LiteRT, ONNX, OpenVINO, each checked in its own runtime.

    Writes RUN_DIR/export/<dataset>/<version>/ (SavedModel) and
    RUN_DIR/export/<dataset>-<format>/<version>/, one new version for every
    format of one call, never overwriting a version; the figures go to
    RUN_DIR/export/REPORT.md. A format whose test accuracy falls more than
    --max-accuracy-drop points below the Keras model's is not written (exit 2).
    """
    _tensorflow_backend()
    deployment = _deployment(**deploy)  # at the door: an extra not installed is one line
    quiet_tensorflow(verbose)
    from kregs.deploy import FORMATS, table
    from kregs.errors import ConfigError
    from kregs.tuner.export import export_run

    result = export_run(run_dir, trial_id, deployment, data_dir, check=not no_check)
    if result.rows:
        click.echo(table(result.rows))
    for fmt, folder in result.written.items():
        click.echo(f"{FORMATS[fmt].label}: {folder}")
    if result.refused:
        raise ConfigError("; ".join(result.refused.values()))
