"""Your own model in a search: a `keras.Model`, a `.keras` file, or a build function.

`ModelSource` says where the model comes from (recorded in run.json) and builds
each trial's model: the user's model regularized by `kregs.regularize` (its
weights kept: fine-tuning, or fresh), its classifier replaced where the data has
another number of classes, behind an input that takes the uint8 pixels kregs
feeds and scales them to the range the model expects.
"""

import dataclasses
import importlib
import inspect
import logging
import os

from kregs.config import RegConfig
from kregs.errors import ConfigError, invalid_value
from kregs.run.files import file_hash, weights_hash

logger = logging.getLogger(__name__)

INITS = ("pretrained", "fresh")
# kregs 0.1 called it `weights`, with "keep" for "pretrained" (kept for one release).
OLD_INITS = {"keep": "pretrained", "fresh": "fresh"}
# What a model's inputs expect, and the scale and offset that take 0-255 pixels there.
INPUT_RANGES = {"0-255": (1.0, 0.0), "0-1": (1 / 255, 0.0), "-1-1": (2 / 255, -1.0)}
RANGE_TEXT = {"0-255": "[0, 255]", "0-1": "[0, 1]", "-1-1": "[-1, 1]"}


@dataclasses.dataclass
class ModelSource:
    """Where a search's model comes from.

    Attributes:
        kind: str, "model" (a `keras.Model` given in Python), "file" (`.keras`),
            or "function" (`package.module:function`, or a callable).
        location: str, the file, `module:function`, or the model's name.
        init: str, "pretrained" (every trial starts from the model's weights:
            fine-tuning) or "fresh" (a new initialization each trial).
        input_range: str or None, one of `INPUT_RANGES`: what the model's inputs
            expect (None: 0-255 where they are uint8, else 0-1).
    """

    kind: str
    location: str
    init: str = "pretrained"
    input_range: str | None = None
    fingerprint: str | None = None
    _model: object = dataclasses.field(default=None, repr=False, compare=False)
    _function: object = dataclasses.field(default=None, repr=False, compare=False)
    _residuals: object = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.init not in INITS:
            raise invalid_value("init", self.init, "pretrained or fresh")
        if self.input_range not in (None, *INPUT_RANGES):
            raise invalid_value("input_range", self.input_range, ", ".join(INPUT_RANGES))

    @classmethod
    def create(cls, model, init="pretrained", input_range=None, weights=None):
        """A `ModelSource` from a `keras.Model`, a `.keras` path, `"module:function"` or a
        callable (checked at once: a missing file or function is one line). `weights`
        ("keep" or "fresh") is kregs 0.1's name of `init`."""
        if weights is not None:
            import warnings

            warnings.warn(
                "ModelSource: `weights` is now `init` (keep: pretrained)",
                DeprecationWarning,
                stacklevel=2,
            )
            init = OLD_INITS.get(weights, weights)
        if isinstance(model, ModelSource):
            return model
        if isinstance(model, (str, os.PathLike)):  # (no Keras import: the command line)
            return cls._from_text(str(model), init, input_range)
        if callable(model) and not _is_keras_model(model):
            return cls(
                "function",
                _qualified(model),
                init,
                input_range,
                _source_hash(model),
                None,
                model,
            )
        if _is_keras_model(model):
            return cls("model", model.name, init, input_range, weights_hash(model), model)
        return cls._from_text(str(model), init, input_range)

    @classmethod
    def _from_text(cls, text, init, input_range):
        if text.endswith(".keras"):
            path = os.path.abspath(os.path.expanduser(text))
            if not os.path.isfile(path):
                raise ConfigError(f"--model {text}: no such file")
            return cls("file", path, init, input_range, file_hash(path))
        if ":" in text:
            fn = _function(text)
            return cls("function", text, init, input_range, _source_hash(fn), None, fn)
        raise invalid_value(
            "model", text, "a .keras file, package.module:function, or a keras.Model"
        )

    @classmethod
    def from_record(cls, record):
        """The source a run.json record names, as recorded (loaded when first used).

        Raises:
            ConfigError: a model given in Python (it is not saved with the run).
        """
        if record["kind"] == "model":
            raise ConfigError(
                f"the run searched a keras.Model given in Python ({record['location']}): it is "
                "not saved with the run; its models are in best/*.keras and refit/model.keras"
            )
        fields = ("kind", "location", "init", "input_range", "fingerprint")
        found = {k: record.get(k) for k in fields}
        if found["init"] is None:  # a run of kregs 0.1
            found["init"] = OLD_INITS.get(record.get("weights"), "pretrained")
        return cls(**found)

    def record(self):
        """What run.json holds of it."""
        return {
            "kind": self.kind,
            "location": self.location,
            "init": self.init,
            "input_range": self.input_range,
            "fingerprint": self.fingerprint,
        }

    @property
    def finetune(self):
        """Whether trials start from pre-trained weights (L2-SP then has a meaning)."""
        return self.init == "pretrained" and self.kind != "function"

    def base(self):
        """The user's model (loaded once), or None for a build function."""
        if self._model is None and self.kind == "file":
            self._model = load_keras_file(self.location, "--model")
        return self._model

    def build(self, input_shape, num_classes, reg, dtype_policy=None, say=None):
        """The model one trial trains (uncompiled): `reg` applied, uint8 pixels in.

        Args:
            input_shape: `(H, W, C)` of the data's images.
            num_classes: int.
            reg: `kregs.RegConfig`.
            dtype_policy: str or None, the layers' dtype policy (the classifier
                stays float32).
            say: callable(str) or None: told, once per source, what was adapted.
        """
        reg = RegConfig.coerce(reg)
        if self.kind == "function":
            return self._from_function(input_shape, num_classes, reg, dtype_policy, say)
        model = self.base()
        if self.init == "fresh":
            import keras

            model = keras.models.clone_model(model)  # a new initialization
        return adapt(
            model,
            input_shape,
            num_classes,
            reg,
            dtype_policy,
            self.input_range,
            finetune=self.finetune,
            say=say,
        )

    def has_residuals(self, input_shape, num_classes):
        """Whether the model (as built for the data) has residual connections, whose
        branches stochastic depth drops (`kregs.graph.residual_count`)."""
        if self._residuals is None:
            from kregs.graph import residual_count

            built = self.build(input_shape, num_classes, RegConfig(), say=lambda text: None)
            self._residuals = residual_count(built) > 0
        return self._residuals

    def preview(self, input_shape, num_classes):
        """What using this model on the data adapts (one line each), found by building it
        once without regularization: a replaced classifier, a softmax added, the scaling
        of the pixels.

        Raises:
            ConfigError: the model cannot take the data (its input shape), or cannot be
                rebuilt.
        """
        notes = []
        self.build(input_shape, num_classes, RegConfig(), say=notes.append)
        return notes

    def _from_function(self, input_shape, num_classes, reg, dtype_policy, say=None):
        fn = self._function or _function(self.location)
        accepted = inspect.signature(fn).parameters
        kwargs = {"input_shape": tuple(input_shape), "num_classes": num_classes}
        if "reg" in accepted:  # it places the regularizers itself
            kwargs["reg"] = reg
        if "dtype_policy" in accepted:
            kwargs["dtype_policy"] = dtype_policy
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}
        try:
            model = fn(**kwargs)
        except Exception as err:  # noqa: BLE001 - the user's function: its error, in one line
            reason = str(err).splitlines()[0] if str(err) else ""
            raise ConfigError(
                f"--model {self.location}: the function raised {type(err).__name__}"
                + (f": {reason}" if reason else "")
            ) from None
        if not _is_keras_model(model):
            raise ConfigError(
                f"--model {self.location} returned {type(model).__name__}, not a keras.Model"
            )
        if "reg" in accepted:
            return model
        return adapt(model, input_shape, num_classes, reg, dtype_policy, self.input_range, say=say)


def load_keras_file(path, what):
    """The model in the `.keras` file `path`, or a `ConfigError` naming `what` (the option)
    and why: not a `.keras` archive (truncated, corrupt, another format) or unreadable.

    Keras answers "File not found" for a file that is there but not a zip archive: kregs
    says what the file is instead.
    """
    import zipfile

    import keras

    import kregs.layers  # noqa: F401 - kregs' classes, for kregs' own models

    if not zipfile.is_zipfile(path):
        raise ConfigError(
            f"{what} {path}: not a .keras archive (a zip file): truncated, corrupt, or saved "
            "in another format; save the model again with model.save('model.keras')"
        )
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError, KeyError, zipfile.BadZipFile) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{what} {path}: cannot load it ({reason})") from None


def model_options(options, default_arch="cnn"):
    """`{"model": ModelSource}` or `{"arch": ...}` from a config's `model`, `init`,
    `input_range` and `arch` options, popped from `options` (what `kregs tune` and
    `kregs study` take).

    Raises:
        ConfigError: `arch` and `model` both given, or `init` or `input_range`
            without a model.
    """
    model = options.pop("model", None)
    init = options.pop("init", None)
    weights = options.pop("weights", None)  # (kregs 0.1's name)
    if weights is not None and init is None:
        init = OLD_INITS.get(weights, weights)
    input_range = options.pop("input_range", None)
    arch = options.pop("arch", None)
    if model is None:
        for name, value in (("init", init), ("input_range", input_range)):
            if value is not None:
                raise ConfigError(f"--{name.replace('_', '-')} is for your own model (--model)")
        return {"arch": arch or default_arch}
    if arch is not None:
        raise ConfigError(f"--arch {arch} and --model name two models; give one")
    return {"model": ModelSource.create(model, init or "pretrained", input_range)}


def adapt(
    model,
    input_shape,
    num_classes,
    reg,
    dtype_policy=None,
    input_range=None,
    finetune=False,
    say=None,
):
    """`model` regularized by `reg` behind an input of uint8 pixels, `num_classes` outputs.

    Args:
        model: a Functional or Sequential `keras.Model` whose input is one image.
        input_shape: `(H, W, C)` of the data's images.
        num_classes: int.
        reg: `kregs.RegConfig`.
        dtype_policy: str or None.
        input_range: str or None (see `ModelSource`).
        finetune: bool, the layers that existed are pre-trained: `reg.l2sp` pulls
            them towards their weights (L2-SP) and new layers get L2.
        say: callable(str) or None, told what was adapted (a replaced classifier,
            the pixel scaling).

    Returns:
        An uncompiled `keras.Model`: uint8 `(H, W, C)` in, probabilities out.

    Raises:
        ConfigError: the model takes images of another shape.
    """
    import keras

    from kregs.graph import own_regularization
    from kregs.rewrite import check_rewritable, regularize

    say = say or logger.info
    check_rewritable(model)
    expected = tuple(model.inputs[0].shape[1:]) if model.inputs else None
    if (
        expected is not None
        and any(e is not None and e != g for e, g in zip(expected, input_shape, strict=False))
        or (expected is not None and len(expected) != len(input_shape))
    ):
        h, w, c = input_shape
        raise ConfigError(
            f"the model takes inputs of shape {expected}, the data's images are {h}x{w}x{c}: "
            "give --image-size and --color-mode to match it"
        )
    own = own_regularization(model)
    if own:
        say(
            f"the model has regularization of its own ({own}): kregs keeps it, adds no "
            "dropout or BN where it has one, and the control is the model as given"
        )
    uint8 = model.inputs[0].dtype == "uint8"
    input_range = input_range or ("0-255" if uint8 else "0-1")
    penalty = _penalty(reg, finetune)
    inner = regularize(
        model,
        dataclasses.replace(reg, augment="none"),
        penalty=penalty,
        num_classes=num_classes,
        dtype_policy=dtype_policy,
        say=say,
    )
    images = keras.Input(shape=tuple(input_shape), dtype="uint8", name="images")
    x = images
    if reg.uses_augmentation:
        from kregs.models import augmentation_layers

        for layer in augmentation_layers(reg.augment):
            x = layer(x)
    if not uint8:
        scale, offset = INPUT_RANGES[input_range]
        x = keras.layers.Rescaling(scale, offset, dtype=dtype_policy, name="rescale")(x)
    outputs = inner(x)
    if not uint8:
        say(f"the model's float inputs get the pixels scaled to {RANGE_TEXT[input_range]}")
    return keras.Model(images, outputs, name=model.name)


def _penalty(reg, finetune):
    """The kernel penalty of `regularize`: L2-SP on pre-trained layers, L2 on new ones."""
    from kregs.graph import KERNEL_WEIGHTS
    from kregs.regularizers import L2SP, L2Penalty

    def penalty(layer, argument, new):
        if finetune and reg.l2sp > 0 and not new:
            weight = getattr(layer, KERNEL_WEIGHTS[argument])
            return L2SP(reg.l2sp, keras_value(weight))
        lam = reg.l2_to_zero if (new or not finetune) else reg.l2
        return L2Penalty(lam) if lam > 0 else None

    return penalty


def keras_value(variable):
    import keras

    return keras.ops.convert_to_numpy(variable)


def _is_keras_model(obj):
    try:
        import keras
    except ImportError:
        return False
    return isinstance(obj, keras.Model)


def _qualified(fn):
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def _function(text):
    """The function `package.module:function` names (imported now)."""
    module_name, _, name = text.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"--model {text}: cannot import {module_name} ({err})") from None
    fn = module
    for part in name.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise ConfigError(f"--model {text}: {module_name} has no {name}")
    if not callable(fn):
        raise ConfigError(f"--model {text}: {name} is not a function")
    return fn


def _source_hash(fn):
    """A short hash of the source of the module that defines `fn` (the function and what it
    calls there): a resumed run, or a worker, refuses an edited build function as it refuses
    other data. None where the source cannot be read (a built-in)."""
    import hashlib

    try:
        path = inspect.getsourcefile(fn)
    except TypeError:
        path = None
    if path and os.path.isfile(path):
        return file_hash(path)
    try:
        return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]
    except (OSError, TypeError):
        return None
