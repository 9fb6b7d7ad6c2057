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
# # 02 · A custom CNN trained from scratch
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/utkface-study/age-gender-utkface/blob/main/notebooks/02_custom_cnn.ipynb)
#
# One network, two tasks: gender (sigmoid, binary cross-entropy) and age (linear output, MAE loss), trained
# jointly with AdamW. The network is built and trained in the cells below; with `retrain=False` and a finished run
# of these settings on disk, the same cells load it instead of training again.

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
overrides = {}  # dict: profile fields to change, e.g. {"epochs": 5}
data = ""  # str: UTKFace folder or .tar.gz (empty: $UTKFACE, then data/)
results_dir = ""  # str: results root (empty: results/ in the project)
run_dir = ""  # str: this run's folder (empty: <results_dir>/<profile>/custom)
figures_dir = ""  # str: figures root (empty: figures/ in the project)
retrain = False  # bool: train even when this profile's results are on disk

# %%
from helpers import notebook, plots, registry, results, training  # first: Keras starts quietly

# isort: split
import keras

cfg = notebook.setup(profile, overrides)
results_dir, run_dir, figures_dir = notebook.none_if_empty(results_dir, run_dir, figures_dir)
source = notebook.colab_setup(data)

# %% [markdown]
# ## Architecture (Figure 3)
# Four blocks of 3×3 convolution (no bias: batch normalisation supplies the shift), batch normalisation, ReLU
# and 2×2 max pooling; then a shared dense layer of 512 units and one branch per task. The augmentation layers
# sit inside the model and act only during training.

# %%
description = registry.describe("custom", cfg)
fig = plots.architecture_from_description(description, cfg.image_size, "Custom CNN")
plots.save_fig(fig, "fig3_custom_architecture", cfg.name, figures_dir)

# %% [markdown]
# ## The run: its data, its model and its folder
# `training.start` seeds Keras, builds the network with the seed's initial weights, reads the training and
# validation images and locks the run's folder. A checkpoint of these settings there (a run that was stopped) is
# resumed: the model is then the checkpoint's, optimizer included. A finished run of these settings is loaded
# instead, unless `retrain`, and the training cells below do nothing.

# %%
run = training.start("custom", cfg, source, run_dir, results_dir, retrain=retrain, overrides=overrides)
model = run.model
model.summary()

# %% [markdown]
# ## Training
# AdamW at the profile's learning rate and weight decay, MAE loss for age and binary cross-entropy for gender, one
# line per epoch. The rate stays constant (the coursework's protocol) unless the profile's `lr_schedule` decays it.
# The checkpoint after every epoch lets a stopped run resume where it stopped, bit for bit.

# %%
stage = run.stage(1)
if stage.enters:  # False when a run resumes inside the stage: the checkpoint's optimizer goes on
    model.compile(
        optimizer=keras.optimizers.AdamW(stage.learning_rate(cfg.learning_rate), weight_decay=cfg.weight_decay),
        loss={"age": "mae", "gender": "binary_crossentropy"},
        metrics={"age": ["mae"], "gender": ["accuracy"]},
    )
if stage.left:
    model.fit(
        stage.batches,  # in an order fixed by (seed, epoch): a resumed run sees what an uninterrupted one saw
        initial_epoch=stage.first,
        epochs=stage.last,
        shuffle=False,
        validation_data=run.validation,
        validation_batch_size=cfg.batch_size,
        callbacks=[stage.checkpoint],
        verbose=2,
    )

# %% [markdown]
# The run's files: predictions of the validation (and test) images, metrics, history, manifest, the model.

# %%
run = run.finish(model)
print(
    f"results in {run.folder}, trained on {run.manifest['backend']} "
    f"({', '.join(run.manifest['hardware']['accelerators']) or 'CPU'}) in {run.manifest['seconds'] / 60:.1f} min"
)

# %% [markdown]
# ## Learning curves (Figure 4)

# %%
fig = plots.training_curves(run.history, "Custom CNN: training and validation")
plots.save_fig(fig, "fig4_custom_curves", cfg.name, figures_dir)

# %%
results.comparison_table({"custom": run}).T
