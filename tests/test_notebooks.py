"""The notebooks as a user runs them (papermill, smoke profile, real UTKFace) and the report built from them."""

import json
import re
import subprocess
import sys

import jupytext
import nbformat
import pytest
from PIL import Image

from helpers import config
from conftest import REAL_DATA, REAL_WEIGHTS, ROOT, needs_real_data

NOTEBOOKS = ["01_data_analysis", "02_custom_cnn", "03_vgg16_transfer", "04_comparison"]
FIGURES = ["fig1_sample_faces", "fig2_age_distribution", "fig_conflicting_twins", "fig3_custom_architecture", "fig4_custom_curves",
           "vgg16_architecture", "fig5_vgg16_curves", "fig6_comparison", "fig7_evaluation", "fig8_errors_custom",
           "fig8_errors_vgg16", "fig9_predict"]
HEADINGS = ["1 Introduction", "2 A custom CNN", "2.1 Dataset analysis", "2.2 Preprocessing and augmentation",
            "2.3 Architecture", "2.4 Training configuration", "2.5 Results", "3 A pre-trained CNN: VGG16",
            "3.1 Adaptation", "3.2 Two-stage training", "3.3 Results", "4 Summary and conclusion",
            "4.1 Beyond accuracy and MAE", "4.2 The coursework's conjectures, tested",
            "4.3 Duplicates: does the split matter?", "4.4 Prediction on new photos", "References"]


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


@pytest.fixture(scope="module")
def executed(tmp_path_factory, smoke_cache):
    """`make sweep` over two seeds, then all four notebooks run by papermill with the smoke profile, then the
    report built from their files."""
    import papermill

    base = tmp_path_factory.mktemp("notebooks")
    params = {"profile": "smoke", "results_dir": str(base / "results"), "figures_dir": str(base / "figures")}
    with pytest.MonkeyPatch.context() as env:  # the kernels inherit these
        env.setenv("UTKFACE", str(REAL_DATA))
        env.setenv("VGG16_WEIGHTS", str(REAL_WEIGHTS))
        env.setenv("HELPERS_CACHE_DIR", str(smoke_cache))
        sweep = subprocess.run(["make", "sweep", "PROFILE=smoke", "SEEDS=1 2", "MODELS=custom",
                                f"SWEEP_DIR={base / 'sweeps'}"], cwd=ROOT, capture_output=True, text=True)
        assert sweep.returncode == 0, sweep.stdout[-2000:] + sweep.stderr[-2000:]
        (base / "sweep.txt").write_text(sweep.stdout)
        for name in NOTEBOOKS:
            source = base / f"{name}.ipynb"
            jupytext.write(jupytext.read(ROOT / "notebooks" / f"{name}.py"), source)
            extra = {"sweep_dir": str(base / "sweeps")} if name == "04_comparison" else {}
            papermill.execute_notebook(source, base / f"{name}.out.ipynb", parameters={**params, **extra},
                                       kernel_name="python3", cwd=ROOT / "notebooks", progress_bar=False)
        subprocess.run([sys.executable, "-m", "helpers", "report", "--profile", "smoke",
                        "--results-dir", params["results_dir"], "--figures-dir", params["figures_dir"],
                        "--sweep-dir", str(base / "sweeps"), "--out", str(base / "report")], cwd=ROOT, check=True)
    return base


@needs_real_data
def test_sweep_trains_each_seed_and_the_report_quotes_mean_and_sd(executed):
    from helpers import experiments

    for seed in (1, 2):
        manifest = json.loads((executed / "sweeps" / f"seed{seed}" / "smoke" / "custom" / "manifest.json").read_text())
        assert manifest["profile"]["seed"] == seed and manifest["overrides"] == {"seed": seed}
    summary = experiments.sweep_summary(config.get_profile("smoke"), "custom", executed / "sweeps")
    assert summary.attrs["seeds"] == [1, 2] and summary.loc["val_age_mae", "runs"] == 2
    assert "seeds [1, 2]" in (executed / "sweep.txt").read_text()
    html = (executed / "report" / "report.html").read_text()
    accuracy = summary.loc["val_gender_accuracy"]
    assert f"{accuracy['mean']:.3f} ± {accuracy['sd']:.3f}" in html
    notebook = nbformat.read(executed / "04_comparison.out.ipynb", as_version=4)
    shown = [str(o) for c in notebook.cells for o in c.get("outputs", []) if "val_gender_accuracy" in str(o)]
    assert shown and "sd" in shown[0]




@pytest.mark.parametrize("name", NOTEBOOKS)
@needs_real_data
def test_no_cell_errored(executed, name):
    notebook = nbformat.read(executed / f"{name}.out.ipynb", as_version=4)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


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
    for model in config.MODELS:
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
    for model in config.MODELS:
        metrics = json.loads((executed / "results" / "smoke" / model / "metrics.json").read_text())
        assert f"{metrics['val_gender_accuracy']:.3f}" in html
        assert f"{metrics['val_age_mae']:.2f}" in html
    assert "not the coursework's seed protocol" in html and "HED-derived" in html
    assert "src=\"http" not in html and html.count("data:image/png;base64,") == len(FIGURES)


@needs_real_data
def test_pdf_has_pages_and_headings(executed):
    pdf = executed / "report" / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) >= 4
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for heading in HEADINGS:
        assert heading in text, heading
