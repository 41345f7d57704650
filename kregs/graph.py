"""What `kregs.regularize` needs to know of a model's graph: which layers are what, and
which layer feeds which (read from a dry rebuild with fresh layers: the model is untouched).

A residual connection is an `Add` one of whose inputs is the shortcut: a tensor every
other input was computed from (the block's input itself), or one made of such a tensor by
at most `PROJECTION` single-input layers (a projection: a 1x1 convolution and its BN).
Its other inputs are the residual branches. An `Add` of tensors that do not descend from
one another (two towers, two inputs) is not a residual connection.
"""

import collections

import keras

from kregs.errors import ConfigError
from kregs.layers import ResidualDrop

# Weight layers and the regularizer arguments of their kernels (biases never get one).
KERNELS = (
    (
        (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D),
        ("depthwise_regularizer", "pointwise_regularizer"),
    ),
    ((keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D), ("depthwise_regularizer",)),
    (
        (
            keras.layers.Conv1D,
            keras.layers.Conv2D,
            keras.layers.Conv3D,
            keras.layers.Conv1DTranspose,
            keras.layers.Conv2DTranspose,
            keras.layers.Conv3DTranspose,
            keras.layers.Dense,
            keras.layers.EinsumDense,
        ),
        ("kernel_regularizer",),
    ),
)
# The weight each regularizer argument is the penalty of.
KERNEL_WEIGHTS = {
    "kernel_regularizer": "kernel",
    "depthwise_regularizer": "depthwise_kernel",
    "pointwise_regularizer": "pointwise_kernel",
}
# The layers after which BN and dropout go: convolutions and dense layers.
BLOCKS = tuple(cls for classes, _ in KERNELS[:2] for cls in classes) + (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.Dense,
)
NORMALIZATIONS = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.UnitNormalization,
)
ACTIVATIONS = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
    keras.layers.Softmax,
)
POOLING = (
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
)
# Layers that drop activations: one follows a layer already, kregs adds none there.
DROPOUTS = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)
# A projection shortcut is at most this many single-input layers from the block's input.
PROJECTION = 2
SPATIAL_DROPOUT = {
    3: keras.layers.SpatialDropout1D,
    4: keras.layers.SpatialDropout2D,
    5: keras.layers.SpatialDropout3D,
}


def kernel_arguments(layer):
    """The regularizer arguments of `layer`'s kernels (empty: not a weight layer)."""
    for classes, names in KERNELS:
        if isinstance(layer, classes):
            return names
    return ()


Graph = collections.namedtuple("Graph", "consumers classifiers after_classifiers residuals")


def read_graph(functional):
    """Which layer feeds which, the classifiers and the residual `Add`s, from a dry rebuild
    with fresh layers.

    Returns:
        `Graph`: `consumers` (layer -> the layers its outputs feed), `classifiers` (the
        weight layers the outputs come from), `after_classifiers` (activations between),
        `residuals` (residual `Add` -> `(branch indices, depth)`).
    """
    original = {}
    producer, consumers = {}, collections.defaultdict(list)
    depth, parents = {}, {}  # id(tensor) -> layers from the inputs; -> ids of its inputs
    adds = []  # (Add, [ids of its input tensors])

    def clone(layer):
        new = layer.__class__.from_config(layer.get_config())
        original[id(new)] = layer
        return new

    def call(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        mine = original.get(id(layer), layer)
        given = tensors((args, kwargs))
        for tensor in given:
            if id(tensor) in producer:
                consumers[producer[id(tensor)]].append(mine)
        inputs = [depth.get(id(t), 0) for t in given]
        for tensor in tensors(outputs):
            producer[id(tensor)] = mine
            depth[id(tensor)] = 1 + max(inputs, default=0)
            parents[id(tensor)] = [id(t) for t in given]
        if _is_add(mine) and len(given) >= 2:
            adds.append((mine, [id(t) for t in given]))
        return outputs

    dry = keras.models.clone_model(functional, clone_function=clone, call_function=call)
    residuals = {}
    for add, inputs in adds:
        branches = _branches(inputs, parents)
        if branches and add not in residuals:
            residuals[add] = (branches, max(depth.get(t, 0) for t in inputs))
    classifiers, after = set(), set()
    for tensor in tensors(dry.outputs):
        layer = producer.get(id(tensor))
        seen = []
        # a model output that an activation (softmax) makes of a weight layer's output
        while layer is not None and isinstance(layer, ACTIVATIONS):
            seen.append(layer)
            feeding = [p for p, users in consumers.items() if layer in users]
            layer = feeding[0] if len(feeding) == 1 else None
        if layer is not None and kernel_arguments(layer):
            classifiers.add(layer)
            after.update(seen)
    return Graph({k: tuple(v) for k, v in consumers.items()}, classifiers, after, residuals)


def _is_add(layer):
    return isinstance(layer, keras.layers.Add)


def _branches(inputs, parents):
    """The residual branches (indices into `inputs`, tensor ids) of an `Add`, or () where
    none of its inputs is a shortcut of the others (see the module's docstring)."""

    def ancestors(tensor):
        found, stack = set(), [tensor]
        while stack:
            for parent in parents.get(stack.pop(), ()):
                if parent not in found:
                    found.add(parent)
                    stack.append(parent)
        return found

    lines = [ancestors(t) for t in inputs]
    for i, shortcut in enumerate(inputs):
        others = [k for k in range(len(inputs)) if k != i]
        source, hops = shortcut, 0
        while hops <= PROJECTION:
            if all(source in lines[k] for k in others):
                return tuple(others)
            feeding = parents.get(source, ())
            if len(feeding) != 1:
                break
            source, hops = feeding[0], hops + 1
    return ()


def residual_count(model):
    """How many residual connections `model` has, nested models included: its residual
    `Add`s (see `read_graph`) and the `kregs.ResidualDrop`s in place of earlier ones."""
    functional = model
    if isinstance(model, keras.Sequential):
        functional = keras.Model(model.inputs, model.outputs)
    graph = read_graph(functional)
    nested = [layer for layer in functional.layers if isinstance(layer, keras.Model)]
    dropped = sum(isinstance(layer, ResidualDrop) for layer in functional.layers)
    return len(graph.residuals) + dropped + sum(residual_count(m) for m in nested)


def own_regularization(model):
    """What regularizes `model` already, nested models included, as text: e.g. "2 dropout
    layers, 3 normalization layers, penalties on 4 kernels" ("" for none).

    Example:
    >>> own_regularization(keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5)]))
    '1 dropout layer'
    """
    counts = {"dropout layer": 0, "normalization layer": 0, "kernel penalty": 0}
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.Model):
            stack.extend(layer.layers)
        elif isinstance(layer, DROPOUTS):
            counts["dropout layer"] += 1
        elif isinstance(layer, NORMALIZATIONS):
            counts["normalization layer"] += 1
        else:
            args = kernel_arguments(layer)
            counts["kernel penalty"] += sum(getattr(layer, a, None) is not None for a in args)
    return ", ".join(f"{n} {what}{'s' if n != 1 else ''}" for what, n in counts.items() if n)


def tensors(structure):
    return [t for t in keras.tree.flatten(structure) if isinstance(t, keras.KerasTensor)]


def check_residuals(functional, rate):
    """Refuses stochastic depth (`rate` > 0) for a model without residual connections.

    Raises:
        ConfigError: naming the model and what is missing.
    """
    if rate > 0 and not residual_count(functional):
        raise ConfigError(
            f"stochastic_depth {rate:g}: model {functional.name!r} has no residual connection "
            "(an Add of a block's input and its output) whose branch it could drop"
        )


def drop_rates(graph, rate):
    """`{Add: drop rate}` of stochastic depth `rate` over `graph`'s residual Adds: linear in
    depth (Huang et al.), `rate * l / L` for the l-th of L, counted from the inputs."""
    if rate == 0:
        return {}
    ordered = sorted(graph.residuals, key=lambda add: graph.residuals[add][1])
    return {add: round(rate * (i + 1) / len(ordered), 6) for i, add in enumerate(ordered)}
