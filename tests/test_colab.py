"""The notebooks as Colab runs them (#22): the first cell clones the repository and installs it, nothing asks for
input, and 04 shows the committed study without training. Colab is simulated: a fake ``google.colab`` module
imported at start-up, the notebook executed by papermill from a folder outside any checkout, the GitHub home
pointed at a ``file://`` clone of this repository, and this environment's own install of ``helpers`` hidden from the
kernel, as on a fresh Colab machine. The cell's ``pip install`` then runs as a dry run (``PIP_DRY_RUN``): it resolves
and builds the clone, reports what it would install (``PIP_REPORT``) and leaves this environment as it was."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
from conftest import REAL_DATA, ROOT, needs_real_data

from helpers import config, registry

NOTEBOOKS = sorted(path.stem for path in (ROOT / "notebooks").glob("*.py"))


def _first_code_cell(name):
    return next(c.source for c in jupytext.read(ROOT / "notebooks" / f"{name}.py").cells if c.cell_type == "code")


def test_every_copy_of_the_github_home_is_the_config_one():
    cells = {_first_code_cell(name) for name in NOTEBOOKS}
    assert len(cells) == 1  # one Colab cell, the same in every notebook
    assert f"https://github.com/{config.GITHUB_HOME}.git" in cells.pop()
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "notebooks").glob("*.py")]:
        homes = set(
            re.findall(
                r"(?:github\.com|colab\.research\.google\.com/github)/([\w.-]+/[\w.-]+?)(?:/|\.git|\))",
                path.read_text(),
            )
        )
        assert homes <= {config.GITHUB_HOME}, (path.name, homes)


@pytest.fixture(scope="module")
def seed_cache(tmp_path_factory) -> Path:
    """One decode cache of the seed profile's images for this file's two runs over the committed seed study."""
    return tmp_path_factory.mktemp("seed_cache")


@needs_real_data
@pytest.mark.slow
def test_in_colab_04_clones_the_project_and_shows_the_committed_study_without_training(tmp_path, seed_cache):
    fake = tmp_path / "fake_colab"
    (fake / "google" / "colab").mkdir(parents=True)  # a namespace package beside protobuf's google.*
    (fake / "google" / "colab" / "__init__.py").write_text("")
    (fake / "sitecustomize.py").write_text(
        "import sys\n"
        "import google.colab  # Colab's kernels start with it imported\n"
        "# Colab has no helpers installed: hide this environment's editable install of it.\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')]\n"
    )
    content, outside = tmp_path / "content", tmp_path / "elsewhere"
    content.mkdir()
    outside.mkdir()
    pip_report = tmp_path / "pip_report.json"
    env = dict(
        os.environ,
        PIP_DRY_RUN="1",
        PIP_NO_BUILD_ISOLATION="0",  # pip reads "0" as --no-build-isolation: the build uses this setuptools
        PIP_REPORT=str(pip_report),
        PYTHONPATH=str(fake),
        COLAB_CLONE_DIR=str(content),
        COLAB_REPO_URL=ROOT.as_uri(),
        UTKFACE=str(REAL_DATA),
        HELPERS_CACHE_DIR=str(seed_cache),
    )
    out = outside / "04.ipynb"
    figure = Path("figures") / "seed" / "fig6_comparison.png"
    ours = (ROOT / figure).stat().st_mtime_ns  # where a kernel that imported this checkout's helpers would draw
    done = subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "04_comparison.ipynb"), str(out), "-k", "python3"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    clone = content / "age-gender-utkface"
    assert (clone / "results" / "seed" / "custom" / "metrics.json").is_file()
    text = json.dumps(json.loads(out.read_text())["cells"])
    installed = [
        (item["metadata"]["name"], item["download_info"]["url"])
        for item in json.loads(pip_report.read_text())["install"]
    ]
    assert installed == [("age-gender-utkface", clone.as_uri())]  # the first cell installed the clone, and only it
    # 04 drew Figure 6 in the clone after its checkout (git writes the index last), and nothing here
    assert (clone / figure).stat().st_mtime_ns > (clone / ".git" / "index").stat().st_mtime_ns
    assert (ROOT / figure).stat().st_mtime_ns == ours
    assert not (ROOT / "notebooks" / "figures").exists()
    for model in registry.names():  # the committed numbers, as the comparison table shows them
        metrics = json.loads((clone / "results" / "seed" / model / "metrics.json").read_text())
        assert f"{metrics['val_gender_accuracy']:.3f}" in text and f"{metrics['val_age_mae']:.3f}" in text
    assert not list(clone.rglob("*.keras")) and not list(clone.rglob("checkpoint"))  # nothing trained
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", *(f"results/seed/{model}" for model in registry.names())],
        cwd=clone,
        capture_output=True,
        text=True,
    ).stdout
    assert status == ""  # the committed runs are read, not rewritten


def _tracked_files(*folders: str) -> dict[str, str]:
    listed = subprocess.run(["git", "ls-files", *folders], cwd=ROOT, capture_output=True, text=True).stdout.split()
    return {name: hashlib.sha256((ROOT / name).read_bytes()).hexdigest() for name in listed}


@needs_real_data
@pytest.mark.slow
def test_make_report_seed_over_the_committed_results_trains_nothing_and_changes_nothing(tmp_path, seed_cache):
    """The README's main command at its own profile (#35): every notebook runs over the committed seed runs, trains
    nothing, and leaves every committed result and figure byte for byte as it was. In this file, after the Colab
    test: both watch figures/seed/ of this checkout."""
    before = _tracked_files("results/seed", "figures/seed")
    done = subprocess.run(
        ["make", "report", "PROFILE=seed", f"RUNS_ROOT={tmp_path / 'runs'}", f"REPORT_OUT={tmp_path / 'report'}"],
        cwd=ROOT,
        env=dict(os.environ, UTKFACE=str(REAL_DATA), HELPERS_CACHE_DIR=str(seed_cache)),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for model in registry.names():
        assert f"{model}: results for seed" in done.stdout and "not retraining" in done.stdout, done.stdout[:2000]
    assert not list((ROOT / "results" / "seed").rglob("checkpoint"))  # no training began
    assert _tracked_files("results/seed", "figures/seed") == before
    assert (tmp_path / "report" / "report.html").is_file()
