"""Experiments: variants of a profile (a few settings changed), trained one after another and tabulated.

A variant's run lives in ``results/<profile>/experiments/<variant>/<model>/``; the ``baseline`` variant is the
profile's own run in ``results/<profile>/<model>/``. Finished runs are reused, so an experiment that was cut
short continues where it stopped, and variants shared by two experiments train once.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pandas as pd

from helpers import config, evaluation, registry, results
from helpers.config import Profile

from .seed_sweeps import device, seed_spread

ALL_IMAGES = {"n_images": None, "val_size": 0.2}

# name: (label, settings changed from the profile)
VARIANTS: dict[str, tuple[str, dict]] = {
    "baseline": ("baseline (the profile)", {}),
    "all_images": ("all images, random split", ALL_IMAGES),
    # 192 px: the largest multiple of 32 (VGG16's down-sampling) not above UTKFace's native 200 px.
    "res192": ("192 px", {"image_size": 192}),
    "age_balanced": ("age-balanced loss", {"age_weighting": "inverse"}),
    "all_images_group": ("all images, group split", {**ALL_IMAGES, "split": "group"}),
    "all_images_group_clean": (
        "all images, group split, conflicting twins dropped",
        {**ALL_IMAGES, "split": "group", "drop_conflicting": True},
    ),
    "all_images_cosine_last": ("all images, last stage's rate decaying", {**ALL_IMAGES, "lr_schedule": "cosine_last"}),
}

EXPERIMENTS: dict[str, tuple[str, ...]] = {
    # The coursework's closing conjectures: more data, higher resolution, balancing the rare ages.
    "conjectures": ("baseline", "all_images", "res192", "age_balanced"),
    # Does a random split flatter validation (twins on both sides)? Do conflicting labels hurt training?
    "duplicates": ("all_images", "all_images_group", "all_images_group_clean"),
    # The most the study gets out of a model: every image, under each learning-rate protocol (#48).
    "protocols": ("all_images", "all_images_cosine_last"),
}


def check_name(experiment: str) -> tuple[str, ...]:
    if experiment not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {experiment!r}; choose one of: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[experiment]


def variant_profile(profile: Profile, variant: str) -> Profile:
    """``profile`` with the variant's settings applied (same name, its own hash)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
    return dataclasses.replace(profile, **VARIANTS[variant][1]).validate()


def changes_model(variant: str, profile: Profile, model: str) -> bool:
    """Whether ``variant`` trains ``model`` otherwise than its baseline does (192 px changes nothing for a model
    that reads images of one size only)."""
    spec = registry.get(model)
    return variant == "baseline" or spec.profile_for(variant_profile(profile, variant)) != spec.profile_for(profile)


def variant_folder(profile: Profile, variant: str, model: str, results_dir=None) -> Path:
    if variant == "baseline":
        return results.run_folder(model, profile, results_dir)
    return results.profile_folder(profile, results_dir) / "experiments" / variant / model


# Every column of a summary, so that one where no variant has run still has them (NaN).
SUMMARY_COLUMNS = (
    "variant",
    "label",
    "status",
    "n_train",
    "n_val",
    "val_with_train_twin",
    "dropped_conflicting",
    "val_gender_accuracy",
    "val_age_mae",
    "test_gender_accuracy",
    "test_age_mae",
    "minutes",
    "device",
    "test_gender_accuracy_flip",
    "test_age_mae_flip",
)


def summary(experiment: str, profile: Profile, model: str = registry.DEFAULT_MODEL, results_dir=None) -> pd.DataFrame:
    """One row per variant: what changed, the data it saw, validation and test metrics; NaN where not run."""
    rows = []
    for variant in check_name(experiment):
        run = variant_run(profile, variant, model, results_dir)
        rows.append(
            {"variant": variant, "label": VARIANTS[variant][0], "status": "not run"}
            if run is None
            else summary_row(profile, variant, run, results_dir)
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS).set_index("variant")


def variant_run(profile: Profile, variant: str, model: str = registry.DEFAULT_MODEL, results_dir=None):
    """A variant's finished run (:class:`helpers.results.RunResults`); None where it has not run."""
    folder = variant_folder(profile, variant, model, results_dir)
    return results.load(model, folder) if results.finished_in(folder, variant_profile(profile, variant)) else None


def summary_row(profile: Profile, variant: str, run, results_dir=None) -> dict:
    """A finished variant's row of :func:`summary` (``SUMMARY_COLUMNS``) from its run (:func:`variant_run`)."""
    data = run.manifest["data"]
    twins = data.get("val_with_train_twin")
    if twins is None and variant == "baseline":  # a run from before manifests counted them
        twins = _split_twins(profile, results_dir)
    return {
        "variant": variant,
        "label": VARIANTS[variant][0],
        "status": "run",
        "n_train": data["n_train"],
        "n_val": data["n_val"],
        "val_with_train_twin": twins,
        "dropped_conflicting": data.get("dropped_conflicting", 0),
        "val_gender_accuracy": run.metrics["val_gender_accuracy"],
        "val_age_mae": run.metrics["val_age_mae"],
        "test_gender_accuracy": run.metrics.get("test_gender_accuracy"),
        "test_age_mae": run.metrics.get("test_age_mae"),
        "minutes": run.manifest["seconds"] / 60,
        "device": device(run.manifest),
        "test_gender_accuracy_flip": run.metrics.get("test_gender_accuracy_flip"),
        "test_age_mae_flip": run.metrics.get("test_age_mae_flip"),
    }


def _split_twins(profile: Profile, results_dir=None) -> int | None:
    """The validation images with a twin in training of the profile's own split, as notebook 01 counted them
    (``data_summary.json``); None where it has not run."""
    path = results.profile_folder(profile, results_dir) / "data_summary.json"
    duplicates = json.loads(path.read_text()).get("duplicates", {}) if path.is_file() else {}
    return duplicates.get("val_with_train_twin") if duplicates.get("split") == profile.split else None


def ran(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows of a :func:`summary` whose variant has run."""
    return summary[summary["status"] == "run"]


def summaries(profile: Profile, results_dir=None) -> dict[str, dict[str, pd.DataFrame]]:
    """Every experiment's :func:`summary` per model: the default model's (the custom CNN's) always (its "not run"
    rows say what is missing), another model's when at least one of its variants has run."""
    found = {}
    for model in registry.names():
        tables = {name: summary(name, profile, model, results_dir) for name in EXPERIMENTS}
        if model == registry.DEFAULT_MODEL or any(not ran(table).empty for table in tables.values()):
            found[model] = tables
    return found


EFFECT_METRICS = ("val_age_mae", "val_gender_accuracy", "test_age_mae", "test_gender_accuracy")


# How many seed sds a difference between two single runs must exceed to be beyond the noise (the rule of
# evaluation.beyond_noise with the standard error sd·√2): the light band of Figure 10.
NOISE_SDS = evaluation.NOISE_ERRORS * 2**0.5


def variant_effects(
    experiment: str, profile: Profile, model: str = registry.DEFAULT_MODEL, sweep_dir=None, results_dir=None
) -> pd.DataFrame | None:
    """The variants of ``experiment`` that ran, beside the baseline: each metric of ``EFFECT_METRICS``, its
    difference from the baseline's (``<metric>_diff``) and whether that difference is beyond the run-to-run noise
    (``<metric>_beyond``): more than twice the standard deviation of a difference between two runs, sd·√2, with sd
    from :func:`extensions.seed_sweeps.seed_spread`; None where there is no spread (fewer than two runs).
    ``attrs["spread"]``: that spread. None when the baseline or every other variant has not run."""
    table = summary(experiment, profile, model, results_dir)
    if "baseline" not in table.index or table.loc["baseline", "status"] != "run":
        return None
    variants = ran(table).drop(index="baseline")
    if variants.empty:
        return None
    spread = seed_spread(profile, model, sweep_dir, results_dir)
    base = table.loc["baseline"]
    rows = []
    for variant, row in variants.iterrows():
        effect = {"variant": variant, "label": row["label"], "n_train": row["n_train"], "device": row["device"]}
        for key in EFFECT_METRICS:
            difference = row[key] - base[key]
            sd = spread.loc[key, "sd"] if spread is not None else float("nan")
            effect.update(
                {
                    key: row[key],
                    f"{key}_diff": difference,
                    f"{key}_beyond": evaluation.beyond_run_noise(difference, sd),
                }
            )
        rows.append(effect)
    effects = pd.DataFrame(rows).set_index("variant")
    effects.attrs.update(spread=spread, baseline=base)
    return effects


def conjecture_effects(profile: Profile, sweep_dir=None, results_dir=None) -> dict[str, pd.DataFrame]:
    """:func:`variant_effects` of the conjectures per model (registry order), for each model with a variant run
    beside its baseline; each read against that model's own seed spread."""
    found = {}
    for model in registry.names():
        effects = variant_effects("conjectures", profile, model, sweep_dir, results_dir)
        if effects is not None:
            found[model] = effects
    return found


# What each conjecture of the coursework expects of its variant, and on which metric it is judged first.
CONJECTURES = {
    "all_images": "more data would help",
    "res192": "a higher resolution would help",
    "age_balanced": "more weight on the rare ages would help",
}


def paired_test(
    profile: Profile, first: str, second: str, model: str = registry.DEFAULT_MODEL, results_dir=None
) -> dict | None:
    """Two variants' runs compared image by image on the test images both held out (which neither trained on).

    Returns:
        :func:`helpers.evaluation.paired_comparison` of those faces, ``first`` first; None unless both runs have
        test predictions and share at least one face.
    """
    tests = []
    for variant in (first, second):
        folder = variant_folder(profile, variant, model, results_dir)
        if not results.finished_in(folder, variant_profile(profile, variant)):
            return None
        tests.append(results.load(model, folder).test_predictions)
    if any(test is None for test in tests):
        return None
    common = set(tests[0]["file"]) & set(tests[1]["file"])
    if not common:
        return None
    return evaluation.paired_comparison(*(test[test["file"].isin(common)] for test in tests))


# The duplicates experiment's questions: each variant against the one it changes.
DUPLICATE_QUESTIONS = (
    ("all_images", "all_images_group", "A group-aware split (no twin on both sides), against the random split"),
    (
        "all_images_group",
        "all_images_group_clean",
        "Leaving the conflicting twins out of training, against keeping them (both group-aware)",
    ),
)


def not_run(experiment: str, profile: Profile, model: str = registry.DEFAULT_MODEL, results_dir=None) -> list[dict]:
    """The variants of ``experiment`` not run at ``profile``: variant, label, model, the command that trains it
    and how far an unfinished run got (:func:`helpers.results.progress_note`, "" if it did not start)."""
    entries = []
    for variant, row in summary(experiment, profile, model, results_dir).iterrows():
        if row["status"] == "run" or not changes_model(variant, profile, model):
            continue
        option = f" --model {model}" if model != registry.DEFAULT_MODEL else ""
        folder = variant_folder(profile, variant, model, results_dir)
        entries.append(
            {
                "variant": variant,
                "label": row["label"],
                "model": model,
                "command": f"python -m tools experiment {experiment} --profile {profile.name} --only {variant}{option}",
                "progress": results.progress_note(model, folder, variant_profile(profile, variant)),
            }
        )
    return entries


def effects_for_plot(effects: pd.DataFrame) -> tuple[pd.DataFrame, str, dict[str, float]]:
    """:func:`variant_effects` for :func:`extensions.figures.against_baseline`: the baseline and each variant by label,
    the baseline's label and the seed-to-seed sd per metric."""
    base, spread = effects.attrs["baseline"], effects.attrs["spread"]
    table = pd.concat(
        [
            pd.DataFrame([base[list(EFFECT_METRICS)]], index=[base["label"]]),
            effects.set_index("label")[list(EFFECT_METRICS)],
        ]
    ).astype(float)
    sd = {key: spread.loc[key, "sd"] if spread is not None else float("nan") for key in EFFECT_METRICS}
    return table, base["label"], sd


def band_errors(
    profile: Profile, variants=("baseline", "age_balanced"), model: str = registry.DEFAULT_MODEL, results_dir=None
) -> pd.DataFrame | None:
    """Test-set MAE and mean signed error per age band for each variant that has test predictions; None if
    fewer than two have (balancing the loss is meant to help the rare ages, which the overall MAE hides)."""
    columns = {}
    for variant in variants:
        folder = variant_folder(profile, variant, model, results_dir)
        if results.finished_in(folder, variant_profile(profile, variant)):
            test = results.load(model, folder).test_predictions
            if test is not None:
                bands = evaluation.age_bands(test).set_index("band")
                columns.setdefault("test images", bands["count"])
                columns[f"{variant}: MAE"] = bands["mae"]
                columns[f"{variant}: bias"] = bands["mean_signed_error"]
    return pd.DataFrame(columns) if len(columns) >= 5 else None


def readable_bands(bands: pd.DataFrame) -> pd.DataFrame:
    """:func:`band_errors` for reading: each variant by its label ("age-balanced loss: MAE")."""

    def name(column: str) -> str:
        variant, _, what = column.partition(": ")
        if not what:
            return column
        return f"{'baseline' if variant == 'baseline' else VARIANTS[variant][0]}: {what}"

    return bands.rename(columns=name)


def _number(value, digits: int) -> str:
    return "—" if value is None or value != value else f"{value:.{digits}f}"


def _count(value) -> str:
    return "—" if value is None or value != value else f"{int(value):,}"


def readable(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`summary` as display strings, one row per variant label ("—" where not run or not recorded)."""
    rows = []
    for _, row in summary.iterrows():
        run = row["status"] == "run"
        rows.append(
            {
                "variant": row["label"],
                "training images": _count(row.get("n_train")),
                "val images with a twin in training": (
                    f"{_count(row.get('val_with_train_twin'))} of {_count(row.get('n_val'))}" if run else "—"
                ),
                "val gender accuracy": _number(row.get("val_gender_accuracy"), 3),
                "val age MAE": _number(row.get("val_age_mae"), 2),
                "test gender accuracy": _number(row.get("test_gender_accuracy"), 3),
                "test age MAE": _number(row.get("test_age_mae"), 2),
                "run on": f"{_short_device(row['device'])}, {_clock(row['minutes'])}" if run else "not run",
            }
        )
    return pd.DataFrame(rows).set_index("variant")


def _short_device(names: str) -> str:
    """A table cell's machine: "NVIDIA H100 80GB HBM3" -> "NVIDIA H100" (memory and packaging left out), for each
    of the comma-separated accelerators."""
    short = re.compile(r"\d+GB|HBM\w*|PCIe|SXM\w*")
    return ", ".join(" ".join(w for w in name.split() if not short.fullmatch(w)) for name in names.split(", "))


def _clock(minutes: float) -> str:
    """ "113 min", or "85 s" for a GPU's run of a minute or two."""
    return f"{minutes * 60:.0f} s" if minutes < 2.5 else f"{minutes:.0f} min"


def shown_profiles(profile: Profile) -> list[Profile]:
    """The profiles whose experiments and sweeps a report of ``profile`` shows: ``profile``, then ``quick`` (the
    CPU-sized one, where they are run here)."""
    return list(dict.fromkeys([profile, config.PROFILES["quick"]]))
