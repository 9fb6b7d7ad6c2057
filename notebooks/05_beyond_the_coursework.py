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
# # 05 · Beyond the coursework
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/utkface-study/age-gender-utkface/blob/main/notebooks/05_beyond_the_coursework.ipynb)
#
# What the coursework conjectured or took for granted, measured: its closing conjectures (more data, higher
# resolution, balancing the rare ages), UTKFace's duplicate images, each model's run-to-run spread over seeds, a
# second learning-rate protocol, whether pretraining helps, and prediction on a new photo. It reads the runs that
# `make experiment`, `make sweep`, `make pretraining` and `make queue` wrote; it trains nothing.

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
data = ""  # str: UTKFace folder or .tar.gz, for the photo of the last section (empty: $UTKFACE, then data/)
results_dir = ""  # str: results root (empty: results/ in the project)
figures_dir = ""  # str: figures root (empty: figures/ in the project)
sweep_dir = ""  # str: root of the seed sweep runs (empty: results/sweeps/ in the project)
retrain = False  # bool: unused here; kept so every notebook takes the same flags

# %%
from IPython.display import display

from extensions import experiments, figures, predict, seed_sweeps
from helpers import config, evaluation, notebook, plots, registry, results
from helpers import data as utk

cfg = notebook.setup(profile, overrides)
results_dir, figures_dir, sweep_dir = notebook.none_if_empty(results_dir, figures_dir, sweep_dir)
source = notebook.colab_setup(data)  # None: $UTKFACE, then data/
runs = results.load_available(cfg, results_dir)

# %% [markdown]
# ## Experiments: the coursework's conjectures and UTKFace's duplicates
# Variants of a profile, trained by `python -m tools experiment NAME --profile PROFILE [--model vgg16]` (see
# `extensions/experiments.py`): a table of the variants that ran, then the command of each that did not (and how far
# it got, if it started); another model's tables appear once one of its variants ran. The `quick` profile is the seed protocol shrunk to fit a
# 2-core CPU (64 px; 10 epochs, the transfer models 3 + 5), so its numbers compare variants with each other, not with the seed's.

# %%
for shown in experiments.shown_profiles(cfg):
    for model, tables in experiments.summaries(shown, results_dir).items():
        for name, table in tables.items():
            print(f"{name}, {registry.get(model).label}, profile {shown.name}:")
            if not (ran := experiments.ran(table)).empty:
                display(experiments.readable(ran))
            for entry in experiments.not_run(name, shown, model, results_dir):
                print(f"  not run: {entry['label']} ({'; '.join(filter(None, (entry['command'], entry['progress'])))})")
        bands = experiments.band_errors(shown, model=model, results_dir=results_dir)
        if bands is not None:
            print(f"{registry.get(model).label}, profile {shown.name}: test MAE and bias per age band, baseline")
            print("against the age-balanced loss:")
            display(experiments.readable_bands(bands).round(2))

# %% [markdown]
# ### The conjectures against the run-to-run noise
# Each conjecture's variant that ran, beside its model's baseline and that model's seed-to-seed spread (the
# profile's own run and its seed sweep) drawn as a dark band, on validation and test (Figure 10, one model under
# the other); the light band, ±2·sd·√2, is the noise of a difference between two runs: the paragraphs call what
# lies outside it beyond the noise.

# %%
for shown in experiments.shown_profiles(cfg):
    by_model = experiments.conjecture_effects(shown, sweep_dir=sweep_dir, results_dir=results_dir)
    if not by_model:
        print(f"profile {shown.name}: no conjecture variant has run beside its baseline")
        continue
    fig = figures.against_baselines(
        {registry.get(model).label: experiments.effects_for_plot(effects) for model, effects in by_model.items()},
        f"The coursework's conjectures, profile {shown.name}",
        figures.SPREAD_METRICS + figures.TEST_METRICS,
        experiments.NOISE_SDS,
        columns=4,  # a row per model: the figure stays readable on a page
    )
    plots.save_fig(fig, f"fig10_conjectures_{shown.name}", cfg.name, figures_dir)
    for model, effects in by_model.items():  # variant minus baseline, and whether beyond the noise
        print(f"{registry.get(model).label}, profile {shown.name}:")
        keys = [f"{key}{part}" for key in experiments.EFFECT_METRICS for part in ("_diff", "_beyond")]
        display(effects.set_index("label")[keys].round(3))

# %% [markdown]
# ### Duplicates: does the split matter?
# The duplicate variants share their test images: each is compared with the variant it changes image by image (the
# advantage of the second, its 95 % bootstrap interval and McNemar's test).

# %%
for shown in experiments.shown_profiles(cfg):
    for model in registry.names():
        for first, second, question in experiments.DUPLICATE_QUESTIONS:
            if (paired := experiments.paired_test(shown, first, second, model, results_dir)) is not None:
                print(f"{registry.get(model).label}, profile {shown.name}: {question}")
                display(evaluation.paired_table({"test": paired}))

# %% [markdown]
# ## Training stability over seeds
# `make sweep PROFILE=... SEEDS="1 2 3"` trains the models once per seed (subset, split, initial weights and
# augmentation all change with it); mean ± standard deviation of the final metrics. The custom CNN's include the
# profile's own run (its seed); VGG16's, where it has no plain sweep, is the `make pretraining` sweep of the
# weights its study run used.

# %%
for shown in experiments.shown_profiles(cfg):
    for model in registry.names():
        weights = runs[model].manifest["weights"] if model in runs else None  # a pretrained model's pretraining sweep
        sweep = seed_sweeps.model_spread(shown, model, sweep_dir, weights, results_dir)
        if sweep is None:
            print(f"{registry.get(model).label}: no sweep run for profile {shown.name}")
        else:
            print(f"{registry.get(model).label}, profile {shown.name}:")
            display(sweep)

# %% [markdown]
# Each model's own runs over seeds at this profile (its run and `make sweep`'s), one dot a run, beside the
# coursework's numbers (Figure 12): is the gap between the models larger than each model's run-to-run spread?

# %%
by_seed = {
    model: {seed: run.metrics for seed, run in seeds.items()}
    for model in registry.names()
    if (seeds := seed_sweeps.seed_runs(cfg, model, sweep_dir, results_dir))
}
if by_seed:
    study = cfg.hash == config.PROFILES["seed"].hash
    reported = registry.reported() if study else None
    fig = figures.seed_dots(by_seed, reported, f"Each model over seeds, profile {cfg.name}")
    plots.save_fig(fig, "fig12_seeds", cfg.name, figures_dir)

# %% [markdown]
# ## Two protocols: a constant learning rate and a decaying one
# The coursework trains each stage at a constant AdamW learning rate and reports the last epoch, so a run's number
# is wherever the last epoch happened to land. The second protocol (`lr_schedule="cosine_last"`) lowers the last
# stage's rate to zero along a cosine, step by step (a one-stage model's only stage); it chooses nothing by looking
# at the validation images. Its runs at seeds 42, 1 and 2 are `make queue` jobs `lr-cosine_last:<model>:<seed>`, in
# `results/sweeps/lr-cosine_last/`. Below, each model's runs under each learning rate: mean ± sd over seeds, the
# test numbers with flip at test time (each image's prediction averaged with its mirror image's; runs from before
# it have none), and how much the last ten epochs wobble.

# %%
protocols = seed_sweeps.protocol_table(cfg, sweep_dir=sweep_dir, results_dir=results_dir)
if protocols is None:
    print(f"no run of profile {cfg.name} with a decaying learning rate yet")
else:
    display(seed_sweeps.readable_protocols(protocols))
    curves = {
        model: {
            schedule: {seed: run.history for seed, run in by_seed.items()}
            for schedule in config.LR_SCHEDULES
            if (by_seed := seed_sweeps.schedule_runs(cfg, model, schedule, sweep_dir, results_dir))
        }
        for model in registry.names()
        if registry.get(model).label in set(protocols["model"])
    }
    fig = figures.protocol_curves(curves, f"Validation age MAE per epoch, two protocols, profile {cfg.name}")
    plots.save_fig(fig, "fig13_protocols", cfg.name, figures_dir)

# %% [markdown]
# ## Does pretraining help?
# The coursework concluded that transfer learning gives a clear advantage when data is limited. `make pretraining
# PROFILE=... SEEDS="1 2 3" WEIGHTS="imagenet none"` trains VGG16's seed sweep once per set of initial weights
# (`none`: the same network, head and two stages from random weights); beside it, the custom CNN's sweep. Where a
# model or set of weights has no sweep of a profile, its own run (`results/<profile>/`, one seed) stands in.

# %%
for shown in experiments.shown_profiles(cfg):
    pretraining = seed_sweeps.pretraining_table(shown, sweep_dir, results_dir)
    if pretraining is None:
        print(f"no VGG16 pretraining sweep for profile {shown.name}")
    else:
        print(f"profile {shown.name}:")
        display(seed_sweeps.readable_pretraining(pretraining))
        if (plotted := seed_sweeps.pretraining_for_plot(pretraining)) is not None:
            fig = figures.against_baseline(
                *plotted, f"Does pretraining help? Profile {shown.name}, mean ± sd over seeds"
            )
            plots.save_fig(fig, f"fig11_pretraining_{shown.name}", cfg.name, figures_dir)

# %% [markdown]
# ## Prediction on a new photo
# `python -m tools predict PHOTO --model results/<profile>/custom/custom.keras` finds the faces with OpenCV's
# bundled Haar cascade, crops each the way UTKFace frames its faces, and predicts. Here: three test images pasted
# onto one larger picture, as a stand-in for a photo.

# %%
model_file = results.run_folder("custom", cfg, results_dir) / "custom.keras"
if model_file.is_file() and cfg.test_size:
    demo = predict.demo_photo(utk.load_test(cfg, source, progress=False), n=3)
    found = predict.predict_faces(predict.load_model(model_file), predict.find_faces(demo.photo, cfg.image_size))
    fig = figures.predicted_photo(demo.photo, found, demo.labels)
    plots.save_fig(fig, "fig9_predict", cfg.name, figures_dir)
else:  # a Figure 9 left from an earlier model would be shown as this run's
    stale = figures.remove_fig("fig9_predict", cfg.name, figures_dir)
    print(
        f"No trained custom CNN in {model_file} (or no test set): Figure 9 is not drawn"
        + (" and the one an earlier model drew was removed" if stale else "")
        + "; notebook 02 with retrain=True trains one (model files are not committed)."
    )
