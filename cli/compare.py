"""`kregs compare`: two models on the same test images, the difference with its interval."""

import json
import os

import click

from kregs.cli import options as opt
from kregs.cli.quiet import quiet_tensorflow


@click.command()
@click.argument("model_a", metavar="A", type=click.Path(exists=True))
@click.argument("model_b", metavar="B", type=click.Path(exists=True))
@opt.dataset("The test split of this data set (when neither A nor B is a run folder).")
@click.option(
    "--data",
    type=click.Path(exists=True),
    default=None,
    help="The test split of your own data (a folder of images or an .npz), as kregs tune "
    "splits it.",
)
@opt.data_dir
@click.option(
    "--sheet",
    type=click.Path(dir_okay=False),
    default="compare.png",
    show_default=True,
    help="The contact sheet: up to 64 images the two models classify differently, with "
    "both predictions.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@opt.verbose
def compare(model_a, model_b, dataset, data, data_dir, sheet, as_json, verbose):
    """Compare two models on the same test images: does B beat A, or is it chance?

    A and B are run folders (their exported model, and their test images), or anything
    kregs predict reads (a SavedModel, a .keras file, a LiteRT, ONNX or OpenVINO model).
    Prints B's accuracy minus A's with its 95% interval over the test images (Newcombe's;
    McNemar's exact test), the number of images they classify differently, and `shown`
    or `not shown at this size`; the interval covers which images were measured, not
    the randomness of training.
    """
    quiet_tensorflow(verbose)
    from kregs.deploy.compare import compare as run_compare
    from kregs.deploy.compare import contact_sheet
    from kregs.deploy.predictor import Predictor

    paths, test = [], None
    for given in (model_a, model_b):
        path, found = _resolve(given, data_dir)
        paths.append(path)
        test = test or found
    if dataset is not None or data is not None:
        test = _test_split(dataset, data, data_dir)
    if test is None:
        raise click.UsageError(
            "no test images: give a run folder as A or B, or --data or --dataset"
        )
    a, b = Predictor(paths[0]), Predictor(paths[1])
    result = run_compare(a, b, *test)
    written = contact_sheet(sheet, result, test[0], a.class_names)
    if as_json:
        click.echo(
            json.dumps({**result.result.to_dict(), "a": paths[0], "b": paths[1], "sheet": written})
        )
        return
    click.echo(f"A: {paths[0]}\nB: {paths[1]}")
    click.echo(result.result.text("B against A", "test images"))
    click.echo("The interval covers which images were measured, not the randomness of training.")
    click.echo(f"contact sheet: {written}" if written else "they agree on every test image")


def _resolve(path, data_dir):
    """`(model path, test split or None)` of a run folder or a model."""
    if os.path.isfile(os.path.join(path, "run.json")):
        from kregs.tuner.export import run_model_and_test

        model, images, labels = run_model_and_test(path, data_dir)
        return model, (images, labels)
    return path, None


def _test_split(dataset, data, data_dir):
    from kregs.data.dataset import dataset_from_options

    splits = dataset_from_options(dataset, data, data_dir).load()
    return splits.test
