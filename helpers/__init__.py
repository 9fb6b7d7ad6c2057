"""Age and gender from a face (UTKFace): data, models, training and evaluation for the notebooks.

Importing the package starts Keras without TensorFlow's C++ start-up lines ("oneDNN custom operations…",
"E0000 … failed call to cuInit", read by users as failures): the CLI, the notebooks' kernels and the tests all
import it first. ``VERBOSE=1`` in the environment (``make … VERBOSE=1``) or ``python -m helpers --debug`` shows
them again.
"""

import contextlib
import logging
import os
import sys

__version__ = "0.1.0"


def verbose() -> bool:
    """Whether TensorFlow's start-up lines and Python warnings are wanted (``VERBOSE=1`` or ``--debug``)."""
    # While ``python -m helpers`` imports this package, sys.argv[0] is "-m" and the rest are the CLI's arguments.
    return os.environ.get("VERBOSE", "") not in ("", "0") or (sys.argv[:1] == ["-m"] and "--debug" in sys.argv)


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


def _start_keras_quietly() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's later C++ info and warning lines
    with stderr_silenced():
        import keras

        keras.ops.zeros(1)  # the first operation probes the devices, which also writes to stderr
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # e.g. tf.function retracing notes; set after TensorFlow's own set-up, which sets INFO in notebooks
        tf.get_logger().setLevel(logging.ERROR)


# HELPERS_NO_KERAS=1: for the quick commands that never touch Keras (make report runs several before each notebook),
# which then start in a second instead of five.
if "keras" not in sys.modules and not verbose() and not os.environ.get("HELPERS_NO_KERAS"):
    _start_keras_quietly()
