"""Bring the long queue's finished runs onto this checkout: the small result files that git keeps, never a model.

The queue (``make queue``) trains in its own git worktree, so that edits here never change the code under a
running training; its results land in that worktree's ``results/``. :func:`land` copies each finished run's files
from there into this checkout's ``results/`` (``make land FROM=../queue``), for a commit.
"""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

from helpers import config, files

MODEL_SUFFIX = ".keras"  # trained models stay out of git (make release gathers them)


def finished_runs(results_root: Path) -> list[Path]:
    """Run folders under ``results_root`` whose ``metrics.json`` exists (training writes it last) and that no
    training holds (its folder lock); sorted."""
    found = []
    for metrics in sorted(Path(results_root).rglob("metrics.json")):
        try:
            with files.folder_lock(metrics.parent, "landing"):
                found.append(metrics.parent)
        except files.FolderInUse:
            continue
    return found


def small_files(run: Path) -> list[Path]:
    """The files of a run folder that git keeps: not a model, a lock, a half-written file or the checkpoint."""
    return sorted(
        path
        for path in run.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.suffix != MODEL_SUFFIX
    )


def land(worktree: Path, results_dir: Path | None = None) -> tuple[list[Path], list[Path]]:
    """Copy the finished runs' small files from ``worktree``'s ``results/`` into ``results_dir`` (default: this
    checkout's ``results/``), each at the same relative path. Only files this checkout lacks are copied: a run
    that landed before keeps its files here, which later commands may have rewritten (cards, manifests), and gains
    what came after it (an experiment's ``twin_effect.json``). A run whose ``metrics.json`` differs here is
    another run of the same folder, and is left alone.

    Returns:
        The files written, as paths under ``results_dir``, and the run folders (in the worktree) left alone.
    """
    source = Path(worktree).resolve() / "results"
    target = Path(results_dir or config.RESULTS_DIR).resolve()
    if not source.is_dir():
        raise ValueError(f"{worktree} has no results/ folder: give the queue's worktree (make land FROM=../queue)")
    if source == target:
        raise ValueError(f"{worktree} is this checkout: give the queue's worktree (make land FROM=../queue)")
    written, other_runs = [], []
    for run in finished_runs(source):
        here = target / run.relative_to(source)
        if (here / "metrics.json").is_file() and not filecmp.cmp(run / "metrics.json", here / "metrics.json", False):
            other_runs.append(run)
            continue
        for path in small_files(run):
            if not (here / path.name).exists():
                here.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, here / path.name)
                written.append(here / path.name)
    return written, other_runs
