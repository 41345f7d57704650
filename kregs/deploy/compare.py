"""`kregs compare`: two models on the same test images, with the difference's uncertainty.

Each model runs in its own runtime (`kregs.deploy.predictor.Predictor`: a SavedModel, a
`.keras` file, LiteRT, ONNX or OpenVINO), on images decoded once, as training decoded its
own (`kregs.data.images`). The result is the paired difference of their accuracies with
its 95% interval and verdict (`kregs.verdicts.paired`), the images they disagree on, and
a contact sheet of up to `SHEET_IMAGES` of them.
"""

import dataclasses
import os

import numpy as np

from kregs.deploy.measure import batches
from kregs.errors import ConfigError
from kregs.verdicts import paired

SHEET_IMAGES = 64


@dataclasses.dataclass
class Comparison:
    """Two models on the same images.

    Attributes:
        result: `kregs.verdicts.Paired`, B's accuracy minus A's.
        predicted: `(a, b)`, each model's predicted class per image (int arrays `N`).
        labels: int array `N`, the true classes.
        disagree: int array, the images whose predicted classes differ.
    """

    result: object
    predicted: tuple
    labels: np.ndarray
    disagree: np.ndarray


def check_same_classes(a, b):
    """Refuses two models not trained for the same classes (names, in the same order).

    Raises:
        ConfigError: naming both models and the first class that differs.
    """
    names_a, names_b = list(a.class_names or []), list(b.class_names or [])
    if names_a == names_b:
        return
    first = next(
        (i for i, (x, y) in enumerate(zip(names_a, names_b, strict=False)) if x != y),
        min(len(names_a), len(names_b)),
    )
    said_a = repr(names_a[first]) if first < len(names_a) else "absent"
    said_b = repr(names_b[first]) if first < len(names_b) else "absent"
    raise ConfigError(
        f"{a.source} and {b.source} were not trained for the same classes ({len(names_a)} "
        f"and {len(names_b)} classes; class {first} is {said_a} in one, {said_b} in the "
        "other): their accuracies on the same images cannot be compared"
    )


def compare(a, b, images, labels):
    """Runs `a` and `b` (`Predictor`s of the same classes) on `images`; a `Comparison`.

    Args:
        a, b: `kregs.deploy.predictor.Predictor`.
        images: uint8 `(N, H, W, C)` or `kregs.data.ImageFiles`, the model's input size.
        labels: int array `N`.

    Raises:
        ConfigError: the models' classes or input sizes differ, or the images are not
            of the models' size.
    """
    check_same_classes(a, b)
    for model in (a, b):
        if tuple(model.input_shape) != tuple(images.shape[1:]):
            raise ConfigError(
                f"{model.source} takes {'x'.join(map(str, model.input_shape))} images, the "
                f"test images are {'x'.join(map(str, images.shape[1:]))}: give the data the "
                "model was trained on"
            )
    labels = np.asarray(labels)
    predicted = tuple(
        np.concatenate([model.predict(x).argmax(axis=1) for x in batches(images)])
        for model in (a, b)
    )
    result = paired(predicted[0] == labels, predicted[1] == labels)
    disagree = np.flatnonzero(predicted[0] != predicted[1])
    return Comparison(result, predicted, labels, disagree)


def contact_sheet(path, comparison, images, class_names, names=("A", "B")):
    """Writes a PNG of up to `SHEET_IMAGES` images the two models disagree on, each with its
    true class and both predictions (a right one marked). Returns `path`, or None where
    they agree on every image."""
    from kregs.run.plots import pyplot, save

    shown = comparison.disagree[:SHEET_IMAGES]
    if not len(shown):
        return None
    plt = pyplot()
    columns = min(8, len(shown))
    rows = -(-len(shown) // columns)
    size = (max(1.9 * columns, 7.0), 2.3 * rows + 0.4)  # wide enough for the title
    fig, axes = plt.subplots(rows, columns, figsize=size, squeeze=False)
    picked = _take(images, shown)
    for ax, index, image in zip(axes.flat, shown, picked, strict=False):
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
        truth = comparison.labels[index]
        said = [comparison.predicted[k][index] for k in (0, 1)]
        marks = ["*" if s == truth else "" for s in said]
        ax.set_title(
            f"#{index} {class_names[truth]}\n{names[0]}: {class_names[said[0]]}{marks[0]}\n"
            f"{names[1]}: {class_names[said[1]]}{marks[1]}",
            fontsize=7,
        )
    for ax in axes.flat:
        ax.axis("off")
    # The verdict counts the images one model gets right and the other wrong (its
    # "classified differently"); the sheet also shows those both get wrong, differently.
    n = len(comparison.disagree)
    fig.suptitle(
        f"{n} image{'s' if n != 1 else ''} predicted differently, "
        f"{comparison.result.discordant} of them right in one model only "
        f"({len(shown)} shown; * right)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / size[1]))  # room for the title
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save(fig, path)
    return path


def _take(images, index):
    from kregs.data import ImageFiles

    part = images[index]
    return part.decode() if isinstance(part, ImageFiles) else np.asarray(part)
