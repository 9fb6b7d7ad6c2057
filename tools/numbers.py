"""The report's numbers: ``results/`` turned into named numbers and booleans, one flat dict that the report writes
beside itself as ``numbers.json`` (the idea of showyourwork's ``\\variable``). The template quotes them by name and
``report/claims.yml`` checks each sentence that depends on them; nothing here writes a sentence.

Names are dotted paths, e.g. ``custom.val_age_mae``, ``vgg16.seeds.val_age_mae.sd``,
``face.all_images.test_age_mae_beyond_noise``, ``pair.vgg16.face.test.age_mae.low``. A number that could not be
measured (a model or a run that has not run) is absent. Whether a difference is beyond the noise is decided by one
rule, :func:`helpers.evaluation.beyond_noise`.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from extensions import experiments, seed_sweeps
from helpers import config, evaluation, registry, results
from helpers.config import Profile
from helpers.files import write_atomic

from . import experiments as experiment_runs

# face-api's own age-gender network (@vladmandic/face-api 1.7.15, an Xception-like net trained on eight data sets,
# UTKFace's 80 % among them) on this study's 2,000 test images, measured outside this repository (issue #48): the
# reference the study's best model is set against.
FACE_API = {"test_gender_accuracy": 0.938, "test_age_mae": 5.00}

METRICS = ("val_gender_accuracy", "val_age_mae", "test_gender_accuracy", "test_age_mae")
FLIP = ("test_gender_accuracy_flip", "test_age_mae_flip")  # flip at test time: runs since #48
SIGNED = {"gender_accuracy": 1, "age_mae": -1}  # which way is better: an advantage is positive when it is


def collect(profile: Profile, results_dir=None, sweep_dir=None) -> dict:
    """Every number the report of ``profile`` quotes, by name (see the module's docstring)."""
    numbers = {"profile.name": profile.name, "profile.hash": profile.hash}
    numbers["profile.is_seed"] = profile.hash == config.PROFILES["seed"].hash
    root = results.profile_folder(profile, results_dir)
    numbers.update(_flat("data", _read(root / "data_summary.json")))
    runs = results.load_available(profile, results_dir)
    evaluations = _read(root / "evaluation.json")
    spreads = {}
    for model in registry.names():
        numbers[f"{model}.ran"] = model in runs
        numbers.update(_flat(f"{model}.reported", registry.get(model).reported or {}))
        if model in runs:
            numbers.update(_run(model, runs[model]))
        if model in evaluations:
            numbers.update(_evaluation(model, evaluations[model]))
        spread = seed_sweeps.seed_spread(profile, model, sweep_dir, results_dir)
        if spread is not None:
            spreads[model] = spread
            numbers.update(_spread(f"{model}.seeds", spread, registry.get(model).reported))
    numbers.update(_pairs(runs))
    numbers.update(gaps(spreads))
    for shown in experiments.shown_profiles(profile):
        found = {
            **_variants(shown, sweep_dir, results_dir),
            **_pretraining(shown, sweep_dir, results_dir),
            **_protocols(shown, sweep_dir, results_dir),
            **_more_data_per_protocol(shown, sweep_dir, results_dir),
        }
        # The report's own profile unprefixed; the quick profile's previews always as quick.<name> as well.
        for prefix in ("" if shown == profile else None, f"{shown.name}." if shown.name == "quick" else None):
            if prefix is not None:
                numbers.update({prefix + name: value for name, value in found.items()})
    numbers.update(_machines(profile, sweep_dir, results_dir))
    numbers.update(_flat("faceapi", FACE_API))
    return {name: _plain(value) for name, value in numbers.items() if _plain(value) is not None}


def write(numbers: dict, path: Path) -> None:
    write_atomic(path, json.dumps(numbers, indent=1, sort_keys=True) + "\n")


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _flat(prefix: str, values: dict) -> dict:
    """Nested dicts as dotted names (``{"a": {"b": 1}}`` under ``x``: ``x.a.b``); lists stay values."""
    out = {}
    for key, value in values.items():
        name = f"{prefix}.{key}"
        out.update(_flat(name, value) if isinstance(value, dict) else {name: value})
    return out


def _plain(value):
    """A JSON value: numpy scalars as Python's, NaN as None (absent)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _run(model: str, run: results.RunResults) -> dict:
    manifest, history = run.manifest, run.history
    numbers = {f"{model}.{key}": value for key, value in run.metrics.items()}
    numbers.update(
        {
            f"{model}.n_train": manifest["data"]["n_train"],
            f"{model}.n_val": manifest["data"]["n_val"],
            f"{model}.weights": (manifest.get("weights") or {}).get("label"),
            f"{model}.ran_on": seed_sweeps.ran_on(manifest),
            f"{model}.trained": manifest.get("finished", "")[:10],
            f"{model}.minutes": manifest["seconds"] / 60,
        }
    )
    if "seconds" in history:
        numbers[f"{model}.median_epoch_seconds"] = float(history["seconds"].median())
    numbers.update(run_end(model, history))
    return numbers


def run_end(name: str, history) -> dict:
    """Where a run's validation age MAE ended each stage, and how far it moved between two of the last ten epochs
    of its last stage (``end_largest_jump``) and in its very last epoch (``last_epoch_change``)."""
    if "val_age_mae" not in history:
        return {}
    numbers = {}
    if "stage" in history:
        for stage, part in history.groupby("stage"):
            numbers[f"{name}.stage{stage}_end_val_age_mae"] = float(part["val_age_mae"].iloc[-1])
    end = seed_sweeps.last_stage(history)["val_age_mae"].tail(seed_sweeps.LAST_EPOCHS)
    if len(end) < 2:  # a last stage of one epoch: nothing moved within it
        return numbers
    numbers[f"{name}.end_largest_jump"] = float(end.diff().abs().max())
    numbers[f"{name}.last_epoch_change"] = float(end.iloc[-1] - end.iloc[-2])
    return numbers


def _band_name(band: str) -> str:
    """An age band as a name: "0-9" -> "age_0_9", "70+" -> "age_70_plus"."""
    return "age_" + band.replace("-", "_").replace("+", "_plus")


def _evaluation(model: str, result: dict) -> dict:
    """Beyond accuracy and MAE, on validation (``<model>.val.*``) and test images (``<model>.test.*``)."""
    numbers = {}
    for split, part in (("val", result), ("test", result.get("test"))):
        if part is None:
            continue
        prefix = f"{model}.{split}"
        numbers[f"{prefix}.roc_auc"] = part["gender"]["roc_auc"]
        numbers.update({f"{prefix}.{key}": part["age"][key] for key in ("rmse", "cs5", "cs10")})
        for band in part["age_bands"]:
            numbers[f"{prefix}.{_band_name(band['band'])}.bias"] = band["mean_signed_error"]
            numbers[f"{prefix}.{_band_name(band['band'])}.count"] = band["count"]
        numbers.update(_flat(f"{prefix}.baseline", part["baselines"]))
    return numbers


def _spread(prefix: str, spread, reported: dict | None = None) -> dict:
    """Mean, sd and runs over seeds of each metric; where the coursework reported the metric, how many sds its
    number lies from the mean (``reported_z``)."""
    numbers = {f"{prefix}.list": ", ".join(map(str, spread.attrs["seeds"]))}
    for key in spread.index:
        for column in ("mean", "sd", "runs"):
            numbers[f"{prefix}.{key}.{column}"] = spread.loc[key, column]
        if reported and key in reported and spread.loc[key, "sd"] > 0:  # a spread to read it against
            numbers[f"{prefix}.{key}.reported_z"] = (reported[key] - spread.loc[key, "mean"]) / spread.loc[key, "sd"]
    return numbers


def _advantage(key: str, first: float, second: float) -> float:
    """How much better ``second`` is than ``first`` on ``key`` (positive: better)."""
    return (second - first) * SIGNED["gender_accuracy" if "accuracy" in key else "age_mae"]


def _pairs(runs: dict) -> dict:
    """Each pair of models image by image (``pair.<first>.<second>.<split>.<metric>``): the second's advantage,
    its 95 % bootstrap interval (``low``, ``high``), ``beyond`` when the interval leaves zero out, McNemar's p."""
    numbers = {}
    for (first, second), comparisons in results.paired_comparisons(runs).items():
        for split, comparison in comparisons.items():
            numbers.update(_paired(f"pair.{first}.{second}.{split}", comparison))
    return numbers


def _paired(prefix: str, comparison: dict) -> dict:
    numbers = {f"{prefix}.n": comparison["n"]}
    for key in ("gender_accuracy", "age_mae"):
        metric = comparison[key]
        low, high = metric["ci95"]
        numbers.update(
            {
                f"{prefix}.{key}.first": metric["first"],
                f"{prefix}.{key}.second": metric["second"],
                f"{prefix}.{key}.advantage": metric["advantage"],
                f"{prefix}.{key}.low": low,
                f"{prefix}.{key}.high": high,
                f"{prefix}.{key}.beyond": low > 0 or high < 0,
            }
        )
    numbers[f"{prefix}.gender_accuracy.p"] = comparison["gender_accuracy"]["mcnemar_p"]
    return numbers


def gaps(spreads: dict) -> dict:
    """Each pair of models over their seeds (``gap.<first>.<second>.<metric>``): the second's advantage in the
    means, its standard error and whether it is beyond the noise. A model with one run borrows the other's sd."""
    numbers = {}
    names = list(spreads)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a, b = spreads[first], spreads[second]
            for key in METRICS:
                sd_a, sd_b = a.loc[key, "sd"], b.loc[key, "sd"]
                sd_a, sd_b = (sd_b if sd_a != sd_a else sd_a), (sd_a if sd_b != sd_b else sd_b)
                error = evaluation.standard_error((sd_a, a.loc[key, "runs"]), (sd_b, b.loc[key, "runs"]))
                advantage = _advantage(key, a.loc[key, "mean"], b.loc[key, "mean"])
                prefix = f"gap.{first}.{second}.{key}"
                numbers.update(
                    {
                        f"{prefix}.advantage": advantage,
                        f"{prefix}.error": error,
                        f"{prefix}.beyond_noise": evaluation.beyond_noise(advantage, error),
                    }
                )
    return numbers


def _variants(profile: Profile, sweep_dir=None, results_dir=None) -> dict:
    """Every experiment variant that ran (``<model>.<variant>.<metric>``), its difference from the model's baseline
    (``_diff``: variant minus baseline) and whether that is beyond the noise of the model's seed spread; the
    duplicates' and the all-images run's image-by-image comparisons; the twin effect."""
    numbers = {}
    for model in registry.names():
        spread = seed_sweeps.seed_spread(profile, model, sweep_dir, results_dir)
        base = model
        if (own := seed_sweeps.own_run(profile, model, results_dir)) is not None:
            numbers.update({f"{base}.{key}": own.metrics.get(key) for key in METRICS})
        for variant in dict.fromkeys(v for variants in experiments.EXPERIMENTS.values() for v in variants):
            if variant == "baseline":
                continue
            run = experiments.variant_run(profile, variant, model, results_dir)
            if run is None:
                continue
            row = experiments.summary_row(profile, variant, run, results_dir)
            name = f"{base}.{variant}"
            numbers.update({f"{name}.{key}": row[key] for key in (*METRICS, *FLIP, "n_train", "minutes", "device")})
            numbers.update(run_end(name, run.history))
            for key in METRICS:
                if own is None or own.metrics.get(key) is None:
                    continue
                difference = row[key] - own.metrics[key]
                sd = spread.loc[key, "sd"] if spread is not None else float("nan")
                numbers[f"{name}.{key}_diff"] = difference
                numbers[f"{name}.{key}_beyond_noise"] = evaluation.beyond_run_noise(difference, sd)
        if (shared := experiment_runs.shared_test(profile, model, results_dir)) is not None:
            numbers.update(_paired(f"{base}.all_images.shared", shared))
        for first, second, _ in experiments.DUPLICATE_QUESTIONS:
            if (paired := experiments.paired_test(profile, first, second, model, results_dir)) is not None:
                numbers.update(_paired(f"{base}.{second}.against.{first}", paired))
        if (effect := experiment_runs.read_twin_effect(profile, model, results_dir)) is not None:
            gain = effect["age_mae_gain"]
            numbers.update(
                {
                    f"{base}.twin.years": gain["years"],
                    f"{base}.twin.error": gain["standard_error"],
                    f"{base}.twin.beyond_noise": evaluation.beyond_noise(gain["years"], gain["standard_error"]),
                    f"{base}.twin.with_twin": effect["with_twin"]["n"],
                }
            )
    return numbers


def _pretraining(profile: Profile, sweep_dir=None, results_dir=None) -> dict:
    """Each row of the pretraining table (``pretraining.<model>.<weights>.<metric>.mean|sd``) and, for a pretrained
    model's weights, the difference from the same model's random weights (``.against_random``: positive when
    better) with whether it is beyond the noise."""
    table = seed_sweeps.pretraining_table(profile, sweep_dir, results_dir)
    if table is None:
        return {}
    numbers = {}
    models = {text: name for name, spec in registry.MODELS.items() for text in (spec.label, spec.short)}
    table = table.assign(name=[models[label] for label in table["model"]])
    for _, row in table.iterrows():
        name = f"pretraining.{row['name']}.{row['weights key']}"
        numbers[f"{name}.seeds"] = row["seeds"]
        random = table[(table["name"] == row["name"]) & (table["weights key"] == "none")]
        for key in seed_sweeps.PRETRAINING_METRICS:
            numbers[f"{name}.{key}.mean"], numbers[f"{name}.{key}.sd"] = row[key], row[f"{key}_sd"]
            if row["weights key"] == "none" or random.empty:
                continue
            other = random.iloc[0]
            advantage = _advantage(key, other[key], row[key])
            error = evaluation.standard_error((row[f"{key}_sd"], row["seeds"]), (other[f"{key}_sd"], other["seeds"]))
            numbers[f"{name}.{key}.against_random"] = advantage
            numbers[f"{name}.{key}.against_random_beyond_noise"] = evaluation.beyond_noise(advantage, error)
    return numbers


def _protocols(profile: Profile, sweep_dir=None, results_dir=None) -> dict:
    """Each model's runs over seeds under each learning-rate schedule (``<model>.<schedule>.seeds.<metric>``) and
    how much their ends wobble (``.wobble``), where a schedule other than the profile's has run; under each such
    schedule, the gaps between the models over their seeds (``<schedule>.gap.<first>.<second>.<metric>``) and each
    model's gain over its own runs under the profile's schedule (``<model>.<schedule>.against_<metric>``: positive
    when better, with ``error`` and ``beyond_noise``)."""
    table = seed_sweeps.protocol_table(profile, sweep_dir=sweep_dir, results_dir=results_dir)
    if table is None:
        return {}
    numbers = {}
    labels = {spec.label: name for name, spec in registry.MODELS.items()}
    for _, row in table.iterrows():
        name = f"{labels[row['model']]}.{row['learning rate']}"
        numbers[f"{name}.seeds.list"] = row["seeds"]
        numbers[f"{name}.wobble"] = row["last_epochs_sd"]
        for key in seed_sweeps.PROTOCOL_METRICS:
            numbers[f"{name}.seeds.{key}.mean"], numbers[f"{name}.seeds.{key}.sd"] = row[key], row[f"{key}_sd"]
    for schedule in config.LR_SCHEDULES:
        if schedule == profile.lr_schedule:
            continue
        spreads = {
            model: spread
            for model in registry.names()
            if (spread := seed_sweeps.schedule_spread(profile, model, schedule, sweep_dir, results_dir)) is not None
        }
        numbers.update({f"{schedule}.{name}": value for name, value in gaps(spreads).items()})
        for model, spread in spreads.items():  # the same model under the profile's schedule and this one
            own = seed_sweeps.seed_spread(profile, model, sweep_dir, results_dir)
            if own is not None:
                pair = gaps({profile.lr_schedule: own, schedule: spread})
                stem = f"gap.{profile.lr_schedule}.{schedule}."
                numbers.update({f"{model}.{schedule}.against_{k.removeprefix(stem)}": v for k, v in pair.items()})
    return numbers


def _more_data_per_protocol(profile: Profile, sweep_dir=None, results_dir=None) -> dict:
    """Each all-images run of the protocols experiment against the same model's runs over seeds at the profile
    (4,000 training images) under the same learning-rate schedule: ``<model>.<variant>.against_seeds.<metric>``,
    the all-images run's advantage (positive: better), its standard error (the single run borrows the seeds' sd)
    and whether it is beyond the noise. Only the test images are the same on both sides."""
    numbers = {}
    for model in registry.names():
        for variant in experiments.EXPERIMENTS["protocols"]:
            run = experiments.variant_run(profile, variant, model, results_dir)
            schedule = experiments.variant_profile(profile, variant).lr_schedule
            seeds = seed_sweeps.schedule_spread(profile, model, schedule, sweep_dir, results_dir)
            if run is None or seeds is None:
                continue
            values = [run.metrics.get(key, math.nan) for key in METRICS]
            single = pd.DataFrame({"mean": values, "sd": math.nan, "runs": 1}, index=list(METRICS))
            stem = f"gap.seeds.{variant}."
            pair = gaps({"seeds": seeds, variant: single})
            numbers.update({f"{model}.{variant}.against_seeds.{k.removeprefix(stem)}": v for k, v in pair.items()})
    return numbers


def _machines(profile: Profile, sweep_dir=None, results_dir=None) -> dict:
    """Each model's run repeated on another machine (``<model>.machine.<machine>.<metric>``, ``_diff``,
    ``_beyond_noise``; ``<machine>`` e.g. ``nvidia_h100_80gb_hbm3_with_jax``), and how many of those differences a
    spread could judge (``machine.judged``) and lie beyond it (``machine.beyond``)."""
    replicates = experiment_runs.device_replicates(profile, sweep_dir, results_dir)
    if replicates is None:
        return {}
    numbers = dict(_flat("machine", experiment_runs.judged_differences(replicates)))
    for _, row in replicates.iterrows():
        name = f"{row['model']}.machine.{re.sub(r'[^a-z0-9]+', '_', row['ran_on'].lower()).strip('_')}"
        numbers[f"{name}.ran_on"] = row["ran_on"]
        for key in METRICS:
            numbers.update({f"{name}.{key}": row[key], f"{name}.{key}_diff": row[f"{key}_diff"]})
            numbers[f"{name}.{key}_beyond_noise"] = row[f"{key}_beyond"]
    return numbers


# ---------------------------------------------------------------- the tables the report and the README show
LABELS = {"val_age_mae": "val age MAE", "test_age_mae": "test age MAE"}
LABELS |= {"val_gender_accuracy": "val gender accuracy", "test_gender_accuracy": "test gender accuracy"}


def _cell(numbers: dict, name: str, digits: int, beyond: str | None = None, error: str | None = None) -> str:
    """A signed number ("+1.26"), "± error" or "[low, high]" after it, **bold** where ``beyond`` holds; "—" where
    the number was not measured."""
    value = numbers.get(name)
    if value is None:
        return "—"
    text = f"{value:+.{digits}f}"
    if error and numbers.get(error) is not None:
        text += f" ± {numbers[error]:.{digits}f}"
    elif numbers.get(f"{name.rsplit('.', 1)[0]}.low") is not None and name.endswith(".advantage"):
        stem = name.rsplit(".", 1)[0]
        text += f" [{numbers[stem + '.low']:+.{digits}f}, {numbers[stem + '.high']:+.{digits}f}]"
    return f"**{text}**" if beyond and numbers.get(beyond) else text


def _digits(key: str) -> int:
    return 3 if "accuracy" in key else 2


def gaps_table(numbers: dict, schedule: str | None = None) -> pd.DataFrame | None:
    """Each pair of models, the second's advantage (positive: better): image by image on the test images with the
    95 % interval, and over seeds on validation ± the standard error; **bold** beyond the noise. With ``schedule``,
    over the seeds of that learning-rate schedule's runs alone, on validation and test."""
    image_by_image = ("gender_accuracy", "age_mae") if schedule is None else ()
    over_seeds = ("val_gender_accuracy", "val_age_mae") if schedule is None else METRICS
    gap = f"{schedule}.gap" if schedule else "gap"
    rows = {}
    models = registry.names()
    for i, first in enumerate(models):
        for second in models[i + 1 :]:
            row = {}
            for key in image_by_image:
                name = f"pair.{first}.{second}.test.{key}"
                row[f"test {LABELS['test_' + key].split(' ', 1)[1]}, image by image"] = _cell(
                    numbers, f"{name}.advantage", _digits(key), beyond=f"{name}.beyond"
                )
            for key in over_seeds:
                name = f"{gap}.{first}.{second}.{key}"
                row[f"{LABELS[key]}, over seeds"] = _cell(
                    numbers, f"{name}.advantage", _digits(key), f"{name}.beyond_noise", f"{name}.error"
                )
            if any(cell != "—" for cell in row.values()):
                rows[f"{registry.get(second).label} over {registry.get(first).label}"] = row
    return pd.DataFrame.from_dict(rows, orient="index") if rows else None


def effects_table(numbers: dict, variants=tuple(experiments.CONJECTURES), prefix: str = "") -> pd.DataFrame | None:
    """Model × variant: each metric's difference from the model's baseline (variant minus baseline), **bold**
    beyond the noise, and where the variant trained."""
    rows = {}
    for model in registry.names():
        for variant in variants:
            name = f"{prefix}{model}.{variant}"
            if f"{name}.val_age_mae" not in numbers:
                continue
            row = {
                LABELS[key]: _cell(numbers, f"{name}.{key}_diff", _digits(key), beyond=f"{name}.{key}_beyond_noise")
                for key in METRICS
            }
            row["ran on"] = numbers.get(f"{name}.device", "—")
            rows[f"{registry.get(model).label} · {experiments.VARIANTS[variant][0]}"] = row
    return pd.DataFrame.from_dict(rows, orient="index") if rows else None


def duplicates_table(numbers: dict, prefix: str = "") -> pd.DataFrame | None:
    """Per model: the faces with a twin in training against those without (validation, random split; ± standard
    error) and each duplicates variant against the one it changes (the same test images; [95 % interval]): the
    advantage in age MAE (years) and gender accuracy, **bold** beyond the noise."""
    rows = {}
    for model in registry.names():
        base, label = f"{prefix}{model}", registry.get(model).label
        if f"{base}.twin.years" in numbers:
            rows[f"{label} · twin in training (validation)"] = {
                "age MAE advantage": _cell(
                    numbers, f"{base}.twin.years", 2, f"{base}.twin.beyond_noise", f"{base}.twin.error"
                ),
                "gender accuracy advantage": "—",
            }
        for first, second, _ in experiments.DUPLICATE_QUESTIONS:
            name = f"{base}.{second}.against.{first}"
            if f"{name}.n" in numbers:
                rows[f"{label} · {experiments.VARIANTS[second][0]} (test)"] = {
                    "age MAE advantage": _cell(numbers, f"{name}.age_mae.advantage", 2, f"{name}.age_mae.beyond"),
                    "gender accuracy advantage": _cell(
                        numbers, f"{name}.gender_accuracy.advantage", 3, f"{name}.gender_accuracy.beyond"
                    ),
                }
    return pd.DataFrame.from_dict(rows, orient="index") if rows else None


def machine_table(numbers: dict) -> pd.DataFrame | None:
    """Each model's run repeated on another machine, a row per machine: the repeat's numbers and, in brackets,
    their difference from the committed run's, **bold** beyond the noise."""
    rows = {}
    for model in registry.names():
        repeats = sorted(
            k.removesuffix(".ran_on") for k in numbers if re.fullmatch(rf"{model}\.machine\.\w+\.ran_on", k)
        )
        for name in repeats:
            rows[f"{registry.get(model).label} · {numbers[name + '.ran_on']}"] = {
                LABELS[key]: "—"
                if numbers.get(f"{name}.{key}") is None
                else f"{numbers[f'{name}.{key}']:.{_digits(key)}f} ("
                + _cell(numbers, f"{name}.{key}_diff", _digits(key), beyond=f"{name}.{key}_beyond_noise")
                + ")"
                for key in METRICS
            }
    return pd.DataFrame.from_dict(rows, orient="index") if rows else None


def best_table(numbers: dict) -> pd.DataFrame | None:
    """The all-images runs under each learning rate, plain and with flip at test time, beside face-api's network."""
    rows = {}
    for model in registry.names():
        for variant in experiments.EXPERIMENTS["protocols"]:
            name = f"{model}.{variant}"
            if f"{name}.test_age_mae" in numbers:
                rows[f"{registry.get(model).label} · {experiments.VARIANTS[variant][0]}"] = {
                    key.replace("_", " ").replace("mae", "MAE"): numbers.get(f"{name}.{key}")
                    for key in ("test_gender_accuracy", "test_age_mae", *FLIP)
                }
    if not rows:
        return None
    rows["face-api's age-gender network (reference)"] = {
        "test gender accuracy": FACE_API["test_gender_accuracy"],
        "test age MAE": FACE_API["test_age_mae"],
    }
    return pd.DataFrame.from_dict(rows, orient="index")
