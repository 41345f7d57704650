"""MixUp and CutMix (`RegConfig.mix`): training batches mixed in the input pipeline.

Each training batch of uint8 images and integer labels becomes a batch of mixed
images and *soft* labels: every image is mixed with another image of the same
batch (a random permutation) in a proportion drawn from Beta(alpha, alpha),
and its one-hot label with that image's in the same proportion. MixUp (Zhang
et al. 2018) blends the whole images; CutMix (Yun et al. 2019) pastes a
rectangle of the other image, the labels in proportion to its area. The work
is done by Keras' own layers (`keras.layers.MixUp`, `keras.layers.CutMix`),
inside `tf.data` under TensorFlow and on numpy batches under the other backends.
Mixed images are rounded back to uint8 (at most half a grey level off), so the
model's input stays raw pixels.

Validation, test and served images are never mixed: the model is trained with
`kregs.losses.CrossEntropy` and `kregs.losses.Accuracy`, which take integer and
soft labels alike.
"""

import functools

import numpy as np

from kregs.checks import MIXES, check_choice
from kregs.errors import invalid_value


def mix_layer(mix, alpha, seed=None):
    """Keras' layer for `mix` ("mixup" or "cutmix") with Beta(alpha, alpha) proportions.

    Returns:
        `keras.layers.MixUp(alpha)` or `keras.layers.CutMix(factor=(alpha, alpha))`.
    """
    import keras

    if mix == "mixup":
        return keras.layers.MixUp(alpha=alpha, seed=seed)
    if mix == "cutmix":
        return keras.layers.CutMix(factor=(alpha, alpha), seed=seed)
    raise invalid_value("mix", mix, "mixup or cutmix")


def mixed_batches(batches, mix, alpha, num_classes, seed=None):
    """Training batches mixed by `mix`, with soft labels.

    Args:
        batches: a `tf.data.Dataset` or a `keras.utils.PyDataset` of
            `(uint8 images, integer labels)` batches (`kregs.data.pipeline`).
        mix: str, one of `kregs.checks.MIXES` ("none" returns `batches`).
        alpha: float in (0, 1], the Beta parameter.
        num_classes: int, the labels' classes (the soft labels' length).
        seed: int or None.

    Returns:
        Batches of `(uint8 images, float32 labels [batch, num_classes])`, of
        the same kind as `batches`.

    Example:
    >>> train = mixed_batches(pipeline(x, y, 64, training=True), "cutmix", 1.0, 10)
    """
    check_choice(mix, MIXES, "mix")
    if mix == "none":
        return batches
    layer = mix_layer(mix, alpha, seed)
    if hasattr(batches, "map"):  # tf.data
        import tensorflow as tf

        def apply(images, labels):
            soft = tf.one_hot(tf.cast(labels, "int32"), num_classes)
            out = layer({"images": tf.cast(images, "float32"), "labels": soft}, training=True)
            return _to_uint8(tf, out["images"], images.dtype), out["labels"]

        return batches.map(apply, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _mixed_class()(batches, layer, num_classes)


def _to_uint8(ops, images, dtype):
    if dtype != "uint8":
        return images
    return ops.cast(ops.clip_by_value(ops.round(images), 0, 255), "uint8")


@functools.cache
def _mixed_class():
    import keras

    class MixedBatches(keras.utils.PyDataset):
        """A `PyDataset` of another's batches, mixed (backends without tf.data)."""

        def __init__(self, batches, layer, num_classes):
            super().__init__()
            self.batches, self.layer, self.num_classes = batches, layer, num_classes

        def __len__(self):
            return len(self.batches)

        def __getitem__(self, index):
            images, labels = self.batches[index]
            soft = np.eye(self.num_classes, dtype="float32")[np.asarray(labels, "int64")]
            out = self.layer(
                {"images": np.asarray(images, "float32"), "labels": soft}, training=True
            )
            mixed = keras.ops.convert_to_numpy(out["images"])
            if images.dtype == np.uint8:
                mixed = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
            return mixed, keras.ops.convert_to_numpy(out["labels"])

        def on_epoch_end(self):
            self.batches.on_epoch_end()

    return MixedBatches


__all__ = ["mix_layer", "mixed_batches"]
