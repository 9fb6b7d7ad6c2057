import numpy as np
import pandas as pd
import pytest

from helpers import evaluation


@pytest.fixture
def predictions():
    return pd.DataFrame(
        {
            "file": [f"f{i}" for i in range(6)],
            "age": [5, 25, 35, 45, 72, 90],
            "gender": [0, 1, 1, 0, 1, 0],
            "race": [0, 0, 1, 2, 3, 4],
            "pred_age": [9.0, 25.0, 30.0, 50.0, 60.0, 70.0],
            "prob_female": [0.1, 0.8, 0.4, 0.3, 0.9, 0.6],
        }
    ).assign(pred_gender=lambda f: (f["prob_female"] >= 0.5).astype(int))


def test_gender_metrics(predictions):
    metrics = evaluation.gender_metrics(predictions)
    assert metrics["confusion"] == [[2, 1], [1, 2]]  # rows true male/female, columns predicted
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["female"]["precision"] == pytest.approx(2 / 3) and metrics["female"]["recall"] == pytest.approx(
        2 / 3
    )
    # female scores 0.8, 0.4, 0.9 against male 0.1, 0.3, 0.6: 8 of 9 pairs ranked right (0.4 < 0.6)
    assert metrics["roc_auc"] == pytest.approx(8 / 9)


def test_roc_auc_edge_cases():
    assert evaluation.roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert evaluation.roc_auc([0, 1], [0.5, 0.5]) == 0.5
    assert np.isnan(evaluation.roc_auc([1, 1], [0.2, 0.3]))


def test_age_metrics_and_bands(predictions):
    errors = np.array([4, 0, -5, 5, -12, -20])
    metrics = evaluation.age_metrics(predictions)
    assert metrics["mae"] == pytest.approx(np.abs(errors).mean())
    assert metrics["rmse"] == pytest.approx(np.sqrt((errors**2).mean()))
    assert metrics["cs5"] == pytest.approx(4 / 6) and metrics["cs10"] == pytest.approx(4 / 6)
    bands = evaluation.age_bands(predictions).set_index("band")
    assert bands.loc["70+", "count"] == 2 and bands.loc["70+", "mean_signed_error"] == pytest.approx(-16)
    assert bands.loc["0-9", "mae"] == 4 and np.isnan(bands.loc["10-19", "mae"])


def test_calibration_bins(predictions):
    curve = evaluation.calibration(predictions, bins=2)
    assert curve["count"].sum() == 6
    low = curve.set_index("bin").loc[0]  # scores below 0.5: 0.1, 0.4, 0.3 with genders 0, 1, 0
    assert low["mean_predicted"] == pytest.approx(0.8 / 3) and low["observed"] == pytest.approx(1 / 3)


def test_baselines(predictions):
    train = pd.DataFrame({"age": [20, 30, 70], "gender": [1, 1, 0]})
    result = evaluation.baselines(train, predictions)
    assert result["majority_gender"] == "female"
    assert result["gender_accuracy_predicting_majority"] == pytest.approx(0.5)
    assert result["age_mae_predicting_train_median"] == pytest.approx(np.abs(predictions["age"] - 30).mean())


def test_by_group_has_counts_for_every_present_group(predictions):
    table = evaluation.by_group(predictions).set_index("group")
    assert table.loc["gender: female", "count"] == 3 and table.loc["race: White", "count"] == 2
    assert table["count"].filter(like="race").sum() == 6


def test_group_table_has_a_row_per_model_and_metric_and_a_column_per_group(predictions):
    first = {"groups": evaluation.by_group(predictions).to_dict(orient="records")}
    worse = predictions.assign(pred_age=predictions["pred_age"] + 2.0)
    second = {"groups": evaluation.by_group(worse).to_dict(orient="records")}
    table = evaluation.group_table({"a": first, "b": second}, {"a": "Model A", "b": "Model B"})
    assert list(table.index) == [f"{metric}: Model {m}" for metric in evaluation.GROUP_METRICS.values() for m in "AB"]
    assert "gender: female (3)" in table.columns and "race: White (2)" in table.columns
    bias = table.loc["age bias: Model B"] - table.loc["age bias: Model A"]
    assert np.allclose(bias.astype(float), 2.0)


def test_paired_comparison_of_a_model_with_itself_finds_no_difference(predictions):
    result = evaluation.paired_comparison(predictions, predictions.sample(frac=1, random_state=0))
    assert result["n"] == 6
    for key in ("gender_accuracy", "age_mae"):
        assert result[key]["advantage"] == 0 and result[key]["ci95"] == [0, 0]
    assert result["gender_accuracy"]["mcnemar_p"] == 1.0


def test_paired_comparison_matches_images_by_file_and_counts_disagreements(predictions):
    better = predictions.copy()
    better["pred_age"] = better["age"] + 1.0  # every age error becomes 1 year
    better["pred_gender"] = better["gender"]  # every gender right: the first model's 2 mistakes fixed
    result = evaluation.paired_comparison(predictions, better.iloc[::-1])
    first, second = evaluation.summarize(predictions), evaluation.summarize(better)
    assert result["gender_accuracy"]["advantage"] == pytest.approx(second["gender_accuracy"] - first["gender_accuracy"])
    assert result["age_mae"]["advantage"] == pytest.approx(first["age_mae"] - second["age_mae"])
    gender = result["gender_accuracy"]
    assert (gender["only_first_right"], gender["only_second_right"]) == (0, 2)
    assert gender["mcnemar_p"] == pytest.approx(2 * 1 / 4)  # 2 discordant images, both one way: 2 * (1/2)^2
    low, high = result["age_mae"]["ci95"]
    assert low <= result["age_mae"]["advantage"] <= high
    assert result == evaluation.paired_comparison(predictions, better)  # seeded: the same interval every time


def test_mcnemar_exact_known_values():
    assert evaluation.mcnemar_exact(0, 10) == pytest.approx(2 / 2**10)
    assert evaluation.mcnemar_exact(1, 4) == pytest.approx(2 * (1 + 5) / 2**5)
    assert evaluation.mcnemar_exact(5, 5) == 1.0 and evaluation.mcnemar_exact(0, 0) == 1.0


def test_paired_comparison_refuses_different_images(predictions):
    with pytest.raises(ValueError, match="same images"):
        evaluation.paired_comparison(predictions, predictions.iloc[:5])
    with pytest.raises(ValueError, match="2 files in only one"):
        evaluation.paired_comparison(predictions, predictions.assign(file=[f"f{i}" for i in range(5)] + ["other"]))


def test_paired_table_reads_one_row_per_split(predictions):
    table = evaluation.paired_table({"validation": evaluation.paired_comparison(predictions, predictions)})
    assert table.loc["validation", "images"] == 6 and table.loc["validation", "McNemar p"] == "1"
    assert table.loc["validation", "age MAE, years: advantage [95 % interval]"] == "+0.00 [+0.00, +0.00]"


def test_beyond_the_noise_is_twice_the_standard_error_of_the_difference():
    """The study's one rule: two single runs with the model's seed sd 0.5 have a difference's standard error
    0.5·√2; two means over 3 runs each, √(sd₁²/3 + sd₂²/3)."""
    assert evaluation.standard_error((0.5, 1), (0.5, 1)) == pytest.approx(0.5 * 2**0.5)
    assert evaluation.standard_error((0.59, 3), (0.20, 3)) == pytest.approx(0.3597, abs=1e-4)
    assert evaluation.beyond_noise(1.5, 0.7) is True and evaluation.beyond_noise(-1.5, 0.7) is True
    assert evaluation.beyond_noise(1.4, 0.7) is False  # exactly twice: not beyond
    assert evaluation.beyond_noise(1.5, float("nan")) is None  # no spread: not judged


class _LeftHalfModel:
    """Predicts from the left half of each image only: a mirror image shows it the other half."""

    def predict(self, images, batch_size, verbose):
        left = images[:, :, : images.shape[2] // 2].astype(float).mean(axis=(1, 2, 3))
        return {"age": left, "gender": left / 100}


def test_flip_at_test_time_averages_each_image_with_its_mirror():
    from helpers.data import FaceSet

    images = np.zeros((2, 4, 4, 3), "uint8")
    images[0, :, :2] = 20  # left half 20, right half 80: plain 20, mirrored 80, flipped 50
    images[0, :, 2:] = 80
    images[1] = 40  # the same on both sides
    faces = FaceSet(["a", "b"], images, np.array([50, 40]), np.array([1, 0]), np.array([0, 0]))
    frame = evaluation.predict(_LeftHalfModel(), faces)
    assert frame["pred_age"].tolist() == [20, 40] and frame["pred_age_flip"].tolist() == [50, 40]
    assert frame["prob_female_flip"].tolist() == pytest.approx([0.5, 0.4])
    assert evaluation.summarize(frame) == {"n": 2, "gender_accuracy": 0.5, "age_mae": 15.0}  # P(female) 0.2, 0.4
    assert evaluation.summarize(frame, flip=True) == {"n": 2, "gender_accuracy": 1.0, "age_mae": 0.0}
