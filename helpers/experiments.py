"""Experiments: variants of a profile (a few settings changed), trained one after another and tabulated.

A variant's run lives in ``results/<profile>/experiments/<variant>/<model>/``; the ``baseline`` variant is the
profile's own run in ``results/<profile>/<model>/``. Finished runs are reused, so an experiment that was cut
short continues where it stopped, and variants shared by two experiments train once.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd

from . import config, files, results
from .config import Profile

ALL_IMAGES = {"n_images": None, "val_size": 0.2}

# name: (label, settings changed from the profile)
VARIANTS: dict[str, tuple[str, dict]] = {
    "baseline": ("baseline (the profile)", {}),
    "all_images": ("all images, random split", ALL_IMAGES),
    # 192 px: the largest multiple of 32 (VGG16's down-sampling) not above UTKFace's native 200 px.
    "res192": ("192 px", {"image_size": 192}),
    "age_balanced": ("age-balanced loss", {"age_weighting": "inverse"}),
    "all_images_group": ("all images, group split", {**ALL_IMAGES, "split": "group"}),
    "all_images_group_clean": ("all images, group split, conflicting twins dropped",
                               {**ALL_IMAGES, "split": "group", "drop_conflicting": True}),
}

SWEEP_METRICS = ("val_gender_accuracy", "val_age_mae", "test_gender_accuracy", "test_age_mae",
                 "train_gender_accuracy", "train_age_mae")

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
    with files.folder_lock(results.profile_folder(profile, results_dir) / "experiments", "experiment"):
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
        if experiment == "duplicates":
            twin_effect(profile, model, results_dir, source)
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
                device=_device(run.manifest),
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant")


def summaries(profile: Profile, results_dir=None) -> dict[str, dict[str, pd.DataFrame]]:
    """Every experiment's :func:`summary` per model: the custom CNN's always (its "not run" rows say what is
    missing), VGG16's when at least one of its variants has run."""
    found = {}
    for model in config.MODELS:
        tables = {name: summary(name, profile, model, results_dir) for name in EXPERIMENTS}
        if model == "custom" or any((table["status"] == "run").any() for table in tables.values()):
            found[model] = tables
    return found


def band_errors(profile: Profile, variants=("baseline", "age_balanced"), model: str = "custom",
                results_dir=None) -> pd.DataFrame | None:
    """Test-set MAE and mean signed error per age band for each variant that has test predictions; None if
    fewer than two have (balancing the loss is meant to help the rare ages, which the overall MAE hides)."""
    from . import evaluation

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


TWIN_EFFECT = "twin_effect.json"


def twin_effect(profile: Profile, model: str = "custom", results_dir=None, source=None) -> dict | None:
    """How much twins flatter a random split: the random-split all-images run's validation metrics on the
    images that have a twin in training and on those that do not. Written to the run folder; None if not run."""
    from . import data, evaluation

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
    error = (effect["with_twin"]["age_mae_standard_error"] ** 2
             + effect["without_twin"]["age_mae_standard_error"] ** 2) ** 0.5
    effect["age_mae_gain"] = {"years": difference, "standard_error": error, "beyond_noise": abs(difference) > 2 * error}
    files.write_json(folder / TWIN_EFFECT, effect, sort_keys=False)
    return effect


def read_twin_effect(profile: Profile, model: str = "custom", results_dir=None) -> dict | None:
    path = variant_folder(profile, "all_images", model, results_dir) / TWIN_EFFECT
    return json.loads(path.read_text()) if path.is_file() else None


def _number(value, digits: int) -> str:
    return "—" if value is None or value != value else f"{value:.{digits}f}"


def _count(value) -> str:
    return "—" if value is None or value != value else f"{int(value):,}"


def readable(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`summary` as display strings, one row per variant label ("—" where not run or not recorded)."""
    rows = []
    for _, row in summary.iterrows():
        run = row["status"] == "run"
        rows.append({
            "variant": row["label"],
            "training images": _count(row.get("n_train")),
            "val images with a twin in training": (
                f"{_count(row.get('val_with_train_twin'))} of {_count(row.get('n_val'))}" if run else "—"),
            "val gender accuracy": _number(row.get("val_gender_accuracy"), 3),
            "val age MAE": _number(row.get("val_age_mae"), 2),
            "test gender accuracy": _number(row.get("test_gender_accuracy"), 3),
            "test age MAE": _number(row.get("test_age_mae"), 2),
            "run on": f"{row['device']}, {row['minutes']:.0f} min" if run else "not run",
        })
    return pd.DataFrame(rows).set_index("variant")


def shown_profiles(profile: Profile) -> list[Profile]:
    """The profiles whose experiments and sweeps a report of ``profile`` shows: ``profile``, then ``quick`` (the
    CPU-sized one, where they are run here)."""
    return list(dict.fromkeys([profile, config.PROFILES["quick"]]))


def sweep_root(sweep_dir=None) -> Path:
    """Where ``make sweep`` puts its runs: ``results/sweeps/`` unless told otherwise."""
    return Path(sweep_dir or config.RESULTS_DIR / "sweeps")


def sweep_folder(seed: int, sweep_dir=None) -> Path:
    """The runs of one seed: ``<sweep root>/seed<N>/`` (a results root)."""
    return sweep_root(sweep_dir) / f"seed{seed}"


def sweep_summary(profile: Profile, model: str, sweep_dir=None) -> pd.DataFrame | None:
    """Mean, standard deviation and count over the seed sweep's finished runs of ``profile``; None if none.

    A sweep run of seed N is the profile with ``seed`` = N, in ``<sweep_dir>/seed<N>/<profile>/<model>/``.
    ``attrs``: ``seeds`` and ``ran_on`` (where the runs trained, e.g. "CPU (tensorflow)").
    """
    runs = {}
    for folder in sorted(sweep_root(sweep_dir).glob(f"seed*/{profile.name}/{model}")):
        seed = folder.parents[1].name.removeprefix("seed")
        if seed.isdigit() and results.finished_in(folder, dataclasses.replace(profile, seed=int(seed))):
            runs[int(seed)] = results.load(model, folder)
    return _summary(runs)


def weights_folder(weights: dict, sweep_dir=None) -> Path:
    """Where ``make pretraining`` puts a set of weights' sweep: ``<sweep root>/weights-<file name without
    .weights.h5, or none, or imagenet>/``. ``weights``: a run manifest's ``weights``."""
    name = (Path(weights["path"]).name.removesuffix(".h5").removesuffix(".weights") if weights["source"] == "file"
            else weights["source"])
    return sweep_root(sweep_dir) / f"weights-{name}"


def model_sweep(profile: Profile, model: str, sweep_dir=None, weights: dict | None = None) -> pd.DataFrame | None:
    """:func:`sweep_summary`; for VGG16 without a plain sweep of ``profile``, the pretraining sweep of ``weights``
    (the study run's manifest ``weights``), its label in ``attrs["weights"]``."""
    summary = sweep_summary(profile, model, sweep_dir)
    if summary is None and model == "vgg16" and weights:
        summary = sweep_summary(profile, model, weights_folder(weights, sweep_dir))
        if summary is not None:
            summary.attrs["weights"] = weights["label"]
    return summary


def own_run(profile: Profile, model: str, results_dir=None) -> results.RunResults | None:
    """The profile's own run (``results/<profile>/<model>/``, at the profile's seed); None if it has not run."""
    return results.load_for(model, profile, results_dir) if results.finished(model, profile, results_dir) else None


def _summary(runs: dict[int, results.RunResults]) -> pd.DataFrame | None:
    if not runs:
        return None
    frame = pd.DataFrame.from_dict({seed: {key: run.metrics.get(key, float("nan")) for key in SWEEP_METRICS}
                                    for seed, run in runs.items()}, orient="index").astype(float)
    summary = pd.DataFrame({"mean": frame.mean(), "sd": frame.std(ddof=1), "runs": frame.count()})
    summary.attrs["seeds"] = sorted(runs)
    summary.attrs["ran_on"] = sorted({_ran_on(run.manifest) for run in runs.values()})
    return summary


def _ran_on(manifest: dict) -> str:
    """e.g. "NVIDIA H200 (jax)" or "CPU (tensorflow)": runs on different back ends agree to float rounding, not
    bit for bit."""
    return f"{_device(manifest)} ({manifest.get('backend', '?')})"


def _device(manifest: dict) -> str:
    return ", ".join(manifest.get("hardware", {}).get("accelerators") or []) or "CPU"


# ---------------------------------------------------------------- does pretraining help?
PRETRAINING_METRICS = ("val_gender_accuracy", "val_age_mae", "test_gender_accuracy", "test_age_mae")
METRIC_NAMES = {"val_gender_accuracy": "validation gender accuracy", "val_age_mae": "validation age MAE",
                "test_gender_accuracy": "test gender accuracy", "test_age_mae": "test age MAE"}


def pretraining_table(profile: Profile, sweep_dir=None, results_dir=None) -> pd.DataFrame | None:
    """The custom CNN's seed sweep beside VGG16's with each set of initial weights (``make pretraining`` puts
    them in ``<sweep root>/weights-<name>/``), one row each: the weights (named by the runs' manifests, with
    ``source`` none/file/imagenet), the number of seeds, where they ran, and mean and sd of each of
    ``PRETRAINING_METRICS``. The profile's own runs (``results/<profile>/``) stand in for a model or set of weights
    that has no sweep of this profile. None when no VGG16 sweep exists."""
    rows = []
    custom = sweep_summary(profile, "custom", sweep_dir)
    if custom is None and (run := own_run(profile, "custom", results_dir)):
        custom = _summary({profile.seed: run})
    if custom is not None:
        rows.append(_pretraining_row("Custom CNN", {"label": "trained from scratch", "source": "none"}, custom))
    for folder in sorted(sweep_root(sweep_dir).glob("weights-*")):
        summary = sweep_summary(profile, "vgg16", folder)
        if summary is not None:
            first = next(folder.glob(f"seed*/{profile.name}/vgg16/metrics.json")).parent
            rows.append(_pretraining_row("VGG16", results.load("vgg16", first).manifest["weights"], summary))
    if not any(row["model"] == "VGG16" for row in rows):
        return None
    own = own_run(profile, "vgg16", results_dir)
    if own and own.manifest["weights"]["label"] not in {row["initial weights"] for row in rows}:
        rows.append(_pretraining_row("VGG16", own.manifest["weights"], _summary({profile.seed: own})))
    return pd.DataFrame(rows)


def _pretraining_row(model: str, weights: dict, summary: pd.DataFrame) -> dict:
    row = {"model": model, "initial weights": weights["label"], "source": weights["source"],
           "seeds": int(summary["runs"].max()), "ran on": " and ".join(summary.attrs["ran_on"])}
    for key in PRETRAINING_METRICS:
        row[key], row[f"{key}_sd"] = summary.loc[key, "mean"], summary.loc[key, "sd"]
    return row


def readable_pretraining(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`pretraining_table` for reading: "mean ± sd" cells."""
    shown = table.set_index(["model", "initial weights"])[["seeds"]].copy()
    for key in PRETRAINING_METRICS:
        digits = 3 if "accuracy" in key else 2
        shown[key.replace("_", " ").replace("mae", "MAE")] = [
            "—" if mean != mean else f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd == sd else "")
            for mean, sd in zip(table[key], table[f"{key}_sd"])]
    shown["ran on"] = table["ran on"].to_numpy()
    return shown


def pretraining_findings(table: pd.DataFrame,
                         keys: tuple[str, ...] = ("val_age_mae", "val_gender_accuracy")) -> list[str]:
    """One sentence per pretrained VGG16 row, a clause per metric in ``keys``: its value against VGG16 from random
    weights and against the custom CNN, and whether each difference is more than twice its standard error over
    seeds."""
    def amount(key, value):
        return f"{value:.2f} years" if key.endswith("mae") else f"{value:.3f}"

    def compare(row, other, name, key):
        better = (other[key] - row[key]) * (1 if key.endswith("mae") else -1)  # > 0: the pretrained row is better
        error = (row[f"{key}_sd"] ** 2 / row["seeds"] + other[f"{key}_sd"] ** 2 / other["seeds"]) ** 0.5
        verdict = (", beyond the seed-to-seed noise" if abs(better) > 2 * error else
                   ", within the seed-to-seed noise" if error == error else " (a single seed: no noise estimate)")
        return f"{amount(key, abs(better))} {'better' if better > 0 else 'worse'} than {name}{verdict}"

    vgg = table[table["model"] == "VGG16"]
    random, custom = vgg[vgg["source"] == "none"], table[table["model"] == "Custom CNN"]
    others = [(other, name) for other, name in ((random, "VGG16 from random weights"), (custom, "the custom CNN"))
              if len(other)]
    sentences = []
    for _, row in vgg[vgg["source"] != "none"].iterrows() if others else ():
        clauses = [f"{METRIC_NAMES[key]} {amount(key, row[key])}, " + ", and ".join(
                       compare(row, other.iloc[0], name, key) for other, name in others)
                   for key in keys]
        sentences.append(f"VGG16 with {row['initial weights']}: " + "; ".join(clauses) + ".")
    return sentences
