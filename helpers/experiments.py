"""Experiments: variants of a profile (a few settings changed), trained one after another and tabulated.

A variant's run lives in ``results/<profile>/experiments/<variant>/<model>/``; the ``baseline`` variant is the
profile's own run in ``results/<profile>/<model>/``. Finished runs are reused, so an experiment that was cut
short continues where it stopped, and variants shared by two experiments train once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from . import results
from .config import Profile

ALL_IMAGES = {"n_images": None, "val_size": 0.2}

# name: (label, settings changed from the profile)
VARIANTS: dict[str, tuple[str, dict]] = {
    "baseline": ("the profile as it is", {}),
    "all_images": ("more data: every usable image (80/20 split)", ALL_IMAGES),
    # 192 px: the largest multiple of 32 (VGG16's down-sampling) not above UTKFace's native 200 px.
    "res192": ("higher resolution: 192 px", {"image_size": 192}),
    "age_balanced": ("age-balanced loss: inverse age-band frequency weights", {"age_weighting": "inverse"}),
    "all_images_group": ("every image, group-aware split", {**ALL_IMAGES, "split": "group"}),
    "all_images_group_clean": ("every image, group-aware split, conflicting twins left out of training",
                               {**ALL_IMAGES, "split": "group", "drop_conflicting": True}),
}

EXPERIMENTS: dict[str, tuple[str, ...]] = {
    # The coursework's closing conjectures: more data, higher resolution, balancing the rare ages.
    "conjectures": ("baseline", "all_images", "res192", "age_balanced"),
    # Does a random split flatter validation (twins on both sides)? Do conflicting labels hurt training?
    "duplicates": ("all_images", "all_images_group", "all_images_group_clean"),
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


def variant_folder(profile: Profile, variant: str, model: str, results_dir=None) -> Path:
    if variant == "baseline":
        return results.run_folder(model, profile, results_dir)
    return results.profile_folder(profile, results_dir) / "experiments" / variant / model


def run(experiment: str, profile: Profile, model: str = "custom", only: list[str] | None = None, source=None,
        weights="env", results_dir=None, verbose="auto") -> pd.DataFrame:
    """Train the experiment's variants that have no finished run yet, then return :func:`summary`.

    Args:
        only: train just these variants (the others are tabulated from disk, or as not run).
    """
    from . import training

    variants = check_name(experiment)
    unknown = sorted(set(only or ()) - set(variants))
    if unknown:
        raise ValueError(f"experiment {experiment!r} has no variant {', '.join(unknown)}; "
                         f"its variants: {', '.join(variants)}")
    for variant in variants:
        if only and variant not in only:
            continue
        varied = variant_profile(profile, variant)
        folder = variant_folder(profile, variant, model, results_dir)
        if results.finished_in(folder, varied):
            print(f"{experiment}/{variant}: finished run in {folder}, not retraining", flush=True)
            continue
        print(f"{experiment}/{variant}: training {model} ({VARIANTS[variant][0]})", flush=True)
        training.train(model, varied, folder, source=source, weights=weights,
                       overrides=VARIANTS[variant][1], verbose=verbose)
    return summary(experiment, profile, model, results_dir)


def summary(experiment: str, profile: Profile, model: str = "custom", results_dir=None) -> pd.DataFrame:
    """One row per variant: what changed, the data it saw, validation and test metrics; NaN where not run."""
    rows = []
    for variant in check_name(experiment):
        varied = variant_profile(profile, variant)
        folder = variant_folder(profile, variant, model, results_dir)
        row = {"variant": variant, "label": VARIANTS[variant][0], "status": "not run"}
        if results.finished_in(folder, varied):
            run = results.load(model, folder)
            data = run.manifest["data"]
            row.update(
                status="run",
                n_train=data["n_train"],
                n_val=data["n_val"],
                val_with_train_twin=data.get("val_with_train_twin"),
                dropped_conflicting=data.get("dropped_conflicting", 0),
                val_gender_accuracy=run.metrics["val_gender_accuracy"],
                val_age_mae=run.metrics["val_age_mae"],
                test_gender_accuracy=run.metrics.get("test_gender_accuracy"),
                test_age_mae=run.metrics.get("test_age_mae"),
                minutes=run.manifest["seconds"] / 60,
                device=", ".join(run.manifest["hardware"]["accelerators"]) or "CPU",
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")

