# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Comparing the models
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/utkface-study/age-gender-utkface/blob/main/notebooks/04_comparison.ipynb)
#
# Reads the results that notebooks 02, 03 and 03b wrote and sets them beside the coursework's reported numbers:
# final epochs, curves, metrics beyond accuracy and MAE, the models image by image, the errors. Notebook 05 goes
# beyond the coursework. This notebook trains nothing.

# %%
# Colab only: clone this project into /content, install it and work in its notebooks/ folder (rerunning: harmless)
import os
import subprocess
import sys

if "google.colab" in sys.modules:
    home = os.path.join(os.environ.get("COLAB_CLONE_DIR", "/content"), "age-gender-utkface")
    url = os.environ.get("COLAB_REPO_URL", "https://github.com/utkface-study/age-gender-utkface.git")
    subprocess.run(f"test -d {home} || git clone -q --depth 1 {url} {home}", shell=True, check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", home], check=True)
    sys.path.insert(0, home)  # importable in this kernel without a restart
    os.chdir(os.path.join(home, "notebooks"))

# %% tags=["parameters"]
profile = "seed"  # str: named profile (seed, quick, smoke, full)
overrides = {}  # dict: profile fields that were changed in notebooks 02, 03 and 03b
data = ""  # str: UTKFace folder or .tar.gz, for the training labels of the baselines (empty: $UTKFACE, then data/)
results_dir = ""  # str: results root (empty: results/ in the project)
figures_dir = ""  # str: figures root (empty: figures/ in the project)
retrain = False  # bool: unused here; kept so every notebook takes the same flags

# %%
from IPython.display import display

from helpers import data as utk
from helpers import evaluation, files, notebook, plots, registry, results

cfg = notebook.setup(profile, overrides)
results_dir, figures_dir = notebook.none_if_empty(results_dir, figures_dir)
source = notebook.colab_setup(data)  # None: $UTKFACE, then data/
runs = results.load_available(cfg, results_dir)
missing = [spec.label for name, spec in registry.MODELS.items() if name not in runs]
if missing:
    print(f"Not run yet for profile {cfg.name}: {', '.join(missing)} (`python -m tools plan` says how to train them).")
NO_RUN = f"No model has run for profile {cfg.name}: nothing to compare yet."

# %% [markdown]
# ## Final epoch, every model, beside the coursework
# Train values are Keras' running averages over the last epoch (augmentation and dropout active), as the
# coursework reported them; validation values are computed after the epoch in inference mode.

# %%
results.comparison_table(runs).T.style.format("{:.3f}") if runs else NO_RUN

# %% [markdown]
# ## Validation curves and predicted age

# %%
if runs:
    fig = plots.comparison({m: r.history for m, r in runs.items()}, {m: r.predictions for m, r in runs.items()})
    plots.save_fig(fig, "fig6_comparison", cfg.name, figures_dir)
else:
    print(NO_RUN)

# %% [markdown]
# ## Beyond accuracy and MAE
# On the validation images (the only held-out images of the coursework protocol; they were also watched during
# training, so these numbers are optimistic) and, in the "test" columns, on the test images no training saw.
# Baselines predict without looking at the face: the training set's mean or median age, and its majority gender.

# %%
splits = utk.load_splits(cfg, source)
train_labels = splits.train.labels()
evaluations = {
    model: evaluation.evaluate(run.predictions, train_labels, run.test_predictions) for model, run in runs.items()
}
files.write_json(results.profile_folder(cfg, results_dir) / "evaluation.json", evaluations, sort_keys=False)
evaluation.headline_table(evaluations, registry.labels()).round(3) if runs else NO_RUN

# %% [markdown]
# ### Which model is better, beyond the noise of the evaluation images?
# The models predict the same images, so each pair is compared image by image: the second model's advantage
# (gender accuracy higher, age MAE lower: positive; pairs in the registry's order: custom CNN, VGG16, face model), its 95 % bootstrap interval over
# the images, and McNemar's exact test on the images that only one model classifies right. Training noise (another
# seed) comes on top: see the seed sweeps in notebook 05.

# %%
pairs = results.paired_comparisons(runs)
for (first, second), comparisons in pairs.items():
    print(f"{registry.get(second).label} against {registry.get(first).label}:")
    display(evaluation.paired_table(comparisons))
if not pairs:
    print("Needs the results of two models.")

# %% [markdown]
# ### By ethnicity label and gender

# %%
evaluation.group_table(evaluations, registry.labels()).round(3) if runs else NO_RUN

# %%
tested = {model: result["test"] for model, result in evaluations.items() if "test" in result}
evaluation.group_table(tested, registry.labels()).round(3) if tested else "no test predictions for this profile"

# %%
if runs:
    fig = plots.evaluation(evaluations)
    plots.save_fig(fig, "fig7_evaluation", cfg.name, figures_dir)
else:
    print(NO_RUN)

# %% [markdown]
# ## Error analysis
# The validation images each model got most wrong: the largest age errors, and the gender mistakes it made with
# the most confidence. Some of these are labelling errors of UTKFace rather than model errors.

# %%
val_images = dict(zip(splits.val.names, splits.val.images))
for model, run in runs.items():
    fig = plots.error_gallery(evaluation.worst_predictions(run.predictions), val_images, registry.get(model).label)
    plots.save_fig(fig, f"fig8_errors_{model}", cfg.name, figures_dir)
