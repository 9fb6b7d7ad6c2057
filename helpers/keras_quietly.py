"""Start Keras without TensorFlow's C++ start-up lines ("oneDNN custom operations…", "E0000 … failed call to
cuInit", read by users as failures).

The modules that build or train models import this one before Keras; importing :mod:`helpers` or its modules
that only read results starts nothing. ``VERBOSE=1`` in the environment (``make … VERBOSE=1``) or
``python -m tools … --debug`` shows the lines again.
"""

import contextlib
import logging
import os
import sys


def verbose() -> bool:
    """Whether TensorFlow's start-up lines and Python warnings are wanted (``VERBOSE=1`` or ``--debug``)."""
    return os.environ.get("VERBOSE", "") not in ("", "0") or "--debug" in sys.argv[1:]


@contextlib.contextmanager
def stderr_silenced():
    """Send file descriptor 2 to /dev/null (C++ libraries write there directly, past ``sys.stderr``)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _start() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's later C++ info and warning lines
    with stderr_silenced():
        import keras

        keras.ops.zeros(1)  # the first operation probes the devices, which also writes to stderr
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # e.g. tf.function retracing notes; set after TensorFlow's own set-up, which sets INFO in notebooks
        tf.get_logger().setLevel(logging.ERROR)


if "keras" not in sys.modules and not verbose():
    _start()
