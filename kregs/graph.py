"""What `kregs.regularize` needs to know of a model's graph: which layers are what, and
which layer feeds which (read from a dry rebuild with fresh layers: the model is untouched)."""

import collections

import keras

# Weight layers and the regularizer arguments of their kernels (biases never get one).
KERNELS = (
    ((keras.layers.SeparableConv1D, keras.layers.SeparableConv2D),
     ("depthwise_regularizer", "pointwise_regularizer")),
    ((keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D), ("depthwise_regularizer",)),
    ((keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
      keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
      keras.layers.Conv3DTranspose, keras.layers.Dense, keras.layers.EinsumDense),
     ("kernel_regularizer",)),
)  # fmt: skip
# The weight each regularizer argument is the penalty of.
KERNEL_WEIGHTS = {
    "kernel_regularizer": "kernel",
    "depthwise_regularizer": "depthwise_kernel",
    "pointwise_regularizer": "pointwise_kernel",
}
# The layers after which BN and dropout go: convolutions and dense layers.
BLOCKS = tuple(cls for classes, _ in KERNELS[:2] for cls in classes) + (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
    keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose, keras.layers.Dense,
)  # fmt: skip
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
    keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D,
    keras.layers.AveragePooling1D, keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D, keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D, keras.layers.GlobalMaxPooling3D,
    keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
)  # fmt: skip
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


Graph = collections.namedtuple("Graph", "consumers classifiers after_classifiers")


def read_graph(functional):
    """Which layer feeds which, and the classifiers, from a dry rebuild with fresh layers."""
    original = {}
    producer, consumers = {}, collections.defaultdict(list)

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
        for tensor in tensors(outputs):
            producer[id(tensor)] = mine
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
    return Graph({k: tuple(v) for k, v in consumers.items()}, classifiers, after)


def tensors(structure):
    return [t for t in keras.tree.flatten(structure) if isinstance(t, keras.KerasTensor)]
