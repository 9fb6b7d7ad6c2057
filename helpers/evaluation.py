"""Predictions of a trained model and the metrics computed from them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import FaceSet


def predict(model, faces: FaceSet, batch_size: int = 64, verbose: int = 0) -> pd.DataFrame:
    """One row per image: file name, true labels, predicted age and P(female).

    Args:
        model: a model with outputs ``age`` and ``gender``.
        faces: the images to predict, with their labels.

    Returns:
        DataFrame with columns file, age, gender, race, pred_age, prob_female, pred_gender.
    """
    outputs = model.predict(faces.images, batch_size=batch_size, verbose=verbose)
    frame = faces.labels()
    frame["pred_age"] = np.asarray(outputs["age"], dtype=np.float64).reshape(-1)
    frame["prob_female"] = np.asarray(outputs["gender"], dtype=np.float64).reshape(-1)
    frame["pred_gender"] = (frame["prob_female"] >= 0.5).astype(int)
    return frame


def summarize(predictions: pd.DataFrame) -> dict:
    """Gender accuracy and age MAE (years) of a predictions frame."""
    return {
        "n": int(len(predictions)),
        "gender_accuracy": float((predictions["pred_gender"] == predictions["gender"]).mean()),
        "age_mae": float((predictions["pred_age"] - predictions["age"]).abs().mean()),
    }
