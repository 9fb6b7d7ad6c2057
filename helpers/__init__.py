"""Age and gender from a face (UTKFace): data, models, training and evaluation for the notebooks."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of notebooks

__version__ = "0.1.0"
