"""Helpers shared by the tests (importable thanks to `pythonpath = ["tests"]`)."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, cwd, timeout=300, env=None, python=None):
    """Runs `code` in a fresh interpreter started in `cwd`; returns the CompletedProcess."""
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env or {}))
    return subprocess.run(
        [python or sys.executable, "-c", code],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_idx(path, array, magic=None):
    """Writes `array` (uint8) as a gzip-compressed IDX file, as the official files are."""
    import gzip

    import numpy as np

    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def write_idx_dataset(folder, n_train=60, n_test=20, shape=(28, 28), seed=0):
    """Writes the four IDX files of a tiny MNIST-like set; returns its arrays."""
    import numpy as np

    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        write_idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"), x)
        write_idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"), y)
        arrays[split] = (x, y)
    return arrays


def write_cifar_dir(folder, per_batch=20, n_test=20, seed=0):
    """Writes a tiny `cifar-10-batches-py/` in the official pickle format; returns its arrays."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    arrays = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else per_batch
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in np.arange(n) % 10]
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"{i}.png".encode() for i in range(n)],
        }
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(batch, f, protocol=2)
        arrays[name] = (data, np.array(labels))
    return arrays


def read_csv(path):
    """The rows of a CSV file as dicts of text."""
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def wait_until(condition, timeout, message="the condition never held", interval=0.05):
    """Polls `condition()` until it returns something true; returns that (fails at timeout)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (within {timeout} s)")
        time.sleep(interval)


def venv_script(name):
    """The path of a console script installed beside this interpreter (e.g. `kregs`)."""
    return os.path.join(os.path.dirname(sys.executable), name)


def as_from_a_terminal():
    """`preexec_fn` for a child that gets Ctrl-C as a command started from a terminal does.

    A child inherits an ignored SIGINT (and Python then installs no handler for
    it): during a full run of the suite, the pytest-xdist worker that starts the
    Ctrl-C tests' commands was found with SIGINT ignored. A terminal gives a
    foreground command the default disposition; so do these tests.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_kregs(args, **kwargs):
    """`python -m kregs ARGS` as a child process started from a terminal, its output piped."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "kregs", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=as_from_a_terminal,
        **kwargs,
    )


def gradient(fn, x):
    """The gradient of the scalar `fn(x)` at `x` (a numpy array), with the Keras backend in use.

    TensorFlow's `GradientTape`, `jax.grad` or PyTorch's autograd: the same test
    checks a gradient under every backend.
    """
    import keras
    import numpy as np

    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        v = tf.Variable(x)
        with tf.GradientTape() as tape:
            y = fn(v)
        return tape.gradient(y, v).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(jax.numpy.asarray(x)))
    import torch

    t = torch.tensor(x, requires_grad=True)
    fn(t).backward()
    return t.grad.numpy()


def md_table(md, heading):
    """The first markdown table after `heading`, as lists of cell texts (header included)."""
    lines = md[md.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([c.strip() for c in line.strip().strip("|").split("|")])
    return table


def _pixels(label, size, channels, rng):
    """A class's image: its label's brightness, plus noise (a model learns it in an epoch)."""
    import numpy as np

    height, width = size
    base = 40 + 60 * label
    noise = rng.integers(0, 30, (height, width, channels))
    return (base + noise).clip(0, 255).astype(np.uint8)


def make_folder(
    root,
    classes=("cats", "dogs", "owls"),
    per_class=30,
    size=(12, 10),
    mode="L",
    split=False,
    seed=0,
    suffix=".png",
):
    """A folder of class subfolders (inside train/ and test/ with `split`); returns it."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    channels = 1 if mode == "L" else 3
    parts = (
        (("train", per_class), ("test", max(2, per_class // 5))) if split else (("", per_class),)
    )
    for part, n in parts:
        for label, name in enumerate(classes):
            folder = os.path.join(root, part, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                x = _pixels(label, size, channels, rng)
                Image.fromarray(x[..., 0] if channels == 1 else x).save(
                    os.path.join(folder, f"{i:03d}{suffix}")
                )
    return str(root)
