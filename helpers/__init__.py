"""Age and gender from a face (UTKFace): data, models, training and evaluation for the notebooks."""

__version__ = "0.1.0"
