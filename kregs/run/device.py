"""The device, threads and precision set-up of a process that trains kregs models.

Every Keras 3 backend: TensorFlow (the default), JAX and PyTorch, chosen as
Keras chooses (`KERAS_BACKEND`, or `~/.keras/keras.json`). Only the backend in
use is imported: a JAX or PyTorch process never imports TensorFlow.

Precision `auto` takes the fastest the hardware has: float16 mixed precision on
a GPU; bfloat16 mixed precision on a CPU with bfloat16 units (AVX512_BF16 or
AMX, read from the CPU's flags) under TensorFlow; float32 elsewhere. Under mixed precision the
layers compute in the low precision and keep float32 weights; batch
normalization's statistics, the softmax and the loss stay float32 (kregs'
model keeps its classifier in float32, and Keras' BatchNormalization computes
in float32 under a mixed policy). float16 also scales the loss.

TensorFlow's oneDNN kernels: on Linux, TensorFlow turns them on by itself only on
x86 CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX units; on the others (AVX2 only:
many laptops and cloud hosts) it trains with its Eigen kernels, with which kregs'
CNN trains slower (`bench/onednn.py` measures by how much).
`prefer_onednn` turns them on for a process that has not imported TensorFlow yet
(kregs' command line, its benchmarks and tests) unless `TF_ENABLE_ONEDNN_OPTS` says
otherwise.
"""

import contextlib
import dataclasses
import logging
import os
import platform
import sys

from kregs.checks import check_positive_int
from kregs.errors import invalid_value

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
POLICIES = {"float32": None, "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# CPU flags (Linux /proc/cpuinfo) of units that compute in bfloat16.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# TensorFlow's switch for its oneDNN kernels, read once, when TensorFlow is imported.
ONEDNN_VAR = "TF_ENABLE_ONEDNN_OPTS"
# `platform.machine()` of the CPUs whose TensorFlow builds carry oneDNN's x86 kernels.
X86_MACHINES = ("x86_64", "amd64")


@dataclasses.dataclass(frozen=True)
class DeviceOptions:
    """How a process should use its hardware; None and "auto" mean "kregs chooses".

    Attributes:
        precision: str, one of `PRECISIONS`. Default "auto" (see the module's docstring).
        jit_compile: bool or None, XLA compilation of the train step (on by
            default where a GPU is present; on a CPU it did not pay).
        threads: int >= 1 or None, the cores TensorFlow uses (None: every core
            this process may run on).
    """

    precision: str = "auto"
    jit_compile: bool | None = None
    threads: int | None = None

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise invalid_value("precision", self.precision, f"one of {', '.join(PRECISIONS)}")
        if self.threads is not None:
            check_positive_int(self.threads, "threads")


BACKENDS = ("tensorflow", "jax", "torch")


def backend():
    """The Keras backend this process trains with: "tensorflow", "jax" or "torch".

    Imports Keras (not the backend itself beyond what Keras imports).
    """
    import keras

    return keras.config.backend()


def tensorflow_available():
    """Whether TensorFlow can be imported here (without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


@dataclasses.dataclass(frozen=True)
class Device:
    """What `configure` set up.

    Attributes:
        gpus: int, GPUs the backend sees.
        precision: str, "float32", "bfloat16" or "float16" (what "auto" chose).
        jit_compile: bool, whether train steps are XLA-compiled.
        threads: int, the cores the backend's thread pools use.
        backend: str, the Keras backend, one of `BACKENDS`.
        onednn: bool or None, whether TensorFlow runs its oneDNN kernels (None: another
            backend).
    """

    gpus: int
    precision: str
    jit_compile: bool
    threads: int
    backend: str = "tensorflow"
    onednn: bool | None = None

    @property
    def dtype_policy(self):
        """The layers' Keras dtype policy: None (float32), "mixed_bfloat16" or "mixed_float16"."""
        return POLICIES[self.precision]

    @property
    def loss_scale(self):
        """Whether the loss is scaled (float16 only: its range is narrow)."""
        return self.precision == "float16"


def cpu_flags():
    """The flags of this machine's CPU (Linux), as a set; empty where they cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def auto_precision(gpus, flags, backend="tensorflow"):
    """The precision "auto" means.

    float16 on a GPU; on a CPU with bfloat16 units (`BF16_FLAGS`), bfloat16 under
    TensorFlow, whose oneDNN kernels use them (kregs' CNN trains 2-3x faster),
    but float32 under JAX and PyTorch, whose CPU kernels gain nothing from
    bfloat16 here (`bench/backends.py`, `bench/precision.py` under
    `KERAS_BACKEND=jax`: about half float32's speed); else float32.
    """
    if gpus:
        return "float16"
    if backend == "tensorflow" and any(flag in flags for flag in BF16_FLAGS):
        return "bfloat16"
    return "float32"


def x86_cpu(machine=None):
    """Whether `machine` (None: `platform.machine()`) is an x86 CPU (`X86_MACHINES`)."""
    return (platform.machine() if machine is None else machine).lower() in X86_MACHINES


def prefer_onednn(environ=None, machine=None, modules=None):
    """Turns TensorFlow's oneDNN kernels on for this process and the processes it starts.

    Sets `TF_ENABLE_ONEDNN_OPTS=1` on an x86 CPU, where TensorFlow on Linux leaves the
    kernels off unless the CPU has AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX units
    (where it has, or on Windows, they are on already and it changes nothing). It leaves
    the variable alone where it is set (the user's choice, `=0` included) and does
    nothing once TensorFlow is imported (TensorFlow read the variable then). Call it
    before anything imports TensorFlow.

    Args:
        environ: dict or None, the environment to set (None: `os.environ`).
        machine: str or None, the CPU architecture (None: `platform.machine()`).
        modules: dict or None, the imported modules (None: `sys.modules`).

    Returns:
        bool, whether it set the variable.

    Example:
    >>> prefer_onednn({}, machine="x86_64", modules={})
    True
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if ONEDNN_VAR in environ or "tensorflow" in modules or not x86_cpu(machine):
        return False
    environ[ONEDNN_VAR] = "1"
    return True


def available_cores():
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def configure(options=None):
    """Sets the backend's threads (and TensorFlow's GPU memory growth); decides precision and XLA.

    TensorFlow's own default let a training process keep only one of two cores
    busy (in float32, kregs' CNN); kregs sizes both thread pools to the cores
    the process is given (`bench/threads.py` measures it). PyTorch gets the
    same number (`torch.set_num_threads`); JAX sizes XLA's pool from the cores
    it may run on by itself. Call it once per process, before any model is
    built: TensorFlow fixes its thread pools at its first operation (a later
    call leaves them and logs a warning).

    XLA: JAX always compiles with it (that is how it runs); TensorFlow by
    default only on a GPU; PyTorch never by default (`torch.compile` costs more
    than it gives on kregs' small models). `options.jit_compile` overrides.

    Args:
        options: `DeviceOptions` or None (all defaults).

    Returns:
        A `Device`.

    Example:
    >>> device = configure(DeviceOptions(precision="auto"))
    >>> build_model(..., dtype_policy=device.dtype_policy)
    """
    options = options or DeviceOptions()
    threads = options.threads or available_cores()
    name = backend()
    gpus = _SET_UP[name](threads)
    precision = options.precision
    if precision == "auto":
        precision = auto_precision(gpus, cpu_flags(), name)
    default_jit = {"tensorflow": bool(gpus), "jax": True, "torch": False}[name]
    jit = default_jit if options.jit_compile is None else options.jit_compile
    onednn = None
    if name == "tensorflow":
        from kregs.compat.tensorflow import onednn_enabled

        onednn = onednn_enabled()
        if not onednn and not gpus and x86_cpu() and ONEDNN_VAR not in os.environ:
            logger.info(
                "TensorFlow's oneDNN kernels are off on this CPU; %s=1 set before TensorFlow "
                "is imported turns them on (kregs' command line does)",
                ONEDNN_VAR,
            )
    return Device(gpus, precision, bool(jit), threads, name, onednn)


def _tensorflow(threads):
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already running in this process
        logger.warning("threads=%d not applied: TensorFlow is already initialised", threads)
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised by an earlier call
            pass
    return len(gpus)


def _jax(threads):
    import jax

    return len(jax.devices()) if jax.default_backend() == "gpu" else 0


def _torch(threads):
    import torch

    torch.set_num_threads(threads)
    return torch.cuda.device_count()


_SET_UP = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}


@contextlib.contextmanager
def op_determinism(enabled=True):
    """Inside the block, TensorFlow's op determinism is `enabled`; restored on exit.

    On, the same seed gives the same numbers on the same machine (and Keras
    compiles without XLA). Under JAX (deterministic on a CPU as it is) and
    PyTorch the block changes nothing.
    """
    if backend() != "tensorflow":
        yield
        return
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


def make_strategy(strategy):
    """`strategy` itself, or TensorFlow's `MirroredStrategy` for "mirrored" (TensorFlow only).

    Raises:
        ConfigError: "mirrored" under another backend.
    """
    if strategy != "mirrored":
        return strategy
    if backend() != "tensorflow":
        from kregs.errors import ConfigError

        raise ConfigError(
            f"--strategy mirrored is TensorFlow's (tf.distribute): this process trains with "
            f"{backend()}; set KERAS_BACKEND=tensorflow"
        )
    import tensorflow as tf

    return tf.distribute.MirroredStrategy()
