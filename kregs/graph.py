"""What `kregs.regularize` needs to know of a model's graph: which layers are what, and
which layer feeds which (read from a dry rebuild with fresh layers: the model is untouched).

A residual connection is an `Add` of two tensors at different depths (the number of
layers on the longest path from the model's inputs): the deeper one is the residual
branch, the other the shortcut (the block's input, or its projection).
"""

import collections

import keras

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
    """Which layer feeds which, and the classifiers, from a dry rebuild with fresh layers."""
    original = {}
    producer, consumers = {}, collections.defaultdict(list)
    depth, residuals = {}, {}  # id(tensor) -> layers from the inputs; Add -> (branch, depth)

    def clone(layer):
        new = layer.__class__.from_config(layer.get_config())
        original[id(new)] = layer
        return new

    def call(layer, *args, **kwargs):
        outputs = layer(*args, **kwargs)
        mine = original.get(id(layer), layer)
        for tensor in tensors((args, kwargs)):
            if id(tensor) in producer:
                consumers[producer[id(tensor)]].append(mine)
        inputs = [depth.get(id(t), 0) for t in tensors((args, kwargs))]
        for tensor in tensors(outputs):
            producer[id(tensor)] = mine
            depth[id(tensor)] = 1 + max(inputs, default=0)
        if isinstance(mine, keras.layers.Add) and len(inputs) == 2 and inputs[0] != inputs[1]:
            residuals.setdefault(mine, (int(inputs[1] > inputs[0]), max(inputs)))
        return outputs

    dry = keras.models.clone_model(functional, clone_function=clone, call_function=call)
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


def residual_count(model):
    """How many residual `Add`s `model` has, nested models included (see `read_graph`)."""
    functional = model
    if isinstance(model, keras.Sequential):
        functional = keras.Model(model.inputs, model.outputs)
    graph = read_graph(functional)
    nested = [layer for layer in functional.layers if isinstance(layer, keras.Model)]
    return len(graph.residuals) + sum(residual_count(m) for m in nested)


def tensors(structure):
    return [t for t in keras.tree.flatten(structure) if isinstance(t, keras.KerasTensor)]


def check_residuals(functional, rate):
    """Refuses stochastic depth (`rate` > 0) for a model without residual connections.

    Raises:
        ConfigError: naming the model and what is missing.
    """
    if rate > 0 and not residual_count(functional):
        from kregs.errors import ConfigError

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
