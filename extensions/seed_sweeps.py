"""Seed sweeps: a profile's runs at other seeds (``make sweep``) and with other initial weights (``make
pretraining``), and how much the final metrics move from run to run, against which a difference is read.

A sweep run of seed N is the profile with ``seed`` = N, in ``<sweep root>/seed<N>/<profile>/<model>/``; a
pretraining sweep's runs are in ``<sweep root>/weights-<name>/seed<N>/<profile>/<model>/``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from helpers import config, registry, results
from helpers.config import Profile

SWEEP_METRICS = (
    "val_gender_accuracy",
    "val_age_mae",
    "test_gender_accuracy",
    "test_age_mae",
    "train_gender_accuracy",
    "train_age_mae",
)


def sweep_root(sweep_dir=None) -> Path:
    """Where ``make sweep`` puts its runs: ``results/sweeps/`` unless told otherwise."""
    return Path(sweep_dir or config.RESULTS_DIR / "sweeps")


def sweep_folder(seed: int, sweep_dir=None) -> Path:
    """The runs of one seed: ``<sweep root>/seed<N>/`` (a results root)."""
    return sweep_root(sweep_dir) / f"seed{seed}"


def sweep_summary(profile: Profile, model: str, sweep_dir=None) -> pd.DataFrame | None:
    """Mean, standard deviation and count over the seed sweep's finished runs of ``profile``; None if none.

    A sweep run of seed N is the profile with ``seed`` = N, in ``<sweep_dir>/seed<N>/<profile>/<model>/``.
    ``attrs``: ``seeds`` and ``ran_on`` (where the runs trained, e.g. "CPU with tensorflow").
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


def seed_spread(
    profile: Profile, model: str = registry.DEFAULT_MODEL, sweep_dir=None, results_dir=None
) -> pd.DataFrame | None:
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
    """:func:`sweep_summary`; for a model with pretrained weights (VGG16) without a plain sweep of ``profile``, the
    pretraining sweep of ``weights`` (the study run's manifest ``weights``), its label in ``attrs["weights"]``."""
    summary = sweep_summary(profile, model, sweep_dir)
    if summary is None and registry.get(model).weights_variable and weights:
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
    summary.attrs["ran_on"] = sorted({ran_on(run.manifest) for run in runs.values()})
    return summary


def ran_on(manifest: dict) -> str:
    """e.g. "NVIDIA H200 with jax" or "CPU with tensorflow" (the machine alone where the manifest predates the back
    end): runs on different back ends agree to float rounding, not bit for bit."""
    backend = manifest.get("backend")
    return f"{device(manifest)} with {backend}" if backend else device(manifest)


def device(manifest: dict) -> str:
    """Where a run trained: its accelerators, or "CPU"."""
    return ", ".join(manifest.get("hardware", {}).get("accelerators") or []) or "CPU"


# ---------------------------------------------------------------- does pretraining help?
PRETRAINING_METRICS = ("val_gender_accuracy", "val_age_mae", "test_gender_accuracy", "test_age_mae")


def pretraining_table(profile: Profile, sweep_dir=None, results_dir=None) -> pd.DataFrame | None:
    """The custom CNN's seed sweep beside each pretrained model's (VGG16's) with each set of initial weights (``make
    pretraining`` puts them in ``<sweep root>/weights-<name>/``), one row each: the weights (named by the runs'
    manifests, with ``source`` none/file/imagenet), the number of seeds, where they ran, and mean and sd of each of
    ``PRETRAINING_METRICS``. The profile's own runs (``results/<profile>/``) stand in for a model or set of weights
    that has no sweep of this profile. None when no pretrained model has a sweep."""
    pretrained = [
        row for model in registry.with_weights() for row in _weights_rows(profile, model, sweep_dir, results_dir)
    ]
    if not pretrained:
        return None
    scratch = registry.DEFAULT_MODEL
    custom = sweep_summary(profile, scratch, sweep_dir)
    if custom is None and (run := own_run(profile, scratch, results_dir)):
        custom = _summary({profile.seed: run})
    from_scratch = {"label": "trained from scratch", "source": "none"}
    rows = [] if custom is None else [_pretraining_row(registry.get(scratch).label, from_scratch, custom, "none")]
    return pd.DataFrame(rows + pretrained)


def _weights_rows(profile: Profile, model: str, sweep_dir=None, results_dir=None) -> list[dict]:
    """A pretrained model's rows of :func:`pretraining_table`: one per set of weights it has a sweep of, then its
    own run where none of those has its weights; none without a sweep."""
    short = registry.get(model).short
    rows = []
    for folder in sorted(sweep_root(sweep_dir).glob("weights-*")):
        summary = sweep_summary(profile, model, folder)
        if summary is not None:
            first = next(folder.glob(f"seed*/{profile.name}/{model}/metrics.json")).parent
            weights = results.load(model, first).manifest["weights"]
            rows.append(_pretraining_row(short, weights, summary, folder.name.removeprefix("weights-")))
    own = own_run(profile, model, results_dir) if rows else None
    if own and own.manifest["weights"]["label"] not in {row["initial weights"] for row in rows}:
        rows.append(_pretraining_row(short, own.manifest["weights"], _summary({profile.seed: own}), "own"))
    return rows


def _pretraining_row(model: str, weights: dict, summary: pd.DataFrame, key: str) -> dict:
    """A row of :func:`pretraining_table`; ``key`` names its weights in the report's numbers: the sweep's folder
    (``weights-<key>``: none, imagenet, vgg16_tumor_notop), or "own" for the profile's own run."""
    row = {
        "model": model,
        "initial weights": weights["label"],
        "weights key": key,
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
    _add_mean_sd_columns(shown, table, PRETRAINING_METRICS)
    shown["ran on"] = table["ran on"].to_numpy()
    return shown


def _add_mean_sd_columns(shown: pd.DataFrame, table: pd.DataFrame, keys) -> None:
    """A "mean ± sd" column of ``shown`` for each of ``keys`` ("val age MAE"), from ``table``'s key and key_sd."""
    for key in keys:
        digits = 3 if "accuracy" in key else 2
        shown[key.replace("_", " ").replace("mae", "MAE")] = [
            "—" if mean != mean else f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd == sd else "")
            for mean, sd in zip(table[key], table[f"{key}_sd"])
        ]


def pretraining_for_plot(table: pd.DataFrame) -> tuple[pd.DataFrame, str, dict[str, float]] | None:
    """:func:`pretraining_table` for :func:`extensions.figures.against_baseline`, a pretrained model (VGG16) from random
    weights as the baseline (its sd as the band); None without that row."""
    labels = [f"{model} · {weights.split(' (')[0]}" for model, weights in zip(table["model"], table["initial weights"])]
    frame = table.set_axis(labels)
    pretrained = [registry.get(model).short for model in registry.with_weights()]
    random = frame[frame["model"].isin(pretrained) & (frame["source"] == "none")]
    if random.empty:
        return None
    baseline = random.index[0]
    return frame, baseline, {key: frame.loc[baseline, f"{key}_sd"] for key in PRETRAINING_METRICS}


# ---------------------------------------------------------------- two protocols: constant and decaying learning rate
def schedule_folder(schedule: str, sweep_dir=None) -> Path:
    """Where the seed runs of a learning-rate schedule other than the protocol's constant one go (``make queue``'s
    ``lr-<schedule>`` jobs, ``make sweep SWEEP_SET=lr_schedule=...``): ``<sweep root>/lr-<schedule>/``."""
    return sweep_root(sweep_dir) / f"lr-{schedule}"


def schedule_runs(
    profile: Profile, model: str, schedule: str, sweep_dir=None, results_dir=None
) -> dict[int, results.RunResults]:
    """A model's runs over seeds under ``schedule``: for the profile's own schedule, :func:`seed_runs`; for another,
    the runs in :func:`schedule_folder` (seed 42 among them)."""
    if schedule == profile.lr_schedule:
        return seed_runs(profile, model, sweep_dir, results_dir)
    varied = dataclasses.replace(profile, lr_schedule=schedule)
    return _sweep_runs(varied, model, schedule_folder(schedule, sweep_dir))


def schedule_spread(profile: Profile, model: str, schedule: str, sweep_dir=None, results_dir=None):
    """:func:`sweep_summary`'s table over :func:`schedule_runs`; None where none ran."""
    return _summary(schedule_runs(profile, model, schedule, sweep_dir, results_dir))


PROTOCOL_METRICS = (*PRETRAINING_METRICS, "test_gender_accuracy_flip", "test_age_mae_flip")
LAST_EPOCHS = 10  # the end of a run whose wobble the protocol table measures


def last_stage(history: pd.DataFrame) -> pd.DataFrame:
    """The epochs of a run's last stage (all of them for a model of one stage)."""
    return history[history["stage"] == history["stage"].max()] if "stage" in history else history


def last_epochs_sd(history: pd.DataFrame, key: str = "val_age_mae") -> float:
    """How much the end of a run wobbles: the sd of ``key`` over its last ``LAST_EPOCHS`` epochs, within its last
    stage (a shorter last stage: over the whole stage)."""
    return float(last_stage(history)[key].tail(LAST_EPOCHS).std(ddof=1))


def protocol_table(profile: Profile, schedules=config.LR_SCHEDULES, sweep_dir=None, results_dir=None):
    """Each model that has runs under a schedule other than ``profile``'s, a row per schedule: the seeds, mean and
    sd of ``PROTOCOL_METRICS`` over them (the flip columns only over runs that scored it), and the mean over runs
    of :func:`last_epochs_sd`. None when no model has such runs."""
    rows = []
    for model in registry.names():
        runs = {schedule: schedule_runs(profile, model, schedule, sweep_dir, results_dir) for schedule in schedules}
        if not any(runs[schedule] for schedule in schedules if schedule != profile.lr_schedule):
            continue
        for schedule, by_seed in runs.items():
            if not by_seed:
                continue
            row = {"model": registry.get(model).label, "learning rate": schedule, "seeds": ", ".join(map(str, by_seed))}
            for key in PROTOCOL_METRICS:
                values = pd.Series([run.metrics.get(key, float("nan")) for run in by_seed.values()], dtype=float)
                row[key], row[f"{key}_sd"] = values.mean(), values.std(ddof=1)
            row["last_epochs_sd"] = float(pd.Series([last_epochs_sd(run.history) for run in by_seed.values()]).mean())
            rows.append(row)
    return pd.DataFrame(rows) if rows else None


def readable_protocols(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`protocol_table` for reading: "mean ± sd" cells, and the end's wobble in years."""
    shown = table.set_index(["model", "learning rate"])[["seeds"]]
    _add_mean_sd_columns(shown, table, PROTOCOL_METRICS)
    shown[f"sd of the last stage's last {LAST_EPOCHS} val age MAEs"] = [f"{v:.2f}" for v in table["last_epochs_sd"]]
    return shown
