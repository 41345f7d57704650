"""`kregs predict`: classify images with an exported SavedModel or a `.keras` file."""

import json

import click

from kregs.cli import options as opt
from kregs.cli.quiet import quiet_tensorflow
from kregs.data.images import MAX_PIXELS


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--top-k", type=click.IntRange(min=1), default=1, help="Classes shown per input.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of text.")
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=MAX_PIXELS,
    help="Refuse image files with more pixels than this, before decoding them.",
)
@opt.verbose
def predict(model, inputs, top_k, as_json, max_pixels, verbose):
    """Classify images with an exported model.

    MODEL is what kregs exports: a SavedModel folder, a LiteRT .tflite, ONNX
    .onnx or OpenVINO .xml file (or its version folder), a model folder whose
    highest version is used, or a .keras file; each runs in its own runtime
    (LiteRT, ONNX Runtime, OpenVINO: the kregs extras). INPUTS are image files (PNG,
    JPEG, BMP, GIF) or .npy batches of uint8 images; an image file becomes the model's
    input as training made its images: decoded to RGB (alpha dropped), to grayscale for
    a one-channel model, resized bilinearly to the model's size.
    """
    quiet_tensorflow(verbose)
    from kregs.data.images import read_inputs
    from kregs.deploy.predictor import Predictor

    predictor = Predictor(model)
    images, labels = read_inputs(inputs, predictor.input_shape, max_pixels)
    tops = predictor.top_k(images, top_k)
    what = "probability" if predictor.probabilities else "score"
    if not predictor.probabilities:
        click.echo(
            f"note: {model} outputs scores, not probabilities (they do not sum to 1 per image; "
            "logits?): shown as scores",
            err=True,
        )
    for label, top in zip(labels, tops, strict=True):
        if as_json:
            classes = [{"class_id": c, "class_name": n, what: round(p, 6)} for c, n, p in top]
            click.echo(json.dumps({"input": label, "top": classes}))
        else:
            suffix = "" if predictor.probabilities else " (score)"
            click.echo(f"{label}: " + ", ".join(f"{n} {p:.3f}{suffix}" for _, n, p in top))
