"""Predictions of a trained model and the metrics computed from them (beyond accuracy and MAE)."""

from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd

from .data import FaceSet
from .sources import GENDERS, RACES

AGE_BANDS = [(0, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 200)]


def predict(model, faces: FaceSet, batch_size: int = 64, verbose: int = 0) -> pd.DataFrame:
    """One row per image: file name, true labels, predicted age and P(female), plain and flipped.

    Args:
        model: a model with outputs ``age`` and ``gender``.
        faces: the images to predict, with their labels.

    Returns:
        DataFrame with columns file, age, gender, race, pred_age, prob_female, pred_gender, and pred_age_flip,
        prob_female_flip: the mean of the image's prediction and its mirror image's (flip at test time).
    """
    frame = faces.labels()
    for suffix, images in (("", faces.images), ("_mirror", faces.images[:, :, ::-1])):
        outputs = model.predict(images, batch_size=batch_size, verbose=verbose)
        frame["pred_age" + suffix] = np.asarray(outputs["age"], dtype=np.float64).reshape(-1)
        frame["prob_female" + suffix] = np.asarray(outputs["gender"], dtype=np.float64).reshape(-1)
    frame["pred_gender"] = (frame["prob_female"] >= 0.5).astype(int)
    for column in ("pred_age", "prob_female"):
        frame[column + "_flip"] = (frame[column] + frame.pop(column + "_mirror")) / 2
    return frame


def summarize(predictions: pd.DataFrame, flip: bool = False) -> dict:
    """Gender accuracy and age MAE (years) of a predictions frame; with ``flip``, of its flipped predictions."""
    suffix = "_flip" if flip else ""
    pred_gender = predictions["prob_female" + suffix] >= 0.5 if flip else predictions["pred_gender"]
    return {
        "n": len(predictions),
        "gender_accuracy": float((pred_gender == predictions["gender"]).mean()),
        "age_mae": float((predictions["pred_age" + suffix] - predictions["age"]).abs().mean()),
    }


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (the probability that a random positive outranks a random negative)."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    positives, negatives = labels == 1, labels == 0
    if not positives.any() or not negatives.any():
        return float("nan")
    ranks = pd.Series(scores).rank().to_numpy()  # average ranks handle ties
    n_pos, n_neg = positives.sum(), negatives.sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def gender_metrics(predictions: pd.DataFrame) -> dict:
    """Accuracy, ROC-AUC, confusion matrix and precision/recall/F1 per class."""
    true, pred = predictions["gender"].to_numpy(), predictions["pred_gender"].to_numpy()
    out = {
        "n": len(true),
        "accuracy": float((true == pred).mean()),
        "roc_auc": roc_auc(true, predictions["prob_female"]),
        "confusion": [[int(((true == t) & (pred == p)).sum()) for p in (0, 1)] for t in (0, 1)],
    }
    for label, name in enumerate(GENDERS):
        tp = int(((true == label) & (pred == label)).sum())
        precision = tp / max(int((pred == label).sum()), 1)
        recall = tp / max(int((true == label).sum()), 1)
        out[name] = {
            "precision": precision,
            "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        }
    return out


def calibration(predictions: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Reliability curve: mean predicted P(female) and observed share of women per probability bin."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(predictions["prob_female"], edges[1:-1]), 0, bins - 1)
    frame = (
        predictions.assign(bin=which)
        .groupby("bin")
        .agg(mean_predicted=("prob_female", "mean"), observed=("gender", "mean"), count=("gender", "size"))
    )
    return frame.reset_index()


def age_metrics(predictions: pd.DataFrame) -> dict:
    """MAE, RMSE and the share of predictions within 5 and 10 years (CS@5, CS@10)."""
    error = predictions["pred_age"] - predictions["age"]
    return {
        "n": len(error),
        "mae": float(error.abs().mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "cs5": float((error.abs() <= 5).mean()),
        "cs10": float((error.abs() <= 10).mean()),
    }


def age_bands(predictions: pd.DataFrame) -> pd.DataFrame:
    """MAE and mean signed error (negative: underestimated) per age band, with counts."""
    rows = []
    for low, high in AGE_BANDS:
        band = predictions[(predictions["age"] >= low) & (predictions["age"] <= high)]
        error = band["pred_age"] - band["age"]
        rows.append(
            {
                "band": f"{low}-{high}" if high < 200 else f"{low}+",
                "count": len(band),
                "mae": float(error.abs().mean()) if len(band) else float("nan"),
                "mean_signed_error": float(error.mean()) if len(band) else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def baselines(train: pd.DataFrame, predictions: pd.DataFrame) -> dict:
    """Trivial predictors fitted on the training labels: mean and median age, the majority gender."""
    majority = int(train["gender"].mode().iloc[0])
    return {
        "age_mae_predicting_train_mean": float((predictions["age"] - train["age"].mean()).abs().mean()),
        "age_mae_predicting_train_median": float((predictions["age"] - train["age"].median()).abs().mean()),
        "gender_accuracy_predicting_majority": float((predictions["gender"] == majority).mean()),
        "majority_gender": GENDERS[majority],
    }


def by_group(predictions: pd.DataFrame) -> pd.DataFrame:
    """Every headline metric per ethnicity label and per gender, with counts."""
    rows = []
    for column, names in (("race", RACES), ("gender", GENDERS)):
        for value, name in enumerate(names):
            part = predictions[predictions[column] == value]
            if not len(part):
                continue
            ages, genders = age_metrics(part), gender_metrics(part)
            rows.append(
                {
                    "group": f"{column}: {name}",
                    "count": len(part),
                    "gender_accuracy": genders["accuracy"],
                    "gender_roc_auc": genders["roc_auc"],
                    "age_mae": ages["mae"],
                    "age_mean_signed_error": float((part["pred_age"] - part["age"]).mean()),
                }
            )
    return pd.DataFrame(rows)


def worst_predictions(predictions: pd.DataFrame, n: int = 8) -> dict[str, pd.DataFrame]:
    """The ``n`` largest age errors, and the ``n`` gender mistakes made with the most confidence."""
    ages = predictions.assign(abs_error=(predictions["pred_age"] - predictions["age"]).abs())
    wrong = predictions[predictions["pred_gender"] != predictions["gender"]]
    return {
        "age": ages.nlargest(n, "abs_error"),
        "gender": wrong.assign(confidence=(wrong["prob_female"] - 0.5).abs()).nlargest(n, "confidence"),
    }


def evaluate(predictions: pd.DataFrame, train_labels: pd.DataFrame, test: pd.DataFrame | None = None) -> dict:
    """Everything above for one model's validation predictions, as plain JSON-ready values; with ``test``
    predictions, the same for them under ``"test"``."""
    result = {
        "gender": gender_metrics(predictions),
        "age": age_metrics(predictions),
        "age_bands": age_bands(predictions).to_dict(orient="records"),
        "baselines": baselines(train_labels, predictions),
        "groups": by_group(predictions).to_dict(orient="records"),
        "calibration": calibration(predictions).to_dict(orient="records"),
    }
    if test is not None:
        result["test"] = evaluate(test, train_labels)
    return result


# The study's one rule for "beyond the noise": a difference larger than twice its standard error. A variant against
# its baseline (two single runs, each with the model's seed sd): standard error sd·√2; two models' means over their
# seeds: √(sd₁²/n₁ + sd₂²/n₂). The paired comparisons of the same images report their bootstrap interval instead.
NOISE_ERRORS = 2


def standard_error(*sides: tuple[float, int]) -> float:
    """The standard error of a difference between means, from each side's (sd, runs): √(Σ sd²/runs)."""
    return float(sum(sd**2 / runs for sd, runs in sides) ** 0.5)


def beyond_noise(difference: float, error: float) -> bool | None:
    """Whether ``difference`` exceeds ``NOISE_ERRORS`` times its standard error; None where either is unknown."""
    if difference != difference or error != error:
        return None
    return bool(abs(difference) > NOISE_ERRORS * error)


def beyond_run_noise(difference: float, sd: float) -> bool | None:
    """:func:`beyond_noise` for a difference between two single runs of a model whose seed-to-seed sd is ``sd``."""
    return beyond_noise(difference, standard_error((sd, 1), (sd, 1)))


def paired_comparison(first: pd.DataFrame, second: pd.DataFrame, resamples: int = 2000, seed: int = 0) -> dict:
    """How much better ``second`` predicts than ``first`` on the same images, beside the noise that the choice
    of images alone brings (not the noise of training: a seed sweep measures that).

    Args:
        first, second: predictions frames (:func:`predict`) of the same images, in any order.
        resamples: bootstrap resamples of the images; both models' predictions of an image are drawn together.
        seed: seed of the resampling, so that the interval is the same on every run.

    Returns:
        ``{"n", "gender_accuracy": {...}, "age_mae": {...}}``; each holds both models' values (``first``,
        ``second``), ``advantage`` (second's accuracy minus first's, first's MAE minus second's: positive when
        ``second`` is better) and ``ci95`` (percentile bootstrap interval); gender adds the images only one model
        got right and McNemar's exact p-value.
    """
    if len(first) != len(second) or set(first["file"]) != set(second["file"]):
        raise ValueError(
            f"paired_comparison needs both models' predictions of the same images: {len(first)} and "
            f"{len(second)} rows, {len(set(first['file']) ^ set(second['file']))} files in only one"
        )
    both = first.merge(second, on="file", suffixes=("_1", "_2"), validate="one_to_one")
    right = [(both[f"pred_gender_{i}"] == both[f"gender_{i}"]).to_numpy(int) for i in (1, 2)]
    error = [(both[f"pred_age_{i}"] - both[f"age_{i}"]).abs().to_numpy() for i in (1, 2)]
    values = {"gender_accuracy": right, "age_mae": error}
    per_image = {"gender_accuracy": right[1] - right[0], "age_mae": error[0] - error[1]}
    draws = np.random.default_rng(seed).integers(0, len(both), size=(resamples, len(both)))
    result = {"n": len(both)}
    for key, advantage in per_image.items():
        low, high = np.percentile(advantage[draws].mean(axis=1), [2.5, 97.5])
        result[key] = {
            "first": float(values[key][0].mean()),
            "second": float(values[key][1].mean()),
            "advantage": float(advantage.mean()),
            "ci95": [float(low), float(high)],
        }
    only_first, only_second = int((right[0] > right[1]).sum()), int((right[1] > right[0]).sum())
    result["gender_accuracy"].update(
        only_first_right=only_first, only_second_right=only_second, mcnemar_p=mcnemar_exact(only_first, only_second)
    )
    return result


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar test: under "both models equally accurate", each image that exactly one model gets
    right is a fair coin; the p-value of a split at least this uneven."""
    n = only_first + only_second
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(only_first, only_second) + 1))
    return min(1.0, 2 * tail / 2**n)


def paired_table(comparisons: dict[str, dict]) -> pd.DataFrame:
    """One row per split (e.g. validation, test): each metric's advantage with its 95 % interval in brackets, and
    McNemar's p-value for gender."""
    rows = {}
    for split, result in comparisons.items():
        gender, age = result["gender_accuracy"], result["age_mae"]
        rows[split] = {
            "images": result["n"],
            "gender accuracy: advantage [95 % interval]": _with_interval(gender, 3),
            "McNemar p": f"{gender['mcnemar_p']:.2g}",
            "age MAE, years: advantage [95 % interval]": _with_interval(age, 2),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _with_interval(metric: dict, digits: int) -> str:
    low, high = metric["ci95"]
    return f"{metric['advantage']:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def headline_table(evaluations: dict[str, dict], names: dict[str, str]) -> pd.DataFrame:
    """One column per model (and one more per model evaluated on test images): gender accuracy and ROC-AUC, age
    MAE, RMSE, CS@5, CS@10, and the baselines."""
    columns = {}
    parts = [(names[m], r) for m, r in evaluations.items()]
    parts += [(f"{names[m]} · test", r["test"]) for m, r in evaluations.items() if "test" in r]
    for column, result in parts:
        columns[column] = {
            "gender accuracy": result["gender"]["accuracy"],
            "gender ROC-AUC": result["gender"]["roc_auc"],
            "age MAE": result["age"]["mae"],
            "age RMSE": result["age"]["rmse"],
            "age CS@5": result["age"]["cs5"],
            "age CS@10": result["age"]["cs10"],
            "baseline: age MAE, train mean": result["baselines"]["age_mae_predicting_train_mean"],
            "baseline: age MAE, train median": result["baselines"]["age_mae_predicting_train_median"],
            "baseline: gender accuracy, majority": result["baselines"]["gender_accuracy_predicting_majority"],
        }
    return pd.DataFrame(columns)


GROUP_METRICS = {"gender_accuracy": "gender accuracy", "age_mae": "age MAE", "age_mean_signed_error": "age bias"}


def group_table(evaluations: dict[str, dict], names: dict[str, str]) -> pd.DataFrame:
    """Gender accuracy, age MAE and age bias (rows: each metric, model by model) per ethnicity label and per gender
    (columns, the group's image count in brackets): a table that grows downwards, not wider, with the models.

    Args:
        evaluations: model name to its :func:`evaluate` result, all on the same images.
        names: model name to the label its rows carry.
    """
    groups = {model: pd.DataFrame(result["groups"]).set_index("group") for model, result in evaluations.items()}
    counts = next(iter(groups.values()))["count"]
    rows = {f"{label}: {names[model]}": groups[model][key] for key, label in GROUP_METRICS.items() for model in groups}
    return pd.DataFrame(rows).T.rename(columns={group: f"{group} ({count:,})" for group, count in counts.items()})
