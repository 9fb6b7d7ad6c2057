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
# # 01 · The data set
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/utkface-study/age-gender-utkface/blob/main/notebooks/01_data_analysis.ipynb)
#
# UTKFace's "aligned & cropped" faces carry their labels in the file name:
# `<age>_<gender>_<race>_<datetime>.jpg.chip.jpg`. This notebook loads the profile's subset exactly as the
# training notebooks do and analyses it as the coursework's section 2.1 did.

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
overrides = {}  # dict: profile fields to change, e.g. {"n_images": 2000}
data = ""  # str: UTKFace folder or .tar.gz (empty: $UTKFACE, in Colab a copy on Google Drive, then data/)
results_dir = ""  # str: results root (empty: results/ in the project)
figures_dir = ""  # str: figures root (empty: figures/ in the project)
retrain = False  # bool: unused here (the data analysis always runs); kept so every notebook takes the same flags

# %%
import pandas as pd

from helpers import data as utk
from helpers import decoding, files, notebook, plots, results, twins
from helpers.results import SEED_DATASET

cfg = notebook.setup(profile, overrides)
results_dir, figures_dir = notebook.none_if_empty(results_dir, figures_dir)
source = notebook.colab_setup(data)  # None: $UTKFACE, then data/ (Colab: a Google Drive copy first)
out_dir = results.profile_folder(cfg, results_dir)

# %% [markdown]
# ## Loading the subset
# The loader reads the archive (or folder) once, skips files whose names are malformed (the original release
# has five), takes the profile's faces (the study's, by name, for the seed and quick profiles: any copy that holds
# them gives the same images; other profiles draw `n_images` with their seed) and splits them into training and
# validation.

# %%
splits = utk.load_splits(cfg, source)
print(utk.describe_skipped(splits.info))
subset = utk.all_faces(splits)
labels = subset.labels()
print(f"{len(splits.train)} training and {len(splits.val)} validation images of {cfg.image_size}×{cfg.image_size} px")

# %% [markdown]
# ## Section 2.1 facts, beside the coursework's
# The coursework's numbers describe its own 5,000-image draw; ours are computed on this profile's subset.

# %%
summary = utk.summarize_labels(labels)
summary["source_files"] = splits.info["files"]
summary["source_usable"] = splits.info["usable"]
rows = [
    "images",
    "distinct_ages",
    "mean_per_age",
    "median_per_age",
    "most_frequent_age",
    "most_frequent_count",
    "male",
    "female",
]
pd.DataFrame(
    {"this subset": [summary[k] for k in rows], "coursework": [SEED_DATASET[k] for k in rows]}, index=rows, dtype=object
)

# %%
print(
    f"ages {summary['age_min']}-{summary['age_max']}; least frequent: {summary['least_frequent_ages']} "
    f"({summary['least_frequent_count']} image(s) each)"
)
pd.Series(summary["ethnicity"], name="images").to_frame()

# %% [markdown]
# ## Duplicates and conflicting labels (Figure 2b)
# Some pictures appear more than once in UTKFace: byte-identical files under different names, and visually
# identical ones (the same 64-bit difference hash of the 9×8 grey thumbnail). Many such twins carry different
# ages or genders, which sets a floor under the error no model can beat; a random split also puts twins on both
# sides of train and validation. Hamming distances above 0 were tried and rejected: among random pairs one bit
# apart, most were different people (aligned faces have similar coarse gradients).

# %%
fingerprints = twins.fingerprint_source(source)
groups = twins.twin_groups(fingerprints["sha256"], fingerprints["dhash"])
in_subset = fingerprints["file"].isin(set(subset.names)).to_numpy()
subset_fp = fingerprints[in_subset].reset_index(drop=True)
summary["duplicates"] = {
    "source": twins.twin_summary(fingerprints, groups),
    "subset": twins.twin_summary(subset_fp, twins.twin_groups(subset_fp["sha256"], subset_fp["dhash"])),
    "val_with_train_twin": splits.info["val_with_train_twin"],
    "split": splits.info["split"],
}
print(
    f"{summary['duplicates']['val_with_train_twin']} validation images have a twin in training "
    f"({splits.info['split']} split)"
)
pd.DataFrame({"whole source": summary["duplicates"]["source"], "this subset": summary["duplicates"]["subset"]})

# %%
pairs = [
    tuple(fingerprints.iloc[i].to_dict() for i in pair)
    for pair in twins.conflicting_pairs(fingerprints, groups, n=5, seed=cfg.seed)
]
images = decoding.load_named_images(source, [face["file"] for pair in pairs for face in pair], 96)
fig = plots.twin_pairs(pairs, images)
plots.save_fig(fig, "fig_conflicting_twins", cfg.name, figures_dir)

# %%
out_dir.mkdir(parents=True, exist_ok=True)
files.write_json(out_dir / "data_summary.json", summary, sort_keys=False)

# %% [markdown]
# ## Figure 1 · Sample faces

# %%
fig = plots.sample_grid(subset, n=16, seed=cfg.seed)
plots.save_fig(fig, "fig1_sample_faces", cfg.name, figures_dir)

# %% [markdown]
# ## Figure 2 · Age distribution
# Ages are far from uniform: young adults dominate, children under five form a second peak, and very old ages
# have a handful of images each — a first reason to expect larger age errors at the extremes.

# %%
fig = plots.age_distribution(labels)
plots.save_fig(fig, "fig2_age_distribution", cfg.name, figures_dir)
