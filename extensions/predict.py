"""Age and gender for the faces in new photos.

OpenCV's frontal-face Haar cascade (shipped inside the ``opencv-python-headless`` wheel: nothing is downloaded)
finds the faces; each is cropped the way UTKFace's "aligned & cropped" images frame a face, resized to the
model's input size, and predicted.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from helpers import config
from helpers.decoding import resize_square
from helpers.sources import DOWNLOAD_TIMEOUT, GENDERS, DataError, download_file

CASCADE = "haarcascade_frontalface_default.xml"
# Measured by running the cascade on 400 random UTKFace crops (200 px, padded): medians of the box it finds.
# Its box is 1.04× the crop's side and its centre sits 8.5 % of the crop's side above the crop's centre.
BOX_PER_CROP = 1.04
BOX_CENTRE_ABOVE = 0.085
PAD = 0.25  # border added around the photo (share of its longer side): faces that fill the photo are found too
MIN_FACE = 24  # pixels: smaller detections are too blurry to judge


@dataclass
class DemoPhoto:
    """A stand-in photo: faces pasted left to right on a plain background, with their true labels."""

    photo: np.ndarray
    labels: list[str]


@dataclass
class Face:
    """A detected face: its box in the photo (x, y, width, height) and its UTKFace-style crop."""

    box: tuple[int, int, int, int]
    crop: np.ndarray


def read_photo(path) -> np.ndarray:
    """An RGB uint8 array, turned upright by its EXIF orientation; ``ValueError`` when it is not an image."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"{path}: not a readable image ({err})") from None


def _cascade():
    import cv2

    return cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)


def find_faces(photo: np.ndarray, size: int) -> list[Face]:
    """Every frontal face in ``photo`` (RGB), left to right, each cropped like UTKFace to ``size``×``size``."""
    import cv2

    pad = int(PAD * max(photo.shape[:2]))
    padded = cv2.copyMakeBorder(photo, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    grey = cv2.cvtColor(padded, cv2.COLOR_RGB2GRAY)
    boxes = _cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(MIN_FACE, MIN_FACE))
    faces, picture = [], Image.fromarray(padded)
    for x, y, w, h in sorted(tuple(map(int, b)) for b in boxes):
        side = w / BOX_PER_CROP
        centre_x, centre_y = x + w / 2, y + h / 2 + BOX_CENTRE_ABOVE * side
        left, top = round(centre_x - side / 2), round(centre_y - side / 2)
        region = picture.crop((left, top, left + round(side), top + round(side)))
        box = (max(x - pad, 0), max(y - pad, 0), w, h)
        faces.append(Face(box=box, crop=resize_square(region, size)))
    return faces


def fetch_model(url: str, sha256: str | None = None) -> Path:
    """A released model file (``make release``) from ``url``, downloaded once into the cache
    (``<cache>/models/``) and checked against ``sha256``, else against the ``SHA256SUMS`` beside it. ``DataError``
    in one line when it cannot be fetched or checked."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    if sha256 is None:
        sums_url = url.rstrip("/").rsplit("/", 1)[0] + "/SHA256SUMS"
        try:
            with urllib.request.urlopen(sums_url, timeout=DOWNLOAD_TIMEOUT) as response:
                sums = dict(line.split()[::-1] for line in response.read().decode().splitlines() if line.strip())
        except (OSError, ValueError) as err:
            raise DataError(
                f"could not read {sums_url} to check {name} against "
                f"({getattr(err, 'reason', None) or err}); pass --sha256 to give its checksum"
            ) from None
        if name not in sums:
            raise DataError(f"{sums_url} lists no {name}; pass --sha256 to give its checksum")
        sha256 = sums[name]
    cached = config.CACHE_DIR / "models" / f"{sha256[:16]}-{name}"
    if not cached.is_file():
        download_file(url, cached, sha256, name)
    return cached


def load_model(path, sha256: str | None = None):
    """A model saved by ``python -m tools train`` (``<model>.keras``), or the URL of a released one
    (:func:`fetch_model`)."""
    from helpers import models

    if urllib.parse.urlparse(str(path)).scheme in ("http", "https", "file"):
        path = fetch_model(str(path), sha256)
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"{path}: no such model file (train one with `python -m tools train`, which writes "
            "results/<profile>/<model>/<model>.keras)"
        )
    return models.load(path)


def predict_faces(model, faces: list[Face]) -> list[dict]:
    """Per face: box, predicted age (years), P(female) and the gender label at 0.5."""
    if not faces:
        return []
    outputs = model.predict(np.stack([f.crop for f in faces]), verbose=0)
    ages = np.asarray(outputs["age"], dtype=float).reshape(-1)
    female = np.asarray(outputs["gender"], dtype=float).reshape(-1)
    return [
        {"box": list(face.box), "age": float(age), "prob_female": float(p), "gender": GENDERS[int(p >= 0.5)]}
        for face, age, p in zip(faces, ages, female)
    ]


def predict_photo(model, path) -> list[dict]:
    """Find and predict every face in the photo at ``path`` (``ValueError`` if it cannot be read)."""
    size = int(model.input_shape[1])
    return predict_faces(model, find_faces(read_photo(path), size))


def demo_photo(faces, n: int = 3, seed: int = 0) -> DemoPhoto:
    """``n`` faces of a ``FaceSet`` drawn with ``seed``, pasted with margins onto one light-grey picture."""
    pick = np.sort(np.random.default_rng(seed).choice(len(faces), size=min(n, len(faces)), replace=False))
    side = faces.images.shape[1]
    photo = np.full((2 * side, (len(pick) * 3 + 1) * side // 2, 3), 225, dtype=np.uint8)
    for k, i in enumerate(pick):
        left = side // 2 + k * 3 * side // 2
        photo[side // 2 : side // 2 + side, left : left + side] = faces.images[i]
    labels = [f"{faces.age[i]} y, {GENDERS[faces.gender[i]]}" for i in pick]
    return DemoPhoto(photo=photo, labels=labels)
