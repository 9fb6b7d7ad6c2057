"""The report's numbers over many runs, ready for its template: the seed sweeps (section 4) and the
experiments (sections 4.2 and 4.3), each model read against its own run-to-run spread."""

from __future__ import annotations

import pandas as pd

from . import config, experiments, findings, registry, seed_sweeps
from .config import Profile


def experiment_tables(profile: Profile, results_dir=None, sweep_dir=None) -> list[dict]:
    """For this profile and for ``quick`` (the CPU-sized one): the conjecture variants that ran, every model's in
    one table (none made of "not run" rows), and per model its seed spread, findings and the age-band errors of
    the balancing variant, each read against that model's own spread; the duplicate variants per model; the
    variants not run with their command and estimated time; per model the twin effect its all-images run
    measured; the duplicate findings, ready for the template."""
    entries = []
    for shown in experiments.shown_profiles(profile):
        found = experiments.summaries(shown, results_dir)
        conjectures, duplicates = {}, {}  # per model, the rows that ran
        for model, by_name in found.items():
            ran = experiments.ran(by_name["conjectures"])
            if (ran.index != "baseline").any():  # a variant beside the baseline
                conjectures[model] = experiments.readable(ran)
            if not (ran := experiments.ran(by_name["duplicates"])).empty:
                duplicates[model] = experiments.readable(ran)
        missing = {
            name: [entry for model in found for entry in experiments.not_run(name, shown, model, results_dir)]
            for name in experiments.EXPERIMENTS
        }
        entries.append(
            {
                "profile": shown,
                "conjectures": _one_table(conjectures) if conjectures else None,
                "models": _conjectures_by_model(shown, results_dir, sweep_dir),
                "duplicates": duplicates,
                "not_run": missing["conjectures"],
                "duplicates_not_run": missing["duplicates"],
                "twin_effects": {  # per model whose all-images run measured it
                    model: effect
                    for model in registry.names()
                    if (effect := experiments.read_twin_effect(shown, model, results_dir)) is not None
                },
                "duplicate_findings": {
                    model: findings.duplicate_findings(shown, model, sweep_dir, results_dir)
                    for model in registry.names()
                },
                "replicates": device_replicates(shown, results_dir, sweep_dir),
            }
        )
    return entries


REPLICATE_COLUMNS = {
    "val_gender_accuracy": "val gender accuracy",
    "val_age_mae": "val age MAE",
    "test_gender_accuracy": "test gender accuracy",
    "test_age_mae": "test age MAE",
}


def device_replicates(profile: Profile, results_dir=None, sweep_dir=None) -> dict | None:
    """:func:`experiments.device_replicates` for the template: a table of "repeat vs committed run" per model and
    metric ("(beyond)" where the difference is beyond the noise), the machines of each side and how many
    differences are beyond the noise; None when no run was repeated elsewhere."""
    table = experiments.device_replicates(profile, sweep_dir, results_dir)
    if table is None:
        return None

    def cell(row, key):
        digits = 3 if "accuracy" in key else 2
        mark = " (beyond)" if row[key + "_beyond"] else ""
        return f"{row[key]:.{digits}f} vs {row[key + '_own']:.{digits}f}{mark}"

    several = table["ran_on"].nunique() > 1  # then each row names its machine
    rows = {
        registry.get(row["model"]).label + (f" ({row['ran_on']})" if several else ""): {
            name: cell(row, key) for key, name in REPLICATE_COLUMNS.items()
        }
        for _, row in table.iterrows()
    }
    return {
        "table": pd.DataFrame.from_dict(rows, orient="index").rename_axis("model"),
        "ran_on": sorted(set(table["ran_on"])),
        "own_ran_on": sorted(set(table["own_ran_on"])),
        **experiments.judged_differences(table),
    }


def _one_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each model's :func:`experiments.readable` rows in one table, each row named "model: variant"."""
    named = [
        table.rename(index=lambda variant, m=model: f"{registry.get(m).label}: {variant}")
        for model, table in tables.items()
    ]
    return pd.concat(named).rename_axis("model: variant")


def _conjectures_by_model(profile: Profile, results_dir=None, sweep_dir=None) -> list[dict]:
    """Per model with a conjecture variant run: its seed spread, its findings against that spread and the
    age-band errors of its balancing variant."""
    entries = []
    for model, effects in experiments.conjecture_effects(profile, sweep_dir, results_dir).items():
        bands = experiments.band_errors(profile, model=model, results_dir=results_dir)
        shared = experiments.shared_test(profile, model, results_dir)  # more data, on the same test faces
        entries.append(
            {
                "model": model,
                "spread": _summary_dict(effects.attrs["spread"]),
                "findings": findings.conjecture_findings(effects, bands, shared),
                "bands": experiments.readable_bands(bands) if bands is not None else None,
            }
        )
    return entries


def sweeps(profile: Profile, sweep_dir=None, weights: dict | None = None, results_dir=None) -> list[dict]:
    """Per shown profile with runs over seeds: {"profile", "coursework", "models": {model: {"seeds", "weights",
    metric: {"mean", "sd", "runs"}}}, "guide_for": the models whose spread here stands in for a missing one at
    ``profile``}. The custom CNN's are its own run and its seed sweep
    (:func:`helpers.seed_sweeps.seed_spread`); VGG16's its sweep, or else the pretraining sweep of its ``weights``
    (the study run's; ``weights``: each run's recorded weights, by model). ``coursework``: for the seed protocol,
    :func:`against_coursework`."""
    found = []
    for shown in experiments.shown_profiles(profile):
        models = {}
        for model in registry.names():
            summary = seed_sweeps.model_spread(shown, model, sweep_dir, (weights or {}).get(model), results_dir)
            if (summary := _summary_dict(summary)) is not None:
                models[model] = summary
        if models:
            study = shown.hash == config.PROFILES["seed"].hash
            found.append(
                {
                    "profile": shown,
                    "models": models,
                    "coursework": " ".join(
                        against_coursework(spread, model)
                        for model, spread in models.items()
                        if registry.get(model).reported
                    )
                    if study
                    else None,
                    "gap": spread_gap(models, shown.name),
                }
            )
    own = next((entry["models"] for entry in found if entry["profile"].name == profile.name), {})
    for entry in found:  # a smaller profile's spread stands in for the models without one at this profile
        smaller = entry["profile"].name != profile.name
        entry["guide_for"] = [
            model
            for model, spread in entry["models"].items()
            if smaller and len(spread["seeds"]) > 1 and len(own.get(model, {}).get("seeds", ())) < 2
        ]
    return found


def against_coursework(spread: dict, model: str) -> str:
    """Whether the coursework's validation numbers for ``model`` lie within the reproduction's run-to-run spread
    (mean ± 2 sd over seeds; ``spread``: :func:`_summary_dict` of :func:`helpers.seed_sweeps.seed_spread`)."""
    reported = registry.get(model).reported
    if len(spread["seeds"]) < 2:
        return (
            f"With a single {registry.get(model).label} run (seed {spread['seeds'][0]}) its spread is not known "
            f"yet, so its distance from the coursework's {reported['val_gender_accuracy']} / {reported['val_age_mae']} "
            f'cannot be judged (`make sweep PROFILE=seed SEEDS="1 2" MODELS={model}` trains more seeds).'
        )
    parts = []
    for key, digits, unit in (("val_gender_accuracy", 3, ""), ("val_age_mae", 2, " years")):
        mean, sd = spread[key]["mean"], spread[key]["sd"]
        inside = abs(reported[key] - mean) <= 2 * sd
        parts.append(
            f"{findings.METRIC_NAMES[key]} {reported[key]}{unit} is {'within' if inside else 'outside'} "
            f"{mean:.{digits}f} ± {2 * sd:.{digits}f}"
        )
    rough = " With two runs the spread is a rough estimate." if len(spread["seeds"]) == 2 else ""
    return (
        f"Against the coursework's {registry.get(model).label} (mean ± 2 sd over seeds "
        + ", ".join(map(str, spread["seeds"]))
        + "): its "
        + "; its ".join(parts)
        + "."
        + rough
    )


def spread_gap(models: dict[str, dict], profile_name: str) -> str | None:
    """Whether the second model's advantage over the first (the first two in registry order: the coursework's custom
    CNN and VGG16), in the mean over seeds of validation age MAE and gender accuracy, is larger than their run-to-run
    spread: beyond twice the standard error of the difference of two means (sd²/runs of each, summed). ``models``:
    :func:`_summary_dict` by model, at the profile named; None unless two."""
    if len(models) < 2:
        return None
    (first, one), (second, other) = list(models.items())[:2]
    names = {model: registry.get(model).label for model in (first, second)}
    single = [names[model] for model, spread in ((first, one), (second, other)) if len(spread["seeds"]) < 2]
    if single:
        return (
            f"At profile {profile_name}, whether {names[second]}'s advantage over {names[first]} is larger than their "
            f"run-to-run spread cannot be judged yet: {' and '.join(single)} {'has' if len(single) == 1 else 'have'} "
            "a single run here."
        )
    parts = []
    for key, digits, unit, lower_is_better in (
        ("val_age_mae", 2, " years", True),
        ("val_gender_accuracy", 3, "", False),
    ):
        advantage = (one[key]["mean"] - other[key]["mean"]) * (1 if lower_is_better else -1)
        error = (one[key]["sd"] ** 2 / one[key]["runs"] + other[key]["sd"] ** 2 / other[key]["runs"]) ** 0.5
        parts.append(
            f"{findings.METRIC_NAMES[key]} {advantage:+.{digits}f}{unit} (standard error {error:.{digits}f}: "
            f"{'beyond' if abs(advantage) > 2 * error else 'within'} twice that)"
        )
    rough = (
        " With two runs of a model the spread is a rough estimate."
        if min(len(one["seeds"]), len(other["seeds"])) == 2
        else ""
    )
    opening = f"At profile {profile_name}, {names[second]}'s advantage over {names[first]} in the mean over seeds: "
    return opening + "; ".join(parts) + "." + rough


def _summary_dict(summary: pd.DataFrame | None) -> dict | None:
    """A sweep summary for the template: {"seeds", "weights", metric: {"mean", "sd", "runs"}}."""
    if summary is None:
        return None
    return {"seeds": summary.attrs["seeds"], "weights": summary.attrs.get("weights"), **summary.to_dict("index")}
