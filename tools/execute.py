"""Train a model by running its notebook with papermill: how ``python -m tools train``, ``make train``, the
seed sweeps, the experiments and the queue train a run (the notebook is the one place a model is fitted).

The executed notebook and its figures are kept under ``runs/train/`` (one folder per run folder): the record of
what ran, cell by cell.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path

from helpers import config, files, registry

from . import release

NOTEBOOKS = config.PROJ_ROOT / "notebooks"
RUNS = config.PROJ_ROOT / "runs"


class NotebookFailed(RuntimeError):
    """A training notebook stopped with an error: its message, in one line (the executed notebook has the rest)."""


def notebook_of(model: str) -> Path:
    """The percent-format source of the notebook that trains ``model``; ``ValueError`` where it has none."""
    spec = registry.get(model)
    if not spec.notebook:
        raise ValueError(f"the {spec.label} model has no training notebook (its registry entry names none)")
    return NOTEBOOKS / f"{spec.notebook}.py"


def overrides_of(profile: config.Profile) -> dict:
    """The fields where ``profile`` differs from the named profile it carries the name of: what a notebook's
    ``overrides`` parameter must say to make it again."""
    named = config.get_profile(profile.name).to_dict()
    return {key: value for key, value in profile.to_dict().items() if value != named[key]}


def run_here(path, **parameters) -> dict:
    """A notebook's code cells run in this process, in one namespace, its parameters cell followed by
    ``parameters``: what papermill runs, without a kernel, for code that registers a model of its own or patches
    what the cells call (the tests, ``benchmarks/face_choices.py``). Returns the namespace."""
    import jupytext

    namespace = {}
    here = os.getcwd()
    os.chdir(NOTEBOOKS)  # where papermill runs them
    try:
        for cell in jupytext.read(path).cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, str(path), "exec"), namespace)
                if "parameters" in cell.metadata.get("tags", []):
                    namespace.update(parameters)
    finally:
        os.chdir(here)
    return namespace


def train_here(model: str, profile: config.Profile, out, source=None, notebook=None) -> dict:
    """:func:`train` in this process (:func:`run_here`), through ``model``'s notebook or ``notebook``."""
    out = Path(out).resolve()
    run_here(
        notebook or notebook_of(model),
        profile=profile.name,
        overrides=overrides_of(profile),
        data=str(Path(source).resolve()) if source else "",
        run_dir=str(out),
        figures_dir=str(out.parent / "figures"),
        retrain=True,
    )
    return _with_card(model, out)


def _with_card(model: str, out: Path) -> dict:
    """The finished run's metrics, its model card written beside them (a notebook run in JupyterLab gets its card
    from ``make release`` or ``python -m tools cards``)."""
    files.write_atomic(out / release.CARD, release.model_card(model, out))
    return files.read_json(out / "metrics.json")


@contextlib.contextmanager
def _stderr_to_stdout():
    """File descriptor 2 onto 1 while a kernel starts and runs: the kernel inherits it, and what it writes there
    (its own log, C++ libraries' lines) belongs with the cells' output; stderr is for this command's error line."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(1, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def train(model: str, profile: config.Profile, out, source=None, weights="env", record=None) -> dict:
    """Run ``model``'s notebook with papermill to train ``profile`` into the folder ``out`` (retraining a finished
    run there; a checkpoint of these settings is resumed); returns the run's metrics.

    Args:
        source: UTKFace folder or .tar.gz (default ``$UTKFACE`` or ``data/``).
        weights: pretrained weights of a model that reads them (its notebook's ``weights`` parameter).
        record: folder for the executed notebook and its figures (default ``runs/train/<model>-<digest of out>``).
    """
    import jupytext
    import papermill

    spec = registry.get(model)
    path = notebook_of(model)
    out = Path(out).resolve()
    record = Path(record) if record else RUNS / "train" / f"{model}-{hashlib.sha256(bytes(out)).hexdigest()[:8]}"
    record.mkdir(parents=True, exist_ok=True)
    parameters = {
        "profile": profile.name,
        "overrides": overrides_of(profile),
        "data": str(Path(source).resolve()) if source else "",
        "run_dir": str(out),
        "figures_dir": str((record / "figures").resolve()),
        "retrain": True,
    }
    if spec.weights_variable:
        named = weights in ("env", "none", "imagenet", "download")
        parameters["weights"] = weights if named else str(Path(weights).resolve())  # the kernel runs in notebooks/
    try:
        with _stderr_to_stdout():
            papermill.execute_notebook(
                jupytext.read(path),
                str(record / f"{path.stem}.ipynb"),
                parameters=parameters,
                kernel_name="python3",
                cwd=str(NOTEBOOKS),
                progress_bar=False,
                stdout_file=sys.stdout,
                stderr_file=sys.stdout,
            )
    except papermill.PapermillExecutionError as err:
        raise NotebookFailed(f"{err.evalue} ({err.ename} in {record / path.stem}.ipynb)") from None
    return _with_card(model, out)
