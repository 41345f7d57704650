"""Every use of a private KerasTuner or TensorFlow name, in one package.

kregs uses public APIs everywhere else (a test fails if a private name
appears in another file). Each function here says why the public API is not
enough. They are written for the versions pyproject.toml allows:
keras-tuner >= 1.4.7, < 1.5 (`TESTED_KERAS_TUNER`), where every name used
below exists; `keras_tuner_warning` tells a user outside that range.

Nothing here changes KerasTuner for code that is not kregs': a replaced function
is replaced inside a `with` block only (`scoped.replaced`), and kregs' own oracle
and tuner classes override what they need (`state.AtomicOracleState`).

- `state`: KerasTuner's state files (atomic writes, named errors, repairs after a kill);
- `distributed`: the chief/worker engine (timeouts, waiting workers, taken-back trials);
- `tensorflow`: TensorFlow's op determinism;
- `optimizers`: the learning-rate schedule a compiled Keras optimizer holds.
"""

from kregs.compat.distributed import (
    condition_protos_quiet,
    ended_before,
    hand_back,
    prompt_chief,
    requeue_trial,
    rpc_timeout,
    skip_ended_retries,
    wait_instead_of_leaving,
    workers_known,
)
from kregs.compat.optimizers import learning_rate_schedule
from kregs.compat.state import (
    AtomicOracleState,
    AtomicTunerState,
    cap_hyperband_trials,
    checkpoint_path,
    failed_trials_quiet,
    has_retries,
    repair_after_reload,
    save_trial,
    start_trial,
    stopped_trial,
    try_first,
)
from kregs.compat.tensorflow import disable_op_determinism, op_determinism_enabled

TESTED_KERAS_TUNER = ((1, 4, 7), (1, 5))  # [low, high)

__all__ = [
    "AtomicOracleState",
    "AtomicTunerState",
    "TESTED_KERAS_TUNER",
    "cap_hyperband_trials",
    "checkpoint_path",
    "condition_protos_quiet",
    "disable_op_determinism",
    "ended_before",
    "hand_back",
    "skip_ended_retries",
    "failed_trials_quiet",
    "has_retries",
    "start_trial",
    "keras_tuner_warning",
    "learning_rate_schedule",
    "op_determinism_enabled",
    "prompt_chief",
    "repair_after_reload",
    "requeue_trial",
    "rpc_timeout",
    "save_trial",
    "stopped_trial",
    "try_first",
    "wait_instead_of_leaving",
    "workers_known",
]


def _version_tuple(text):
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def keras_tuner_warning():
    """One line when the installed keras-tuner is outside the tested range, else None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("keras-tuner")
    except PackageNotFoundError:
        return None
    low, high = TESTED_KERAS_TUNER
    if low <= _version_tuple(found) < high:
        return None
    return (
        f"Warning: kregs is tested with keras-tuner >= {'.'.join(map(str, low))}, "
        f"< {'.'.join(map(str, high))}; found {found}: distributed tuning may misbehave"
    )
