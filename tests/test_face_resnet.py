"""The face-recognition network (#36): the Keras port computes face-api's own descriptors, its weights are found,
downloaded and refused as the docs say, and it trains in the registry's two stages."""

import hashlib
import json
import tarfile
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import FACE_WEIGHTS
from faceapi_images import fixture_images

from extensions import experiments
from helpers import config, face_resnet, models, registry, sources
from tools import experiments as experiment_runs

FIXTURE = Path(__file__).with_name("fixtures") / "faceapi_descriptors.json"


@pytest.fixture(scope="module")
def base():
    return face_resnet.build_base(str(FACE_WEIGHTS))


def test_the_keras_network_computes_face_api_s_own_descriptors(base):
    fixture = json.loads(FIXTURE.read_text())
    images = fixture_images()
    assert hashlib.sha256(images.tobytes()).hexdigest() == fixture["images_sha256"]  # the images face-api saw
    weights = hashlib.sha256((FACE_WEIGHTS / face_resnet.BIN_NAME).read_bytes()).hexdigest()
    assert weights == fixture["weights_sha256"]["bin"]
    expected = np.array(fixture["descriptors"], "float32")
    got = base.predict(images.astype("float32"), verbose=0)
    # Descriptor values reach 0.4. The port differs by at most 4e-6 (float32 sums in another order, each scale layer
    # folded into its convolution; a float64 numpy version of the source: 3e-7); the zero row and column appended
    # on the wrong side moves them by 0.14. 2e-5 leaves room for other CPUs' summation orders.
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=0)
    cosine = np.sum(got * expected, axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosine.min() > 0.99999


def test_every_weight_of_the_file_is_read_and_the_scale_layers_fold_away(base):
    tensors = face_resnet.read_weights(FACE_WEIGHTS)
    assert len(tensors) == 117 and sum(t.size for t in tensors.values()) == 5_614_592  # dlib's 5.6 M parameters
    # Each scale layer (a weight and a bias per channel) folds into its convolution's kernel and bias.
    assert base.count_params() == sum(t.size for name, t in tensors.items() if "/scale/" not in name)


def test_the_weights_are_found_from_a_folder_or_a_file_and_named_in_the_manifest():
    spec = registry.get("face")
    for path in (FACE_WEIGHTS, FACE_WEIGHTS / face_resnet.BIN_NAME, FACE_WEIGHTS / face_resnet.MANIFEST_NAME):
        assert spec.find_weights(str(path)) == str(FACE_WEIGHTS.resolve() / face_resnet.BIN_NAME)
    described = models.describe_weights(spec.find_weights(str(FACE_WEIGHTS)))
    assert described["path"] == face_resnet.BIN_NAME and "public domain" in described["label"]
    assert spec.find_weights("none") is None


def test_a_folder_without_the_weights_is_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"expected face_recognition_model\.bin") as err:
        registry.get("face").find_weights(str(tmp_path))
    assert "\n" not in str(err.value)


def test_offline_without_a_path_says_so_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("FACE_WEIGHTS", raising=False)
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    monkeypatch.setattr(face_resnet, "TARBALL_URL", (tmp_path / "nowhere.tgz").as_uri())
    with pytest.raises(sources.DataError, match="offline, pass the weights' folder") as err:
        face_resnet.resolve_weights("env")
    assert "\n" not in str(err.value)
    assert not list(tmp_path.rglob("*.bin"))


def test_the_package_tarball_is_checked_and_its_weights_extracted(tmp_path, monkeypatch):
    tarball = tmp_path / "face-api.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name in (face_resnet.BIN_NAME, face_resnet.MANIFEST_NAME):
            archive.add(FACE_WEIGHTS / name, arcname=f"package/model/{name}")
    monkeypatch.setattr(face_resnet, "TARBALL_URL", tarball.as_uri())
    monkeypatch.setattr(face_resnet, "TARBALL_SHA256", "0" * 64)
    with pytest.raises(sources.DataError, match="sha256"):
        face_resnet.download_weights(tmp_path / "weights")
    assert not (tmp_path / "weights" / face_resnet.BIN_NAME).exists()
    monkeypatch.setattr(face_resnet, "TARBALL_SHA256", hashlib.sha256(tarball.read_bytes()).hexdigest())
    found = face_resnet.download_weights(tmp_path / "weights")
    assert found.read_bytes() == (FACE_WEIGHTS / face_resnet.BIN_NAME).read_bytes()
    assert sorted(p.name for p in found.parent.iterdir()) == sorted([face_resnet.BIN_NAME, face_resnet.MANIFEST_NAME])


def test_stage_one_trains_the_head_and_stage_two_the_last_blocks_too():
    profile = config.get_profile("smoke")
    model = registry.build_model("face", profile, weights=None)
    assert model.input_shape == (None, 150, 150, 3)  # the profile's 64 px is the custom CNN's, not this network's
    stages = registry.get("face").stages
    stages[0].trainable(model, profile)
    head = {w.path.split("/")[0] for w in model.trainable_weights}
    assert not any(name.startswith("conv") for name in head)
    stages[1].trainable(model, profile)
    unfrozen = {w.path.split("/")[0] for w in model.trainable_weights} - head
    blocks = face_resnet.block_names()[-face_resnet.STAGE2_UNFROZEN_BLOCKS :]
    assert {name.rsplit("_conv", 1)[0] for name in unfrozen} == set(blocks) | {"face_descriptor"} - {""}


def test_a_saved_model_loads_with_keras_alone_and_predicts_the_same(tmp_path):
    model = registry.build_model("face", config.get_profile("smoke"), str(FACE_WEIGHTS))
    path = tmp_path / "face.keras"
    models.portable(model).save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    images = fixture_images()[:2].astype("float32")
    for key in ("age", "gender"):
        np.testing.assert_allclose(loaded.predict(images, verbose=0)[key], model.predict(images, verbose=0)[key])


def test_a_higher_resolution_is_no_variant_of_the_face_model(tmp_path):
    profile = config.get_profile("seed")
    assert not experiments.changes_model("res192", profile, "face")  # it reads 150 px whatever the profile says
    assert experiments.changes_model("res192", profile, "vgg16") and experiments.changes_model(
        "all_images", profile, "face"
    )
    not_run = [entry["variant"] for entry in experiments.not_run("conjectures", profile, "face", tmp_path)]
    assert not_run == ["baseline", "all_images", "age_balanced"]
    with pytest.raises(ValueError, match="exactly as its baseline does"):
        experiment_runs.run("conjectures", profile, "face", only=["res192"], results_dir=tmp_path)
