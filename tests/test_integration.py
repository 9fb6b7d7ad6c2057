"""``python -m tools train`` for both models, smoke profile, on real UTKFace images from ../shared."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import REAL_DATA, REAL_WEIGHTS, needs_real_data

from helpers import config, registry

pytestmark = [needs_real_data, pytest.mark.slow]
SMOKE = config.get_profile("smoke")


@pytest.mark.parametrize("model", registry.names())
def test_every_output_file_is_written(smoke_runs, model):
    folder, stdout = smoke_runs[model]
    for name in (
        "metrics.json",
        f"history_{model}.csv",
        f"predictions_val_{model}.csv",
        f"predictions_test_{model}.csv",
        "manifest.json",
        f"{model}.keras",
        "MODEL_CARD.md",
    ):
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    assert "skipped 5: 5 not a UTKFace name" in stdout
    assert "validation gender accuracy" in stdout


@pytest.mark.parametrize("model", registry.names())
def test_metrics_history_and_predictions_agree(smoke_runs, model):
    folder, _ = smoke_runs[model]
    metrics = json.loads((folder / "metrics.json").read_text())
    history = pd.read_csv(folder / f"history_{model}.csv")
    predictions = pd.read_csv(folder / f"predictions_val_{model}.csv")
    assert 0 <= metrics["val_gender_accuracy"] <= 1 and metrics["val_age_mae"] > 0
    for key in ("train_gender_accuracy", "train_age_mae", "val_gender_loss"):
        assert key in metrics
    assert len(predictions) == SMOKE.val_size
    test = pd.read_csv(folder / f"predictions_test_{model}.csv")
    assert metrics["n_test"] == len(test) == SMOKE.test_size and not set(test["file"]) & set(predictions["file"])
    assert metrics["test_age_mae"] == pytest.approx((test["pred_age"] - test["age"]).abs().mean(), rel=1e-4)
    flipped = (test["pred_age_flip"] - test["age"]).abs().mean()  # flip at test time: numbers of their own
    assert metrics["test_age_mae_flip"] == pytest.approx(flipped, rel=1e-4) and "val_gender_accuracy_flip" in metrics
    assert list(predictions.columns) == [
        *("file", "age", "gender", "race", "pred_age", "prob_female", "pred_gender"),
        *("pred_age_flip", "prob_female_flip"),
    ]
    assert metrics["val_gender_accuracy"] == pytest.approx(metrics["val_gender_accuracy_from_predictions"], abs=1e-6)
    assert metrics["val_age_mae"] == pytest.approx(metrics["val_age_mae_from_predictions"], rel=1e-3)
    assert history["val_age_mae"].iloc[-1] == pytest.approx(metrics["val_age_mae"])
    spec = registry.get(model)
    assert history["epoch"].tolist() == list(range(1, spec.epochs(SMOKE) + 1))
    if len(spec.stages) > 1:
        numbers = [spec.stage_number(i) for i, stage in enumerate(spec.stages) for _ in range(stage.epochs_of(SMOKE))]
        assert history["stage"].tolist() == numbers


@pytest.mark.parametrize("model", registry.names())
def test_manifest_records_the_run(smoke_runs, model):
    folder, _ = smoke_runs[model]
    manifest = json.loads((folder / "manifest.json").read_text())
    profile = registry.get(model).profile_for(SMOKE)  # the face model's 150 px, the others' 64
    assert manifest["hash"] == profile.hash and manifest["profile"] == profile.to_dict()
    assert manifest["data"]["files"] == 21707 and manifest["data"]["usable"] == 21702
    assert manifest["data"]["n_train"] + manifest["data"]["n_val"] == SMOKE.n_images
    assert manifest["backend"] == keras.backend.backend() and manifest["versions"]["keras"] == keras.__version__
    assert manifest["started"] <= manifest["finished"]
    # Provenance another reader can check: the archive by name and sha256 (not a path of this machine), the code.
    assert manifest["data"]["source"] == REAL_DATA.name and manifest["data"]["source_kind"] == "archive"
    assert manifest["data"]["sha256"] == hashlib.sha256(REAL_DATA.read_bytes()).hexdigest()
    assert len(manifest["code"]["commit"]) == 40 and isinstance(manifest["code"]["dirty"], bool)
    assert manifest["resumes"] == []
    assert len(manifest["training_cells"]) == 16  # a digest of the notebook's training cells as they ran
    assert {"model", "vector_extensions"} <= set(manifest["hardware"]["cpu"])  # which CPU: speed and rounding
    if registry.get(model).weights_variable:
        from helpers.models import KNOWN_WEIGHTS

        assert manifest["weights"]["label"] == KNOWN_WEIGHTS[manifest["weights"]["sha256"]]
        assert manifest["weights"]["path"] in (REAL_WEIGHTS.name, "face_recognition_model.bin")  # a name, no path
    if model == "vgg16":
        assert "HED-derived" in manifest["weights"]["label"] and "not ImageNet" in manifest["weights"]["label"]
    assert str(config.PROJ_ROOT.parent) not in (folder / "manifest.json").read_text()


def test_committed_result_files_name_no_machine_path():
    for path in config.RESULTS_DIR.rglob("*.json"):
        assert '"/' not in path.read_text(), f"{path} holds an absolute path"


@pytest.mark.parametrize("model", registry.names())
def test_the_model_reloads_in_safe_mode_and_predicts_the_same(smoke_runs, model):
    folder, _ = smoke_runs[model]
    reloaded = keras.models.load_model(folder / f"{model}.keras", safe_mode=True)
    predictions = pd.read_csv(folder / f"predictions_val_{model}.csv")
    from helpers import data

    splits = data.load_splits(registry.get(model).profile_for(SMOKE), REAL_DATA, progress=False)
    assert splits.val.names == predictions["file"].tolist()
    again = reloaded.predict(splits.val.images[:8], verbose=0)
    assert again["age"].reshape(-1) == pytest.approx(predictions["pred_age"][:8].to_numpy(), abs=1e-3)


# Loads the model with Keras alone, predicts the given images and reports which modules were imported.
PLAIN_KERAS = """
import sys, json, keras, numpy as np
model = keras.models.load_model(sys.argv[1], safe_mode=True)
outputs = model.predict(np.load(sys.argv[2]), verbose=0)
np.save(sys.argv[3], np.concatenate([outputs["age"], outputs["gender"]], axis=1))
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] == "helpers")))
"""


@pytest.mark.parametrize("model", registry.names())
def test_the_saved_model_loads_with_plain_keras_in_a_fresh_process(smoke_runs, model, tmp_path):
    from helpers import data

    folder, _ = smoke_runs[model]
    splits = data.load_splits(registry.get(model).profile_for(SMOKE), REAL_DATA, progress=False)
    np.save(tmp_path / "images.npy", splits.val.images)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PLAIN_KERAS,
            str(folder / f"{model}.keras"),
            str(tmp_path / "images.npy"),
            str(tmp_path / "outputs.npy"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []  # nothing of this project was imported
    outputs = np.load(tmp_path / "outputs.npy")
    predictions = pd.read_csv(folder / f"predictions_val_{model}.csv")  # the in-process model's, at 6 digits
    np.testing.assert_allclose(outputs[:, 0], predictions["pred_age"], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(outputs[:, 1], predictions["prob_female"], rtol=1e-5, atol=1e-6)


def test_the_study_list_is_the_committed_runs_images_and_survives_a_superset_copy():
    """The committed seed runs' validation and test images, name for name, from the real archive with extra files
    (names that sort before, among and after the study's) and in another order: what a larger copy gives."""
    from helpers import data, sources

    real, _ = sources.list_faces(REAL_DATA)
    extra = [
        sources.parse_name(f"UTKFace/{name}")
        for name in (
            "1_0_0_20160000000000001.jpg.chip.jpg",
            "26_1_0_20170116999999999.jpg.chip.jpg",
            "99_1_4_20189999999999999.jpg.chip.jpg",
        )
    ]
    superset = extra + real[::-1]
    for profile in (config.get_profile("seed"), config.get_profile("quick")):
        subset = [f.name for f in data.subset_faces(superset, profile)]
        test = [f.name for f in data.test_faces(superset, profile, REAL_DATA, progress=False)]
        assert subset == [f.name for f in data.select_subset(real, 5000, 42)]  # = the draw on the runs' copy
        for model in registry.names():
            folder = config.RESULTS_DIR / "seed" / model
            assert subset[:1000] == pd.read_csv(folder / f"predictions_val_{model}.csv")["file"].tolist()
            assert test == pd.read_csv(folder / f"predictions_test_{model}.csv")["file"].tolist()
    assert sources.describe_source(REAL_DATA)["sha256"] == data.STUDY_COPY["sha256"]


def test_evaluate_adds_the_test_set_to_a_run_trained_before_it(smoke_runs, smoke_cache, tmp_path):
    """`python -m tools evaluate` on a run that has no test results (trained before test sets existed): it
    predicts the test images with the saved model and adds what the training itself would have written (#35)."""
    out = Path(shutil.copytree(smoke_runs["custom"][0], tmp_path / "custom"))
    trained = json.loads((out / "metrics.json").read_text())
    test_predictions = pd.read_csv(out / "predictions_test_custom.csv")
    (out / "predictions_test_custom.csv").unlink()
    older = {key: value for key, value in trained.items() if not key.startswith("test_") and key != "n_test"}
    (out / "metrics.json").write_text(json.dumps(older))
    env = dict(os.environ, UTKFACE=str(REAL_DATA), HELPERS_CACHE_DIR=str(smoke_cache))
    done = subprocess.run(
        [sys.executable, "-m", "tools", "evaluate", "--model", "custom", "--profile", "smoke", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(trained, rel=1e-6)
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions_test_custom.csv"), test_predictions, rtol=1e-5)
    assert (out / "MODEL_CARD.md").read_text() == (smoke_runs["custom"][0] / "MODEL_CARD.md").read_text()
