"""Options that several commands share, as decorators; their choices come from the library."""

import dataclasses
import functools

import click

from kregs.checks import ARCHITECTURES
from kregs.config import DIMENSIONS
from kregs.data import DATASETS
from kregs.data.arrays import PIXEL_RANGES
from kregs.data.dataset import parse_image_size, parse_size
from kregs.data.images import COLOR_MODES
from kregs.deploy.formats import FORMATS, QUANTIZATIONS
from kregs.deploy.formats import PRECISIONS as EXPORT_PRECISIONS
from kregs.errors import ConfigError
from kregs.run.device import PRECISIONS, DeviceOptions
from kregs.tuner.budget import PRESET_NAMES
from kregs.tuner.config import TuneConfig
from kregs.usermodel import INITS, INPUT_RANGES, OLD_INITS


def field_default(cls, name):
    """The library's default of a dataclass field: the command line never restates one."""
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


class DatasetName(click.ParamType):
    """A built-in data set's name, or `tfds:NAME` (any TFDS image classification data set)."""

    name = "dataset"

    def get_metavar(self, param, ctx=None):
        return "[" + "|".join(DATASETS) + "|tfds:NAME]"

    def convert(self, value, param, ctx):
        if value in DATASETS or (value.startswith("tfds:") and len(value) > 5):
            return value
        self.fail(
            f"{value!r} is not one of {', '.join(DATASETS)}, or tfds:NAME (a TFDS image "
            "classification data set); your own images: --data PATH",
            param,
            ctx,
        )


class ImageSize(click.ParamType):
    name = "HxW"

    def get_metavar(self, param, ctx=None):
        return "HxW"

    def convert(self, value, param, ctx):
        try:
            return "x".join(map(str, parse_image_size(value)))
        except ConfigError:
            self.fail(f"{value!r} is not HxW, e.g. 64x64", param, ctx)


class Size(click.ParamType):
    name = "SIZE"

    def convert(self, value, param, ctx):
        try:
            return parse_size(value)
        except ConfigError:
            self.fail(f"{value!r} is not a size, e.g. 2G or 512M", param, ctx)


def dataset(default_help):
    """`--dataset`: a built-in data set or `tfds:NAME`."""
    return click.option("--dataset", type=DatasetName(), default=None, help=default_help)


DATA_OPTIONS = [
    click.option(
        "--data",
        type=click.Path(exists=True),
        default=None,
        help="Your own data: a folder of images with one subfolder per class (optionally "
        "inside train/ and test/), or an .npz file (x_train, y_train, optional x_test, "
        "y_test, class_names). Not with --dataset.",
    ),
    click.option(
        "--image-size",
        type=ImageSize(),
        default=None,
        help="Resize every image to HxW (needed when the images differ in size).",
    ),
    click.option(
        "--color-mode",
        type=click.Choice(COLOR_MODES),
        default=None,
        help="Read the images as grayscale or RGB.  [default: grayscale when every image is]",
    ),
    click.option(
        "--test-split",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        default=None,
        help="Data without a test split: the share held out for testing (stratified; the "
        "same images every run).  [default: 0.1]",
    ),
    click.option(
        "--skip-bad-images",
        is_flag=True,
        default=None,
        help="Leave out (and count) images that cannot be decoded, instead of refusing the folder.",
    ),
    click.option(
        "--pixel-range",
        type=click.Choice(PIXEL_RANGES),
        default=None,
        help="The range of float pixels in an .npz (auto reads it from the values and says "
        "which).  [default: auto]",
    ),
    click.option(
        "--flips/--no-flips",
        default=None,
        help="Your own data: a left-right mirror keeps its labels, so augmentation may flip "
        "images.  [default: no]",
    ),
    click.option(
        "--max-memory",
        type=Size(),
        default=None,
        help="Memory the decoded images may take; a folder above it is streamed from its "
        "files.  [default: 40% of the memory available]",
    ),
]
arch = click.option(
    "--arch",
    type=click.Choice(ARCHITECTURES),
    default=None,
    help=f"kregs' own model.  [default: {field_default(TuneConfig, 'arch')}, unless --model]",
)
MODEL_OPTIONS = [
    click.option(
        "--model",
        default=None,
        metavar="FILE.keras|MODULE:FUNCTION",
        help="Your own model instead of --arch: a .keras file, or a build function "
        "package.module:function (one that accepts `reg` places the regularizers itself; "
        "any other gets `input_shape` and `num_classes`, and kregs regularizes what it "
        "returns). Its classifier is replaced where the data has another number of classes.",
    ),
    click.option(
        "--init",
        type=click.Choice(INITS),
        default=None,
        help="With --model: every trial starts from the model's own weights (pretrained: "
        "fine-tuning; L2-SP can then be searched) or from a new initialization (fresh).  "
        "[default: pretrained]",
    ),
    click.option(
        "--input-range",
        type=click.Choice(list(INPUT_RANGES)),
        default=None,
        help="With --model: the range its float inputs expect; kregs feeds uint8 pixels "
        "and scales them to it.  [default: 0-1; a uint8 input takes the pixels as they are]",
    ),
]
data_dir = click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder with the built-in data set's files (IDX .gz, mnist.npz, "
    "cifar-10-batches-py/), or TFDS' data_dir for tfds:NAME.",
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


EXTRAS_HELP = 'Each runtime is an extra: pip install "kregs[litert]", "kregs[onnx]", ...'


def deploy_options(format_flag, precision_flag, formats=tuple(FORMATS), format_help=""):
    """The options of `kregs.deploy.DeployOptions`: the formats (`format_flag`, repeatable,
    described by `format_help`), LiteRT's quantization, the precision (`precision_flag`)
    and the accuracy check."""
    return apply_options(
        click.option(
            format_flag,
            "export_formats",
            multiple=True,
            type=click.Choice(formats),
            help=f"{format_help}; each is checked in its own runtime on the test images. "
            + EXTRAS_HELP,
        ),
        click.option(
            "--quantize",
            type=click.Choice(QUANTIZATIONS),
            default=None,
            help="LiteRT's quantization: dynamic (int8 weights) or int8 (full-integer, "
            "calibrated on 300 validation images).  [default: none]",
        ),
        click.option(
            precision_flag,
            "export_precision",
            type=click.Choice(EXPORT_PRECISIONS),
            default=None,
            help="float32: a model trained in bfloat16 or float16 is exported "
            "as a float32 copy; trained: as it computes.  [default: float32]",
        ),
        click.option(
            "--max-accuracy-drop",
            type=click.FloatRange(min=0),
            default=None,
            metavar="POINTS",
            help="Refuse a format whose test accuracy is more than this many points below "
            "the Keras model's.  [default: 0.5]",
        ),
        click.option(
            "--accept-accuracy-drop",
            is_flag=True,
            default=None,
            help="Keep a format whatever its accuracy drop (it is still measured and reported).",
        ),
    )


def seed(config_class):
    """`--seed`, an int >= 0 (what numpy and every backend accept), the config's default."""
    return click.option(
        "--seed",
        type=click.IntRange(min=0),
        default=field_default(config_class, "seed"),
        help="Seeds the splits, the weights and the search.",
    )


def validation_split(config_class):
    """`--validation-split`: the share of the training images held out for validation."""
    return click.option(
        "--validation-split",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        default=field_default(config_class, "validation_split"),
        help="The share of the training images held out for validation (stratified, seeded).",
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


def _flag(name):
    return "--" + name.replace("_", "-")


def _number_type(dim, positive=False):
    low, high, high_open = dim.bounds
    return click.FloatRange(low, high, min_open=positive, max_open=high_open)


def _spaces(dim):
    names = list(dim.search)
    return (
        f"{', '.join(names[:-1])} and {names[-1]} spaces"
        if len(names) > 1
        else (f"{names[0]} space only")
    )


def fix_dimension_options():
    """`kregs tune`'s options that fix a dimension, one per field of `kregs.RegConfig`."""
    return [
        click.option(
            _flag(dim.name),
            type=click.Choice(dim.choices) if dim.choices else _number_type(dim),
            default=None,
            help=f"Fix {dim.help} instead of searching it.  [{_spaces(dim)}]",
        )
        for dim in DIMENSIONS
    ]


def study_value_options(techniques, defaults):
    """`kregs study`'s options for the values of its configurations, one per `RegConfig` field.

    Args:
        techniques: names of the study's techniques (l2, dropout, batch_norm): their
            value is the one the configurations that use them take (switched on).
        defaults: dict, technique -> its default value (for the help).
    """
    options = []
    for dim in DIMENSIONS:
        if dim.name in techniques:
            kind = (
                click.Choice([c for c in dim.choices if c != dim.off])
                if dim.choices
                else _number_type(dim, positive=True)
            )
            text = (
                f"The value of {dim.label} in the configurations that use it.  "
                f"[default: from --values-from, else {defaults[dim.name]}]"
            )
        else:
            kind = click.Choice(dim.choices) if dim.choices else _number_type(dim)
            text = f"Fix {dim.help} in every configuration.  [default: {dim.default}]"
        options.append(click.option(_flag(dim.name), type=kind, default=None, help=text))
    return options


def renamed_flags(*renames):
    """kregs 0.1's flags, kept for one release: each `(old flag, new parameter, new flag,
    convert)` is a hidden option that, when given, prints one line naming the new flag and
    stands for it (`convert` maps its values; None: as they are).

    Example:
    >>> @renamed_flags(("--top-k", "keep_best", "--keep-best", None))
    ... def tune(keep_best, **options): ...
    """

    def decorate(f):
        @functools.wraps(f)
        def command(*args, **kwargs):
            for old, param, new, convert in renames:
                value = kwargs.pop(_old_dest(old), None)
                if value in (None, ()):
                    continue
                click.echo(
                    f"Warning: {old} is now {new} (the old name goes in kregs 0.3)", err=True
                )
                source = click.get_current_context().get_parameter_source(param)
                if source in (None, click.core.ParameterSource.DEFAULT):  # (not given)
                    kwargs[param] = convert(value) if convert else value
            return f(*args, **kwargs)

        for old, param, _, _ in renames:
            multiple = param == "export_formats"
            choices = click.Choice(list(OLD_NAMES[old])) if old in OLD_NAMES else None
            command = click.option(
                old, _old_dest(old), hidden=True, default=None, multiple=multiple, type=choices
            )(command)
        return command

    return decorate


def _old_dest(flag):
    return "old_" + flag.lstrip("-").replace("-", "_")


# The values old flags took, where they differ from the new flag's.
OLD_NAMES = {"--weights": tuple(OLD_INITS)}
RENAMED_MODEL_FLAGS = (("--weights", "init", "--init", OLD_INITS.get),)


def grouped(groups):
    """A `click.Command` class whose --help lists its options under headings.

    Args:
        groups: dict, heading -> the parameter names under it, in order; the others go
            under "Other options".
    """

    class Grouped(click.Command):
        def format_options(self, ctx, formatter):
            records = {p.name: p.get_help_record(ctx) for p in self.get_params(ctx)}
            listed = set()
            for heading, names in groups.items():
                rows = [records[n] for n in names if records.get(n)]
                listed.update(names)
                if rows:
                    with formatter.section(heading):
                        formatter.write_dl(rows)
            rest = [r for n, r in records.items() if r and n not in listed]
            if rest:
                with formatter.section("Other options"):
                    formatter.write_dl(rest)

    return Grouped
