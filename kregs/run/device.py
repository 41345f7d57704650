"""The device, threads and precision set-up of a process that trains kregs models."""

import contextlib
import dataclasses
import logging

from kregs.checks import check_positive_int

logger = logging.getLogger(__name__)

MIXED_FLOAT16 = "mixed_float16"


@dataclasses.dataclass(frozen=True)
class DeviceOptions:
    """How a process should use its hardware; None means "kregs chooses".

    Attributes:
        mixed_precision: bool or None, float16 compute with float32 weights
            (on by default where a GPU is present).
        jit_compile: bool or None, XLA compilation of the train step (on by
            default where a GPU is present).
        threads: int >= 1 or None, TensorFlow's intra- and inter-op threads
            (None: TensorFlow's own choice).
    """

    mixed_precision: bool | None = None
    jit_compile: bool | None = None
    threads: int | None = None

    def __post_init__(self):
        if self.threads is not None:
            check_positive_int(self.threads, "threads")


@dataclasses.dataclass(frozen=True)
class Device:
    """What `configure` set up.

    Attributes:
        gpus: int, GPUs TensorFlow sees.
        dtype_policy: str or None, the layers' dtype policy (`"mixed_float16"`),
            None for Keras' default (float32).
        jit_compile: bool, whether train steps are XLA-compiled.
    """

    gpus: int
    dtype_policy: str | None
    jit_compile: bool

    @property
    def mixed_precision(self):
        return self.dtype_policy == MIXED_FLOAT16


def configure(options=None):
    """Sets TensorFlow's threads and GPU memory growth; decides precision and XLA.

    Call it once per process, before any model is built (TensorFlow fixes its
    thread pools at its first operation; later calls leave them and log a
    warning).

    Args:
        options: `DeviceOptions` or None (all defaults).

    Returns:
        A `Device`.

    Example:
    >>> device = configure(DeviceOptions(threads=2))
    >>> build_model(..., dtype_policy=device.dtype_policy)
    """
    import tensorflow as tf

    options = options or DeviceOptions()
    if options.threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(options.threads)
            tf.config.threading.set_inter_op_parallelism_threads(options.threads)
        except RuntimeError:  # TensorFlow already running in this process
            logger.warning(
                "threads=%d not applied: TensorFlow is already initialised", options.threads
            )
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised by an earlier call
            pass
    mixed = bool(gpus) if options.mixed_precision is None else options.mixed_precision
    jit = bool(gpus) if options.jit_compile is None else options.jit_compile
    return Device(len(gpus), MIXED_FLOAT16 if mixed else None, bool(jit))


@contextlib.contextmanager
def op_determinism(enabled=True):
    """Inside the block, TensorFlow's op determinism is `enabled`; restored on exit.

    On, the same seed gives the same numbers on the same machine (and Keras
    compiles without XLA).
    """
    import tensorflow as tf

    from kregs import compat

    before = compat.op_determinism_enabled()
    if enabled and not before:
        tf.config.experimental.enable_op_determinism()
    elif before and not enabled:
        compat.disable_op_determinism()
    try:
        yield
    finally:
        if before and not enabled:
            tf.config.experimental.enable_op_determinism()
        elif enabled and not before:
            compat.disable_op_determinism()
