"""Shared test setup: quiet TensorFlow, fixed seeds, helpers for subprocesses."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


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
