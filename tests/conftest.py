"""Shared test setup: quiet TensorFlow, fixed seeds, the real Fashion-MNIST files."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kregs.run.device import prefer_onednn  # noqa: E402

prefer_onednn()  # as kregs' command line runs (before TensorFlow is imported)

import pytest  # noqa: E402

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state (numpy, Python, TensorFlow)."""
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(0)
    else:
        import random

        import numpy as np

        random.seed(0)
        np.random.seed(0)


@pytest.fixture(scope="session")
def fashion_mnist():
    """The end-to-end tests train on the real Fashion-MNIST of Debian's package; without it
    they fail, saying how to get it (offline, TFDS could not download it)."""
    missing = [f for f in FASHION_FILES if not os.path.exists(f"{DEBIAN_FASHION_MNIST}/{f}")]
    if missing:
        pytest.fail(
            f"this end-to-end test needs the real Fashion-MNIST in {DEBIAN_FASHION_MNIST} "
            f"(missing {', '.join(missing)}): run `make data`, or "
            "`sudo apt-get install dataset-fashion-mnist`",
            pytrace=False,
        )
    return DEBIAN_FASHION_MNIST


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory):
    """A tiny MNIST-like set in the IDX files' format (300 training, 50 test images), once
    per module: the searches of the machinery's tests train on it."""
    from _helpers import write_idx_dataset

    folder = tmp_path_factory.mktemp("mnist")
    write_idx_dataset(folder, n_train=300, n_test=50)
    return str(folder)


# The two test workers take tests one by one, so that they end together; but the tests of
# a file whose module fixture is an expensive run (a study, an exported search) stay
# together on one worker, which builds the fixture once. (xdist's own `--dist loadgroup`
# does not group under pytest 9.2: pytest-dev/pytest-xdist#1386.)
ONE_WORKER = (
    "test_study",
    "test_serving",
    "test_tune",
    "test_packaging",
    "test_hypermodel",
)
# Longest first: the scheduler hands out work in this order, so that what is left at the
# end is short. The files kept on one worker go first (each is one unit of 20-60 s: last,
# it would keep one worker busy while the other waits), then the multi-process tests.
SLOWEST_FIRST = (
    "test_study",
    "test_tune",
    "test_hypermodel",
    "test_serving",
    "test_packaging",
    "test_bench",
    "test_distributed",
    "test_faults",
    "test_backends",
    "test_cli",
    "test_recycle",
    "test_sweep",
    "test_saving",
    "test_extended",
)


def pytest_configure(config):
    """A process that runs tests imports Keras and KerasTuner first and freezes what they
    made, as the `kregs` command does (`freeze_imports`): KerasTuner's collections before
    each trial then skip them. (xdist's controller runs no test: it imports neither.)"""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        from kregs.run.processes import freeze_imports

        freeze_imports()


def _stem(nodeid):
    return os.path.splitext(os.path.basename(nodeid.split("::", 1)[0]))[0]


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerPerExpensiveFixture(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return nodeid.split("::", 1)[0] if _stem(nodeid) in ONE_WORKER else nodeid

    return OneWorkerPerExpensiveFixture(config, log)


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.stem
        return SLOWEST_FIRST.index(name) if name in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)  # stable: the order within a file is kept
