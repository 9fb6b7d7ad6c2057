"""The blocks of the README and the docs that quote results, written from ``results/`` by ``python -m tools
readme`` as tables of the report's own numbers (:mod:`tools.numbers`), so that no number of the front page is
typed by hand; the sentences around them are written by hand.

A block stands between ``<!-- begin NAME: ... -->`` and ``<!-- end NAME -->``; everything outside the markers is
prose and stays as it is. ``python -m tools readme --check`` says which blocks differ from a fresh write.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pandas as pd

from helpers import config, registry

from . import numbers
from .report import markdown_table, number

BEGIN = "<!-- begin {name}: written by `python -m tools readme` from results/, not by hand -->"
END = "<!-- end {name} -->"


@functools.cache
def _seed_numbers() -> dict:
    """The seed profile's numbers (:func:`tools.numbers.collect`), read once per command."""
    return numbers.collect(config.get_profile("seed"))


def _mean_sd(found: dict, name: str, digits: int) -> str:
    if found.get(f"{name}.mean") is None:
        return "—"
    sd = found.get(f"{name}.sd")
    return f"{found[name + '.mean']:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")


def results_table() -> str:
    """The committed seed runs beside the coursework's validation numbers, and each model over its seeds."""
    found = _seed_numbers()
    rows = {}
    for model in registry.names():
        if not found.get(f"{model}.ran"):
            continue
        reported = registry.get(model).reported
        rows[registry.get(model).label] = {
            "val gender accuracy": number(found, f"{model}.val_gender_accuracy", 3),
            "val age MAE": number(found, f"{model}.val_age_mae", 2),
            "test gender accuracy": number(found, f"{model}.test_gender_accuracy", 3),
            "test age MAE": number(found, f"{model}.test_age_mae", 2),
            "over seeds (val): accuracy": _mean_sd(found, f"{model}.seeds.val_gender_accuracy", 3),
            "age MAE": _mean_sd(found, f"{model}.seeds.val_age_mae", 2),
            "coursework (val)": f"{reported['val_gender_accuracy']:.2f} / {reported['val_age_mae']:.1f}"
            if reported
            else "—",
        }
    return markdown_table(pd.DataFrame.from_dict(rows, orient="index"))


def conjectures() -> str:
    """Model × conjecture: each metric's difference from the model's baseline, bold beyond the noise."""
    table = numbers.effects_table(_seed_numbers())
    return markdown_table(table) if table is not None else "No conjecture variant has run at the seed profile yet."


def duplicates() -> str:
    """The duplicates experiment at the seed profile, model by model."""
    table = numbers.duplicates_table(_seed_numbers())
    return markdown_table(table) if table is not None else "No duplicate variant has run at the seed profile yet."


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
    from . import release  # the run folders

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
    found = _seed_numbers()
    rows = {
        where: {
            "images": found[f"data.duplicates.{part}.images"],
            "byte-identical groups (files)": f"{found[f'data.duplicates.{part}.exact_groups']:,} "
            f"({found[f'data.duplicates.{part}.exact_files']:,})",
            "visually identical groups (files)": f"{found[f'data.duplicates.{part}.visual_groups']:,} "
            f"({found[f'data.duplicates.{part}.visual_files']:,})",
            "groups with other labels (gender)": f"{found[f'data.duplicates.{part}.conflicting_groups']:,} "
            f"({found[f'data.duplicates.{part}.conflicting_gender_groups']:,})",
            "their age spread, median / max": f"{found[f'data.duplicates.{part}.conflicting_age_spread_median']:.0f}"
            f" / {found[f'data.duplicates.{part}.conflicting_age_spread_max']:.0f} years",
        }
        for where, part in (("UTKFace (these files)", "source"), ("the seed subset", "subset"))
    }
    return markdown_table(pd.DataFrame.from_dict(rows, orient="index"))


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
