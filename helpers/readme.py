"""The blocks of the README and the docs that quote results, written from ``results/`` by ``python -m helpers
readme`` with the report's own functions, so that no number of the front page is typed by hand.

A block stands between ``<!-- begin NAME: ... -->`` and ``<!-- end NAME -->``; everything outside the markers is
prose and stays as it is. ``python -m helpers readme --check`` says which blocks differ from a fresh write.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd

from . import config, experiments, registry, results, seed_sweeps
from .findings import METRIC_NAMES, beyond_retraining, graded_metrics

WIDTH = 120
NBSP = "\u00a0"  # joins "8.36 ± 0.59" and "6.45 / 6.35" while wrapping, so that a number never splits from its pair
BEGIN = "<!-- begin {name}: written by `python -m helpers readme` from results/, not by hand -->"
END = "<!-- end {name} -->"


def _wrap(text: str, indent: str = "") -> str:
    lines = textwrap.wrap(text, WIDTH, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False)
    return "\n".join(lines).replace(NBSP, " ")


def _pair(first: str, second: str) -> str:
    return f"{first}{NBSP}/{NBSP}{second}"


def _mae(value: float) -> str:
    return f"{value:.2f}"


def _accuracy(value: float) -> str:
    return f"{value:.3f}"


def results_table() -> str:
    """The committed seed runs beside the coursework's validation numbers, one row per model that ran."""
    rows = [
        "| model | val gender accuracy | val age MAE | test gender accuracy | test age MAE | coursework (val) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for model, run in results.load_available(config.get_profile("seed")).items():
        metrics = run.metrics
        reported = registry.get(model).reported or {}
        rows.append(
            f"| {registry.get(model).label} | {_accuracy(metrics['val_gender_accuracy'])} | "
            f"{_mae(metrics['val_age_mae'])} | {_accuracy(metrics['test_gender_accuracy'])} | "
            f"{_mae(metrics['test_age_mae'])} | {_reported(reported)} |"
        )
    return "\n".join(rows) + "\n\n" + _over_seeds()


def _reported(reported: dict) -> str:
    if not reported:
        return "—"
    return f"{reported['val_gender_accuracy']:.2f} / {reported['val_age_mae']:.1f}"


def _over_seeds() -> str:
    """Each model's validation numbers over its runs at the seed profile (its own run and its seed sweep)."""
    seed = config.get_profile("seed")
    parts = []
    for model in registry.names():
        spread = seed_sweeps.seed_spread(seed, model)
        if spread is None:
            continue
        seeds = spread.attrs["seeds"]
        mae, accuracy = spread.loc["val_age_mae"], spread.loc["val_gender_accuracy"]
        if len(seeds) == 1:
            parts.append(f"{registry.get(model).label} one run so far (seed {seeds[0]})")
        else:
            parts.append(
                f"{registry.get(model).label} {_mae(mae['mean'])}{NBSP}±{NBSP}{_mae(mae['sd'])} years and "
                f"{_accuracy(accuracy['mean'])}{NBSP}±{NBSP}{_accuracy(accuracy['sd'])} "
                f"(seeds {', '.join(map(str, seeds))})"
            )
    return _wrap(
        "Over seeds (each seed its own subset, split and initial weights; validation, mean ± sd): "
        + "; ".join(parts)
        + ". Report section 4 and its Figure 12 read the gap between the models against this spread."
    )


def _noise(row: pd.Series, metric: str) -> str:
    """Whether a variant's validation and test differences in ``metric`` lie beyond the run-to-run noise."""
    val, test = row[f"val_{metric}_beyond"], row[f"test_{metric}_beyond"]
    if val is None or test is None:
        return "with no seed spread to read it against"
    if val and test:
        return "beyond the noise"
    if val or test:
        return f"beyond the noise on {'validation' if val else 'test'} only"
    return "within the noise"


def _verdict(row: pd.Series) -> str:
    """What the differences beyond the noise say of the conjecture, as :func:`helpers.findings.conjecture_findings`
    reads them."""
    beyond = [key for key in experiments.EFFECT_METRICS if row[f"{key}_beyond"]]
    better = [key for key in beyond if (row[f"{key}_diff"] < 0) == key.endswith("mae")]
    if row[f"{experiments.EFFECT_METRICS[0]}_beyond"] is None:
        return "No verdict without a seed spread"
    if not beyond:
        return "Neither supported nor refuted at this scale"
    if len(better) == len(beyond):
        return f"Supported on {_metrics(beyond)}"
    if not better:
        return f"Refuted on {_metrics(beyond)}"
    return f"Mixed: better on {_metrics(better)}, worse on {_metrics([k for k in beyond if k not in better])}"


def _metrics(keys: list[str]) -> str:
    """``["val_age_mae", "test_age_mae"]`` as "age MAE (validation and test)", and so on."""
    names = []
    for metric, name in (("age_mae", "age MAE"), ("gender_accuracy", "gender accuracy")):
        splits = [split for split in ("val", "test") if f"{split}_{metric}" in keys]
        if splits:
            names.append(f"{name} ({' and '.join({'val': 'validation', 'test': 'test'}[s] for s in splits)})")
    return " and ".join(names)


def _paired(comparison: dict) -> str:
    """The second run's age MAE and gender accuracy against the first's on the same faces, and which differences
    the image-by-image interval puts beyond the noise of which faces were graded."""
    age, gender = comparison["age_mae"], comparison["gender_accuracy"]
    short = {"age_mae": "age", "gender_accuracy": "gender"}
    beyond = [short[key] for key, _ in graded_metrics(comparison)]
    noise = "the noise of which faces were graded"
    reading = {0: f"neither beyond {noise}", 1: f"beyond {noise} for {''.join(beyond)} only", 2: f"both beyond {noise}"}
    reading = reading[len(beyond)]
    return (
        f"{_mae(age['second'])} against {_mae(age['first'])} years and {_accuracy(gender['second'])} against "
        f"{_accuracy(gender['first'])}, {reading}"
    )


def _retraining(comparison: dict, spread) -> str:
    """Whether the differences beyond the noise of which faces were graded are beyond a retraining's noise too
    (:func:`helpers.findings.beyond_retraining`); empty where there is none or no seed spread to read them against."""
    beyond = beyond_retraining(comparison, spread)
    if not graded_metrics(comparison) or beyond is None:
        return ""
    noise = "a retraining's noise (twice the sd of a difference between two runs of the seed sweep)"
    return f", and beyond {noise} for {' and '.join(beyond)}" if beyond else f", but within {noise}"


def _band_shift(bands: pd.DataFrame, band: str, variant: str, what: str) -> str:
    return f"{bands.loc[band, f'baseline: {what}']:+.1f} → {bands.loc[band, f'{variant}: {what}']:+.1f}"


CONJECTURE_NAMES = {
    "all_images": "More data",
    "res192": "A higher resolution",
    "age_balanced": "More weight on the rare ages",
}


def _conjecture_bullet(profile, model: str, variant: str, row: pd.Series, base: pd.Series) -> str:
    opening = {
        "all_images": f"{int(row['n_train']):,} training images instead of {int(base['n_train']):,} give",
        "res192": f"{experiments.variant_profile(profile, 'res192').image_size} px gives",
        "age_balanced": "the inverse-frequency age loss gives",
    }[variant]
    elsewhere = f", trained on {row['device']}" if row["device"] != base["device"] else ""
    text = (
        f"- **{CONJECTURE_NAMES[variant]}** (`{variant}`{elsewhere}): {opening} an age MAE of "
        f"{_pair(_mae(row['val_age_mae']), _mae(row['test_age_mae']))} years, {_noise(row, 'age_mae')}, and a "
        f"gender accuracy of {_pair(_accuracy(row['val_gender_accuracy']), _accuracy(row['test_gender_accuracy']))}, "
        f"{_noise(row, 'gender_accuracy')}"
    )
    if variant == "all_images" and (shared := experiments.shared_test(profile, model)):
        text += f"; on the {shared['n']:,} test faces both runs held out, {_paired(shared)}"
    text += f". {_verdict(row)}."
    if variant == "age_balanced" and (bands := experiments.band_errors(profile, model=model)) is not None:
        oldest, youngest = bands.index[-1], bands.index[0]
        text += (
            f" Test bias by age: {oldest}, {_band_shift(bands, oldest, variant, 'bias')} years; "
            f"{youngest}, {_band_shift(bands, youngest, variant, 'bias')}."
        )
    return _wrap(text, "  ")


def _spread_sentence(spread: pd.DataFrame, model: str) -> str:
    """The model's seed spread on validation and, where the coursework reported the model, whether it puts the
    coursework's numbers within two sd of the mean."""
    seeds = spread.attrs["seeds"]
    mae, accuracy = spread.loc["val_age_mae"], spread.loc["val_gender_accuracy"]
    sentence = (
        f"the run-to-run spread of seeds {', '.join(map(str, seeds[:-1]))} and {seeds[-1]}: "
        f"{_mae(mae['mean'])}{NBSP}±{NBSP}{_mae(mae['sd'])} years and "
        f"{_accuracy(accuracy['mean'])}{NBSP}±{NBSP}{_accuracy(accuracy['sd'])} on validation"
    )
    reported = registry.get(model).reported
    if not reported:  # a model the coursework did not train
        return sentence
    within = (  # as report section 4 reads it (helpers.report_sections.against_coursework)
        abs(reported["val_age_mae"] - mae["mean"]) <= 2 * mae["sd"]
        and abs(reported["val_gender_accuracy"] - accuracy["mean"]) <= 2 * accuracy["sd"]
    )
    return (
        f"{sentence}, which {'puts' if within else 'does not put'} the coursework's "
        f"{_pair(str(reported['val_age_mae']), str(reported['val_gender_accuracy']))} within two sd of the "
        "reproduction's mean"
    )


def conjectures() -> str:
    """The coursework's conjectures at the seed profile, model by model (one bullet per variant, each read against
    that model's own seed spread), then the quick profile's preview."""
    seed = config.get_profile("seed")
    by_model = experiments.conjecture_effects(seed)
    if not by_model:
        return "The coursework's conjectures have not run at the seed profile yet (`make queue` runs them)."
    intro = (
        "**The coursework's conjectures at its own scale** (seed profile; section 4.2 of the report, with its "
        "Figure 10), model by model, each variant read against its own model's baseline and seed spread."
    )
    if (repeats := experiments.device_replicates(seed)) is not None:
        counts = experiments.judged_differences(repeats)
        intro += (
            " A variant that trained on another machine than its baseline may differ from it by the machine as well: "
            f"each model's baseline run ({' and '.join(sorted(set(repeats['own_ran_on'])))}), repeated at the same "
            f"seed on {' and '.join(sorted(set(repeats['ran_on'])))}, gives numbers beyond the run-to-run noise of "
            f"the committed run's on {counts['beyond']} of the {counts['judged']} that its seed spread can judge."
        )
    blocks = [_wrap(intro)]
    for model, effects in by_model.items():
        blocks.append(_model_conjectures(seed, model, effects))
    if preview := _quick_preview():
        blocks.append(preview)
    return "\n\n".join(blocks)


def _model_conjectures(profile, model: str, effects: pd.DataFrame) -> str:
    """One model's conjecture variants: its baseline and spread, then a bullet per conjecture."""
    base, spread = effects.attrs["baseline"], effects.attrs["spread"]
    opening = (
        f"*{registry.get(model).label}*: the baseline's "
        f"{_pair(_mae(base['val_age_mae']), _mae(base['test_age_mae']))} years and "
        f"{_pair(_accuracy(base['val_gender_accuracy']), _accuracy(base['test_gender_accuracy']))} "
        "(validation / test)"
    )
    if spread is not None and len(spread.attrs["seeds"]) >= 2:
        opening += f"; {_spread_sentence(spread, model)}"
    parts = [_wrap(opening + ".")]
    for variant in experiments.CONJECTURES:
        if variant in effects.index:
            parts.append(_conjecture_bullet(profile, model, variant, effects.loc[variant], base))
        elif not experiments.changes_model(variant, profile, model):
            side = registry.get(model).image_size
            parts.append(f"- **{CONJECTURE_NAMES[variant]}** (`{variant}`): does not apply (it reads {side} px only).")
        else:
            parts.append(f"- **{CONJECTURE_NAMES[variant]}** (`{variant}`): not run yet at this scale.")
    return "\n\n".join([parts[0], "\n".join(parts[1:])])


def _quick_preview() -> str | None:
    """The quick profile's conjecture runs in one sentence: each variant's differences beyond its own noise."""
    quick = config.get_profile("quick")
    effects = experiments.variant_effects("conjectures", quick)
    if effects is None:
        return None
    base = effects.attrs["baseline"]
    findings = []
    for variant, row in effects.iterrows():
        if variant not in experiments.CONJECTURES:
            continue
        beyond = [key for key in experiments.EFFECT_METRICS if row[f"{key}_beyond"]]
        moved = (
            "; ".join(
                f"{METRIC_NAMES[key]} to {_number(key, row[key])} from {_number(key, base[key])}" for key in beyond
            )
            if beyond
            else "no number beyond its noise"
        )
        finding = f"`{variant}` moved {moved}"
        if variant == "age_balanced" and (bands := experiments.band_errors(quick)) is not None:
            youngest = bands.index[0]
            finding += (
                f" (aged {youngest}: test MAE {bands.loc[youngest, 'baseline: MAE']:.1f} → "
                f"{bands.loc[youngest, f'{variant}: MAE']:.1f} years)"
            )
        findings.append(finding)
    return _wrap(
        f"The `quick` profile ({quick.image_size} px, {quick.epochs} epochs) previews them in minutes (custom CNN), "
        f"each difference read against its own seed spread: {'; '.join(findings)}."
    )


def _number(key: str, value: float) -> str:
    return _mae(value) if key.endswith("mae") else _accuracy(value)


def duplicates() -> str:
    """The duplicates experiment at the seed profile, model by model (each model whose all-images run finished):
    each variant against the one it changes, on their shared test images, and the twins' effect on the random
    split's validation score."""
    seed = config.get_profile("seed")
    all_images = experiments.variant_profile(seed, "all_images")
    blocks = [
        f"*{registry.get(model).label}*:\n\n{_model_duplicates(seed, model)}"
        for model in registry.names()
        if results.finished_in(experiments.variant_folder(seed, "all_images", model), all_images)
    ]
    return "\n\n".join(blocks) or "The duplicate variants have not run at the seed profile yet (`make queue`)."


def _model_duplicates(seed, model: str) -> str:
    """One model's duplicate questions, a bullet each."""
    names = {
        "all_images_group": "A group-aware split",
        "all_images_group_clean": "Conflicting twins left out of training",
    }
    devices = experiments.summary("duplicates", seed, model)["device"]
    spread = seed_sweeps.seed_spread(seed, model)
    bullets = []
    for first, second, _ in experiments.DUPLICATE_QUESTIONS:
        against = {"all_images": "the random one", "all_images_group": "keeping them"}[first]
        comparison = experiments.paired_test(seed, first, second, model)
        if comparison is None:
            bullets.append(
                _wrap(f"- **{names[second]}** (`{second}`), against {against}: not run yet at this scale.", "  ")
            )
            continue
        text = (
            f"- **{names[second]}** (`{second}`), against {against}: on the same {comparison['n']:,} test images, "
            f"an age MAE and gender accuracy of {_paired(comparison)}{_retraining(comparison, spread)}"
        )
        machines = sorted({devices[first], devices[second]})
        if len(machines) > 1:
            text += f". The two trained on different machines ({' and '.join(machines)})"
        bullets.append(_wrap(text + ".", "  "))
    if twins := experiments.read_twin_effect(seed, model):
        with_twin, without, gain = twins["with_twin"], twins["without_twin"], twins["age_mae_gain"]
        bullets.append(
            _wrap(
                f"- **Do the twins flatter the random split's validation score?** {_mae(with_twin['age_mae'])} years "
                f"on the {with_twin['n']} validation images with a twin in training, {_mae(without['age_mae'])} on "
                f"the other {without['n']:,}: a difference {'beyond' if gain['beyond_noise'] else 'within'} twice "
                f"its standard error of {_mae(gain['standard_error'])} years.",
                "  ",
            )
        )
    return "\n".join(bullets)


def _kind_of_run(relative: Path, model: str) -> tuple[str, str]:
    """(profile, what) of a run folder relative to the results root: the profile's own run, a variant, a sweep."""
    parts = relative.parts
    if parts[0] != "sweeps":
        return parts[0], "the profile's run" if len(parts) == 2 else f"`{parts[2]}`"
    if parts[1].startswith("device-"):
        return parts[-2], "the profile's run, repeated"  # on the machine the last column names
    sweep = "seed sweep" if parts[1].startswith("seed") else f"sweep `{parts[1]}`"
    return parts[-2], sweep


def _durations(seconds: list[float]) -> str:
    """ "84 s", "44 min", "3-4 min", "2.2 h", "59 min-1.1 h": the shortest and longest of a group's runs."""
    low, high = min(seconds), max(seconds)
    if high < 120:  # a GPU's runs
        return f"{low:.0f} s" if round(low) == round(high) else f"{low:.0f}-{high:.0f} s"
    if high < 5400:
        return f"{low / 60:.0f} min" if round(low / 60) == round(high / 60) else f"{low / 60:.0f}-{high / 60:.0f} min"
    if low >= 5400:
        return (
            f"{low / 3600:.1f} h" if round(low / 360) == round(high / 360) else f"{low / 3600:.1f}-{high / 3600:.1f} h"
        )
    return f"{low / 60:.0f} min-{high / 3600:.1f} h"


def _epoch(seconds: float) -> str:
    """ "405 s", or "1.3 s" for a GPU's epochs."""
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _machine(manifest: dict) -> str:
    """The GPU and back end a run trained on (e.g. "NVIDIA H100 80GB HBM3, jax"), else its CPU."""
    accelerators = manifest.get("hardware", {}).get("accelerators")
    return f"{', '.join(accelerators)}, {manifest.get('backend', '?')}" if accelerators else _cpu(manifest)


def _cpu(manifest: dict) -> str:
    cpu = manifest.get("hardware", {}).get("cpu") or {}
    if not cpu:
        return "not recorded"
    wide = "AVX-512" if any(ext.startswith("avx512") for ext in cpu.get("vector_extensions", [])) else "AVX2"
    return f"{cpu.get('model', '?')} ({wide})"


def run_times() -> str:
    """Every committed run's time in epochs (their sum: an interrupted run's gaps left out), grouped by profile, model
    and kind of run, with the median epoch over the group's epochs and the machines they ran on (the GPU where one
    trained, else the CPU: 2 cores each, the times including whatever else the machine did meanwhile)."""
    from . import release  # the run folders; release sits above results like this module

    groups: dict[tuple[str, str, str], dict] = {}
    for model, folder in release.run_folders():
        manifest = json.loads((folder / "manifest.json").read_text())
        history = pd.read_csv(folder / f"history_{model}.csv")
        profile, what = _kind_of_run(folder.relative_to(config.RESULTS_DIR), model)
        on_gpu = bool(manifest.get("hardware", {}).get("accelerators"))  # a GPU's seconds never share a CPU's row
        group = groups.setdefault((profile, model, what, on_gpu), {"seconds": [], "epochs": [], "machines": set()})
        group["seconds"].append(history["seconds"].sum())  # the epochs alone: a resumed run's gaps are not counted
        group["epochs"].append(history.assign(stage=history.get("stage", 1))[["stage", "seconds"]])
        group["machines"].add(_machine(manifest))
    order = {"the profile's run": 0, "the profile's run, repeated": 0.5}
    rows = [
        "| profile | model | runs | time in epochs | median epoch (transfer: stage 1 / 2) | machine |",
        "|---|---|---|---:|---:|---|",
    ]
    for (profile, model, what, _), group in sorted(
        groups.items(), key=lambda item: (item[0][0], item[0][1], order.get(item[0][2], 1), item[0][2], item[0][3])
    ):
        stages = pd.concat(group["epochs"]).groupby("stage")["seconds"].median()
        rows.append(
            f"| `{profile}` | {registry.get(model).label} | {len(group['seconds'])}: {what} | "
            f"{_durations(group['seconds'])} | {' / '.join(map(_epoch, stages))} | "
            f"{'; '.join(sorted(group['machines']))} |"
        )
    return "\n".join(rows)


def duplicates_in_utkface() -> str:
    """UTKFace's twins as notebook 01 counted them in the copy the seed runs used (``data_summary.json``)."""
    summary = json.loads((config.RESULTS_DIR / "seed" / "data_summary.json").read_text())
    twins = summary["duplicates"]["source"]
    return _wrap(
        f"UTKFace holds the same picture more than once: in the {summary['source_files']:,} files used here, "
        f"{twins['exact_groups']:,} groups of byte-identical files ({twins['exact_files']:,} files) and "
        f"{twins['visual_groups']:,} groups of visually identical images ({twins['visual_files']:,} files: same "
        f"64-bit difference hash of the 9×8 grey thumbnail, bilinear), {twins['conflicting_groups']:,} of them with "
        f"different age or gender labels ({twins['conflicting_gender_groups']:,} with different genders; ages apart "
        f"by {twins['conflicting_age_spread_median']:.0f} years at the median, up to "
        f"{twins['conflicting_age_spread_max']:.0f})."
    )


# Which blocks each file holds.
BLOCKS = {
    Path("README.md"): {"results": results_table, "conjectures": conjectures},
    Path("docs") / "experiments.md": {"duplicates": duplicates},
    Path("docs") / "profiles.md": {"run-times": run_times},
    Path("docs") / "data.md": {"duplicates-in-utkface": duplicates_in_utkface},
}


def rewrite(text: str, name: str, block: str) -> str:
    """``text`` with block ``name`` replaced by ``block``; ValueError if its markers are missing."""
    begin, end = BEGIN.format(name=name), END.format(name=name)
    head, found, rest = text.partition(begin)
    _, found_end, tail = rest.partition(end)
    if not found or not found_end:
        raise ValueError(f"no block {name!r} (lines {begin!r} … {end!r}) to write")
    return f"{head}{begin}\n{block}\n{end}{tail}"


def write(root=None, check: bool = False) -> list[str]:
    """Write every block afresh from ``results/`` into the files under ``root`` (``check``: write nothing).
    Returns ``file: block`` for each block whose text differed from the fresh one."""
    root = Path(root or config.PROJ_ROOT)
    stale = []
    for relative, writers in BLOCKS.items():
        path = root / relative
        text = path.read_text()
        for name, writer in writers.items():
            fresh = rewrite(text, name, writer())
            if fresh != text:
                stale.append(f"{relative}: {name}")
            text = fresh
        if not check and path.read_text() != text:
            path.write_text(text)
    return stale
