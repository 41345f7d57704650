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
