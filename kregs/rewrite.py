"""`regularize`: one `RegConfig` applied to any Functional or Sequential Keras model.

The model is rebuilt with Keras' own `clone_model` (`clone_function` gives each
weight layer its penalty, `call_function` inserts batch normalization and dropout
around the layers' calls), in two passes: the first reads the model's graph (which
layer feeds which, which layer is the classifier), the second builds the new model
and copies every existing layer's weights into it. The original is never touched.
"""

import collections

import keras

from kregs.config import RegConfig
from kregs.errors import ConfigError
from kregs.graph import (
    ACTIVATIONS,
    BLOCKS,
    DROPOUTS,
    NORMALIZATIONS,
    POOLING,
    SPATIAL_DROPOUT,
    check_residuals,
    drop_rates,
    kernel_arguments,
    read_graph,
)
from kregs.models import augmentation_layers

REFUSAL = (
    "give kregs a build function instead (one that accepts `reg` places the regularizers itself)"
)


def regularize(
    model,
    reg,
    *,
    exclude=(),
    penalty=None,
    num_classes=None,
    dtype_policy=None,
    say=None,
):
    """A new model: `model` with the regularization `reg`, its weights copied.

    - the L2 penalty (`kregs.L2Penalty(reg.l2)`; `penalty(layer, argument, new)` instead
      when given, e.g. L2-SP) on the kernel of every weight layer (Dense, EinsumDense,
      convolutions: a separable one's depthwise and pointwise kernels), never on
      biases, normalization layers or embeddings; a layer's own kernel regularizer is
      replaced (none when `reg.l2` is 0);
    - batch normalization where `reg.batch_norm` puts it, after every convolution and
      hidden dense layer not already followed by a normalization layer (its own BN is
      kept as it is):
      `before_activation` splits a fused activation into the weight layer (linear),
      BN and the activation; `after_activation` puts BN after the activation (the
      fused one, or the activation layer that follows);
    - dropout where `reg.dropout_placement` puts it (`blocks`: after each hidden
      weight layer's activation; `stages`: after each pooling layer and each hidden
      dense layer; `head`: on the final classifier's inputs), of `reg.dropout_kind`
      on feature maps (`spatial`: whole channels) and element-wise elsewhere, never
      after the classifier (the weight layer a model output comes from), and never
      where the model already drops (a dropout layer of its own is kept, its rate too);
    - `reg.augment`'s layers on the inputs, active in training only (not again where
      the model has kregs' augmentation layers already);
    - stochastic depth: each residual `Add` becomes a `kregs.layers.ResidualDrop`, its
      rate linear in depth (`kregs.graph.drop_rates`; each nested model on its own).

    Weight decay, EMA, label smoothing, MixUp/CutMix are training's (`kregs.run.train`).
    Every layer that existed keeps its weights; a layer shared by several calls
    stays one layer (and so do the layers inserted after it); nested models are
    regularized the same way; layers named in `exclude` are left as they are.
    `regularize(model, RegConfig())` predicts exactly as `model`, and regularizing a
    model twice with one `reg` gives the model regularizing it once gives.

    Args:
        model: a Functional or Sequential `keras.Model` (built).
        reg: `kregs.RegConfig` (or its `to_dict()`).
        exclude: iterable of layer names to leave alone.
        penalty: callable `(layer, argument, new) -> regularizer or None` (`new`: the
            layer's weights are not the model's: a replaced classifier), or None
            (`L2Penalty(reg.l2)` on every kernel).
        num_classes: int or None: a Dense classifier with another number of units is
            replaced by a new one (fresh weights, softmax); the model's output is made
            probabilities where it gave scores.
        dtype_policy: str or None, every layer's dtype policy (e.g. "mixed_bfloat16");
            the classifier and what follows it stay float32.
        say: callable(str) or None, told what was changed beyond `reg` (a replaced
            classifier, a softmax added).

    Returns:
        A new `keras.Model`.

    Raises:
        ConfigError: a subclassed model, a Sequential model without an input shape,
            a graph `clone_model` cannot rebuild or kregs cannot read, or no residual
            connection for stochastic depth.

    Example:
    >>> base = keras.applications.MobileNetV2((96, 96, 3), include_top=False, weights=None)
    >>> x = keras.Input((96, 96, 3))
    >>> features = keras.layers.GlobalAveragePooling2D()(base(x))
    >>> model = keras.Model(x, keras.layers.Dense(5, activation="softmax")(features))
    >>> tuned = kregs.regularize(model, kregs.RegConfig(l2=1e-4, dropout=0.2,
    ...                                                  dropout_placement="head"))
    """
    reg = RegConfig.coerce(reg)
    functional = _functional(model)
    options = dict(exclude=set(exclude), penalty=penalty, dtype_policy=dtype_policy)
    rebuilt = _rebuild(functional, reg, options, top=True, num_classes=num_classes, say=say)
    if reg.uses_augmentation and not _augmented(rebuilt, reg.augment):
        rebuilt = _with_augmentation(rebuilt, reg.augment)
    return rebuilt


def _rebuild(functional, reg, options, top, num_classes=None, say=None):
    """One pass of `regularize` over a Functional model (`top`: the outer one; a nested
    model is rebuilt with `top` False)."""
    try:
        if top:
            check_residuals(functional, reg.stochastic_depth)
        graph = read_graph(functional)
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise _cannot(functional, err) from None
    rewriter = _Rewriter(reg, graph, options, top, names=_layer_names(functional))
    rewriter.num_classes, rewriter.say = num_classes, say
    try:
        rebuilt = keras.models.clone_model(
            functional, clone_function=rewriter.clone, call_function=rewriter.call
        )
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError) as err:
        raise _cannot(functional, err) from None
    rewriter.copy_weights()
    return rebuilt


def _cannot(model, err):
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    return ConfigError(f"cannot rebuild model {model.name!r} ({reason}); {REFUSAL}")


def _layer_names(model):
    """The names of `model`'s layers: an inserted layer's name is none of them."""
    return {layer.name for layer in model.layers}


def _augmented(model, augment):
    """Whether `model`'s inputs already go through `augment`'s layers (kregs' own)."""
    wanted = [layer.name for layer in augmentation_layers(augment)]
    return [layer.name for layer in model.layers[1 : 1 + len(wanted)]] == wanted


def check_rewritable(model):
    """Refuses, in one line, a model `regularize` cannot rebuild (a subclassed model, a
    Sequential model without an input shape, not a model).

    Raises:
        ConfigError: naming the model and what to give instead.
    """
    _functional(model)


def _functional(model):
    """`model` as a Functional model over the same layers (a Sequential's own graph)."""
    if not isinstance(model, keras.Model):
        raise ConfigError(f"expected a keras.Model, received {type(model).__name__}; {REFUSAL}")
    if isinstance(model, keras.Sequential):
        try:
            inputs, outputs = model.inputs, model.outputs
        except (AttributeError, ValueError):
            inputs = None
        if not inputs:
            raise ConfigError(
                f"Sequential model {model.name!r} has no input shape yet: give it a "
                "keras.Input first (or call it on data once)"
            )
        return keras.Model(inputs, outputs, name=model.name)
    if not any(c.__name__ == "Functional" for c in type(model).__mro__):
        raise ConfigError(
            f"{type(model).__name__} is a subclassed model: its layers' connections are in "
            f"Python code kregs cannot rewrite; {REFUSAL}"
        )
    return model


def _with_augmentation(model, augment):
    """`model` behind kregs' augmentation layers (identity at inference)."""
    inputs = [keras.Input(batch_shape=t.shape, dtype=t.dtype) for t in model.inputs]
    augmented = []
    for tensor in inputs:
        x = tensor
        for layer in augmentation_layers(augment):
            x = layer(x)
        augmented.append(x)
    outputs = model(augmented if len(augmented) > 1 else augmented[0])
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs, name=model.name)


class _Rewriter:
    """`clone_function` and `call_function` of one `regularize` pass."""

    def __init__(self, reg, graph, options, top, names=()):
        self.reg, self.graph, self.options, self.top = reg, graph, options, top
        self.exclude, self.penalty = options["exclude"], options["penalty"]
        self.dtype = options["dtype_policy"]
        self.num_classes = self.say = None
        self.copies = []  # (original layer, new layer): weights to copy once built
        self.original = {}  # id(new layer) -> original layer
        self.inserted = {}  # (original layer, role) -> the layer inserted there (shared)
        self.names = set(names)  # taken: the model's own layers', and those inserted
        layers = set(graph.consumers) | {u for users in graph.consumers.values() for u in users}
        self.after = self.plan(layers | set(graph.classifiers))
        self.drop_rates = drop_rates(graph, reg.stochastic_depth)

    # --- clone_function -----------------------------------------------------------------

    def clone(self, layer):
        if isinstance(layer, keras.Model):
            new = _rebuild(_functional(layer), self._inner_reg(), self.options, top=False)
            self.original[id(new)] = layer
            return new
        if (
            self.reg.stochastic_depth > 0
            and layer in self.drop_rates
            and layer.name not in self.exclude
        ):
            return self._residual_drop(layer)
        config = layer.get_config()
        output_side = self.top and (
            layer in self.graph.classifiers or layer in self.graph.after_classifiers
        )
        if self.dtype is not None and not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = "float32" if output_side else self.dtype
        fresh = self.top and layer in self.graph.classifiers and self._replaces(layer)
        if fresh:
            config["units"] = self.num_classes
            config["activation"] = "softmax"
        elif self.top and layer in self.graph.classifiers and self._gives_scores(layer):
            config["activation"] = "softmax"
            self._say(
                f"the model's output {layer.name!r} gave scores: a softmax makes them probabilities"
            )
        if layer.name not in self.exclude:
            for argument in kernel_arguments(layer):
                config[argument] = self._penalty(layer, argument, fresh)
            if self._splits(layer):
                config["activation"] = "linear"
        new = layer.__class__.from_config(config)
        if not fresh:
            self.copies.append((layer, new))
        self.original[id(new)] = layer
        return new

    def _residual_drop(self, add):
        from kregs.layers import ResidualDrop

        dtype = self.dtype or add.dtype_policy
        branches = self.graph.residuals[add][0]
        branch = branches[0] if len(branches) == 1 else list(branches)
        new = ResidualDrop(self.drop_rates[add], branch=branch, dtype=dtype, name=add.name)
        self.original[id(new)] = add
        return new

    def _replaces(self, classifier):
        units = getattr(classifier, "units", None)
        if self.num_classes is None or units == self.num_classes:
            return False
        if not isinstance(classifier, keras.layers.Dense):
            raise ConfigError(
                f"the model's classifier {classifier.name!r} ({type(classifier).__name__}) has "
                f"another number of classes than the data ({self.num_classes}), and only a "
                f"Dense classifier can be replaced; {REFUSAL}"
            )
        self._say(
            f"the model's classifier {classifier.name!r} has {units} classes, the data "
            f"{self.num_classes}: a new one (fresh weights) replaces it"
        )
        return True

    def _gives_scores(self, classifier):
        """Whether the model outputs `classifier`'s values without a softmax."""
        if self.num_classes is None:  # (regularize alone: the model as it is)
            return False
        softmax = ("softmax",)
        if self._fused(classifier) in softmax:
            return False
        return not any(
            isinstance(a, keras.layers.Softmax)
            or (isinstance(a, keras.layers.Activation) and self._fused(a) in softmax)
            for a in self.graph.after_classifiers
        )

    def _say(self, text):
        if self.say is not None:
            self.say(text)

    def _inner_reg(self):
        """A nested model's regularization: no augmentation (the outer model's inputs have
        it), no head (its outputs feed the outer model)."""
        import dataclasses

        placement = self.reg.dropout_placement
        return dataclasses.replace(
            self.reg,
            augment="none",
            dropout=0.0 if placement == "head" else self.reg.dropout,
        )

    def _penalty(self, layer, argument, new=False):
        if self.penalty is not None:
            return self.penalty(layer, argument, new)
        from kregs.regularizers import L2Penalty

        return L2Penalty(self.reg.l2) if self.reg.uses_l2 else None

    def copy_weights(self):
        for old, new in self.copies:
            if old.weights:
                new.set_weights(old.get_weights())

    # --- what goes where ----------------------------------------------------------------

    def _hidden_block(self, layer):
        return (
            isinstance(layer, BLOCKS)
            and layer.name not in self.exclude
            and not (self.top and layer in self.graph.classifiers)
        )

    def _chain(self, layer):
        """The normalization and activation layers that follow `layer` one after the other
        (each the only user of the one before): `(normalization, activation, last)`."""
        norm = act = None
        last = layer
        for _ in range(2):
            users = self.graph.consumers.get(last, ())
            if len(users) != 1:
                break
            user = users[0]
            if norm is None and isinstance(user, NORMALIZATIONS):
                norm = user
            elif act is None and isinstance(user, ACTIVATIONS[:-1]):  # (not a Softmax)
                act = user
            else:
                break
            last = user
        return norm, act, last

    def _fused(self, layer):
        activation = getattr(layer, "activation", None)
        name = keras.activations.serialize(activation) if activation is not None else "linear"
        return None if name in ("linear", None) else name

    def _bn(self, layer):
        return (
            self.reg.uses_batch_norm
            and self._hidden_block(layer)
            and self._chain(layer)[0] is None
            and not isinstance(layer, keras.layers.EinsumDense)
        )

    def _splits(self, layer):
        return (
            self._bn(layer)
            and self.reg.batch_norm == "before_activation"
            and self._fused(layer) is not None
        )

    def _dropout_after(self, layer):
        """Whether dropout follows `layer`'s block (`layer` a block or pooling layer)."""
        if not self.reg.uses_dropout or layer.name in self.exclude:
            return False
        placement = self.reg.dropout_placement
        if placement == "blocks":
            return self._hidden_block(layer)
        if placement == "stages":
            return isinstance(layer, POOLING) or (
                isinstance(layer, keras.layers.Dense) and self._hidden_block(layer)
            )
        return False

    def plan(self, layers):
        """`{layer: [(owner, role), ...]}`: what is inserted after each layer's call."""
        after = collections.defaultdict(list)
        for layer in layers:
            if not isinstance(layer, BLOCKS + POOLING):
                continue
            norm, act, last = self._chain(layer)
            if self._bn(layer):
                fused = self._fused(layer) is not None
                before = self.reg.batch_norm == "before_activation"
                after[layer if (before or fused or act is None) else act].append((layer, "bn"))
                if self._splits(layer):
                    after[layer].append((layer, "activation"))
            if self._dropout_after(layer) and not self._drops(self._users(last)):
                after[last].append((layer, "dropout"))
        return after

    def _users(self, layer):
        return self.graph.consumers.get(layer, ())

    def _feeding(self, layer):
        """The layers whose outputs `layer` takes."""
        return [p for p, users in self.graph.consumers.items() if layer in users]

    @staticmethod
    def _drops(layers):
        """Whether `layers` are one layer that drops activations (the model's own dropout)."""
        return len(layers) == 1 and isinstance(layers[0], DROPOUTS)

    # --- call_function ------------------------------------------------------------------

    def call(self, layer, *args, **kwargs):
        orig = self.original.get(id(layer), layer)
        if (
            self.top
            and self.reg.uses_dropout
            and self.reg.dropout_placement == "head"
            and orig in self.graph.classifiers
            and args
            and not self._drops(self._feeding(orig))
        ):
            first = args[0]
            dropout = self._layer(orig, "head", lambda: self._dropout(first, orig, "head"))
            args = (dropout(first), *args[1:])
        out = layer(*args, **kwargs)
        for owner, role in self.after.get(orig, ()):
            out = self._layer(owner, role, lambda o=owner, r=role, t=out: self._make(o, r, t))(out)
        return out

    def _make(self, owner, role, tensor):
        if role == "bn":
            axis = 1 if getattr(owner, "data_format", "channels_last") == "channels_first" else -1
            from kregs.layers import BN_MOMENTUM

            return keras.layers.BatchNormalization(
                axis=axis,
                momentum=BN_MOMENTUM,
                dtype=self.dtype or owner.dtype_policy,
                name=self._name(owner, "bn"),
            )
        if role == "activation":
            return keras.layers.Activation(
                self._fused(owner),
                dtype=self.dtype or owner.dtype_policy,
                name=self._name(owner, "act"),
            )
        return self._dropout(tensor, owner)

    def _layer(self, owner, role, make):
        """The layer inserted at `(owner, role)`: made once, shared by every call of `owner`."""
        if (owner, role) not in self.inserted:
            self.inserted[(owner, role)] = make()
        return self.inserted[(owner, role)]

    def _dropout(self, tensor, layer, role="dropout"):
        rank = len(tensor.shape)
        spatial = self.reg.dropout_kind == "spatial" and rank in SPATIAL_DROPOUT
        cls = SPATIAL_DROPOUT[rank] if spatial else keras.layers.Dropout
        dtype = self.dtype or layer.dtype_policy
        return cls(self.reg.dropout, dtype=dtype, name=self._name(layer, role))

    def _name(self, layer, role):
        name, n = f"{layer.name}_{role}", 1
        while name in self.names:
            n += 1
            name = f"{layer.name}_{role}{n}"
        self.names.add(name)
        return name
