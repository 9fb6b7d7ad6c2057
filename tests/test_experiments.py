"""Experiment variants and seed sweeps: the profiles they train, and the tables read back from run folders."""

import dataclasses
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from helpers import config, experiments, findings, plots, registry, report, report_sections, seed_sweeps, training


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
    entry = report_sections.experiment_tables(profile, tmp_path, tmp_path)[0]
    # One table for every model's variants: the custom CNN has no variant beside a baseline, so no row.
    assert list(entry["conjectures"].index) == ["VGG16 transfer: age-balanced loss"]
    assert entry["conjectures"].loc["VGG16 transfer: age-balanced loss", "val age MAE"] == "8.10"
    assert entry["models"] == []  # no baseline beside it: nothing to read a difference from
    # No duplicates variant ran: no table, each model's variants named with the command that trains them.
    assert entry["duplicates"] == {}
    missing = [(item["model"], item["variant"]) for item in entry["duplicates_not_run"]]
    assert missing == [
        (model, variant) for model in ("custom", "vgg16") for variant in experiments.EXPERIMENTS["duplicates"]
    ]
    assert entry["duplicates_not_run"][-1]["command"].endswith("--only all_images_group_clean --model vgg16")
    fake_run(
        tmp_path / "smoke" / "experiments" / "all_images" / "custom",
        experiments.variant_profile(profile, "all_images"),
        0.83,
        7.9,
    )
    entry = report_sections.experiment_tables(profile, tmp_path, tmp_path)[0]
    assert list(entry["duplicates"]) == ["custom"] and list(entry["duplicates"]["custom"].index) == [
        "all images, random split"
    ]  # only the rows that ran
    assert ("custom", "all_images") not in [(item["model"], item["variant"]) for item in entry["duplicates_not_run"]]


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
    [entry] = report_sections.sweeps(profile, tmp_path, results_dir=tmp_path / "no_own_runs")
    assert entry["profile"] == profile and entry["models"]["custom"]["val_age_mae"]["mean"] == pytest.approx(12.0)


def test_a_smaller_profiles_spread_is_called_a_guide_only_for_models_without_their_own(tmp_path):
    seed, quick = config.get_profile("seed"), config.get_profile("quick")

    def sweep(profile, seeds):
        for n in seeds:
            folder = seed_sweeps.sweep_folder(n, tmp_path) / profile.name / "custom"
            fake_run(folder, config.get_profile(profile.name, {"seed": n}), 0.8 + n / 100, 9.0 + n)

    sweep(quick, (1, 2, 3))
    [quick_entry] = report_sections.sweeps(seed, tmp_path, results_dir=tmp_path / "no_own_runs")
    assert quick_entry["profile"] == quick and quick_entry["guide_for"] == ["custom"]
    sweep(seed, (1, 2))
    seed_entry, quick_entry = report_sections.sweeps(seed, tmp_path, results_dir=tmp_path / "no_own_runs")
    assert seed_entry["guide_for"] == quick_entry["guide_for"] == []


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
    # Stability over seeds: VGG16's is the sweep of the study run's weights (no plain VGG16 sweep here).
    study = dict(tumor, path="/weights/tumor.weights.h5")
    assert seed_sweeps.model_sweep(profile, "vgg16", tmp_path) is None
    [entry] = report_sections.sweeps(profile, tmp_path, {"vgg16": study}, results_dir=tmp_path / "no_own_runs")
    assert entry["models"]["vgg16"]["val_age_mae"]["mean"] == pytest.approx(7.2)
    assert entry["models"]["vgg16"]["weights"] == tumor["label"] and entry["models"]["custom"]["weights"] is None
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
    [finding] = findings.pretraining_findings(table)
    assert finding == (
        "VGG16 with tumor-derived VGG16 weights: validation age MAE 7.20 years, 5.00 years better "
        "than VGG16 from random weights, and 2.00 years better than the custom CNN; validation gender "
        "accuracy 0.850, 0.150 better than VGG16 from random weights, and 0.050 better than the "
        "custom CNN."
    )
    close = table.assign(val_age_mae=[7.25, 12.2, 7.2])  # the custom CNN within the noise of the tumor weights
    assert findings.pretraining_findings(close, keys=("val_age_mae",)) == [
        "VGG16 with tumor-derived VGG16 weights: validation age MAE 7.20 years, 5.00 years better than VGG16 from "
        "random weights."
    ]
    level = table.assign(val_age_mae=[7.2, 7.25, 7.2])
    assert findings.pretraining_findings(level, keys=("val_age_mae",)) == [
        "VGG16 with tumor-derived VGG16 weights: no difference beyond the seed-to-seed noise."
    ]
    single = table.assign(seeds=1, val_age_mae_sd=float("nan"))
    assert (
        "7.20 years, 5.00 years better than VGG16 from random weights (a single seed: no noise estimate), and"
        in (findings.pretraining_findings(single, keys=("val_age_mae",))[0])
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


def test_duplicates_experiment_trains_every_variant_and_measures_the_twin_effect(tmp_path):
    from test_data import _variants

    folder = _variants(tmp_path)  # 12 faces, four of them twins with conflicting labels
    profile = config.get_profile("smoke", {"image_size": 32, "test_size": 0, "batch_size": 4})
    summary = experiments.run("duplicates", profile, source=folder, results_dir=tmp_path / "results", verbose=0)
    assert list(summary["status"]) == ["run"] * 3
    assert summary.loc["all_images_group", "val_with_train_twin"] == 0
    group, clean = summary.loc["all_images_group"], summary.loc["all_images_group_clean"]
    assert clean["n_val"] == group["n_val"] and clean["n_train"] == group["n_train"] - clean["dropped_conflicting"]
    assert clean["dropped_conflicting"] == 4  # the four conflicting twins: too many for 2 validation places
    effect = experiments.read_twin_effect(profile, results_dir=tmp_path / "results")
    assert effect["with_twin"]["n"] == summary.loc["all_images", "val_with_train_twin"]
    assert effect["with_twin"]["n"] + effect["without_twin"]["n"] == summary.loc["all_images", "n_val"]
    assert set(effect["age_mae_gain"]) == {"years", "standard_error", "beyond_noise"}
    finished = [
        experiments.variant_folder(profile, variant, "custom", tmp_path / "results") / "metrics.json"
        for variant in summary.index
    ]
    written = [path.stat().st_mtime_ns for path in finished]
    again = experiments.run("duplicates", profile, source=folder, results_dir=tmp_path / "results", verbose=0)
    assert again.equals(summary)
    assert [path.stat().st_mtime_ns for path in finished] == written  # read back, not retrained
    path = experiments.variant_folder(profile, "all_images", "custom", tmp_path / "results") / experiments.TWIN_EFFECT
    path.unlink()  # the conjectures share the random-split run: finishing it there measures the effect too
    experiments.run(
        "conjectures", profile, only=["all_images"], source=folder, results_dir=tmp_path / "results", verbose=0
    )
    assert experiments.read_twin_effect(profile, results_dir=tmp_path / "results") == effect


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
    assert "no verdict" in findings.conjecture_findings(single)["age_balanced"]
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
    paragraphs = findings.conjecture_findings(effects)
    assert paragraphs["age_balanced"] == (  # only what is beyond the noise: the table and Figure 10 show the rest
        "**More weight on the rare ages would help** (age-balanced loss): beyond the run-to-run noise (seeds 1, 2, "
        "42): validation age MAE 6.00 years against 9.00 years (-3.00, better); test age MAE 6.50 years against 9.50 "
        "years (-3.00, better). This supports the conjecture on those metrics; the other differences are within the "
        "noise."
    )
    assert "validation gender accuracy 0.700 against 0.800 (-0.100, worse)" in paragraphs["res192"]
    assert "speaks against the conjecture" in paragraphs["res192"] and "age MAE" not in paragraphs["res192"]
    table, baseline, sd = experiments.effects_for_plot(effects)
    assert list(table.index) == ["baseline (the profile)", "192 px", "age-balanced loss"]
    assert baseline == "baseline (the profile)" and sd["val_age_mae"] == pytest.approx(0.5)
    fig = plots.against_baseline(
        table, baseline, sd, "conjectures", plots.SPREAD_METRICS + plots.TEST_METRICS, experiments.NOISE_SDS
    )  # Figure 10: the noise band is the text's threshold
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert [ax.get_xlabel() for ax in panels] == [label for _, label in plots.SPREAD_METRICS + plots.TEST_METRICS]
    bands = sorted((patch.get_x(), patch.get_x() + patch.get_width()) for patch in panels[0].patches)
    assert bands == [pytest.approx((9.0 - 2 * 0.5 * 2**0.5, 9.0 + 2 * 0.5 * 2**0.5)), pytest.approx((8.5, 9.5))]
    other = (table.iloc[:2] - 1, baseline, {key: 0.25 for key in sd})  # a second model: its own baseline and spread
    fig = plots.against_baselines({"Custom CNN": (table, baseline, sd), "VGG16": other}, "conjectures")
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert [ax.get_xlabel() for ax in panels] == [label for _, label in plots.SPREAD_METRICS] * 2
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
    entry = report_sections.experiment_tables(profile, results_dir, sweeps)[0]
    assert list(entry["conjectures"].index) == [
        "Custom CNN: baseline (the profile)",
        "Custom CNN: 192 px",
        "Custom CNN: age-balanced loss",
    ]
    assert (
        entry["not_run"][0]["command"] == "python -m helpers experiment conjectures --profile smoke --only all_images"
    )
    assert entry["not_run"][0]["time"].endswith("; 1 of 1 epochs checkpointed: training resumes there")
    [custom] = entry["models"]  # each model read against its own spread
    assert custom["model"] == "custom" and custom["spread"]["seeds"] == [1, 2, 42]
    assert set(custom["findings"]) == {"res192", "age_balanced"}


def test_the_coursework_is_read_against_the_reproductions_spread():
    spread = {
        "seeds": [1, 2, 42],
        "val_gender_accuracy": {"mean": 0.85, "sd": 0.01},
        "val_age_mae": {"mean": 8.2, "sd": 0.1},
    }
    assert report_sections.against_coursework(spread, "custom") == (
        "Against the coursework's Custom CNN (mean ± 2 sd over seeds 1, 2, 42): its validation gender accuracy 0.86 is "
        "within "
        "0.850 ± 0.020; its validation age MAE 8.5 years is outside 8.20 ± 0.20."
    )
    assert "cannot be judged" in report_sections.against_coursework({**spread, "seeds": [42]}, "custom")


def test_the_gap_between_the_models_is_read_against_both_spreads():
    """#33: VGG16's advantage in the mean over seeds, against twice the standard error of a difference of means."""
    custom = {
        "seeds": [1, 2, 42],
        "val_age_mae": {"mean": 8.36, "sd": 0.59, "runs": 3},
        "val_gender_accuracy": {"mean": 0.833, "sd": 0.028, "runs": 3},
    }
    vgg16 = {
        "seeds": [1, 2, 42],
        "val_age_mae": {"mean": 7.00, "sd": 0.20, "runs": 3},
        "val_gender_accuracy": {"mean": 0.850, "sd": 0.020, "runs": 3},
    }
    assert report_sections.spread_gap({"custom": custom, "vgg16": vgg16}, "seed") == (
        "At profile seed, VGG16 transfer's advantage over Custom CNN in the mean over seeds: validation age MAE "
        "+1.36 years (standard error 0.36: beyond twice that); validation gender accuracy +0.017 (standard error "
        "0.020: within twice that)."
    )
    assert "cannot be judged yet: VGG16 transfer has a single run here" in report_sections.spread_gap(
        {"custom": custom, "vgg16": {**vgg16, "seeds": [42]}}, "seed"
    )
    assert report_sections.spread_gap({"custom": custom}, "seed") is None


def test_training_time_names_pauses_instead_of_quoting_them_as_training():
    steady = pd.DataFrame({"seconds": [400.0, 410.0, 500.0, 510.0], "stage": [1, 1, 2, 2]})
    assert report.training_time(SimpleNamespace(history=steady, manifest={})) == (
        "30 minutes (median epoch 405 s in stage 1 and 505 s in stage 2)"
    )
    paused = pd.DataFrame({"seconds": [400.0, 4000.0, 400.0, 500.0, 500.0], "stage": [1, 1, 1, 2, 2]})  # 1 h stop
    assert report.training_time(SimpleNamespace(history=paused, manifest={})) == (
        "about 37 minutes at its median epoch time of 400 s in stage 1 and 500 s in stage 2 (97 minutes summed over "
        "its epochs: the run was paused or shared the machine)"
    )
    unknown = pd.DataFrame({"epoch": [1, 2]})  # no per-epoch times: the manifest's total
    assert report.training_time(SimpleNamespace(history=unknown, manifest={"seconds": 9000})) == "2.5 hours"


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
    shared = experiments.shared_test(profile, results_dir=tmp_path)
    assert shared["n"] == 2  # c and d, which neither run trained on
    assert (shared["age_mae"]["first"], shared["age_mae"]["second"]) == (10.0, 3.0)
    assert shared["gender_accuracy"]["advantage"] == 0.0
    effects = experiments.variant_effects("conjectures", profile, results_dir=tmp_path)
    paragraph = findings.conjecture_findings(effects, shared=shared)["all_images"]
    assert (
        "On the 2 test images that both runs held out, the same faces for both, its age MAE is 3.00 years "
        "against 10.00 (advantage +7.00, 95 % interval +6.00 to +8.00)"
    ) in paragraph
    assert paragraph.endswith(
        "age MAE better, beyond the noise of which faces were graded; the other difference is within it."
    )
    (more / "predictions_test_custom.csv").write_text(header + "e.jpg,30,0,0,31,0.1,0\n")
    assert experiments.shared_test(profile, results_dir=tmp_path) is None  # no face in common: nothing to pair


def test_duplicate_variants_are_compared_on_their_shared_test_images_and_against_the_run_to_run_noise(tmp_path):
    profile = config.get_profile("smoke")
    header = "file,age,gender,race,pred_age,prob_female,pred_gender\n"
    nothing = experiments.summary("duplicates", profile, results_dir=tmp_path)
    assert set(experiments.SUMMARY_COLUMNS) - {"variant"} <= set(nothing.columns)  # a fresh clone: no variant run
    assert findings.duplicate_findings(profile, results_dir=tmp_path, sweep_dir=tmp_path / "none") == []
    errors = {"all_images": 10, "all_images_group": 2, "all_images_group_clean": 1.9}  # years off, on every image
    for variant, error in errors.items():
        folder = tmp_path / "smoke" / "experiments" / variant / "custom"
        fake_run(folder, experiments.variant_profile(profile, variant), 0.8, 9.0)
        (folder / "predictions_test_custom.csv").write_text(
            header + "".join(f"{i}.jpg,30,{i % 2},0,{30 + error + i % 3},0.1,0\n" for i in range(6))
        )
    first, second = findings.duplicate_findings(profile, results_dir=tmp_path, sweep_dir=tmp_path / "none")
    assert first.startswith(
        "A group-aware split (no twin on both sides), against the random split, on the same 6 "
        "test images: its age MAE is 3.00 years against 11.00 (advantage +8.00"
    )
    assert "age MAE better, beyond the noise of which faces were graded; the other difference is within it." in first
    assert "run-to-run" not in first  # one run, no seed sweep: no spread to read it against
    assert second.startswith("Leaving the conflicting twins out of training")
    sweeps = tmp_path / "sweeps"
    fake_run(tmp_path / "smoke" / "custom", profile, 0.80, 9.0)  # the profile's own run, seed 42
    for seed, mae in ((1, 9.5), (2, 8.5)):  # test age MAE sd 0.5: a difference beyond 2 · 0.5 · √2 ≈ 1.41 counts
        fake_run(
            seed_sweeps.sweep_folder(seed, sweeps) / "smoke" / "custom",
            config.get_profile("smoke", {"seed": seed}),
            0.80,
            mae,
        )
    first, second = findings.duplicate_findings(profile, results_dir=tmp_path, sweep_dir=sweeps)
    assert first.endswith(
        "Beyond the run-to-run noise of a test score (twice the sd of a difference between two "
        "runs, from the profile's subset runs, seeds 1, 2, 42) as well: age MAE."
    )
    assert "age MAE better, beyond the noise of which faces were graded" in second  # 0.1 years on every face ...
    assert second.endswith(
        "It is within the run-to-run noise of a test score (twice the sd of a difference between "
        "two runs, from the profile's subset runs, seeds 1, 2, 42): one run of each cannot tell it "
        "from a retraining's chance."
    )  # ... but far less than a retraining moves it
    assert "different machines" not in first + second  # all on the CPU
    manifest = tmp_path / "smoke" / "experiments" / "all_images" / "custom" / "manifest.json"
    gpu = {**json.loads(manifest.read_text()), "hardware": {"accelerators": ["NVIDIA H100 80GB HBM3"]}}
    manifest.write_text(json.dumps(gpu))  # the random split trained on a GPU, the group split on the CPU
    first, second = findings.duplicate_findings(profile, results_dir=tmp_path, sweep_dir=sweeps)
    assert first.endswith(
        'The two trained on different machines (CPU and NVIDIA H100 80GB HBM3): section 4.2\'s "The machine alone" '
        "says how far that alone can move a run."
    )
    assert "different machines" not in second  # both group-aware runs on the CPU
    shutil.rmtree(tmp_path / "smoke" / "experiments" / "all_images_group_clean")
    assert len(findings.duplicate_findings(profile, results_dir=tmp_path, sweep_dir=sweeps)) == 1


def test_a_difference_is_read_against_a_retraining_only_where_the_spread_has_test_scores():
    comparison = {
        "age_mae": {"advantage": 1.5, "ci95": (1.0, 2.0)},  # beyond the noise of which faces were graded
        "gender_accuracy": {"advantage": 0.01, "ci95": (-0.01, 0.03)},  # within it
    }
    spread = pd.DataFrame({"sd": [0.2, 0.01]}, index=["test_age_mae", "test_gender_accuracy"])
    spread.attrs["seeds"] = [1, 2, 42]
    assert findings.graded_metrics(comparison) == [("age_mae", "age MAE")]
    assert findings.beyond_retraining(comparison, spread) == ["age MAE"]  # 1.5 > 2·√2·0.2 ≈ 0.57
    assert findings.beyond_retraining(comparison, spread.assign(sd=[0.6, 0.01])) == []  # 1.5 < 2·√2·0.6 ≈ 1.70
    no_test = spread.assign(sd=[float("nan"), 0.01])  # a seed run without test scores: nothing to judge by
    assert findings.beyond_retraining(comparison, no_test) is None
    spread.attrs["seeds"] = [42]
    assert findings.beyond_retraining(comparison, spread) is None


def test_a_run_repeated_on_another_machine_is_set_beside_the_committed_one_and_read_against_the_noise(tmp_path):
    profile = config.get_profile("smoke")
    results_dir, sweeps = tmp_path / "results", tmp_path / "sweeps"
    fake_run(results_dir / "smoke" / "custom", profile, 0.80, 9.0)  # the committed run, on the CPU
    manifest = json.loads((results_dir / "smoke/custom/manifest.json").read_text())
    (results_dir / "smoke/custom/manifest.json").write_text(json.dumps({**manifest, "backend": "tensorflow"}))
    for seed, mae in ((1, 9.5), (2, 8.5)):  # seed spread: 9.0 ± 0.5 years, 0.80 ± 0.01 (noise: 2·sd·√2)
        other = config.get_profile("smoke", {"seed": seed})
        fake_run(seed_sweeps.sweep_folder(seed, sweeps) / "smoke" / "custom", other, 0.80 + (seed - 1.5) / 50, mae)
    gpu = experiments.device_folder("NVIDIA H100 80GB HBM3", sweeps)
    assert gpu == sweeps / "device-nvidia-h100-80gb-hbm3"
    assert experiments.device_replicates(profile, sweeps, results_dir) is None
    fake_run(gpu / "seed7" / "smoke" / "custom", config.get_profile("smoke", {"seed": 7}), 0.80, 20.0)  # other seed
    assert experiments.device_replicates(profile, sweeps, results_dir) is None
    fake_run(gpu / f"seed{profile.seed}" / "smoke" / "custom", profile, 0.81, 11.0)  # the same run, 2 years worse
    manifest = json.loads((gpu / f"seed{profile.seed}/smoke/custom/manifest.json").read_text())
    manifest.update(backend="jax", hardware={"accelerators": ["NVIDIA H100 80GB HBM3"]})
    (gpu / f"seed{profile.seed}/smoke/custom/manifest.json").write_text(json.dumps(manifest))
    table = experiments.device_replicates(profile, sweeps, results_dir)
    assert len(table) == 1 and table.loc[0, "ran_on"] == "NVIDIA H100 80GB HBM3 with jax"
    assert table.loc[0, "val_age_mae"] == 11.0 and table.loc[0, "val_age_mae_own"] == 9.0
    assert table.loc[0, "val_age_mae_diff"] == pytest.approx(2.0) and table.loc[0, "val_age_mae_beyond"]
    assert not table.loc[0, "val_gender_accuracy_beyond"]  # 0.01 apart: within 2 · 0.01 · √2
    assert table.loc[0, "val_gender_accuracy_diff"] == pytest.approx(0.01)
    # the seed spread is the CPU runs' alone: the repeat is not one of its seeds
    assert seed_sweeps.seed_spread(profile, sweep_dir=sweeps, results_dir=results_dir).attrs["seeds"] == [1, 2, 42]
    shown = report_sections.device_replicates(profile, results_dir, sweeps)
    assert shown["ran_on"] == ["NVIDIA H100 80GB HBM3 with jax"] and shown["own_ran_on"] == ["CPU with tensorflow"]
    assert shown["table"].loc["Custom CNN", "val age MAE"] == "11.00 vs 9.00 (beyond)"
    assert shown["beyond"] == 2 and shown["judged"] == 4  # both age MAEs (test: 11.5 vs 9.5)
    other = experiments.device_folder("NVIDIA H200", sweeps) / f"seed{profile.seed}/smoke/custom"
    shutil.copytree(gpu / f"seed{profile.seed}/smoke/custom", other)  # the same run on a second machine
    (other / "manifest.json").write_text(json.dumps({**manifest, "hardware": {"accelerators": ["NVIDIA H200"]}}))
    shown = report_sections.device_replicates(profile, results_dir, sweeps)
    assert list(shown["table"].index) == [  # each row names its machine
        "Custom CNN (NVIDIA H100 80GB HBM3 with jax)",
        "Custom CNN (NVIDIA H200 with jax)",
    ]
    assert shown["judged"] == 8 and shown["beyond"] == 4


def test_a_repeat_without_a_spread_or_a_committed_run_is_not_judged(tmp_path):
    profile = config.get_profile("smoke")
    results_dir, sweeps = tmp_path / "results", tmp_path / "sweeps"
    gpu = experiments.device_folder("/physical_device:GPU:0", sweeps)  # TensorFlow's name for a GPU
    assert gpu.parent == sweeps and gpu.name == "device-physical-device-gpu-0"
    fake_run(gpu / f"seed{profile.seed}" / "smoke" / "custom", profile, 0.81, 11.0)
    assert experiments.device_replicates(profile, sweeps, results_dir) is None  # no committed run to set it beside
    fake_run(results_dir / "smoke" / "custom", profile, 0.80, 9.0)  # the committed run alone: no seed spread
    table = experiments.device_replicates(profile, sweeps, results_dir)
    assert table.loc[0, "val_age_mae_diff"] == pytest.approx(2.0) and table.loc[0, "val_age_mae_beyond"] is None
    assert experiments.judged_differences(table) == {"judged": 0, "beyond": 0}
    assert "(beyond)" not in report_sections.device_replicates(profile, results_dir, sweeps)["table"].to_string()


def test_every_model_whose_all_images_run_measured_the_twin_effect_gets_its_sentence(tmp_path):
    profile = config.get_profile("smoke")
    effect = {
        "with_twin": {"n": 2, "gender_accuracy": 1.0, "age_mae": 4.0, "age_mae_standard_error": 1.0},
        "without_twin": {"n": 18, "gender_accuracy": 0.8, "age_mae": 6.0, "age_mae_standard_error": 0.5},
        "age_mae_gain": {"years": 2.0, "standard_error": 1.1, "beyond_noise": False},
    }
    for model in ("custom", "vgg16"):
        folder = experiments.variant_folder(profile, "all_images", model, tmp_path)
        folder.mkdir(parents=True)
        (folder / experiments.TWIN_EFFECT).write_text(json.dumps(effect))
    [entry] = [
        e for e in report_sections.experiment_tables(profile, tmp_path, tmp_path / "sweeps") if e["profile"] == profile
    ]
    assert list(entry["twin_effects"]) == ["custom", "vgg16"] and entry["twin_effects"]["vgg16"] == effect
    assert list(entry["duplicate_findings"]) == list(registry.names())  # each model's paragraphs follow its twin effect


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
