"""The input pipeline: in-memory arrays to shuffled batches, for every Keras backend.

`pipeline` is what kregs trains with: `tf.data` under TensorFlow, and under JAX
and PyTorch `array_batches` (a numpy `keras.utils.PyDataset`, no TensorFlow).
"""

import functools

import numpy as np

from kregs.checks import check_positive_int
from kregs.errors import invalid_value


def pipeline(x, y, batch_size, training, seed=None):
    """Builds the input pipeline that feeds a model from in-memory arrays.

    Images kept as files (`kregs.data.ImageFiles`: a folder bigger than
    memory) are decoded as they are needed (`file_batches`). Under TensorFlow,
    a `tf.data` pipeline: the arrays stay in memory as two
    tensors; it shuffles indices (not images) when training, batches them and
    gathers each batch with one vectorised `tf.gather`, then prefetches. The
    data is already in memory, so `cache()` would only copy it; it is not used.
    Under JAX and PyTorch, `array_batches` (a `keras.utils.PyDataset` of numpy
    batches, TensorFlow not needed): the same batch size, order and seeding
    rules, from numpy's generator.

    Args:
        x: uint8 images `N x H x W x C`, or `kregs.data.ImageFiles`.
        y: int labels `N`.
        batch_size: int >= 1.
        training: bool, shuffle (reshuffled every epoch) when True.
        seed: int or None, the shuffle's seed.

    Returns:
        A `tf.data.Dataset` or a `keras.utils.PyDataset` of `(images, labels)` batches.

    Example:
    >>> model.fit(pipeline(x, y, 64, training=True, seed=0), epochs=5)
    """
    import keras

    from kregs.data.splits import ImageFiles

    check_positive_int(batch_size, "batch_size")
    if len(x) != len(y):
        raise invalid_value("y", f"<{len(y)} labels>", f"as many labels as images ({len(x)})")
    if isinstance(x, ImageFiles):
        return file_batches(x, y, batch_size, training, seed)
    if keras.config.backend() != "tensorflow":
        return array_batches(x, y, batch_size, training, seed)
    import tensorflow as tf

    images = tf.convert_to_tensor(x)
    labels = tf.convert_to_tensor(y)
    indices = tf.data.Dataset.range(len(x))
    if training:
        indices = indices.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).map(
        lambda i: (tf.gather(images, i), tf.gather(labels, i)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return batches.prefetch(tf.data.AUTOTUNE)


def file_batches(files, y, batch_size, training, seed=None):
    """Batches of images decoded from their files as training goes (`tf.data`).

    The file list is shuffled when training (a new order every epoch, from
    `seed`); each file is decoded by TensorFlow (`kregs.data.images.tf_decoder`:
    the same pixels as a data set loaded into memory) on parallel threads, and
    batches are prefetched, so the model rarely waits. Memory holds the paths and a few
    batches, never the data set.

    Args:
        files: `kregs.data.ImageFiles`.
        y: int labels `N`.
        batch_size: int >= 1.
        training: bool, shuffle (reshuffled every epoch) when True.
        seed: int or None, the shuffle's seed.

    Returns:
        A `tf.data.Dataset` of `(images, labels)` batches.
    """
    from kregs.data.images import decode_threads, tf_decoder
    from kregs.run.device import tensorflow_available

    if not tensorflow_available():
        from kregs.errors import DataError

        raise DataError(
            "streaming images from their files needs TensorFlow (tf.data), not installed "
            "here: raise --max-memory so they are loaded into memory, or install tensorflow"
        )
    import tensorflow as tf

    decode_file = tf_decoder(tuple(files.shape))

    def decode_one(path, label):
        return decode_file(path), label

    ds = tf.data.Dataset.from_tensor_slices((np.asarray(files.paths), y))
    if training:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(decode_one, num_parallel_calls=decode_threads(), deterministic=True)
    return ds.batch(batch_size).prefetch(2)


def array_batches(x, y, batch_size, training, seed=None):
    """Batches of in-memory arrays for any backend, as a `keras.utils.PyDataset`.

    When training, the order is a permutation drawn from
    `numpy.random.default_rng([seed, epoch])`, a new one every epoch (Keras
    calls `on_epoch_end`); else the arrays' order. The last batch holds the
    remainder. No TensorFlow: JAX and PyTorch training use it.

    Args:
        x: images `N x ...`.
        y: labels `N`.
        batch_size: int >= 1.
        training: bool, shuffle every epoch.
        seed: int or None.

    Returns:
        A `keras.utils.PyDataset` of `(images, labels)` numpy batches.

    Example:
    >>> images, labels = array_batches(x, y, 64, training=True, seed=0)[0]
    """
    check_positive_int(batch_size, "batch_size")
    return _array_batches_class()(x, y, batch_size, training, seed)


@functools.cache
def _array_batches_class():
    import keras

    class ArrayBatches(keras.utils.PyDataset):
        def __init__(self, x, y, batch_size, training, seed):
            super().__init__()
            self.x, self.y, self.batch_size = x, y, batch_size
            self.training, self.seed, self.epoch = training, seed, 0
            self._shuffle()

        def _shuffle(self):
            if not self.training:
                self.order = np.arange(len(self.y))
                return
            key = [self.epoch] if self.seed is None else [self.seed, self.epoch]
            self.order = np.random.default_rng(key).permutation(len(self.y))

        def __len__(self):
            return -(-len(self.y) // self.batch_size)

        def __getitem__(self, index):
            if not 0 <= index < len(self):
                raise IndexError(index)
            keep = self.order[index * self.batch_size : (index + 1) * self.batch_size]
            return self.x[keep], self.y[keep]

        def on_epoch_end(self):
            if self.training:
                self.epoch += 1
                self._shuffle()

    return ArrayBatches


def numpy_batches(batches):
    """The `(images, labels)` numpy batches of a pipeline (`tf.data` or a `PyDataset`),
    in order: what a model was validated on, batch by batch."""
    import numpy as np

    if hasattr(batches, "as_numpy_iterator"):
        yield from batches.as_numpy_iterator()
        return
    for i in range(len(batches)):
        x, y = batches[i]
        yield np.asarray(x), np.asarray(y)
