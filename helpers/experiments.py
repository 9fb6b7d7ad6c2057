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
    "all_images_group_clean": (
        "all images, group split, conflicting twins dropped",
        {**ALL_IMAGES, "split": "group", "drop_conflicting": True},
    ),
}

SWEEP_METRICS = (
    "val_gender_accuracy",
    "val_age_mae",
    "test_gender_accuracy",
    "test_age_mae",
    "train_gender_accuracy",
    "train_age_mae",
)

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


def run(
    experiment: str,
    profile: Profile,
    model: str = "custom",
    only: list[str] | None = None,
    source=None,
    weights="env",
    results_dir=None,
    verbose="auto",
) -> pd.DataFrame:
    """Train the experiment's variants that have no finished run yet, then return :func:`summary`.

    Args:
        only: train just these variants (the others are tabulated from disk, or as not run).
    """
    from . import training

    variants = check_name(experiment)
    unknown = sorted(set(only or ()) - set(variants))
    if unknown:
        raise ValueError(
            f"experiment {experiment!r} has no variant {', '.join(unknown)}; its variants: {', '.join(variants)}"
        )
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
            training.train(
                model, varied, folder, source=source, weights=weights, overrides=VARIANTS[variant][1], verbose=verbose
            )
        if "all_images" in variants and (not only or "all_images" in only):  # conjectures and duplicates share it
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
            twins = data.get("val_with_train_twin")
            if twins is None and variant == "baseline":  # a run from before manifests counted them
                twins = _split_twins(profile, results_dir)
            row.update(
                status="run",
                n_train=data["n_train"],
                n_val=data["n_val"],
                val_with_train_twin=twins,
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
    """Every experiment's :func:`summary` per model: the custom CNN's always (its "not run" rows say what is
    missing), VGG16's when at least one of its variants has run."""
    found = {}
    for model in config.MODELS:
        tables = {name: summary(name, profile, model, results_dir) for name in EXPERIMENTS}
        if model == "custom" or any(not ran(table).empty for table in tables.values()):
            found[model] = tables
    return found


EFFECT_METRICS = ("val_age_mae", "val_gender_accuracy", "test_age_mae", "test_gender_accuracy")


NOISE_SDS = 2 * 2**0.5  # a difference between two runs has sd·√2; beyond twice that, it is beyond the noise


def variant_effects(
    experiment: str, profile: Profile, model: str = "custom", sweep_dir=None, results_dir=None
) -> pd.DataFrame | None:
    """The variants of ``experiment`` that ran, beside the baseline: each metric of ``EFFECT_METRICS``, its
    difference from the baseline's (``<metric>_diff``) and whether that difference is beyond the run-to-run noise
    (``<metric>_beyond``): more than twice the standard deviation of a difference between two runs, sd·√2, with sd
    from :func:`seed_spread`; None where there is no spread (fewer than two runs). ``attrs["spread"]``: that
    spread. None when the baseline or every other variant has not run."""
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
        effect = {"variant": variant, "label": row["label"], "n_train": row["n_train"]}
        for key in EFFECT_METRICS:
            difference = row[key] - base[key]
            sd = spread.loc[key, "sd"] if spread is not None else float("nan")
            effect.update(
                {
                    key: row[key],
                    f"{key}_diff": difference,
                    f"{key}_beyond": bool(abs(difference) > NOISE_SDS * sd) if sd == sd else None,
                }
            )
        rows.append(effect)
    effects = pd.DataFrame(rows).set_index("variant")
    effects.attrs.update(spread=spread, baseline=base)
    return effects


# What each conjecture of the coursework expects of its variant, and on which metric it is judged first.
CONJECTURES = {
    "all_images": "more data would help",
    "res192": "a higher resolution would help",
    "age_balanced": "more weight on the rare ages would help",
}


def conjecture_findings(
    effects: pd.DataFrame, bands: pd.DataFrame | None = None, shared: dict | None = None
) -> dict[str, str]:
    """One paragraph per conjecture whose variant ran: the differences from the baseline beyond the run-to-run
    noise, with their numbers, and what they support (the table and Figure 10 show the rest). ``bands``:
    :func:`band_errors`; ``shared``: :func:`shared_test`, the all-images run on the faces it shares with the
    baseline's test set."""
    base, spread = effects.attrs["baseline"], effects.attrs["spread"]
    seeds = spread.attrs["seeds"] if spread is not None else []
    paragraphs = {}
    for variant, row in effects.iterrows():
        if variant not in CONJECTURES:
            continue
        beyond = [key for key in EFFECT_METRICS if row[f"{key}_beyond"]]
        better = [key for key in beyond if (row[f"{key}_diff"] < 0) == key.endswith("mae")]
        if len(seeds) < 2:
            verdict = "One run of each and no seed spread at this profile yet: no verdict (the seed sweep gives one)."
        elif not beyond:
            verdict = (
                f"Every difference is within the run-to-run noise (twice the sd of a difference between two "
                f"runs, from seeds {', '.join(map(str, seeds))}): the runs neither support the conjecture "
                "nor refute it."
            )
        else:
            reading = (
                "This supports the conjecture"
                if len(better) == len(beyond)
                else "This speaks against the conjecture"
                if not better
                else "The evidence is mixed"
            )
            if len(beyond) < len(EFFECT_METRICS):
                if better == beyond or not better:  # a one-sided reading holds for those metrics only
                    reading += " on that metric" if len(beyond) == 1 else " on those metrics"
                reading += "; the other differences are within the noise"
            verdict = (
                f"Beyond the run-to-run noise (seeds {', '.join(map(str, seeds))}): "
                + "; ".join(
                    f"{METRIC_NAMES[key]} {_amount(key, row[key])} against {_amount(key, base[key])} "
                    f"({_signed(key, row[f'{key}_diff'])}, {'better' if key in better else 'worse'})"
                    for key in beyond
                )
                + f". {reading}."
            )
        if len(seeds) == 2:
            verdict += " (Two runs only: the spread, and so this reading, is a rough estimate.)"
        text = f"**{CONJECTURES[variant].capitalize()}** ({row['label']}): {verdict[0].lower()}{verdict[1:]}"
        if variant == "all_images":
            text += (
                f" This variant trained on {int(row['n_train']):,} images instead of {int(base['n_train']):,}, "
                "and its validation and test images are its own, so part of any difference is which faces "
                "were graded."
            )
            if shared:
                text += " " + _shared_sentence(shared)
        if variant == "age_balanced" and bands is not None:
            oldest, youngest = bands.index[-1], bands.index[0]
            text += " " + " ".join(
                f"Aged {band}: test MAE {bands.loc[band, 'baseline: MAE']:.1f} → "
                f"{bands.loc[band, 'age_balanced: MAE']:.1f} years, bias {bands.loc[band, 'baseline: bias']:+.1f} → "
                f"{bands.loc[band, 'age_balanced: bias']:+.1f}."
                for band in (youngest, oldest)
            )
        paragraphs[variant] = text
    return paragraphs


PAIRED_METRICS = (("age_mae", "age MAE"), ("gender_accuracy", "gender accuracy"))


def _paired_sentence(comparison: dict, opening: str) -> str:
    """``opening`` (naming the runs and the faces), then :func:`helpers.evaluation.paired_comparison`'s age MAE and
    gender accuracy of the second run against the first, with their intervals, and which differences lie beyond
    the noise of which faces were graded."""
    from .evaluation import interval_text as interval

    age, gender = comparison["age_mae"], comparison["gender_accuracy"]
    beyond = [
        f"{name} {'better' if comparison[key]['ci95'][0] > 0 else 'worse'}"
        for key, name in PAIRED_METRICS
        if _outside_zero(comparison[key])
    ]
    reading = (
        "neither difference is beyond the noise of which faces were graded"
        if not beyond
        else f"{', '.join(beyond)}, beyond the noise of which faces were graded"
        + ("; the other difference is within it" if len(beyond) == 1 else "")
    )
    return (
        f"{opening} its age MAE is {age['second']:.2f} years against {age['first']:.2f} (advantage "
        f"{age['advantage']:+.2f}, 95 % interval {interval(age, 2)}) and its gender accuracy "
        f"{gender['second']:.3f} against {gender['first']:.3f} ({gender['advantage']:+.3f}, 95 % interval "
        f"{interval(gender, 3)}): {reading}."
    )


def _outside_zero(metric: dict) -> bool:
    low, high = metric["ci95"]
    return low > 0 or high < 0


def _shared_sentence(shared: dict) -> str:
    return _paired_sentence(
        shared, f"On the {shared['n']:,} test images that both runs held out, the same faces for both,"
    )


def paired_test(profile: Profile, first: str, second: str, model: str = "custom", results_dir=None) -> dict | None:
    """Two variants' runs compared image by image on the test images both held out (which neither trained on).

    Returns:
        :func:`helpers.evaluation.paired_comparison` of those faces, ``first`` first; None unless both runs have
        test predictions and share at least one face.
    """
    from . import evaluation

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


def shared_test(profile: Profile, model: str = "custom", results_dir=None) -> dict | None:
    """The all-images run against the baseline (:func:`paired_test`): its test set is drawn from every image and the
    baseline's is its own, so they share some faces."""
    return paired_test(profile, "baseline", "all_images", model, results_dir)


# The duplicates experiment's questions: each variant against the one it changes.
DUPLICATE_QUESTIONS = (
    ("all_images", "all_images_group", "A group-aware split (no twin on both sides), against the random split"),
    (
        "all_images_group",
        "all_images_group_clean",
        "Leaving the conflicting twins out of training, against keeping them (both group-aware)",
    ),
)


def duplicate_findings(profile: Profile, model: str = "custom", sweep_dir=None, results_dir=None) -> list[str]:
    """One paragraph per question of ``DUPLICATE_QUESTIONS`` whose two runs have finished: the second run against
    the first on their shared test images (:func:`paired_test`), and whether a difference beyond the noise of which
    faces were graded is also beyond the run-to-run noise (twice the sd of a difference between two runs, from the
    profile's seed spread, :func:`seed_spread`)."""
    spread = seed_spread(profile, model, sweep_dir, results_dir)
    paragraphs = []
    for first, second, question in DUPLICATE_QUESTIONS:
        comparison = paired_test(profile, first, second, model, results_dir)
        if comparison is None:
            continue
        text = _paired_sentence(comparison, f"{question}, on the same {comparison['n']:,} test images:")
        graded = [(key, name) for key, name in PAIRED_METRICS if _outside_zero(comparison[key])]
        if graded and spread is not None and len(spread.attrs["seeds"]) >= 2:
            beyond = [
                name
                for key, name in graded
                if abs(comparison[key]["advantage"]) > NOISE_SDS * spread.loc[f"test_{key}", "sd"]
            ]
            noise = (
                "the run-to-run noise of a test score (twice the sd of a difference between two runs, from the "
                f"profile's subset runs, seeds {', '.join(map(str, spread.attrs['seeds']))})"
            )
            if beyond:
                text += f" Beyond {noise} as well: {', '.join(beyond)}" + (
                    "; the other is within it." if len(beyond) < len(graded) else "."
                )
            else:
                text += (
                    f" {'It is' if len(graded) == 1 else 'Both are'} within {noise}: one run of each cannot tell "
                    f"{'it' if len(graded) == 1 else 'them'} from a retraining's chance."
                )
        paragraphs.append(text)
    return paragraphs


def not_run(experiment: str, profile: Profile, model: str = "custom", results_dir=None) -> list[dict]:
    """The variants of ``experiment`` not run at ``profile``: label, model, the command that trains it and its
    estimated time with how far an unfinished run got (:func:`helpers.bench.time_to_train`)."""
    from . import bench

    entries = []
    for variant, row in summary(experiment, profile, model, results_dir).iterrows():
        if row["status"] == "run":
            continue
        varied = variant_profile(profile, variant)
        entries.append(
            {
                "variant": variant,
                "label": row["label"],
                "model": model,
                "command": f"python -m helpers experiment {experiment} --profile {profile.name} --only {variant}"
                + (f" --model {model}" if model != "custom" else ""),
                "time": bench.time_to_train(model, varied, variant_folder(profile, variant, model, results_dir)),
            }
        )
    return entries


def effects_for_plot(effects: pd.DataFrame) -> tuple[pd.DataFrame, str, dict[str, float]]:
    """:func:`variant_effects` for :func:`helpers.plots.against_baseline`: the baseline and each variant by label,
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


def pretraining_for_plot(table: pd.DataFrame) -> tuple[pd.DataFrame, str, dict[str, float]] | None:
    """:func:`pretraining_table` for :func:`helpers.plots.against_baseline`, VGG16 from random weights as the
    baseline (its sd as the band); None without that row."""
    labels = [f"{model} · {weights.split(' (')[0]}" for model, weights in zip(table["model"], table["initial weights"])]
    frame = table.set_axis(labels)
    random = frame[(frame["model"] == "VGG16") & (frame["source"] == "none")]
    if random.empty:
        return None
    baseline = random.index[0]
    return frame, baseline, {key: frame.loc[baseline, f"{key}_sd"] for key in PRETRAINING_METRICS}


def _amount(key: str, value: float) -> str:
    return f"{value:.2f} years" if key.endswith("mae") else f"{value:.3f}"


def _signed(key: str, value: float) -> str:
    return f"{value:+.2f}" if key.endswith("mae") else f"{value:+.3f}"


def band_errors(
    profile: Profile, variants=("baseline", "age_balanced"), model: str = "custom", results_dir=None
) -> pd.DataFrame | None:
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


def readable_bands(bands: pd.DataFrame) -> pd.DataFrame:
    """:func:`band_errors` for reading: each variant by its label ("age-balanced loss: MAE")."""

    def name(column: str) -> str:
        variant, _, what = column.partition(": ")
        if not what:
            return column
        return f"{'baseline' if variant == 'baseline' else VARIANTS[variant][0]}: {what}"

    return bands.rename(columns=name)


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
    error = (
        effect["with_twin"]["age_mae_standard_error"] ** 2 + effect["without_twin"]["age_mae_standard_error"] ** 2
    ) ** 0.5
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
                "run on": f"{row['device']}, {row['minutes']:.0f} min" if run else "not run",
            }
        )
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
    return _summary(_sweep_runs(profile, model, sweep_dir))


def _sweep_runs(profile: Profile, model: str, sweep_dir=None) -> dict[int, results.RunResults]:
    runs = {}
    for folder in sorted(sweep_root(sweep_dir).glob(f"seed*/{profile.name}/{model}")):
        seed = folder.parents[1].name.removeprefix("seed")
        if seed.isdigit() and results.finished_in(folder, dataclasses.replace(profile, seed=int(seed))):
            runs[int(seed)] = results.load(model, folder)
    return runs


def seed_runs(profile: Profile, model: str, sweep_dir=None, results_dir=None) -> dict[int, results.RunResults]:
    """The profile's own run (at its seed, e.g. the study's 42) and its seed sweep's runs, by seed."""
    runs = _sweep_runs(profile, model, sweep_dir)
    if (own := own_run(profile, model, results_dir)) is not None:
        runs[profile.seed] = own
    return dict(sorted(runs.items()))


def seed_spread(profile: Profile, model: str = "custom", sweep_dir=None, results_dir=None) -> pd.DataFrame | None:
    """:func:`sweep_summary` over :func:`seed_runs`: how much the final metrics move from run to run, against which
    a variant's difference from the baseline is read. None when neither has run."""
    return _summary(seed_runs(profile, model, sweep_dir, results_dir))


def model_spread(
    profile: Profile, model: str, sweep_dir=None, weights: dict | None = None, results_dir=None
) -> pd.DataFrame | None:
    """A model's spread over seeds at ``profile``: :func:`seed_spread` where it has a seed sweep there; else the
    pretraining sweep of ``weights`` (:func:`model_sweep`) where there is one; else its own run alone."""
    if sweep_summary(profile, model, sweep_dir) is None:
        pretraining = model_sweep(profile, model, sweep_dir, weights)
        if pretraining is not None:
            return pretraining
    return seed_spread(profile, model, sweep_dir, results_dir)


def weights_folder(weights: dict, sweep_dir=None) -> Path:
    """Where ``make pretraining`` puts a set of weights' sweep: ``<sweep root>/weights-<file name without
    .weights.h5, or none, or imagenet>/``. ``weights``: a run manifest's ``weights``."""
    name = (
        Path(weights["path"]).name.removesuffix(".h5").removesuffix(".weights")
        if weights["source"] == "file"
        else weights["source"]
    )
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
    frame = pd.DataFrame.from_dict(
        {seed: {key: run.metrics.get(key, float("nan")) for key in SWEEP_METRICS} for seed, run in runs.items()},
        orient="index",
    ).astype(float)
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
METRIC_NAMES = {
    "val_gender_accuracy": "validation gender accuracy",
    "val_age_mae": "validation age MAE",
    "test_gender_accuracy": "test gender accuracy",
    "test_age_mae": "test age MAE",
}


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
    row = {
        "model": model,
        "initial weights": weights["label"],
        "source": weights["source"],
        "seeds": int(summary["runs"].max()),
        "seed list": ", ".join(map(str, summary.attrs["seeds"])),
        "ran on": " and ".join(summary.attrs["ran_on"]),
    }
    for key in PRETRAINING_METRICS:
        row[key], row[f"{key}_sd"] = summary.loc[key, "mean"], summary.loc[key, "sd"]
    return row


def readable_pretraining(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`pretraining_table` for reading: the seeds by name, "mean ± sd" cells."""
    shown = table.set_index(["model", "initial weights"])[["seed list"]].rename(columns={"seed list": "seeds"})
    for key in PRETRAINING_METRICS:
        digits = 3 if "accuracy" in key else 2
        shown[key.replace("_", " ").replace("mae", "MAE")] = [
            "—" if mean != mean else f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd == sd else "")
            for mean, sd in zip(table[key], table[f"{key}_sd"])
        ]
    shown["ran on"] = table["ran on"].to_numpy()
    return shown


def pretraining_findings(
    table: pd.DataFrame, keys: tuple[str, ...] = ("val_age_mae", "val_gender_accuracy")
) -> list[str]:
    """One sentence per pretrained VGG16 row: for each metric in ``keys``, the differences from VGG16 from random
    weights and from the custom CNN that are more than twice their standard error over seeds (those within the
    noise are left to the table and figure), or the plain difference where a single seed gives no noise estimate."""

    def compare(row, other, name, key):
        better = (other[key] - row[key]) * (1 if key.endswith("mae") else -1)  # > 0: the pretrained row is better
        error = (row[f"{key}_sd"] ** 2 / row["seeds"] + other[f"{key}_sd"] ** 2 / other["seeds"]) ** 0.5
        if error == error and abs(better) <= 2 * error:
            return None
        verdict = "" if error == error else " (a single seed: no noise estimate)"
        return f"{_amount(key, abs(better))} {'better' if better > 0 else 'worse'} than {name}{verdict}"

    vgg = table[table["model"] == "VGG16"]
    random, custom = vgg[vgg["source"] == "none"], table[table["model"] == "Custom CNN"]
    others = [
        (other, name)
        for other, name in ((random, "VGG16 from random weights"), (custom, "the custom CNN"))
        if len(other)
    ]
    sentences = []
    for _, row in vgg[vgg["source"] != "none"].iterrows() if others else ():
        clauses = []
        for key in keys:
            found = [text for other, name in others if (text := compare(row, other.iloc[0], name, key))]
            if found:
                clauses.append(f"{METRIC_NAMES[key]} {_amount(key, row[key])}, " + ", and ".join(found))
        sentences.append(
            f"VGG16 with {row['initial weights']}: "
            + ("; ".join(clauses) if clauses else "no difference beyond the seed-to-seed noise")
            + "."
        )
    return sentences
