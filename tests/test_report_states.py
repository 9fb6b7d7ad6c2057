"""`make report` for a profile with no model run, or one: it builds HTML and PDF, trains nothing and says what is
missing (#21). The state with both models is the notebook tests' (tests/test_notebooks.py)."""

import os
import shutil
import subprocess

import pytest

from conftest import REAL_DATA, ROOT, needs_real_data

pytestmark = [needs_real_data, pytest.mark.slow]


def _make_report(base, cache):
    env = dict(os.environ, UTKFACE=str(REAL_DATA), HELPERS_CACHE_DIR=str(cache))
    done = subprocess.run(["make", "report", "PROFILE=smoke", f"RESULTS_ROOT={base / 'results'}",
                           f"FIGURES_ROOT={base / 'figures'}", f"RUNS_ROOT={base / 'runs'}",
                           f"SWEEP_DIR={base / 'sweeps'}", f"REPORT_OUT={base / 'report'}"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (base / "report" / "report.pdf").stat().st_size > 10_000
    return done.stdout, (base / "report" / "report.html").read_text()


def test_make_report_with_no_model_run_builds_and_trains_nothing(tmp_path, smoke_cache):
    log, html = _make_report(tmp_path, smoke_cache)
    for model, notebook in (("custom", "02_custom_cnn"), ("vgg16", "03_vgg16_transfer")):
        assert f"== {notebook}: skipped ({model} has no smoke results; TRAIN=1 trains it)" in log
        assert not (tmp_path / "results" / "smoke" / model).exists()  # nothing trained, nothing written
        assert f"python -m helpers train --model {model} --profile smoke" in html
    assert html.count("min on 2-core CPU") >= 2  # each missing model: its estimated training time
    assert "Not run yet for this profile: Custom CNN, VGG16" in html


def test_make_report_with_one_model_run_shows_it_and_trains_nothing(tmp_path, smoke_cache, smoke_runs):
    shutil.copytree(smoke_runs["custom"][0], tmp_path / "results" / "smoke" / "custom",
                    ignore=shutil.ignore_patterns("*.keras"))
    log, html = _make_report(tmp_path, smoke_cache)
    assert "== 03_vgg16_transfer: skipped" in log and "== 02_custom_cnn (smoke)" in log
    assert not (tmp_path / "results" / "smoke" / "vgg16").exists()
    assert "After the final epoch the custom CNN reaches" in html
    assert "VGG16 has not been run for this profile" in html and "--model vgg16 --profile smoke" in html
