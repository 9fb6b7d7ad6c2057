"""The notebooks as a user runs them (papermill, smoke profile, real UTKFace) and the report built from them."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import jupytext
import nbformat
import pytest
from conftest import REAL_DATA, REAL_WEIGHTS, ROOT, needs_pdf_tools, needs_real_data
from PIL import Image
from test_faults import complete_file, wait_until

from helpers import config, registry

NOTEBOOKS = sorted(path.stem for path in (ROOT / "notebooks").glob("*.py"))
FIGURES = [
    "fig1_sample_faces",
    "fig2_age_distribution",
    "fig_conflicting_twins",
    "fig3_custom_architecture",
    "fig4_custom_curves",
    "vgg16_architecture",
    "fig5_vgg16_curves",
    "fig6_comparison",
    "fig7_evaluation",
    "fig8_errors_custom",
    "fig8_errors_vgg16",
    "fig8_errors_face",
    "fig9_predict",
    "fig12_seeds",
    "fig13_protocols",
]
# The figures the report shows (the others stay in the notebooks).
REPORT_FIGURES = [
    "fig1_sample_faces",
    "fig2_age_distribution",
    "fig3_custom_architecture",
    "fig4_custom_curves",
    "vgg16_architecture",
    "fig5_vgg16_curves",
    "fig6_comparison",
    "fig12_seeds",
    "fig13_protocols",
    "fig9_predict",
]
HEADINGS = [
    "1 Introduction",
    "2 A custom CNN",
    "2.1 Dataset analysis",
    "2.2 Preprocessing and augmentation",
    "2.3 Architecture",
    "2.4 Training configuration",
    "2.5 Results",
    "3 A pre-trained CNN: VGG16",
    "3.1 Adaptation",
    "3.2 Two-stage training",
    "3.3 Results",
    "4 Summary and conclusion",
    "References",
    "Appendix: beyond the coursework",
    "A.1 The test set and metrics beyond accuracy and MAE",
    "A.2 The spread over seeds",
    "A.3 Does pretraining help?",
    "A.4 The face-recognition start",
    "A.5 The coursework's conjectures at its own scale",
    "A.6 Duplicates: does the split matter?",
    "A.7 The machine alone",
    "A.8 A decaying learning rate, and the study's best model",
    "A.9 Prediction on new photos",
    "A.10 Provenance and model files",
]


def _sources(notebook):
    return [(cell.cell_type, cell.source.strip()) for cell in notebook.cells]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_pairs_are_in_sync_and_stripped(name):
    paired = jupytext.read(ROOT / "notebooks" / f"{name}.py")
    committed = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    assert _sources(paired) == _sources(committed), f"run `make sync`: {name}.py and .ipynb differ"
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{name}.ipynb carries outputs"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_one_tagged_parameters_cell_of_plain_literals(name):
    notebook = jupytext.read(ROOT / "notebooks" / f"{name}.py")
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = re.findall(r"^(\w+) = .+?  # \w+: ", tagged[0].source, flags=re.M)
    assert {"profile", "data", "results_dir", "retrain"} <= set(names)
    assert len(names) == len(tagged[0].source.strip().splitlines())  # every line: literal, type and comment
    listed = re.search(r"^profile = .+# str: named profile \((.+)\)$", tagged[0].source, flags=re.M)
    assert listed and set(listed[1].split(", ")) == set(config.PROFILES)  # the choices it names are the real ones


@pytest.fixture(scope="module")
def executed(tmp_path_factory, smoke_cache, smoke_runs):
    """`make sweep` over two seeds, then the README's main command, `make report` (smoke profile, TRAIN=1), into
    temporary folders: the custom CNN's and the face model's results are on disk already (the CLI's smoke runs, which
    notebooks 02 and 03b load), VGG16 is trained by notebook 03. UTKFACE is not set for it: make report
    downloads the archive itself (a file:// copy)."""
    base = tmp_path_factory.mktemp("notebooks")
    for model in ("custom", "face"):
        shutil.copytree(smoke_runs[model][0], base / "results" / "smoke" / model)
    env = dict(os.environ, VGG16_WEIGHTS=str(REAL_WEIGHTS), HELPERS_CACHE_DIR=str(smoke_cache))
    sweep = subprocess.run(
        [
            "make",
            "sweep",
            "PROFILE=smoke",
            "SEEDS=1 2",
            "MODELS=custom",
            f"SWEEP_DIR={base / 'sweeps'}",
            f"RUNS_ROOT={base / 'runs'}",
        ],
        cwd=ROOT,
        env=dict(env, UTKFACE=str(REAL_DATA)),
        capture_output=True,
        text=True,
    )
    assert sweep.returncode == 0, sweep.stdout[-2000:] + sweep.stderr[-2000:]
    (base / "sweep.txt").write_text(sweep.stdout)
    queue = ["make", "queue", "QUEUE=lr-cosine_last:custom:1", "QUEUE_PROFILE=smoke", f"SWEEP_DIR={base / 'sweeps'}"]
    cosine = subprocess.run(  # the queue's job for the second protocol: seed 1 under the decaying learning rate
        [*queue, f"RUNS_ROOT={base / 'runs'}"],
        cwd=ROOT,
        env=dict(env, UTKFACE=str(REAL_DATA)),
        capture_output=True,
        text=True,
    )
    assert cosine.returncode == 0, cosine.stdout[-2000:] + cosine.stderr[-2000:]
    env.pop("UTKFACE", None)
    env.update(
        HELPERS_DATA_DIR=str(base / "data"),
        UTKFACE_URL=REAL_DATA.as_uri(),
        UTKFACE_SHA256=hashlib.sha256(REAL_DATA.read_bytes()).hexdigest(),
    )
    report = subprocess.run(
        [
            "make",
            "report",
            "PROFILE=smoke",
            "TRAIN=1",
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
    (base / "report.log").write_text(report.stdout + report.stderr)
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    return base


@needs_real_data
def test_make_report_downloads_the_missing_data_and_trains_when_asked(executed):
    log = (executed / "report.log").read_text()
    assert f"Downloading UTKFace from {REAL_DATA.as_uri()}" in log
    assert (executed / "data" / "UTKFace.tar.gz").stat().st_size == REAL_DATA.stat().st_size
    assert "custom: results for smoke" in log and "on disk in" in log and "not retraining" in log
    assert "vgg16: will train for profile smoke" in log
    assert "training cells differ" not in log  # notebooks 02 and 03b load runs their cells trained


@needs_real_data
def test_make_report_log_has_no_tensorflow_start_up_lines(executed):
    log = (executed / "report.log").read_text()
    for line in (
        "cuInit",
        "cuda_platform",
        "cpu_feature_guard",
        "oneDNN custom operations",
        "absl::InitializeLog",
        "cudart_stub",
        "retracing",
        "Kernel is running over TCP without encryption",
    ):
        assert line not in log, line


def test_make_report_without_data_offline_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "UTKFACE"}
    env.update(HELPERS_DATA_DIR=str(tmp_path / "data"), UTKFACE_URL="http://127.0.0.1:9/UTKFace.tar.gz")
    done = subprocess.run(
        ["make", "report", "PROFILE=smoke", f"RESULTS_ROOT={tmp_path / 'results'}", f"RUNS_ROOT={tmp_path / 'runs'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "==" not in done.stdout  # no notebook started
    errors = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert errors[0].startswith(
        f"error: no UTKFace data found in {tmp_path / 'data'} and could not download http://127.0.0.1:9/UTKFace.tar.gz"
    )
    assert "in data/, or set UTKFACE=" in errors[0]


@needs_real_data
def test_sweep_trains_each_seed_and_the_report_quotes_mean_and_sd(executed):
    from extensions import seed_sweeps

    for seed in (1, 2):
        manifest = json.loads((executed / "sweeps" / f"seed{seed}" / "smoke" / "custom" / "manifest.json").read_text())
        assert manifest["profile"]["seed"] == seed and manifest["overrides"] == {"seed": seed}
    summary = seed_sweeps.sweep_summary(config.get_profile("smoke"), "custom", executed / "sweeps")
    assert summary.attrs["seeds"] == [1, 2] and summary.loc["val_age_mae", "runs"] == 2
    assert "seeds [1, 2]" in (executed / "sweep.txt").read_text()
    html = (executed / "report" / "report.html").read_text()
    # The report's stability paragraph: the profile's own run (seed 42) and the sweep's seeds together.
    spread = seed_sweeps.seed_spread(config.get_profile("smoke"), "custom", executed / "sweeps", executed / "results")
    assert spread.attrs["seeds"] == [1, 2, 42]
    accuracy = spread.loc["val_gender_accuracy"]
    assert f"{accuracy['mean']:.3f} ± {accuracy['sd']:.3f}" in html
    notebook = nbformat.read(executed / "runs" / "smoke" / "05_beyond_the_coursework.ipynb", as_version=4)
    shown = [str(o) for c in notebook.cells for o in c.get("outputs", []) if "val_gender_accuracy" in str(o)]
    assert shown and "sd" in shown[0]


@needs_real_data
def test_the_lr_queue_job_trains_through_the_notebook_and_the_report_sets_both_protocols_side_by_side(executed):
    folder = executed / "sweeps" / "lr-cosine_last" / "seed1" / "smoke" / "custom"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["overrides"] == {"seed": 1, "lr_schedule": "cosine_last"}
    assert manifest["profile"]["lr_schedule"] == "cosine_last"
    html = (executed / "report" / "report.html").read_text()
    section = html[html.index("A.8 A decaying learning rate") : html.index("A.9 Prediction")]
    assert "Custom CNN · cosine_last" in section and "Custom CNN · constant" in section and 'alt="Figure 13"' in section


@needs_real_data
def test_every_figure_is_a_valid_png(executed):
    for name in FIGURES:
        path = executed / "figures" / "smoke" / f"{name}.png"
        assert path.is_file() and path.stat().st_size > 0, name
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG" and min(image.size) > 100


@needs_real_data
def test_notebook_01_writes_the_data_summary(executed):
    summary = json.loads((executed / "results" / "smoke" / "data_summary.json").read_text())
    assert summary["images"] == config.PROFILES["smoke"].n_images
    assert summary["male"] + summary["female"] == summary["images"]
    assert sum(summary["ethnicity"].values()) == summary["images"]
    whole = summary["duplicates"]["source"]  # the counts measured on the shared archive (see issue 7)
    assert (whole["exact_groups"], whole["exact_files"]) == (314, 641)
    assert (whole["visual_groups"], whole["visual_files"], whole["conflicting_groups"]) == (560, 1176, 394)


@needs_real_data
def test_notebook_04_writes_the_evaluation(executed):
    evaluations = json.loads((executed / "results" / "smoke" / "evaluation.json").read_text())
    for model in registry.names():
        metrics = json.loads((executed / "results" / "smoke" / model / "metrics.json").read_text())
        assert evaluations[model]["gender"]["accuracy"] == pytest.approx(metrics["val_gender_accuracy"], abs=1e-6)
        assert evaluations[model]["age"]["mae"] == pytest.approx(metrics["val_age_mae"], rel=1e-3)
        test = evaluations[model]["test"]  # the same evaluation on the test images, beside validation
        assert test["gender"]["accuracy"] == pytest.approx(metrics["test_gender_accuracy"], abs=1e-6)
        assert test["age"]["n"] == metrics["n_test"]
        manifest = json.loads((executed / "results" / "smoke" / model / "manifest.json").read_text())
        assert sum(band["count"] for band in evaluations[model]["age_bands"]) == manifest["data"]["n_val"]


@needs_real_data
def test_html_has_every_heading_and_the_run_numbers(executed):
    html = (executed / "report" / "report.html").read_text()
    for heading in HEADINGS:
        assert heading in html, heading
    for model in registry.names():
        metrics = json.loads((executed / "results" / "smoke" / model / "metrics.json").read_text())
        assert f"{metrics['val_gender_accuracy']:.3f}" in html
        assert f"{metrics['val_age_mae']:.2f}" in html
    assert "not the coursework's seed protocol" in html and "HED-derived" in html
    assert 'src="http' not in html and html.count("data:image/png;base64,") == len(REPORT_FIGURES)


@needs_real_data
def test_report_compares_the_models_image_by_image(executed):
    from helpers import results

    runs = results.load_available(config.get_profile("smoke"), executed / "results")
    pairs = results.paired_comparisons(runs)
    assert list(pairs) == [("custom", "vgg16"), ("custom", "face"), ("vgg16", "face")]
    html = (executed / "report" / "report.html").read_text()
    found = json.loads((executed / "report" / "numbers.json").read_text())  # the numbers the text quotes, by name
    for (first, second), pair in pairs.items():
        assert set(pair) == {"validation", "test"} and pair["test"]["n"] == runs[second].metrics["n_test"]
        for key in ("gender_accuracy", "age_mae"):
            name = f"pair.{first}.{second}.test.{key}"
            assert found[f"{name}.advantage"] == pytest.approx(pair["test"][key]["advantage"])
            assert found[f"{name}.beyond"] == (pair["test"][key]["ci95"][0] > 0 or pair["test"][key]["ci95"][1] < 0)
        assert f"{registry.get(second).label} over {registry.get(first).label}" in html  # a row of A.4's table


@needs_real_data
@needs_pdf_tools
def test_pdf_has_pages_and_headings(executed):
    pdf = executed / "report" / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) >= 4
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for heading in HEADINGS:
        assert heading in text, heading


@needs_real_data
@needs_pdf_tools
def test_a_report_build_killed_mid_way_leaves_the_previous_files_whole(executed):
    """The smoke report is rebuilt and killed (with the Chromium it started) while Chromium prints the PDF, then
    three seconds after its start: both times the folder holds the complete previous or new files."""
    out = executed / "report"
    assert all(complete_file(p) for p in out.iterdir() if not p.name.startswith("."))
    command = [
        sys.executable,
        "-m",
        "tools",
        "report",
        "--profile",
        "smoke",
        "--results-dir",
        str(executed / "results"),
        "--figures-dir",
        str(executed / "figures"),
        "--sweep-dir",
        str(executed / "sweeps"),
        "--out",
        str(out),
    ]
    for moment in ("pdf", "start"):
        before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        if moment == "pdf":  # the HTML is replaced first, then Chromium prints the PDF
            wait_until(lambda: (out / "report.html").stat().st_mtime_ns != before["report.html"], process)  # noqa: B023
        else:
            time.sleep(3.0)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        visible = [p for p in out.iterdir() if not p.name.startswith(".")]
        assert {p.name for p in visible} == {"report.html", "report.pdf", "numbers.json"}
        assert all(complete_file(p) for p in visible), moment


def test_readme_quotes_the_committed_seed_results():
    """The README's results table must say what results/seed/ holds, for every model run."""
    readme = (ROOT / "README.md").read_text().split("<!-- begin results")[1].split("<!-- end results")[0]
    for model in registry.names():
        name = registry.get(model).label
        metrics_file = ROOT / "results" / "seed" / model / "metrics.json"
        if not metrics_file.is_file():
            continue
        metrics = json.loads(metrics_file.read_text())
        [row] = [line for line in readme.splitlines() if line.startswith(f"| {name} ")]
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1:5] == [
            f"{metrics['val_gender_accuracy']:.3f}",
            f"{metrics['val_age_mae']:.2f}",
            f"{metrics['test_gender_accuracy']:.3f}",
            f"{metrics['test_age_mae']:.2f}",
        ], row


def _table_rows(block: str) -> dict[str, list[str]]:
    """A Markdown table's rows by their first cell, the other cells stripped."""
    rows = {}
    for line in block.splitlines():
        if line.startswith("| ") and not line.startswith("| |"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_readme_conjecture_table_says_what_results_hold():
    """Per model and conjecture variant that ran at the seed profile, one row: each metric's difference from the
    model's baseline as the metrics files give it, bold exactly where it exceeds twice the standard error of a
    difference between two runs (the model's seed sd × √2)."""
    from extensions import experiments, seed_sweeps

    readme = (ROOT / "README.md").read_text()
    rows = _table_rows(readme.split("<!-- begin conjectures")[1].split("<!-- end conjectures")[0])
    seed = config.get_profile("seed")
    checked = 0
    for model in registry.names():
        base = json.loads((experiments.variant_folder(seed, "baseline", model) / "metrics.json").read_text())
        spread = seed_sweeps.seed_spread(seed, model)
        for variant in experiments.CONJECTURES:
            folder = experiments.variant_folder(seed, variant, model)
            label = f"{registry.get(model).label} · {experiments.VARIANTS[variant][0]}"
            if not (folder / "metrics.json").is_file():
                assert label not in rows
                continue
            metrics = json.loads((folder / "metrics.json").read_text())
            for column, key in enumerate(
                ("val_gender_accuracy", "val_age_mae", "test_gender_accuracy", "test_age_mae")
            ):
                digits = 3 if "accuracy" in key else 2
                difference = metrics[key] - base[key]
                beyond = abs(difference) > 2 * spread.loc[key, "sd"] * 2**0.5
                cell = f"{difference:+.{digits}f}"
                assert rows[label][column] == (f"**{cell}**" if beyond else cell), (label, key)
                checked += 1
    assert checked >= 24  # three models' variants, four numbers each


def test_readme_blocks_are_what_the_command_writes_now():
    """No number of the README's results, conjecture and duplicate blocks is typed: each is what `python -m
    tools readme` writes from results/ now."""
    from tools import readme

    assert readme.write(check=True) == [], "run `python -m tools readme` and commit what it rewrites"


def test_readme_command_rewrites_a_stale_block_and_nothing_else(tmp_path):
    from tools import readme

    for relative in readme.BLOCKS:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / relative, tmp_path / relative)
    text = (tmp_path / "README.md").read_text()
    (tmp_path / "README.md").write_text(text.replace("| Custom CNN |", "| Custom CNN (typed) |"))
    assert readme.write(tmp_path, check=True) == ["README.md: results"]
    assert readme.write(tmp_path) == ["README.md: results"]
    assert (tmp_path / "README.md").read_text() == text
    assert readme.write(tmp_path, check=True) == []
    (tmp_path / "README.md").write_text(text.replace("<!-- end results -->", ""))
    with pytest.raises(ValueError, match="no block 'results'"):
        readme.write(tmp_path, check=True)


def test_docs_duplicate_table_says_what_results_hold():
    """Per model, docs/experiments.md's duplicates table: a row per question whose two runs finished, with the
    advantage and 95 % interval of the image-by-image comparison, bold where the interval leaves zero out; a row for
    the twins' effect on the random split where the all-images run measured it."""
    from extensions import experiments
    from tools import experiments as experiment_runs

    text = (ROOT / "docs" / "experiments.md").read_text()
    rows = _table_rows(text.split("<!-- begin duplicates")[1].split("<!-- end duplicates")[0])
    seed = config.get_profile("seed")
    for model in registry.names():
        label = registry.get(model).label
        for first, second, _ in experiments.DUPLICATE_QUESTIONS:
            row = f"{label} · {experiments.VARIANTS[second][0]} (test)"
            comparison = experiments.paired_test(seed, first, second, model)
            if comparison is None:
                assert row not in rows
                continue
            for column, (key, digits) in enumerate((("age_mae", 2), ("gender_accuracy", 3))):
                values = comparison[key]
                low, high = values["ci95"]
                cell = f"{values['advantage']:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"
                assert rows[row][column] == (f"**{cell}**" if low > 0 or high < 0 else cell), (row, key)
        twins = experiment_runs.read_twin_effect(seed, model)
        row = f"{label} · twin in training (validation)"
        if twins is None:
            assert row not in rows
        else:
            gain = twins["age_mae_gain"]
            cell = f"{gain['years']:+.2f} ± {gain['standard_error']:.2f}"
            beyond = abs(gain["years"]) > 2 * gain["standard_error"]
            assert rows[row][0] == (f"**{cell}**" if beyond else cell), row


def test_figures_that_show_faces_are_never_committed():
    """UTKFace's images are for non-commercial research only: the figures made of them stay on the reader's disk."""
    errors = [f"fig8_errors_{model}" for model in registry.names()]
    faces = ["fig1_sample_faces", *errors, "fig9_predict", "fig_conflicting_twins"]
    paths = [
        f"figures/{profile}/{name}.{ext}"
        for profile in ("seed", "smoke", "quick")
        for name in faces
        for ext in ("png", "pdf")
    ]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=ROOT, capture_output=True, text=True)
    assert sorted(ignored.stdout.split()) == sorted(paths)
    tracked = subprocess.run(["git", "ls-files", "figures"], cwd=ROOT, capture_output=True, text=True).stdout
    assert not any(name in tracked for name in faces)
