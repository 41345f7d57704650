"""TensorFlow's op determinism: a getter and a way back that TensorFlow does not offer."""


def op_determinism_enabled():
    """Whether TensorFlow's op determinism is on in this process.

    Why: TensorFlow has `tf.config.experimental.enable_op_determinism()` but
    neither a public getter nor a way back (`disable_op_determinism`).
    """
    from tensorflow.python.framework import config

    return config.is_op_determinism_enabled()


def disable_op_determinism():
    """Turns TensorFlow's op determinism off again (see `op_determinism_enabled`).

    A process that ran a deterministic study and then searches (or a test
    suite) needs XLA and the fast kernels again.
    """
    from tensorflow.python.framework import config

    config.disable_op_determinism()


def onednn_enabled():
    """Whether this process' TensorFlow runs its oneDNN kernels (imports TensorFlow).

    Why: TensorFlow decides it once, when it is imported (`TF_ENABLE_ONEDNN_OPTS`, or by
    itself from the CPU's features), and says so only in a log line.
    """
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())
