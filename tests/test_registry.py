"""A model is one entry of the registry (helpers/registry.py), and a run knows its network.

A further network, defined in this file alone with the notebook that trains it, trains as the study's models do
and appears in the comparison and the report beside the registered ones; a run of another network than the code
builds now is refused, not loaded.
"""

import dataclasses
import itertools
import json
import shutil
from pathlib import Path

import keras
import pytest
from conftest import REAL_DATA, ROOT, STUDY_MODELS, needs_real_data, train_here
from keras import layers

from helpers import config, evaluation, files, models, plots, registry, results
from tools import report

SMOKE = config.get_profile("smoke")


def tiny_cnn(profile, weights=None) -> keras.Model:
    """One strided convolution and global pooling under the study's two task branches."""
    inputs = keras.Input((profile.image_size, profile.image_size, 3), name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = layers.Conv2D(8, 3, strides=4, activation="relu", name="conv")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, models.task_heads(x, age_dropout=0.1, gender_dropout=0.1), name="tiny_cnn")


TINY = registry.ModelSpec(
    name="tiny",
    label="Tiny CNN",
    short="Tiny",
    prose="the tiny CNN",
    color="#2ca02c",
    summary="one strided convolution, global average pooling and two task branches",
    build=tiny_cnn,
    stages=(registry.Stage("epochs", "learning_rate", "weight_decay"),),
    stride=lambda profile: 4,
)


TINY_NOTEBOOK = """# %% tags=["parameters"]
profile = "smoke"  # str: named profile
overrides = {}  # dict: profile fields to change
data = ""  # str: UTKFace folder or .tar.gz
run_dir = ""  # str: this run's folder
figures_dir = ""  # str: figures root
retrain = False  # bool: train even when this profile's results are on disk

# %%
from helpers import notebook, training

# isort: split
import keras

cfg = notebook.setup(profile, overrides, model="tiny")
run = training.start("tiny", cfg, data, run_dir, retrain=retrain, overrides=overrides)
model = run.model

# %%
stage = run.stage(1)
if stage.enters:
    model.compile(
        optimizer=keras.optimizers.AdamW(stage.learning_rate(cfg.learning_rate), weight_decay=cfg.weight_decay),
        loss={"age": "mae", "gender": "binary_crossentropy"},
        metrics={"age": ["mae"], "gender": ["accuracy"]},
    )
model.fit(
    stage.batches,
    initial_epoch=stage.first,
    epochs=stage.last,
    shuffle=False,
    validation_data=run.validation,
    callbacks=[stage.checkpoint],
    verbose=0,
)
run = run.finish(model)
"""


@pytest.fixture
def third_model(monkeypatch):
    monkeypatch.setitem(registry.MODELS, TINY.name, TINY)
    return TINY.name


@pytest.fixture
def three_runs(third_model, smoke_runs, shared_cache, tmp_path) -> Path:
    """A results root whose smoke profile holds the registered models' smoke runs and a trained tiny one."""
    root = tmp_path / "results"
    for model, (folder, _) in smoke_runs.items():
        shutil.copytree(folder, root / "smoke" / model, ignore=shutil.ignore_patterns("*.keras"))
    notebook = tmp_path / "tiny_notebook.py"  # a new model is a registry entry and a notebook that trains it
    notebook.write_text(TINY_NOTEBOOK)
    train_here(third_model, SMOKE, root / "smoke" / third_model, REAL_DATA, notebook)
    return root


@needs_real_data
def test_a_third_model_defined_in_a_test_trains_and_is_compared_and_reported(three_runs, tmp_path):
    runs = results.load_available(SMOKE, three_runs)
    assert list(runs) == [*STUDY_MODELS, "tiny"]
    assert json.loads((three_runs / "smoke/tiny/manifest.json").read_text())["architecture"]["params"] > 0
    assert "Tiny CNN" in results.comparison_table(runs).index
    assert set(results.paired_comparisons(runs)) == set(itertools.combinations(runs, 2))  # every pair, in order
    figure = plots.comparison({m: r.history for m, r in runs.items()}, {m: r.predictions for m, r in runs.items()})
    assert "Tiny CNN" in {label for ax in figure.axes for label in ax.get_legend_handles_labels()[1]}
    # notebook 04's evaluation, as it writes it for the report
    train_labels = runs["custom"].predictions[["file", "age", "gender"]]  # the baselines' labels; any will do here
    evaluations = {m: evaluation.evaluate(r.predictions, train_labels, r.test_predictions) for m, r in runs.items()}
    files.write_json(three_runs / "smoke" / "evaluation.json", evaluations, sort_keys=False)

    html = report.build(SMOKE, three_runs, tmp_path / "figures", tmp_path / "report", pdf=False)["html"].read_text()
    assert "<td>Tiny CNN</td>" in html  # the summary and headline tables
    assert "Tiny CNN over Custom CNN" in html  # image by image and over seeds, against each of the others
    assert "Tiny CNN over VGG16 transfer" in html
    assert "Not run yet" not in html


def test_every_committed_run_records_the_network_the_code_builds_now():
    manifests = sorted((ROOT / "results").rglob("manifest.json"))
    assert len(manifests) >= 30
    for path in manifests:
        manifest = json.loads(path.read_text())
        profile = config.profile_from_record(manifest["profile_name"], manifest["profile"])
        built = registry.current_architecture(manifest["model"], profile)
        assert manifest["architecture"]["digest"] == built["digest"], f"{path}: retrain it, or restore the network"


@needs_real_data
def test_a_changed_network_is_refused_not_loaded(smoke_runs, tmp_path, monkeypatch):
    root = tmp_path / "results"
    shutil.copytree(smoke_runs["custom"][0], root / "smoke" / "custom", ignore=shutil.ignore_patterns("*.keras"))
    assert results.load_for("custom", SMOKE, root).model == "custom"
    study_builder = models.build_custom_cnn
    monkeypatch.setattr(
        models, "build_custom_cnn", lambda profile: study_builder(dataclasses.replace(profile, filters=(8, 16, 32, 64)))
    )
    registry.current_architecture.cache_clear()
    try:
        with pytest.raises(results.OtherArchitecture, match=r"another network .*layer 8: 'Conv2D") as refused:
            results.load_for("custom", SMOKE, root)
    finally:
        registry.current_architecture.cache_clear()
    assert str(root / "smoke" / "custom") in str(refused.value) and "RETRAIN=1" in str(refused.value)


def test_registry_names_the_known_models_when_asked_for_another():
    with pytest.raises(ValueError, match="unknown model 'resnet'; choose one of: custom, vgg16"):
        registry.get("resnet")
    assert registry.get("vgg16").epochs(config.get_profile("seed")) == 35
    assert registry.get("custom").epochs(config.get_profile("seed")) == 60
