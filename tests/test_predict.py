"""``python -m tools predict``: faces found in new pictures, cropped like UTKFace, predicted; clear failures."""

import hashlib
import io
import json
import tarfile

import numpy as np
import pytest
from conftest import REAL_DATA, needs_real_data
from PIL import Image

from extensions import predict
from helpers import registry
from tools.cli import main

pytestmark = needs_real_data


@pytest.fixture(scope="module")
def utk_faces() -> list[np.ndarray]:
    """The first three faces of the real archive (200×200 RGB)."""
    faces = []
    with tarfile.open(REAL_DATA) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".chip.jpg"):
                faces.append(np.asarray(Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGB")))
            if len(faces) == 3:
                return faces
    raise AssertionError("fewer than three faces in the archive")


def canvas_with(faces: list[np.ndarray], path, spacing: int = 300):
    """The faces pasted side by side on a larger plain canvas, saved as a JPEG."""
    canvas = Image.new("RGB", (80 + spacing * len(faces), 360), (230, 230, 230))
    for i, face in enumerate(faces):
        canvas.paste(Image.fromarray(face), (40 + spacing * i, 80))
    canvas.save(path, quality=92)
    return path


@pytest.fixture(scope="module")
def model_path(smoke_runs):
    return smoke_runs["custom"][0] / "custom.keras"


def test_crop_of_a_pasted_face_frames_it_like_utkface(tmp_path, utk_faces):
    photo = predict.read_photo(canvas_with(utk_faces[:1], tmp_path / "one.jpg"))
    faces = predict.find_faces(photo, 64)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert abs(x + w / 2 - (40 + 100)) < 20 and abs(y + h / 2 - (80 + 85)) < 25  # around the pasted face
    assert 0.9 < w / 200 < 1.2  # the cascade's box is about the crop's size (see predict.BOX_PER_CROP)

    def likeness(face):  # pixel correlation with the crop: small shifts and zooms already lower it
        thumb = np.asarray(Image.fromarray(face).resize((64, 64)), dtype=float).ravel()
        return np.corrcoef(thumb, faces[0].crop.astype(float).ravel())[0, 1]

    assert likeness(utk_faces[0]) > 0.6 and likeness(utk_faces[0]) > likeness(utk_faces[1]) + 0.2


@pytest.mark.parametrize("model", ["custom", "face"])  # each model file at its own input size (64 and 150 px)
def test_every_face_is_predicted_left_to_right(tmp_path, utk_faces, smoke_runs, model, capsys):
    photo = canvas_with(utk_faces[:2], tmp_path / "two.jpg")
    model_path = smoke_runs[model][0] / f"{model}.keras"
    assert main(["predict", str(photo), "--model", str(model_path), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["face"] for line in lines] == [1, 2]
    assert lines[0]["box"][0] < 300 < lines[1]["box"][0]
    for line in lines:
        assert line["photo"] == str(photo)
        assert 0 <= line["prob_female"] <= 1 and np.isfinite(line["age"])
        assert line["gender"] == ("female" if line["prob_female"] >= 0.5 else "male")


def test_picture_without_a_face_says_so_and_exits_1(tmp_path, model_path, capsys):
    blank = tmp_path / "sky.png"
    Image.new("RGB", (320, 240), (120, 160, 210)).save(blank)
    assert main(["predict", str(blank), "--model", str(model_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and f"{blank}: no face found" in captured.err


def test_corrupt_or_missing_inputs_are_clear_errors(tmp_path, model_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    assert main(["predict", str(broken), str(tmp_path / "absent.jpg"), "--model", str(model_path)]) == 2
    err = capsys.readouterr().err
    assert f"{broken}: not a readable image" in err and f"{tmp_path / 'absent.jpg'}: no such file" in err
    assert "Traceback" not in err
    assert main(["predict", str(broken), "--model", str(tmp_path / "none.keras")]) == 2
    assert "no such model file" in capsys.readouterr().err


# ---------------------------------------------------------------- released model files (#22)
@pytest.fixture(scope="module")
def released(smoke_runs, tmp_path_factory):
    """`release` of the smoke runs (both models): release/smoke/ with the model files, cards and SHA256SUMS."""
    import shutil

    from helpers import config
    from tools import release

    base = tmp_path_factory.mktemp("release")
    for model in registry.names():
        shutil.copytree(smoke_runs[model][0], base / "results" / "smoke" / model)
    written = release.release(config.get_profile("smoke"), base / "results", base / "release" / "smoke")
    return base / "release" / "smoke", written


def test_release_gathers_model_files_cards_and_checksums(released):
    folder, written = released
    assert (
        {p.name for p in folder.iterdir()}
        == {f"{m}.keras" for m in registry.names()} | {f"MODEL_CARD_{m}.md" for m in registry.names()} | {"SHA256SUMS"}
        == {p.name for p in written}
    )
    sums = dict(line.split()[::-1] for line in (folder / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == {p.name for p in written} - {"SHA256SUMS"}  # every file it gathered, none missing
    for name, digest in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    card = (folder / "MODEL_CARD_vgg16.md").read_text()
    for heading in (
        "## Model details",
        "## Intended use",
        "## Out-of-scope use",
        "## Training data",
        "## Evaluation",
        "## Ethical considerations",
        "## How to load it",
        "## Weights provenance",
    ):
        assert heading in card
    assert 'keras.models.load_model("vgg16.keras")' in card and "HED-derived" in card


def test_predict_takes_a_released_model_by_url_once_and_checks_it(released, tmp_path, utk_faces, capsys):
    from helpers import config

    folder, _ = released
    url = (folder / "custom.keras").as_uri()
    photo = canvas_with(utk_faces[:1], tmp_path / "one.jpg")
    assert main(["predict", str(photo), "--model", url, "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    [cached] = (config.CACHE_DIR / "models").iterdir()  # downloaded once, under its checksum
    assert cached.read_bytes() == (folder / "custom.keras").read_bytes()
    assert main(["predict", str(photo), "--model", url]) == 0 and "Downloading" not in capsys.readouterr().err
    assert main(["predict", str(photo), "--model", (folder / "vgg16.keras").as_uri(), "--sha256", "0" * 64]) == 2
    err = capsys.readouterr().err
    assert "has sha256" in err and "expected 0000" in err and "not kept" in err
    assert len(list((config.CACHE_DIR / "models").iterdir())) == 1  # the wrong file was not kept
    assert main(["predict", str(photo), "--model", "http://127.0.0.1:9/custom.keras"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: could not read http://127.0.0.1:9/SHA256SUMS") and "--sha256" in line
    assert main(["predict", str(photo), "--model", "http://127.0.0.1:9/custom.keras", "--sha256", "0" * 64]) == 2
    assert "could not download http://127.0.0.1:9/custom.keras" in capsys.readouterr().err


def test_page_one_lists_each_released_model_file_with_size_and_checksum(released, tmp_path):
    from helpers import config
    from tools import release

    folder, _ = released
    found = release.model_files(config.get_profile("smoke"), folder.parents[1] / "results", folder)
    sums = dict(line.split()[::-1] for line in (folder / "SHA256SUMS").read_text().splitlines())
    for entry in found:
        assert entry["on_disk"] and entry["sha256"] == sums[entry["file"]]
        assert entry["size"] == (folder / entry["file"]).stat().st_size
        assert entry["url"] == f"{config.RELEASE_URL}/smoke/{entry['file']}"
    assert [e["model"] for e in found] == list(registry.names())
    absent = release.model_files(config.get_profile("smoke"), folder.parents[1] / "results", tmp_path / "none")
    # No release folder: the run folders' own files, hashed.
    assert [e["model"] for e in absent] == list(registry.names())
    for entry in absent:
        assert entry["on_disk"] and entry["sha256"] == sums[entry["file"]]
