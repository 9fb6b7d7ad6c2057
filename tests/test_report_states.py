"""`make report` for a profile with no model run, or one: it builds the report, trains nothing and says what is
missing (#21); on a machine without a browser or apt-get it writes the HTML and one line about the PDF (#22). The
state with both models is the notebook tests' (tests/test_notebooks.py)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REAL_DATA, ROOT, needs_pdf_tools, needs_real_data, path_without_browsers, pdf_tools_missing


def _make_report(base, cache, path=None):
    env = dict(os.environ, HELPERS_CACHE_DIR=str(cache), PATH=path or os.environ["PATH"])
    env.pop("CHROME", None)
    data = os.path.relpath(REAL_DATA, ROOT)  # as a user types it: relative to the repository, not to notebooks/
    done = subprocess.run(
        [
            "make",
            "report",
            "PROFILE=smoke",
            f"UTKFACE={data}",
            f"RESULTS_ROOT={base / 'results'}",
            f"FIGURES_ROOT={base / 'figures'}",
            f"RUNS_ROOT={base / 'runs'}",
            f"SWEEP_DIR={base / 'sweeps'}",
            f"REPORT_OUT={base / 'report'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, (base / "report" / "report.html").read_text()


@needs_real_data
@pytest.mark.slow
def test_no_model_run_builds_the_report_and_trains_nothing(tmp_path, smoke_cache):
    log, html = _make_report(tmp_path, smoke_cache)
    for model, notebook in (("custom", "02_custom_cnn"), ("vgg16", "03_vgg16_transfer")):
        assert f"== {notebook}: skipped ({model} has no smoke results; TRAIN=1 trains it)" in log
        assert not (tmp_path / "results" / "smoke" / model).exists()  # nothing trained, nothing written
        assert f"python -m tools train --model {model} --profile smoke" in html
    assert html.count("min on 2-core CPU") >= 2  # each missing model: its estimated training time
    assert "Not run yet for this profile: Custom CNN, VGG16" in html
    pdf = tmp_path / "report" / "report.pdf"
    if pdf_tools_missing() is None:  # make test installs them (as root): then the PDF must be there
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "The custom CNN has not been run for this profile" in text
    else:
        assert "report.pdf not written" in log  # a machine without a browser: the next test


@needs_real_data
@pytest.mark.slow
def test_one_model_run_and_no_browser_gives_the_html_and_one_line(tmp_path, smoke_cache, smoke_runs):
    shutil.copytree(
        smoke_runs["custom"][0], tmp_path / "results" / "smoke" / "custom", ignore=shutil.ignore_patterns("*.keras")
    )
    stale = tmp_path / "figures" / "smoke" / "fig9_predict.png"  # drawn by a model no longer on the disk
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an older model's predictions")
    log, html = _make_report(tmp_path, smoke_cache, path_without_browsers(tmp_path / "bin"))
    assert "== 03_vgg16_transfer: skipped" in log and "== 02_custom_cnn (smoke)" in log
    assert not stale.exists() and "it appears where that file is on the disk" in html
    assert not (tmp_path / "results" / "smoke" / "vgg16").exists()
    assert "After the final epoch the custom CNN reaches" in html
    assert "VGG16 has not been run for this profile" in html and "--model vgg16 --profile smoke" in html
    [line] = [line for line in log.splitlines() if "report.pdf" in line]
    assert line.startswith("report.pdf not written: no Chrome, Chromium or Edge found") and "CHROME=" in line
    assert not (tmp_path / "report" / "report.pdf").exists()


@needs_real_data
@pytest.mark.slow
@needs_pdf_tools
def test_one_model_run_prints_the_pdf_where_a_browser_is(tmp_path, smoke_runs):
    shutil.copytree(
        smoke_runs["custom"][0], tmp_path / "results" / "smoke" / "custom", ignore=shutil.ignore_patterns("*.keras")
    )
    out = tmp_path / "report"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools",
            "report",
            "--profile",
            "smoke",
            "--results-dir",
            str(tmp_path / "results"),
            "--figures-dir",
            str(tmp_path / "figures"),
            "--sweep-dir",
            str(tmp_path / "sweeps"),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True).stdout
    assert "After the final epoch the custom CNN reaches" in text and "VGG16 has not been run" in text


def test_pdf_tools_without_a_browser_or_apt_get_go_on(tmp_path):
    done = subprocess.run(
        ["make", "pdf-tools"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, PATH=path_without_browsers(tmp_path / "bin")),
    )
    assert done.returncode == 0 and "apt-get" not in done.stderr, done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="make pdf-tools installs only as root")
@pytest.mark.parametrize(
    ("has_browser", "has_pdftotext", "asked"), [(True, False, "poppler-utils"), (False, True, "chromium")]
)
def test_pdf_tools_asks_apt_get_for_what_is_missing(tmp_path, has_browser, has_pdftotext, asked):
    """A browser without pdftotext, or pdftotext without a browser: apt-get installs the missing one alone."""
    bin_dir = Path(path_without_browsers(tmp_path / "bin"))
    (bin_dir / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "apt.log"}\n')
    (bin_dir / "apt-get").chmod(0o755)
    if not has_pdftotext:
        (bin_dir / "pdftotext").unlink(missing_ok=True)
    elif not (bin_dir / "pdftotext").exists():
        (bin_dir / "pdftotext").write_text("#!/bin/sh\n")
        (bin_dir / "pdftotext").chmod(0o755)
    env = dict(os.environ, PATH=str(bin_dir))
    env.pop("CHROME", None)
    if has_browser:
        env["CHROME"] = sys.executable  # any executable: make pdf-tools only asks whether one is found
    done = subprocess.run(["make", "pdf-tools"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    installs = [line.split() for line in (tmp_path / "apt.log").read_text().splitlines() if "install" in line]
    assert installs == [["install", "-y", "-qq", asked]]
