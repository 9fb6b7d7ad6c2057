"""Training an experiment's variants (``python -m tools experiment``, ``make experiment``, the queue), each one
through its model's notebook (:func:`tools.execute.train`), and what the report reads of them beside the tables of
:mod:`extensions.experiments`: the twins' effect, the shared test images, the runs repeated on another machine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from extensions.experiments import (
    EFFECT_METRICS,
    VARIANTS,
    changes_model,
    check_name,
    paired_test,
    summary,
    variant_folder,
    variant_profile,
)
from extensions.seed_sweeps import own_run, ran_on, seed_spread, sweep_root
from helpers import data, evaluation, files, registry, results
from helpers.config import Profile

from . import execute

TWIN_EFFECT = "twin_effect.json"  # beside the random-split all-images run


def run(
    experiment: str,
    profile: Profile,
    model: str = registry.DEFAULT_MODEL,
    only: list[str] | None = None,
    source=None,
    weights="env",
    results_dir=None,
) -> pd.DataFrame:
    """Train the experiment's variants that have no finished run yet, then return :func:`summary`.

    Args:
        only: train just these variants (the others are tabulated from disk, or as not run).
    """
    variants = check_name(experiment)
    unknown = sorted(set(only or ()) - set(variants))
    if unknown:
        raise ValueError(
            f"experiment {experiment!r} has no variant {', '.join(unknown)}; its variants: {', '.join(variants)}"
        )
    idle = [variant for variant in only or () if not changes_model(variant, profile, model)]
    if idle:
        raise ValueError(
            f"{', '.join(idle)} would train {registry.get(model).label} exactly as its baseline does (it reads "
            f"{registry.get(model).image_size} px images whatever the profile says): nothing to compare"
        )
    with files.folder_lock(results.profile_folder(profile, results_dir) / "experiments", "experiment"):
        for variant in variants:
            if only and variant not in only:
                continue
            if not changes_model(variant, profile, model):
                print(f"{experiment}/{variant}: trains {model} as its baseline does, skipped", flush=True)
                continue
            varied = variant_profile(profile, variant)
            folder = variant_folder(profile, variant, model, results_dir)
            if results.finished_in(folder, varied):
                print(f"{experiment}/{variant}: finished run in {folder}, not retraining", flush=True)
                continue
            print(f"{experiment}/{variant}: training {model} ({VARIANTS[variant][0]})", flush=True)
            execute.train(model, varied, folder, source, weights)
        if "all_images" in variants and (not only or "all_images" in only):  # conjectures and duplicates share it
            twin_effect(profile, model, results_dir, source)
    return summary(experiment, profile, model, results_dir)


def twin_effect(profile: Profile, model: str = registry.DEFAULT_MODEL, results_dir=None, source=None) -> dict | None:
    """How much twins flatter a random split: the random-split all-images run's validation metrics on the
    images that have a twin in training and on those that do not. Written to the run folder; None if not run."""
    varied = variant_profile(profile, "all_images")
    folder = variant_folder(profile, "all_images", model, results_dir)
    if not results.finished_in(folder, varied):
        return None
    splits = data.load_splits(varied, source, progress=False)
    predictions = results.load(model, folder).predictions.set_index("file").loc[splits.val.names].reset_index()
    effect = {}
    for key, rows in (("with_twin", splits.val_twin_in_train), ("without_twin", ~splits.val_twin_in_train)):
        part = predictions[rows]
        errors = (part["pred_age"] - part["age"]).abs()
        effect[key] = dict(evaluation.summarize(part), age_mae_standard_error=float(errors.std() / len(part) ** 0.5))
    difference = effect["without_twin"]["age_mae"] - effect["with_twin"]["age_mae"]
    error = evaluation.standard_error(
        *((effect[key]["age_mae_standard_error"], 1) for key in ("with_twin", "without_twin"))
    )
    effect["age_mae_gain"] = {
        "years": difference,
        "standard_error": error,
        "beyond_noise": evaluation.beyond_noise(difference, error),
    }
    files.write_json(folder / TWIN_EFFECT, effect, sort_keys=False)
    return effect


def read_twin_effect(profile: Profile, model: str = registry.DEFAULT_MODEL, results_dir=None) -> dict | None:
    path = variant_folder(profile, "all_images", model, results_dir) / TWIN_EFFECT
    return json.loads(path.read_text()) if path.is_file() else None


def shared_test(profile: Profile, model: str = registry.DEFAULT_MODEL, results_dir=None) -> dict | None:
    """The all-images run against the baseline (:func:`paired_test`): its test set is drawn from every image and the
    baseline's is its own, so they share some faces."""
    return paired_test(profile, "baseline", "all_images", model, results_dir)


def device_folder(accelerator: str, sweep_dir=None) -> Path:
    """Where ``benchmarks/gpu.sh``'s ``protocol`` job puts the profile's own runs repeated on another machine, a
    results root: ``<sweep root>/device-<accelerator name in lower-case letters, digits and dashes>/``."""
    return sweep_root(sweep_dir) / ("device-" + re.sub(r"[^a-z0-9]+", "-", accelerator.lower()).strip("-"))


def device_replicates(profile: Profile, sweep_dir=None, results_dir=None) -> pd.DataFrame | None:
    """The profile's own run of each model repeated at the same seed and settings on another machine (another back
    end, another random stream and rounding; :func:`device_folder`), beside the committed run: for each
    ``EFFECT_METRICS`` key both values, the difference and whether it is beyond the noise as a variant's would be
    (``NOISE_SDS`` times the model's seed sd); one row per model and machine, in registry order. None when none ran."""
    rows = []
    for model in registry.names():
        own = own_run(profile, model, results_dir)
        folders = sorted(sweep_root(sweep_dir).glob(f"device-*/seed{profile.seed}/{profile.name}/{model}"))
        for folder in folders if own is not None else []:
            if not results.finished_in(folder, profile):
                continue
            replicate, spread = results.load(model, folder), seed_spread(profile, model, sweep_dir, results_dir)
            row = {"model": model, "ran_on": ran_on(replicate.manifest), "own_ran_on": ran_on(own.manifest)}
            for key in EFFECT_METRICS:
                value, own_value = replicate.metrics.get(key, float("nan")), own.metrics.get(key, float("nan"))
                sd, difference = spread.loc[key, "sd"], value - own_value
                row.update({key: value, f"{key}_own": own_value, f"{key}_diff": difference})
                row[f"{key}_beyond"] = evaluation.beyond_run_noise(difference, sd)
            rows.append(row)
    return pd.DataFrame(rows) if rows else None


def judged_differences(replicates: pd.DataFrame) -> dict[str, int]:
    """Of :func:`device_replicates`' differences, how many were judged against a spread ("judged")
    and how many of those lie beyond the noise ("beyond")."""
    verdicts = replicates[[f"{key}_beyond" for key in EFFECT_METRICS]].to_numpy().ravel()
    judged = [bool(verdict) for verdict in verdicts if verdict is not None and verdict == verdict]  # None: no spread
    return {"judged": len(judged), "beyond": sum(judged)}
