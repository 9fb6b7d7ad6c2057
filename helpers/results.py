"""Results of a run on disk (results/<profile>/<model>/): find, check, load (the model notebooks train
when missing)."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import config, evaluation, files, registry
from .config import Profile

# What the report and the notebooks read from a run's metrics.json and predictions.
METRIC_KEYS = (
    "train_gender_accuracy",
    "val_gender_accuracy",
    "train_gender_loss",
    "val_gender_loss",
    "train_age_mae",
    "val_age_mae",
)
PREDICTION_COLUMNS = ("file", "age", "gender", "pred_age", "prob_female", "pred_gender")


class DamagedRun(ValueError):
    """A run folder whose files cannot be read as a finished run; the message names the file and what to do."""


@dataclass
class RunResults:
    """The small files a finished run leaves behind."""

    model: str
    folder: Path
    metrics: dict
    manifest: dict
    history: pd.DataFrame
    predictions: pd.DataFrame
    test_predictions: pd.DataFrame | None = None  # None when the run had no test set


def profile_folder(profile: Profile, results_dir=None) -> Path:
    """``results/<profile>/``: every model's runs and the files notebooks 01 and 04 write."""
    return Path(results_dir or config.RESULTS_DIR) / profile.name


def run_folder(model: str, profile: Profile, results_dir=None) -> Path:
    return profile_folder(profile, results_dir) / model


def load(model: str, folder) -> RunResults:
    """Read a finished run; ``FileNotFoundError`` if it has no ``metrics.json``, ``DamagedRun`` naming the file
    when one of its files is missing, cut short or lacks what the report reads."""
    folder = Path(folder)
    if not (folder / "metrics.json").is_file():
        raise FileNotFoundError(f"no finished {model} run in {folder} (metrics.json missing)")
    with _damage_named(model, folder):
        metrics = files.read_json(folder / "metrics.json")
        _require(folder / "metrics.json", METRIC_KEYS, metrics)
        manifest = files.read_json(folder / "manifest.json")
        history = _read_csv(folder / f"history_{model}.csv", ("epoch",))
        predictions = _read_csv(folder / f"predictions_val_{model}.csv", PREDICTION_COLUMNS)
        test = folder / f"predictions_test_{model}.csv"
        test_predictions = _read_csv(test, PREDICTION_COLUMNS) if test.is_file() else None
    return RunResults(
        model=model,
        folder=folder,
        metrics=metrics,
        manifest=manifest,
        history=history,
        predictions=predictions,
        test_predictions=test_predictions,
    )


@contextlib.contextmanager
def _damage_named(model: str, folder: Path):
    """Turn a read error inside a run folder into one ``DamagedRun`` line: which file, and what to do."""
    try:
        yield
    except DamagedRun:
        raise
    except (OSError, ValueError) as err:
        reason = f"{err.filename} is missing" if isinstance(err, FileNotFoundError) else str(err)
        raise DamagedRun(
            f"the {model} run in {folder} is damaged: {reason}; retrain it (RETRAIN=1, or delete the "
            f"folder) or restore its files (git checkout -- {folder})"
        ) from None


def _require(path: Path, keys, found) -> None:
    missing = [key for key in keys if key not in found]
    if missing:
        raise ValueError(f"{path} is damaged (no {', '.join(missing)})")


def _read_csv(path: Path, columns) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is damaged (empty)") from None
    except pd.errors.ParserError as err:
        raise ValueError(f"{path} is damaged ({str(err).strip()})") from None
    _require(path, columns, frame.columns)
    return frame


# An unfinished run's checkpoint (written by helpers.training after every epoch): the folder and its newest state.
CHECKPOINT, CHECKPOINT_STATE = "checkpoint", "state.json"


def checkpointed_epochs(folder: Path, profile: Profile) -> int | None:
    """The epochs an unfinished run in ``folder`` has checkpointed for exactly ``profile``'s settings (its command
    resumes from there); None when there is no such checkpoint."""
    try:
        state = files.read_json(Path(folder) / CHECKPOINT / CHECKPOINT_STATE)
    except (OSError, ValueError):
        return None
    return int(state["epoch"]) if state.get("hash") == profile.hash and "epoch" in state else None


def progress_note(model: str, folder: Path, profile: Profile) -> str:
    """How far an unfinished run in ``folder`` got ("41 of 60 epochs checkpointed: training resumes there"), or ""
    (no checkpoint). Any training of these settings into ``folder`` resumes (:mod:`helpers.training`)."""
    done = checkpointed_epochs(folder, registry.get(model).profile_for(profile))
    if done is None:
        return ""
    return f"{done} of {registry.get(model).epochs(profile)} epochs checkpointed: training resumes there"


def finished(model: str, profile: Profile, results_dir=None) -> bool:
    """True when results for exactly this profile are on disk; ``ValueError`` if they belong to other settings."""
    return finished_in(run_folder(model, profile, results_dir), profile)


def finished_in(folder: Path, profile: Profile) -> bool:
    """:func:`finished` for a given run folder."""
    if not (folder / "metrics.json").is_file():
        return False
    with _damage_named(folder.name, folder):
        manifest = files.read_json(folder / "manifest.json")
    if manifest.get("model") in registry.MODELS:  # a model that reads one image size trained at that size
        profile = registry.get(manifest["model"]).profile_for(profile)
    if manifest.get("hash") != profile.hash and not profile.same_settings(manifest.get("profile", {})):
        raise ValueError(
            f"{folder} holds results of other settings (hash {manifest.get('hash')}, this profile is "
            f"{profile.hash}); retrain (retrain=True / RETRAIN=1) or choose another results_dir"
        )
    return True


def load_for(model: str, profile: Profile, results_dir=None) -> RunResults:
    """This profile's finished run, checked against its hash and its network (never another profile's results,
    nor another architecture's)."""
    if not finished(model, profile, results_dir):
        raise FileNotFoundError(
            f"no {model} results for profile {profile.name} in "
            f"{run_folder(model, profile, results_dir)}: run its training notebook first"
        )
    run = load(model, run_folder(model, profile, results_dir))
    check_architecture(run, profile)
    return run


class OtherArchitecture(ValueError):
    """A run trained with another network than the one the code builds now."""


def check_architecture(run: RunResults, profile: Profile) -> None:
    """:class:`OtherArchitecture` unless ``run``'s recorded network is the one the code builds now for
    ``profile``; its message names the run and the first layer that differs."""
    recorded = run.manifest.get("architecture")
    current = registry.current_architecture(run.model, profile)  # Keras starts here: the network is built
    if recorded and recorded["digest"] == current["digest"]:
        return
    difference = _first_difference(recorded["layers"], current["layers"]) if recorded else "it recorded no network"
    raise OtherArchitecture(
        f"the {run.model} run in {run.folder} was trained with another network than the code builds now "
        f"({difference}); retrain it (retrain=True / RETRAIN=1) or choose another results_dir"
    )


def _first_difference(recorded: list[str], current: list[str]) -> str:
    for index, (was, now) in enumerate(zip(recorded, current), start=1):
        if was != now:
            return f"layer {index}: {was!r} in the run, {now!r} now"
    return f"{len(recorded)} layers in the run, {len(current)} now"


def load_available(profile: Profile, results_dir=None) -> dict[str, RunResults]:
    """The finished runs of this profile, by model (models not run yet are left out)."""
    return {m: load_for(m, profile, results_dir) for m in registry.names() if finished(m, profile, results_dir)}


def comparison_table(runs: dict[str, RunResults]) -> pd.DataFrame:
    """Final train/validation accuracy, loss and MAE of each model beside the coursework's numbers."""
    rows = []
    for model, run in runs.items():
        m, reported = run.metrics, registry.get(model).reported or {}
        rows.append(
            {
                "model": registry.get(model).label,
                "train gender accuracy": m["train_gender_accuracy"],
                "val gender accuracy": m["val_gender_accuracy"],
                "train gender loss": m["train_gender_loss"],
                "val gender loss": m["val_gender_loss"],
                "train age MAE": m["train_age_mae"],
                "val age MAE": m["val_age_mae"],
                "accuracy gap (train - val)": m["train_gender_accuracy"] - m["val_gender_accuracy"],
                "MAE gap (val - train)": m["val_age_mae"] - m["train_age_mae"],
                "test gender accuracy": m.get("test_gender_accuracy", float("nan")),
                "test age MAE": m.get("test_age_mae", float("nan")),
                "coursework (reported): val gender accuracy": reported.get("val_gender_accuracy", float("nan")),
                "coursework (reported): val age MAE": reported.get("val_age_mae", float("nan")),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def paired_comparisons(runs: dict[str, RunResults]) -> dict[tuple[str, str], dict[str, dict]]:
    """Each pair of models image by image (:func:`evaluation.paired_comparison`; positive: the second better), in
    the registry's order (the custom CNN, VGG16, the face model): by ``(first, second)``, the validation images'
    comparison and, where both were tested, the test images'."""
    found = {}
    for first, second in itertools.combinations([m for m in registry.names() if m in runs], 2):
        one, other = runs[first], runs[second]
        pair = {"validation": evaluation.paired_comparison(one.predictions, other.predictions)}
        if one.test_predictions is not None and other.test_predictions is not None:
            pair["test"] = evaluation.paired_comparison(one.test_predictions, other.test_predictions)
        found[first, second] = pair
    return found


# What the coursework reported about its 5,000-image subset (section 2.1).
SEED_DATASET = {
    "images": 5000,
    "distinct_ages": 96,
    "mean_per_age": 52,
    "median_per_age": 32,
    "most_frequent_age": 26,
    "most_frequent_count": 517,
    "male": 2416,
    "female": 2584,
}
