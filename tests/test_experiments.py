"""Experiment variants and seed sweeps: the profiles they train, and the tables read back from run folders."""

import dataclasses
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import train_here

from extensions import experiments, figures, seed_sweeps
from helpers import config, registry, training
from tools import experiments as experiment_runs
from tools import numbers, report


def fake_run(folder, profile, val_accuracy, val_mae, seconds=60.0, model="custom", weights=None):
    """The files a finished run leaves (what the tables and results.load read)."""
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(
        json.dumps(
            {
                "val_gender_accuracy": val_accuracy,
                "val_age_mae": val_mae,
                "train_gender_accuracy": 0.9,
                "train_age_mae": 5.0,
                "test_gender_accuracy": val_accuracy - 0.01,
                "test_age_mae": val_mae + 0.5,
                "train_gender_loss": 0.3,
                "val_gender_loss": 0.4,
            }
        )
    )
    (folder / "manifest.json").write_text(
        json.dumps(
            {
                "hash": profile.hash,
                "profile": profile.to_dict(),
                "seconds": seconds,
                "weights": weights,
                "data": {"n_train": 80, "n_val": 20, "val_with_train_twin": 2, "dropped_conflicting": 0},
                "hardware": {"accelerators": []},
                "architecture": registry.current_architecture(model, profile),
            }
        )
    )
    (folder / f"history_{model}.csv").write_text("epoch,loss\n1,1.0\n")
    (folder / f"predictions_val_{model}.csv").write_text("file,age,gender,race,pred_age,prob_female,pred_gender\n")


def test_variants_change_only_their_settings():
    seed = config.get_profile("seed")
    assert experiments.variant_profile(seed, "baseline") == seed
    more = experiments.variant_profile(seed, "all_images")
    assert more.hash == config.get_profile("full").hash  # "more data" on seed is the full profile
    clean = experiments.variant_profile(seed, "all_images_group_clean")
    assert (clean.split, clean.drop_conflicting, clean.image_size) == ("group", True, 128)
    assert experiments.variant_profile(seed, "res192") == dataclasses.replace(seed, image_size=192)
    with pytest.raises(ValueError, match="unknown experiment 'x'; choose one of: conjectures, duplicates"):
        experiments.check_name("x")


def test_summary_reads_finished_runs_and_says_not_run(tmp_path):
    profile = config.get_profile("smoke")
    fake_run(tmp_path / "smoke" / "custom", profile, 0.8, 9.0)  # the baseline is the profile's own run
    fake_run(
        tmp_path / "smoke" / "experiments" / "age_balanced" / "custom",
        experiments.variant_profile(profile, "age_balanced"),
        0.82,
        8.5,
        seconds=120,
    )
    summary = experiments.summary("conjectures", profile, results_dir=tmp_path)
    assert list(summary["status"]) == ["run", "not run", "not run", "run"]
    assert summary.loc["age_balanced", "val_age_mae"] == 8.5 and summary.loc["age_balanced", "minutes"] == 2
    table = experiments.readable(summary)
    assert table.loc["age-balanced loss", "val age MAE"] == "8.50"
    assert table.loc["192 px", "run on"] == "not run" and table.loc["192 px", "val age MAE"] == "—"
    assert table.loc["baseline (the profile)", "val images with a twin in training"] == "2 of 20"
    assert table.loc["age-balanced loss", "run on"] == "CPU, 120 s"  # a GPU's minute or two: in seconds
    variant = tmp_path / "smoke" / "experiments" / "age_balanced" / "custom" / "manifest.json"
    gpu = {"accelerators": ["NVIDIA H100 80GB HBM3"]}
    on_gpu = {**json.loads(variant.read_text()), "seconds": 600, "hardware": gpu}
    variant.write_text(json.dumps(on_gpu))
    table = experiments.readable(experiments.summary("conjectures", profile, results_dir=tmp_path))
    assert table.loc["age-balanced loss", "run on"] == "NVIDIA H100, 10 min"  # no memory size in a table cell
    manifest = tmp_path / "smoke" / "custom" / "manifest.json"  # a run from before manifests counted the twins:
    manifest.write_text(manifest.read_text().replace('"val_with_train_twin": 2, ', ""))
    before = experiments.summary("conjectures", profile, results_dir=tmp_path)
    assert pd.isna(before.loc["baseline", "val_with_train_twin"])
    (tmp_path / "smoke" / "data_summary.json").write_text(
        json.dumps(  # ... its split's, as notebook 01 counted
            {"duplicates": {"val_with_train_twin": 3, "split": profile.split}}
        )
    )
    table = experiments.readable(experiments.summary("conjectures", profile, results_dir=tmp_path))
    assert table.loc["baseline (the profile)", "val images with a twin in training"] == "3 of 20"
    assert table.loc["age-balanced loss", "val images with a twin in training"] == "2 of 20"


def test_summaries_show_vgg16_once_one_of_its_variants_ran(tmp_path):
    profile = config.get_profile("smoke")
    assert list(experiments.summaries(profile, tmp_path)) == ["custom"]  # nothing run: the custom CNN's "not run"
    fake_run(
        tmp_path / "smoke" / "experiments" / "age_balanced" / "vgg16",
        experiments.variant_profile(profile, "age_balanced"),
        0.84,
        8.1,
        model="vgg16",
    )
    found = experiments.summaries(profile, tmp_path)
    assert list(found) == ["custom", "vgg16"] and set(found["vgg16"]) == set(experiments.EXPERIMENTS)
    assert found["vgg16"]["conjectures"].loc["age_balanced", "val_age_mae"] == 8.1
    assert (found["custom"]["conjectures"]["status"] == "not run").all()
    found_numbers = numbers.collect(profile, tmp_path, tmp_path)
    assert found_numbers["vgg16.age_balanced.val_age_mae"] == 8.1
    assert "vgg16.age_balanced.val_age_mae_diff" not in found_numbers  # no baseline beside it: nothing to subtract
    # One table for every model's variants: the custom CNN has no variant, so no row.
    assert list(numbers.effects_table(found_numbers).index) == ["VGG16 transfer · age-balanced loss"]
    # No duplicates variant ran: no table, each model's variants named with the command that trains them.
    assert numbers.duplicates_table(found_numbers) is None
    missing = [
        (entry["model"], entry["variant"])
        for model in ("custom", "vgg16")
        for entry in experiments.not_run("duplicates", profile, model, tmp_path)
    ]
    assert missing == [
        (model, variant) for model in ("custom", "vgg16") for variant in experiments.EXPERIMENTS["duplicates"]
    ]
    last = experiments.not_run("duplicates", profile, "vgg16", tmp_path)[-1]
    assert last["command"].endswith("--only all_images_group_clean --model vgg16")
    fake_run(
        tmp_path / "smoke" / "experiments" / "all_images" / "custom",
        experiments.variant_profile(profile, "all_images"),
        0.83,
        7.9,
    )
    assert "all_images" not in [
        entry["variant"] for entry in experiments.not_run("duplicates", profile, "custom", tmp_path)
    ]


def test_results_of_other_settings_are_refused(tmp_path):
    profile = config.get_profile("smoke")
    fake_run(tmp_path / "smoke" / "experiments" / "res192" / "custom", profile, 0.8, 9.0)  # not 192 px
    with pytest.raises(ValueError, match="holds results of other settings"):
        experiments.summary("conjectures", profile, results_dir=tmp_path)


def test_sweep_summary_is_mean_and_sd_over_seeds(tmp_path):
    profile = config.get_profile("smoke")
    assert seed_sweeps.sweep_summary(profile, "custom", tmp_path) is None
    for seed, accuracy in ((1, 0.70), (2, 0.80), (3, 0.90)):
        folder = seed_sweeps.sweep_folder(seed, tmp_path) / "smoke" / "custom"
        fake_run(folder, config.get_profile("smoke", {"seed": seed}), accuracy, 10.0 + seed)
    summary = seed_sweeps.sweep_summary(profile, "custom", tmp_path)
    assert summary.attrs["seeds"] == [1, 2, 3]
    assert summary.loc["val_gender_accuracy", "mean"] == pytest.approx(0.8)
    assert summary.loc["val_gender_accuracy", "sd"] == pytest.approx(0.1)
    assert summary.loc["val_age_mae", "runs"] == 3
    found = numbers.collect(profile, tmp_path / "no_own_runs", tmp_path)  # the report's numbers
    assert found["custom.seeds.val_age_mae.mean"] == pytest.approx(12.0) and found["custom.seeds.list"] == "1, 2, 3"
    assert found["custom.seeds.val_age_mae.runs"] == 3 and not found["custom.ran"]


def test_pretraining_table_sets_vgg16_sweeps_per_weights_beside_the_custom_cnn(tmp_path):
    profile = config.get_profile("smoke")
    assert seed_sweeps.pretraining_table(profile, tmp_path, tmp_path / "main") is None
    tumor = {"source": "file", "label": "tumor-derived VGG16 weights"}
    for seed in (1, 2, 3):
        seeded = config.get_profile("smoke", {"seed": seed})
        fake_run(seed_sweeps.sweep_folder(seed, tmp_path) / "smoke" / "custom", seeded, 0.80, 9.0 + seed / 10)
        fake_run(
            tmp_path / "weights-tumor" / f"seed{seed}" / "smoke" / "vgg16",
            seeded,
            0.85,
            7.0 + seed / 10,
            model="vgg16",
            weights=tumor,
        )
        fake_run(
            tmp_path / "weights-none" / f"seed{seed}" / "smoke" / "vgg16",
            seeded,
            0.70,
            12.0 + seed / 10,
            model="vgg16",
            weights={"source": "none", "label": "random initialisation"},
        )
    table = seed_sweeps.pretraining_table(profile, tmp_path, tmp_path / "main")
    assert table["initial weights"].tolist() == [
        "trained from scratch",
        "random initialisation",
        "tumor-derived VGG16 weights",
    ]
    assert table["val_age_mae"].tolist() == pytest.approx([9.2, 12.2, 7.2]) and set(table["seeds"]) == {3}
    found = numbers.collect(profile, tmp_path / "main", tmp_path)  # each row by its sweep's folder
    assert found["pretraining.vgg16.tumor.val_age_mae.mean"] == pytest.approx(7.2)
    assert found["pretraining.vgg16.none.val_age_mae.sd"] == pytest.approx(0.1)
    assert found["pretraining.custom.none.val_age_mae.mean"] == pytest.approx(9.2)
    # Without a plain VGG16 seed sweep, its spread is the sweep of the study run's weights.
    study = dict(tumor, path="/weights/tumor.weights.h5")
    assert seed_sweeps.model_sweep(profile, "vgg16", tmp_path) is None
    spread = seed_sweeps.model_spread(profile, "vgg16", tmp_path, study, tmp_path / "no_own_runs")
    assert spread.loc["val_age_mae", "mean"] == pytest.approx(7.2) and spread.attrs["weights"] == tumor["label"]
    # A plain VGG16 seed sweep (#33) takes over from the pretraining sweep, with the profile's own run beside it.
    fake_run(
        seed_sweeps.sweep_folder(1, tmp_path) / "smoke" / "vgg16",
        config.get_profile("smoke", {"seed": 1}),
        0.9,
        6.0,
        model="vgg16",
    )
    fake_run(tmp_path / "own" / "smoke" / "vgg16", profile, 0.9, 6.4, model="vgg16")
    spread = seed_sweeps.model_spread(profile, "vgg16", tmp_path, study, tmp_path / "own")
    assert spread.attrs["seeds"] == [1, profile.seed] and spread.loc["val_age_mae", "mean"] == pytest.approx(6.2)
    assert "weights" not in spread.attrs
    shown = seed_sweeps.readable_pretraining(table)
    assert shown.loc[("VGG16", "tumor-derived VGG16 weights"), "val age MAE"] == "7.20 ± 0.10"
    assert "| VGG16 · tumor-derived VGG16 weights | 1, 2, 3 | 0.850 ± 0.000 | 7.20 ± 0.10 |" in (
        report.markdown_table(shown)
    )


def test_pretraining_table_takes_the_profiles_own_runs_where_no_sweep_has_them(tmp_path):
    profile = config.get_profile("smoke")
    tumor = {"source": "file", "label": "tumor-derived VGG16 weights"}
    fake_run(tmp_path / "main" / "smoke" / "custom", profile, 0.80, 9.0)
    fake_run(tmp_path / "main" / "smoke" / "vgg16", profile, 0.85, 7.0, model="vgg16", weights=tumor)
    assert seed_sweeps.pretraining_table(profile, tmp_path, tmp_path / "main") is None  # no VGG16 sweep: no table
    random = tmp_path / "weights-none" / f"seed{profile.seed}" / "smoke" / "vgg16"
    fake_run(random, profile, 0.70, 12.0, model="vgg16", weights={"source": "none", "label": "random initialisation"})
    manifest = json.loads((random / "manifest.json").read_text())
    (random / "manifest.json").write_text(
        json.dumps(dict(manifest, backend="jax", hardware={"accelerators": ["NVIDIA H200"]}))
    )
    table = seed_sweeps.pretraining_table(profile, tmp_path, tmp_path / "main")
    assert table["initial weights"].tolist() == [
        "trained from scratch",
        "random initialisation",
        "tumor-derived VGG16 weights",
    ]
    assert table["val_age_mae"].tolist() == [9.0, 12.0, 7.0] and set(table["seeds"]) == {1}
    assert table["ran on"].tolist() == ["CPU", "NVIDIA H200 with jax", "CPU"]  # no back end recorded: the machine
    assert seed_sweeps.readable_pretraining(table)["ran on"].tolist() == table["ran on"].tolist()


def test_inverse_age_weights_give_every_band_the_same_weight():
    age = np.array([25] * 6 + [5] * 3 + [75])
    weights = training.age_weights(age, "inverse")
    assert weights.mean() == pytest.approx(1.0)
    totals = pd.Series(weights).groupby(age // 10).sum()  # bands 0-9, 20-29, 70+
    assert np.allclose(totals, totals.iloc[0])
    assert training.age_weights(age, "none") is None


def test_weighted_batches_carry_age_weights_only():
    from helpers.data import FaceSet

    faces = FaceSet(
        [f"f{i}" for i in range(8)],
        np.zeros((8, 4, 4, 3), np.uint8),
        np.arange(8) * 10,
        np.zeros(8, int),
        np.zeros(8, int),
    )
    weights = np.arange(8, dtype="float32")
    _, targets, sample_weights = training.Batches(faces, 4, seed=0, age_weights=weights)[0]
    assert np.array_equal(sample_weights["age"], targets["age"] / 10)  # each weight stays with its image
    assert np.all(sample_weights["gender"] == 1)
    assert len(training.Batches(faces, 4, seed=0)[0]) == 2  # no weights: (images, targets) as before


def test_duplicates_experiment_trains_every_variant_and_measures_the_twin_effect(tmp_path, monkeypatch):
    from test_data import _variants

    from tools import execute

    # each variant through its notebook in this process (the command line's papermill runs: test_integration.py)
    monkeypatch.setattr(
        execute, "train", lambda model, profile, out, source, weights: train_here(model, profile, out, source)
    )

    folder = _variants(tmp_path)  # 12 faces, four of them twins with conflicting labels
    profile = config.get_profile("smoke", {"image_size": 32, "test_size": 0, "batch_size": 4})
    summary = experiment_runs.run("duplicates", profile, source=folder, results_dir=tmp_path / "results")
    assert list(summary["status"]) == ["run"] * 3
    assert summary.loc["all_images_group", "val_with_train_twin"] == 0
    group, clean = summary.loc["all_images_group"], summary.loc["all_images_group_clean"]
    assert clean["n_val"] == group["n_val"] and clean["n_train"] == group["n_train"] - clean["dropped_conflicting"]
    assert clean["dropped_conflicting"] == 4  # the four conflicting twins: too many for 2 validation places
    effect = experiment_runs.read_twin_effect(profile, results_dir=tmp_path / "results")
    assert effect["with_twin"]["n"] == summary.loc["all_images", "val_with_train_twin"]
    assert effect["with_twin"]["n"] + effect["without_twin"]["n"] == summary.loc["all_images", "n_val"]
    assert set(effect["age_mae_gain"]) == {"years", "standard_error", "beyond_noise"}
    finished = [
        experiments.variant_folder(profile, variant, "custom", tmp_path / "results") / "metrics.json"
        for variant in summary.index
    ]
    written = [path.stat().st_mtime_ns for path in finished]
    again = experiment_runs.run("duplicates", profile, source=folder, results_dir=tmp_path / "results")
    assert again.equals(summary)
    assert [path.stat().st_mtime_ns for path in finished] == written  # read back, not retrained
    path = (
        experiments.variant_folder(profile, "all_images", "custom", tmp_path / "results") / experiment_runs.TWIN_EFFECT
    )
    path.unlink()  # the conjectures share the random-split run: finishing it there measures the effect too
    experiment_runs.run("conjectures", profile, only=["all_images"], source=folder, results_dir=tmp_path / "results")
    assert experiment_runs.read_twin_effect(profile, results_dir=tmp_path / "results") == effect


def test_band_errors_compare_baseline_and_balanced_per_age_band(tmp_path):
    profile = config.get_profile("smoke")
    for folder, variant, shift in (
        (tmp_path / "smoke" / "custom", "baseline", -4.0),
        (tmp_path / "smoke" / "experiments" / "age_balanced" / "custom", "age_balanced", 1.0),
    ):
        fake_run(folder, experiments.variant_profile(profile, variant), 0.8, 9.0)
        ages = np.array([5, 25, 25, 75])
        pd.DataFrame(
            {
                "file": [f"{i}.jpg" for i in range(4)],
                "age": ages,
                "gender": 0,
                "race": 0,
                "pred_age": ages + shift,
                "prob_female": 0.2,
                "pred_gender": 0,
            }
        ).to_csv(folder / "predictions_test_custom.csv", index=False)
    bands = experiments.band_errors(profile, results_dir=tmp_path)
    assert list(bands.columns) == [
        "test images",
        "baseline: MAE",
        "baseline: bias",
        "age_balanced: MAE",
        "age_balanced: bias",
    ]
    assert bands.loc["20-29", "test images"] == 2 and bands.loc["70+", "baseline: bias"] == -4.0
    assert bands.loc["0-9", "age_balanced: MAE"] == 1.0
    assert list(experiments.readable_bands(bands).columns) == [
        "test images",
        "baseline: MAE",
        "baseline: bias",
        "age-balanced loss: MAE",
        "age-balanced loss: bias",
    ]
    assert experiments.band_errors(profile, results_dir=tmp_path / "none") is None


def test_conjectures_are_read_against_the_seed_spread_of_the_baseline(tmp_path):
    profile = config.get_profile("smoke")
    results_dir, sweeps = tmp_path / "results", tmp_path / "sweeps"
    fake_run(results_dir / "smoke" / "custom", profile, 0.80, 9.0)  # the baseline, seed 42
    assert experiments.variant_effects("conjectures", profile, sweep_dir=sweeps, results_dir=results_dir) is None
    fake_run(
        results_dir / "smoke" / "experiments" / "age_balanced" / "custom",
        experiments.variant_profile(profile, "age_balanced"),
        0.81,
        6.0,
    )  # 3 years better
    fake_run(
        results_dir / "smoke" / "experiments" / "res192" / "custom",
        experiments.variant_profile(profile, "res192"),
        0.70,
        9.2,
    )  # 0.1 worse on gender, same on age
    single = experiments.variant_effects("conjectures", profile, sweep_dir=sweeps, results_dir=results_dir)
    assert single.loc["age_balanced", "val_age_mae_diff"] == pytest.approx(-3.0)
    assert single.loc["age_balanced", "val_age_mae_beyond"] is None  # one run: no spread, no verdict
    for seed, mae in ((1, 9.5), (2, 8.5)):  # the seed spread: 9.0 ± 0.5 years, 0.80 ± 0.01 accuracy
        fake_run(
            seed_sweeps.sweep_folder(seed, sweeps) / "smoke" / "custom",
            config.get_profile("smoke", {"seed": seed}),
            0.80 + (seed - 1.5) / 50,
            mae,
        )
    spread = seed_sweeps.seed_spread(profile, sweep_dir=sweeps, results_dir=results_dir)
    assert spread.attrs["seeds"] == [1, 2, 42] and spread.loc["val_age_mae", "sd"] == pytest.approx(0.5)
    effects = experiments.variant_effects("conjectures", profile, sweep_dir=sweeps, results_dir=results_dir)
    assert list(effects.index) == ["res192", "age_balanced"]
    assert effects.loc["age_balanced", "val_age_mae_beyond"]  # 3.0 > 2 · 0.5 · √2
    assert not effects.loc["res192", "val_age_mae_beyond"] and effects.loc["res192", "val_gender_accuracy_beyond"]
    shown = numbers.effects_table(numbers.collect(profile, results_dir, sweeps))  # the report's and the README's
    assert shown.loc["Custom CNN · age-balanced loss", "val age MAE"] == "**-3.00**"  # bold: beyond the noise
    assert shown.loc["Custom CNN · 192 px", "val age MAE"] == "+0.20"
    assert shown.loc["Custom CNN · 192 px", "val gender accuracy"] == "**-0.100**"
    table, baseline, sd = experiments.effects_for_plot(effects)
    assert list(table.index) == ["baseline (the profile)", "192 px", "age-balanced loss"]
    assert baseline == "baseline (the profile)" and sd["val_age_mae"] == pytest.approx(0.5)
    fig = figures.against_baseline(
        table, baseline, sd, "conjectures", figures.SPREAD_METRICS + figures.TEST_METRICS, experiments.NOISE_SDS
    )  # Figure 10: the noise band is the text's threshold
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert [ax.get_xlabel() for ax in panels] == [label for _, label in figures.SPREAD_METRICS + figures.TEST_METRICS]
    bands = sorted((patch.get_x(), patch.get_x() + patch.get_width()) for patch in panels[0].patches)
    assert bands == [pytest.approx((9.0 - 2 * 0.5 * 2**0.5, 9.0 + 2 * 0.5 * 2**0.5)), pytest.approx((8.5, 9.5))]
    other = (table.iloc[:2] - 1, baseline, {key: 0.25 for key in sd})  # a second model: its own baseline and spread
    fig = figures.against_baselines({"Custom CNN": (table, baseline, sd), "VGG16": other}, "conjectures")
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert [ax.get_xlabel() for ax in panels] == [label for _, label in figures.SPREAD_METRICS] * 2
    assert [panels[0].get_title(loc="left"), panels[2].get_title(loc="left")] == ["Custom CNN", "VGG16"]
    assert [tick.get_text() for tick in panels[2].get_yticklabels()] == ["baseline (the profile)", "192 px"]
    assert sorted((patch.get_x(), patch.get_x() + patch.get_width()) for patch in panels[2].patches) == [
        pytest.approx((7.75, 8.25))
    ]
    assert [entry["variant"] for entry in experiments.not_run("conjectures", profile, results_dir=results_dir)] == [
        "all_images"
    ]
    checkpoint = results_dir / "smoke" / "experiments" / "all_images" / "custom" / "checkpoint"
    checkpoint.mkdir(parents=True)  # an unfinished run: its line says how far it got
    (checkpoint / "state.json").write_text(
        json.dumps({"hash": experiments.variant_profile(profile, "all_images").hash, "epoch": 1})
    )
    [entry] = experiments.not_run("conjectures", profile, results_dir=results_dir)
    assert entry["command"] == "python -m tools experiment conjectures --profile smoke --only all_images"
    assert entry["progress"] == "1 of 1 epochs checkpointed: training resumes there"


def _spread(rows: dict[str, tuple[float, float, int]]) -> pd.DataFrame:
    """A seed spread (mean, sd, runs) per metric, as :func:`extensions.seed_sweeps.seed_spread` gives it."""
    return pd.DataFrame.from_dict(rows, orient="index", columns=["mean", "sd", "runs"])


def test_the_gap_between_the_models_is_read_against_both_spreads():
    """#33: VGG16's advantage in the mean over seeds, against twice the standard error of a difference of means
    (the one rule of helpers.evaluation.beyond_noise); a model with one run borrows the other's sd."""
    custom = _spread({"val_age_mae": (8.36, 0.59, 3), "val_gender_accuracy": (0.833, 0.028, 3)})
    vgg16 = _spread({"val_age_mae": (7.00, 0.20, 3), "val_gender_accuracy": (0.850, 0.020, 3)})
    for frame in (custom, vgg16):
        for key in ("test_age_mae", "test_gender_accuracy"):
            frame.loc[key] = (float("nan"), float("nan"), 0)
    found = numbers.gaps({"custom": custom, "vgg16": vgg16})
    assert found["gap.custom.vgg16.val_age_mae.advantage"] == pytest.approx(1.36)
    assert found["gap.custom.vgg16.val_age_mae.error"] == pytest.approx((0.59**2 / 3 + 0.20**2 / 3) ** 0.5)  # 0.36
    assert found["gap.custom.vgg16.val_age_mae.beyond_noise"] is True
    assert found["gap.custom.vgg16.val_gender_accuracy.advantage"] == pytest.approx(0.017)
    assert found["gap.custom.vgg16.val_gender_accuracy.beyond_noise"] is False  # 0.017 < 2 · 0.020
    assert found["gap.custom.vgg16.test_age_mae.beyond_noise"] is None  # no test scores: not judged
    single = vgg16.assign(sd=float("nan"), runs=1)
    error = numbers.gaps({"custom": custom, "vgg16": single})["gap.custom.vgg16.val_age_mae.error"]
    assert error == pytest.approx((0.59**2 / 3 + 0.59**2 / 1) ** 0.5)


def test_the_coursework_is_read_against_the_reproductions_spread(tmp_path):
    profile = config.get_profile("smoke")
    for seed, (accuracy, mae) in {1: (0.85, 8.1), 2: (0.87, 8.3)}.items():
        folder = seed_sweeps.sweep_folder(seed, tmp_path) / "smoke" / "custom"
        fake_run(folder, config.get_profile("smoke", {"seed": seed}), accuracy, mae)
    found = numbers.collect(profile, tmp_path / "none", tmp_path)
    spread = seed_sweeps.seed_spread(profile, "custom", tmp_path, tmp_path / "none")
    reported = registry.get("custom").reported
    z = (reported["val_age_mae"] - spread.loc["val_age_mae", "mean"]) / spread.loc["val_age_mae", "sd"]
    assert found["custom.seeds.val_age_mae.reported_z"] == pytest.approx(z)  # 8.5 against 8.2 ± 0.14: 2.1 sd
    assert found["custom.seeds.val_gender_accuracy.reported_z"] == pytest.approx(0.0, abs=1e-9)
    assert "vgg16.seeds.val_age_mae.reported_z" not in found  # no VGG16 run here


def test_provenance_names_the_settings_a_run_recorded():
    profile = config.get_profile("smoke")
    runs = {
        "custom": SimpleNamespace(manifest={"hash": "0123456789ab", "data": {}, "hardware": {}}),
        "vgg16": SimpleNamespace(manifest={"hash": profile.hash, "data": {}, "hardware": {}}),
    }
    table = report.provenance(runs, None, profile)
    assert table.loc["VGG16 transfer", "settings"] == f"hash `{profile.hash}`"
    assert table.loc["Custom CNN", "settings"] == "hash `0123456789ab` (older, same settings)"  # same_settings


def test_more_data_is_also_compared_on_the_test_faces_both_runs_held_out(tmp_path):
    """The all-images run draws its own test set: the faces it shares with the baseline's are the fair comparison."""
    profile = config.get_profile("smoke")
    base = tmp_path / "smoke" / "custom"
    more = tmp_path / "smoke" / "experiments" / "all_images" / "custom"
    fake_run(base, profile, 0.8, 9.0)
    fake_run(more, experiments.variant_profile(profile, "all_images"), 0.8, 9.0)
    header = "file,age,gender,race,pred_age,prob_female,pred_gender\n"
    (base / "predictions_test_custom.csv").write_text(
        header
        + "".join(
            f"{name}.jpg,30,0,0,{30 + error},0.1,0\n" for name, error in (("a", 1), ("b", 1), ("c", 10), ("d", 10))
        )
    )
    (more / "predictions_test_custom.csv").write_text(
        header + "".join(f"{name}.jpg,30,0,0,{30 + error},0.1,0\n" for name, error in (("c", 2), ("d", 4), ("e", 9)))
    )
    shared = experiment_runs.shared_test(profile, results_dir=tmp_path)
    assert shared["n"] == 2  # c and d, which neither run trained on
    assert (shared["age_mae"]["first"], shared["age_mae"]["second"]) == (10.0, 3.0)
    assert shared["gender_accuracy"]["advantage"] == 0.0
    found = numbers.collect(profile, tmp_path, tmp_path / "sweeps")
    assert found["custom.all_images.shared.n"] == 2
    assert found["custom.all_images.shared.age_mae.advantage"] == pytest.approx(7.0)
    assert (found["custom.all_images.shared.age_mae.low"], found["custom.all_images.shared.age_mae.high"]) == (6.0, 8.0)
    assert (
        found["custom.all_images.shared.age_mae.beyond"]
        and not found["custom.all_images.shared.gender_accuracy.beyond"]
    )
    (more / "predictions_test_custom.csv").write_text(header + "e.jpg,30,0,0,31,0.1,0\n")
    assert experiment_runs.shared_test(profile, results_dir=tmp_path) is None  # no face in common: nothing to pair


def test_duplicate_variants_are_compared_on_their_shared_test_images(tmp_path):
    profile = config.get_profile("smoke")
    header = "file,age,gender,race,pred_age,prob_female,pred_gender\n"
    nothing = experiments.summary("duplicates", profile, results_dir=tmp_path)
    assert set(experiments.SUMMARY_COLUMNS) - {"variant"} <= set(nothing.columns)  # a fresh clone: no variant run
    assert numbers.duplicates_table(numbers.collect(profile, tmp_path, tmp_path / "none")) is None
    errors = {"all_images": 10, "all_images_group": 2, "all_images_group_clean": 1.9}  # years off, on every image
    for variant, error in errors.items():
        folder = tmp_path / "smoke" / "experiments" / variant / "custom"
        fake_run(folder, experiments.variant_profile(profile, variant), 0.8, 9.0)
        (folder / "predictions_test_custom.csv").write_text(
            header + "".join(f"{i}.jpg,30,{i % 2},0,{30 + error + i % 3},0.1,0\n" for i in range(6))
        )
    found = numbers.collect(profile, tmp_path, tmp_path / "none")
    group = "custom.all_images_group.against.all_images"
    assert found[f"{group}.n"] == 6 and found[f"{group}.age_mae.advantage"] == pytest.approx(8.0)
    assert found[f"{group}.age_mae.beyond"] and not found[f"{group}.gender_accuracy.beyond"]
    clean = "custom.all_images_group_clean.against.all_images_group"
    assert found[f"{clean}.age_mae.advantage"] == pytest.approx(0.1)  # 0.1 years better on every face
    table = numbers.duplicates_table(found)
    assert list(table.index) == [
        "Custom CNN · all images, group split (test)",
        "Custom CNN · all images, group split, conflicting twins dropped (test)",
    ]
    assert table.iloc[0]["age MAE advantage"] == "**+8.00 [+8.00, +8.00]**"  # the interval leaves zero out
    assert table.iloc[0]["gender accuracy advantage"] == "+0.000 [+0.000, +0.000]"
    shutil.rmtree(tmp_path / "smoke" / "experiments" / "all_images_group_clean")
    assert len(numbers.duplicates_table(numbers.collect(profile, tmp_path, tmp_path / "none"))) == 1


def test_a_run_repeated_on_another_machine_is_set_beside_the_committed_one_and_read_against_the_noise(tmp_path):
    profile = config.get_profile("smoke")
    results_dir, sweeps = tmp_path / "results", tmp_path / "sweeps"
    fake_run(results_dir / "smoke" / "custom", profile, 0.80, 9.0)  # the committed run, on the CPU
    manifest = json.loads((results_dir / "smoke/custom/manifest.json").read_text())
    (results_dir / "smoke/custom/manifest.json").write_text(json.dumps({**manifest, "backend": "tensorflow"}))
    for seed, mae in ((1, 9.5), (2, 8.5)):  # seed spread: 9.0 ± 0.5 years, 0.80 ± 0.01 (noise: 2·sd·√2)
        other = config.get_profile("smoke", {"seed": seed})
        fake_run(seed_sweeps.sweep_folder(seed, sweeps) / "smoke" / "custom", other, 0.80 + (seed - 1.5) / 50, mae)
    gpu = experiment_runs.device_folder("NVIDIA H100 80GB HBM3", sweeps)
    assert gpu == sweeps / "device-nvidia-h100-80gb-hbm3"
    assert experiment_runs.device_replicates(profile, sweeps, results_dir) is None
    fake_run(gpu / "seed7" / "smoke" / "custom", config.get_profile("smoke", {"seed": 7}), 0.80, 20.0)  # other seed
    assert experiment_runs.device_replicates(profile, sweeps, results_dir) is None
    fake_run(gpu / f"seed{profile.seed}" / "smoke" / "custom", profile, 0.81, 11.0)  # the same run, 2 years worse
    manifest = json.loads((gpu / f"seed{profile.seed}/smoke/custom/manifest.json").read_text())
    manifest.update(backend="jax", hardware={"accelerators": ["NVIDIA H100 80GB HBM3"]})
    (gpu / f"seed{profile.seed}/smoke/custom/manifest.json").write_text(json.dumps(manifest))
    table = experiment_runs.device_replicates(profile, sweeps, results_dir)
    assert len(table) == 1 and table.loc[0, "ran_on"] == "NVIDIA H100 80GB HBM3 with jax"
    assert table.loc[0, "val_age_mae"] == 11.0 and table.loc[0, "val_age_mae_own"] == 9.0
    assert table.loc[0, "val_age_mae_diff"] == pytest.approx(2.0) and table.loc[0, "val_age_mae_beyond"]
    assert not table.loc[0, "val_gender_accuracy_beyond"]  # 0.01 apart: within 2 · 0.01 · √2
    assert table.loc[0, "val_gender_accuracy_diff"] == pytest.approx(0.01)
    # the seed spread is the CPU runs' alone: the repeat is not one of its seeds
    assert seed_sweeps.seed_spread(profile, sweep_dir=sweeps, results_dir=results_dir).attrs["seeds"] == [1, 2, 42]
    found = numbers.collect(profile, results_dir, sweeps)
    table = numbers.machine_table(found)
    assert table.loc["Custom CNN · NVIDIA H100 80GB HBM3 with jax", "val age MAE"] == "11.00 (**+2.00**)"
    assert (found["machine.beyond"], found["machine.judged"]) == (2, 4)  # both age MAEs (test: 11.5 vs 9.5)
    other = experiment_runs.device_folder("NVIDIA H200", sweeps) / f"seed{profile.seed}/smoke/custom"
    shutil.copytree(gpu / f"seed{profile.seed}/smoke/custom", other)  # the same run on a second machine
    (other / "manifest.json").write_text(json.dumps({**manifest, "hardware": {"accelerators": ["NVIDIA H200"]}}))
    found = numbers.collect(profile, results_dir, sweeps)
    assert list(numbers.machine_table(found).index) == [  # each row names its machine
        "Custom CNN · NVIDIA H100 80GB HBM3 with jax",
        "Custom CNN · NVIDIA H200 with jax",
    ]
    assert (found["machine.judged"], found["machine.beyond"]) == (8, 4)


def test_a_repeat_without_a_spread_or_a_committed_run_is_not_judged(tmp_path):
    profile = config.get_profile("smoke")
    results_dir, sweeps = tmp_path / "results", tmp_path / "sweeps"
    gpu = experiment_runs.device_folder("/physical_device:GPU:0", sweeps)  # TensorFlow's name for a GPU
    assert gpu.parent == sweeps and gpu.name == "device-physical-device-gpu-0"
    fake_run(gpu / f"seed{profile.seed}" / "smoke" / "custom", profile, 0.81, 11.0)
    assert experiment_runs.device_replicates(profile, sweeps, results_dir) is None  # no committed run to set it beside
    fake_run(results_dir / "smoke" / "custom", profile, 0.80, 9.0)  # the committed run alone: no seed spread
    table = experiment_runs.device_replicates(profile, sweeps, results_dir)
    assert table.loc[0, "val_age_mae_diff"] == pytest.approx(2.0) and table.loc[0, "val_age_mae_beyond"] is None
    assert experiment_runs.judged_differences(table) == {"judged": 0, "beyond": 0}
    assert "**" not in numbers.machine_table(numbers.collect(profile, results_dir, sweeps)).to_string()


def test_every_model_whose_all_images_run_measured_the_twin_effect_gets_its_row(tmp_path):
    profile = config.get_profile("smoke")
    effect = {
        "with_twin": {"n": 2, "gender_accuracy": 1.0, "age_mae": 4.0, "age_mae_standard_error": 1.0},
        "without_twin": {"n": 18, "gender_accuracy": 0.8, "age_mae": 6.0, "age_mae_standard_error": 0.5},
        "age_mae_gain": {"years": 2.0, "standard_error": 1.1, "beyond_noise": False},
    }
    for model in ("custom", "vgg16"):
        folder = experiments.variant_folder(profile, "all_images", model, tmp_path)
        folder.mkdir(parents=True)
        (folder / experiment_runs.TWIN_EFFECT).write_text(json.dumps(effect))
    found = numbers.collect(profile, tmp_path, tmp_path / "sweeps")
    assert (found["custom.twin.years"], found["vgg16.twin.error"], found["vgg16.twin.with_twin"]) == (2.0, 1.1, 2)
    assert found["vgg16.twin.beyond_noise"] is False  # 2.0 < 2 · 1.1
    table = numbers.duplicates_table(found)
    assert list(table.index) == [
        "Custom CNN · twin in training (validation)",
        "VGG16 transfer · twin in training (validation)",
    ]
    assert table.iloc[0]["age MAE advantage"] == "+2.00 ± 1.10"


def test_the_protocol_table_sets_each_models_seeds_under_both_learning_rates_side_by_side(tmp_path):
    """The constant rate's runs are the profile's own and its seed sweep's; the cosine rate's are in
    sweeps/lr-cosine/; flip numbers are averaged over the runs that have them; the end's wobble from the histories."""
    smoke = config.get_profile("smoke")
    cosine = dataclasses.replace(smoke, lr_schedule="cosine")
    sweeps = tmp_path / "sweeps"
    constant = [tmp_path / "smoke" / "custom", sweeps / "seed1" / "smoke" / "custom"]  # seed 42 is the profile's own
    fake_run(constant[0], smoke, 0.80, 9.0)
    fake_run(constant[1], dataclasses.replace(smoke, seed=1), 0.84, 11.0)
    for folder in constant:
        pd.DataFrame({"epoch": range(1, 13), "val_age_mae": 20.0}).to_csv(folder / "history_custom.csv", index=False)
    for seed, mae, wobble in ((42, 8.0, 0.1), (1, 8.4, 0.3)):
        folder = seed_sweeps.schedule_folder("cosine", sweeps) / f"seed{seed}" / "smoke" / "custom"
        fake_run(folder, dataclasses.replace(cosine, seed=seed), 0.82, mae)
        metrics = json.loads((folder / "metrics.json").read_text())
        (folder / "metrics.json").write_text(
            json.dumps(dict(metrics, test_age_mae_flip=mae, test_gender_accuracy_flip=0.8))
        )
        ends = 20 + np.arange(12) * 0.0 + np.tile([wobble, -wobble], 6)  # ±wobble around 20 over the last epochs
        pd.DataFrame({"epoch": range(1, 13), "val_age_mae": ends}).to_csv(folder / "history_custom.csv", index=False)
    table = seed_sweeps.protocol_table(smoke, sweep_dir=sweeps, results_dir=tmp_path).set_index("learning rate")
    assert list(table.index) == ["constant", "cosine"] and set(table["model"]) == {"Custom CNN"}
    assert table.loc["constant", "seeds"] == "1, 42" and table.loc["cosine", "seeds"] == "1, 42"
    assert table.loc["constant", "val_age_mae"] == 10.0 and table.loc["cosine", "val_age_mae"] == pytest.approx(8.2)
    assert table.loc["cosine", "test_age_mae_flip"] == pytest.approx(8.2) and np.isnan(
        table.loc["constant", "test_age_mae_flip"]
    )
    wobbles = [np.std(np.tile([w, -w], 5), ddof=1) for w in (0.1, 0.3)]
    assert table.loc["cosine", "last_epochs_sd"] == pytest.approx(np.mean(wobbles))
    two_stages = pd.DataFrame({"val_age_mae": [30.0, 10.0, 6.0, 8.0], "stage": [1, 1, 2, 2]})
    assert seed_sweeps.last_epochs_sd(two_stages) == pytest.approx(np.std([6.0, 8.0], ddof=1))  # the last stage's
    shown = seed_sweeps.readable_protocols(table.reset_index())
    assert shown.loc[("Custom CNN", "cosine"), "val age MAE"] == "8.20 ± 0.28"
    assert shown.loc[("Custom CNN", "constant"), "test age MAE flip"] == "—"
    assert seed_sweeps.protocol_table(smoke, sweep_dir=tmp_path / "none", results_dir=tmp_path) is None


def test_a_runs_end_is_measured_within_its_last_stage():
    """The numbers of how a run ended: each stage's last validation age MAE, the largest move between two of the
    last ten epochs of its last stage, its very last epoch's change; a last stage of one epoch moves nothing."""
    history = pd.DataFrame({"val_age_mae": [30.0, 9.0, 8.0, 6.0, 9.0, 7.0], "stage": [1, 1, 1, 2, 2, 2]})
    found = numbers.run_end("face", history)
    assert (found["face.stage1_end_val_age_mae"], found["face.stage2_end_val_age_mae"]) == (8.0, 7.0)
    assert found["face.end_largest_jump"] == 3.0 and found["face.last_epoch_change"] == -2.0
    short = numbers.run_end("vgg16", pd.DataFrame({"val_age_mae": [30.0, 9.0], "stage": [1, 2]}))
    assert short == {"vgg16.stage1_end_val_age_mae": 30.0, "vgg16.stage2_end_val_age_mae": 9.0}
