"""Age and gender from a face (UTKFace): data, models, training and evaluation for the notebooks.

Importing the package is cheap: Keras starts where a model is built or trained (:mod:`helpers.keras_quietly`).
"""

__version__ = "0.1.0"
