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
# # 03 · VGG16 transfer learning in two stages
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/utkface-study/age-gender-utkface/blob/main/notebooks/03_vgg16_transfer.ipynb)
#
# VGG16's convolutional base, pretrained, with a new head for the two tasks. Stage 1 trains only the head on
# the frozen base; stage 2 unfreezes block 5 (three convolutions and its pooling layer) and continues at a ten
# times smaller learning rate.

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
overrides = {}  # dict: profile fields to change, e.g. {"stage2_epochs": 5}
data = ""  # str: UTKFace folder or .tar.gz (empty: $UTKFACE, then data/)
results_dir = ""  # str: results root (empty: results/ in the project)
run_dir = ""  # str: this run's folder (empty: <results_dir>/<profile>/vgg16)
figures_dir = ""  # str: figures root (empty: figures/ in the project)
retrain = False  # bool: train even when this profile's results are on disk
weights = "env"  # str: for training: imagenet, none, a .weights.h5 file, or env ($VGG16_WEIGHTS, else imagenet)

# %%
from helpers import models, notebook, plots, registry, results, training  # first: Keras starts quietly

# isort: split
import keras

cfg = notebook.setup(profile, overrides)
results_dir, run_dir, figures_dir = notebook.none_if_empty(results_dir, run_dir, figures_dir)
source = notebook.colab_setup(data)

# %% [markdown]
# ## Adapting VGG16 (Figure 3b)
# The base keeps its 13 convolutional layers; images (0-255) go through VGG16's own preprocessing (RGB to BGR,
# ImageNet channel means removed). The head: Flatten, Dense 512, batch normalisation, ReLU, and the two task
# branches (dropout 0.40 for age, 0.30 for gender).

# %%
description = registry.describe("vgg16", cfg)
fig = plots.architecture_from_description(description, cfg.image_size, "VGG16 transfer model")
plots.save_fig(fig, "vgg16_architecture", cfg.name, figures_dir)

# %% [markdown]
# ## The run: its data, its model and its folder
# `training.start` seeds Keras, builds the network (the base with the pretrained weights, the head with the seed's
# initial weights), reads the training and validation images and locks the run's folder. A checkpoint of these
# settings there (a run that was stopped) is resumed: the model is then the checkpoint's, optimizer included. A
# finished run of these settings is loaded instead, unless `retrain`, and the training cells below do nothing.

# %%
run = training.start("vgg16", cfg, source, run_dir, results_dir, weights, retrain=retrain, overrides=overrides)
model = run.model
model.summary()

# %% [markdown]
# ## Stage 1: the head on the frozen base
# Only the head trains, with AdamW at the stage's learning rate. Validation images are not augmented and the frozen
# base runs in inference mode, so its output is the same every epoch: `FrozenPartValidation` computes it once and
# validates through the head alone (the same numbers as Keras' own validation, in a fraction of the time).

# %%
stage = run.stage(1)
if stage.enters:  # False when a run resumes past this point: the checkpoint's layers and optimizer go on
    models.set_vgg16_stage(model, 1)  # the base frozen
    model.compile(
        optimizer=keras.optimizers.AdamW(
            stage.learning_rate(cfg.stage1_learning_rate), weight_decay=cfg.stage1_weight_decay
        ),
        loss={"age": "mae", "gender": "binary_crossentropy"},
        metrics={"age": ["mae"], "gender": ["accuracy"]},
    )
if stage.left:
    frozen_base = models.split_at_frozen(model, 1, cfg.stage2_unfrozen_layers)
    model.fit(
        stage.batches,  # in an order fixed by (seed, epoch): a resumed run sees what an uninterrupted one saw
        initial_epoch=stage.first,
        epochs=stage.last,
        shuffle=False,
        callbacks=[training.FrozenPartValidation(frozen_base, run.splits.val, cfg.batch_size), stage.checkpoint],
        verbose=2,
    )

# %% [markdown]
# ## Stage 2: block 5 unfrozen
# The last `stage2_unfrozen_layers` layers of the base (block 5: three convolutions and its pooling layer) train
# with the head, at a ten times smaller learning rate, with a fresh AdamW. The layers below block 5 stay frozen.

# %%
stage = run.stage(2)
if stage.enters:
    models.set_vgg16_stage(model, 2, cfg.stage2_unfrozen_layers)  # block 5 trains from here on
    model.compile(
        optimizer=keras.optimizers.AdamW(
            stage.learning_rate(cfg.stage2_learning_rate), weight_decay=cfg.stage2_weight_decay
        ),
        loss={"age": "mae", "gender": "binary_crossentropy"},
        metrics={"age": ["mae"], "gender": ["accuracy"]},
    )
if stage.left:
    frozen_base = models.split_at_frozen(model, 2, cfg.stage2_unfrozen_layers)
    model.fit(
        stage.batches,
        initial_epoch=stage.first,
        epochs=stage.last,
        shuffle=False,
        callbacks=[training.FrozenPartValidation(frozen_base, run.splits.val, cfg.batch_size), stage.checkpoint],
        verbose=2,
    )

# %% [markdown]
# The run's files: predictions of the validation (and test) images, metrics, history, manifest, the model.

# %%
run = run.finish(model)
print(f"results in {run.folder}; VGG16 weights: {run.manifest['weights']['label']}")

# %% [markdown]
# ## Learning curves (Figure 5)
# The dashed line marks the start of stage 2.

# %%
fig = plots.training_curves(run.history, "VGG16 transfer: training and validation")
plots.save_fig(fig, "fig5_vgg16_curves", cfg.name, figures_dir)

# %%
results.comparison_table({"vgg16": run}).T
