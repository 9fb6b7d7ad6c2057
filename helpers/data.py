"""The study's images: the seeded subset (or the study's images, by name), its train/validation split and the test
set, decoded and cached; and what a reader's copy of UTKFace holds of them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import config
from .decoding import CACHE_VERSION, decode_faces
from .sources import HOW_TO_GET, RACES, DataError, Face, describe_source, list_faces, resolve_source
from .twins import conflicting_rows, fingerprint_source, twin_groups

# The study's images are named, not drawn: config.STUDY_IMAGES lists the 5,000-image subset (in the order drawn:
# 1,000 validation, then 4,000 training) and the 2,000 test images that seed 42 drew from the copy every committed
# run used (STUDY_COPY). Profiles with the study's n_images and seed take them by name from any copy that holds them.
STUDY_DRAW = {"n_images": 5000, "seed": 42, "test_size": 2000}
STUDY_COPY = {
    "source": "UTKFace.tar.gz",
    "files": 21707,
    "sha256": "6f1806bd0f3312268f54c3d282c6a796d1ebbcf07df260a166bafa49d802ab76",
}


# ---------------------------------------------------------------- the study's images, by name
def uses_study_images(profile: config.Profile) -> bool:
    """Whether the profile takes the study's named images: ``images`` is "study" and its draw is the study's
    (``n_images`` 5,000, ``seed`` 42: the seed and quick profiles and their variants that keep the subset)."""
    return (
        profile.images == "study" and profile.n_images == STUDY_DRAW["n_images"] and profile.seed == STUDY_DRAW["seed"]
    )


@functools.lru_cache(maxsize=1)
def study_images() -> dict[str, list[str]]:
    """The study's file names: ``subset`` (validation first, as drawn) and ``test``, each in its order."""
    import pandas as pd

    frame = pd.read_csv(config.STUDY_IMAGES)
    return {
        "subset": frame.loc[frame["role"] != "test", "file"].tolist(),
        "test": frame.loc[frame["role"] == "test", "file"].tolist(),
    }


def study_names(profile: config.Profile) -> list[str]:
    """Every name a run of this study profile reads: its subset, and its test images when they are the study's."""
    listed = study_images()
    return listed["subset"] + (listed["test"] if profile.test_size == STUDY_DRAW["test_size"] else [])


def by_name(faces: list[Face], names: list[str]) -> list[Face]:
    """The faces called ``names``, in that order (the first key in sorted order where a copy holds a name twice).
    ``DataError`` in one line when the copy lacks some: how many, a few names, and how to get the study's copy."""
    found: dict[str, Face] = {}
    for face in sorted(faces, key=lambda f: f.key):
        found.setdefault(face.name, face)
    missing = [name for name in names if name not in found]
    if missing:
        raise DataError(
            f"this copy of UTKFace lacks {len(missing):,} of the study's {len(names):,} images "
            f"(e.g. {', '.join(missing[:3])}); the committed runs used {STUDY_COPY['source']} with "
            f"{STUDY_COPY['files']:,} files, sha256 {STUDY_COPY['sha256']}: use a copy that holds every image "
            f"listed in helpers/{config.STUDY_IMAGES.name}, or train on a fresh draw from this copy with "
            "--set images=draw"
        )
    return [found[name] for name in names]


# ---------------------------------------------------------------- subset and split
def select_subset(faces: list[Face], n_images: int | None, seed: int) -> list[Face]:
    """``n_images`` faces drawn with ``seed`` (all of them, shuffled, when ``None``)."""
    faces = sorted(faces, key=lambda f: f.key)  # the order must not depend on the file system
    if n_images is not None and n_images > len(faces):
        raise DataError(
            f"the profile asks for {n_images} images but the source has only {len(faces)} usable ones "
            f"(set n_images to at most {len(faces)}, or null for all of them)"
        )
    order = np.random.default_rng(seed).permutation(len(faces))
    return [faces[i] for i in order[: n_images or len(faces)]]


def draw_test(faces: list[Face], exclude: set[str], fingerprints, size: int, seed: int) -> list[Face]:
    """``size`` readable faces outside ``exclude`` with no twin in it, taken as whole twin groups in an order
    fixed by ``seed``."""
    groups = dict(zip(fingerprints["file"], twin_groups(fingerprints["sha256"], fingerprints["dhash"])))
    banned = {groups[name] for name in exclude if name in groups}
    pool = [
        f
        for f in sorted(faces, key=lambda f: f.key)
        if f.name in groups and f.name not in exclude and groups[f.name] not in banned
    ]
    members: dict = {}
    for i in np.random.default_rng([seed, 1]).permutation(len(pool)):
        members.setdefault(groups[pool[i].name], []).append(pool[i])
    test: list[Face] = []
    for group in members.values():
        if len(test) + len(group) <= size:
            test.extend(group)
        if len(test) == size:
            return test
    raise DataError(
        f"only {len(test)} images are left for a test set of {size} (outside the subset and without "
        "a twin in it); set test_size lower, or 0 for no test set"
    )


def validation_count(n: int, val_size: int | float) -> int:
    count = round(n * val_size) if isinstance(val_size, float) else val_size
    if not 1 <= count < n:
        raise DataError(f"a validation set of {val_size} leaves no training images out of {n}")
    return count


def split_indices(groups: np.ndarray, n_val: int, group_aware: bool) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) row indices of an already shuffled subset.

    Random: the first ``n_val`` rows validate. Group-aware: whole twin groups, taken in subset order while they
    fit, until ``n_val`` rows validate; a group never straddles the two sides.
    """
    order = np.arange(len(groups))
    if not group_aware:
        return order[n_val:], order[:n_val]
    members: dict = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    val: list[int] = []
    for rows in members.values():  # dicts keep insertion order: groups by their first appearance
        if len(val) + len(rows) <= n_val:
            val.extend(rows)
        if len(val) == n_val:
            break
    chosen = set(val)
    return np.array([i for i in order if i not in chosen], dtype=int), np.array(sorted(val), dtype=int)


# ---------------------------------------------------------------- the data a run uses
@dataclass
class FaceSet:
    """Images (N, H, W, 3) uint8 with their labels, in a fixed order."""

    names: list[str]
    images: np.ndarray
    age: np.ndarray
    gender: np.ndarray
    race: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def take(self, index) -> FaceSet:
        index = np.asarray(index, dtype=int)
        return FaceSet(
            [self.names[i] for i in index], self.images[index], self.age[index], self.gender[index], self.race[index]
        )

    def labels(self):
        """The labels as a pandas DataFrame (one row per image)."""
        import pandas as pd

        return pd.DataFrame({"file": self.names, "age": self.age, "gender": self.gender, "race": self.race})


@dataclass
class Splits:
    train: FaceSet
    val: FaceSet
    info: dict = field(default_factory=dict)  # source, counts, skipped files, cache use: for the manifest
    val_twin_in_train: np.ndarray | None = None  # per validation image: has a twin among the training images


def subset_faces(faces: list[Face], profile: config.Profile) -> list[Face]:
    """The profile's train/validation subset, in its order: the study's by name, or drawn with its seed."""
    if uses_study_images(profile):
        return by_name(faces, study_images()["subset"])
    return select_subset(faces, profile.n_images, profile.seed)


def test_faces(faces: list[Face], profile: config.Profile, source: Path, progress: bool = True) -> list[Face]:
    """The profile's test images, in their order: the study's by name, or drawn with its seed from the images
    outside its subset that have no twin in it."""
    if uses_study_images(profile) and profile.test_size == STUDY_DRAW["test_size"]:
        return by_name(faces, study_images()["test"])
    exclude = set() if profile.n_images is None else {f.name for f in subset_faces(faces, profile)}
    return draw_test(faces, exclude, fingerprint_source(source, progress), profile.test_size, profile.seed)


def _cache_dir(source: Path, profile: config.Profile) -> Path:
    key = json.dumps(
        [
            CACHE_VERSION,
            describe_source(source)["sha256"],
            profile.n_images,
            profile.image_size,
            profile.val_size,
            profile.seed,
            profile.test_size if profile.n_images is None else None,
            *(["study"] if uses_study_images(profile) else []),
        ]
    )
    return config.CACHE_DIR / hashlib.sha256(key.encode()).hexdigest()[:16]


def _write_cache(folder: Path, images: np.ndarray, meta: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "images.npy.part"
    with open(tmp, "wb") as handle:
        np.save(handle, images)
    os.replace(tmp, folder / "images.npy")
    (folder / "meta.json.part").write_text(json.dumps(meta))
    os.replace(folder / "meta.json.part", folder / "meta.json")  # written last: marks the entry complete


def _read_cache(folder: Path) -> tuple[np.ndarray, dict]:
    return np.load(folder / "images.npy"), json.loads((folder / "meta.json").read_text())


def _face_set(rows: list[list], images: np.ndarray) -> FaceSet:
    """The faces of cached rows ``[name, age, gender, race, …]``, with their images."""
    columns = list(zip(*rows)) or [()] * 4
    return FaceSet(list(columns[0]), images, *(np.array(column, np.int32) for column in columns[1:4]))


def load_splits(
    profile: config.Profile, source=None, cache: bool = True, progress: bool = True, download: bool = True
) -> Splits:
    """The profile's seeded subset, decoded and split into train and validation.

    Args:
        profile: gives ``n_images``, ``image_size``, ``val_size``, ``seed``, ``split`` (``group``: twins,
            i.e. byte-identical or visually identical images, never straddle train and validation) and
            ``drop_conflicting`` (training leaves out twins whose labels disagree; validation is unchanged).
        source: folder or .tar.gz; default ``$UTKFACE`` or ``data/``.
        cache: reuse (and store) the decoded arrays in ``config.CACHE_DIR``.
        progress: show a progress bar while decoding.
        download: fetch the archive into ``data/`` when no source is found.

    Returns:
        :class:`Splits`; ``info`` records the source, file counts, skipped files and how many validation
        images have a twin in training.
    """
    start = time.perf_counter()
    source = resolve_source(source, download=download)
    folder = _cache_dir(source, profile)
    if cache and (folder / "meta.json").is_file():
        images, meta = _read_cache(folder)
        meta["info"].update(cache="hit", source=str(source))  # the cache is keyed by content: this copy's path
    else:
        images, meta = _decode_subset(profile, source, progress)
        meta["info"]["cache"] = "miss" if cache else "off"
        if cache:
            _write_cache(folder, images, meta)
    splits = _split(profile, images, meta)
    splits.info["load_seconds"] = round(time.perf_counter() - start, 3)
    return splits


def _decode_subset(profile: config.Profile, source: Path, progress: bool) -> tuple[np.ndarray, dict]:
    """The subset's images, and its cache entry's ``meta``: a row per face (labels and fingerprints) and the
    ``info`` of :func:`load_splits`."""
    faces, skipped = list_faces(source)
    if not faces:
        raise DataError(
            f"no UTKFace file names (<age>_<gender>_<race>_<datetime>.jpg.chip.jpg) in {source}; {HOW_TO_GET}"
        )
    n_files = len(faces) + sum(len(names) for names in skipped.values())
    n_usable = len(faces)
    faces = _without_test(faces, profile, source, progress)
    if uses_study_images(profile):
        by_name(faces, study_names(profile))  # a missing test image stops the run now, not after training
    subset = subset_faces(faces, profile)
    images, subset, fingerprints, unreadable = decode_faces(source, subset, profile.image_size, progress)
    if unreadable:
        skipped["unreadable image"] = unreadable
    info = {
        "source": str(source),
        "files": n_files,
        "usable": n_usable - len(unreadable),
        "skipped": {reason: {"count": len(names), "examples": names[:5]} for reason, names in skipped.items()},
        "images": (
            f"the study's {len(subset):,} images, found by name"
            if uses_study_images(profile)
            else f"drawn from this copy with seed {profile.seed}"
        ),
    }
    return images, {
        "faces": [[f.name, f.age, f.gender, f.race, *fp] for f, fp in zip(subset, fingerprints)],
        "info": info,
    }


def _without_test(faces: list[Face], profile: config.Profile, source: Path, progress: bool) -> list[Face]:
    """``faces`` less the test set where the profile takes "all images" (the test set is drawn from them first)."""
    if profile.n_images is not None or not profile.test_size:
        return faces
    fingerprints = fingerprint_source(source, progress)
    held_out = {f.name for f in draw_test(faces, set(), fingerprints, profile.test_size, profile.seed)}
    return [f for f in faces if f.name not in held_out]


def _split(profile: config.Profile, images: np.ndarray, meta: dict) -> Splits:
    """The decoded subset split into train and validation (twins kept to one side by a group split), less the
    conflicting twins of training where the profile drops them."""
    everything = _face_set(meta["faces"], images)
    groups = twin_groups([row[4] for row in meta["faces"]], [row[5] for row in meta["faces"]])
    train, val = split_indices(groups, validation_count(len(everything), profile.val_size), profile.split == "group")
    val_twin_in_train = np.isin(groups[val], groups[train])  # measured before conflicts leave training
    info = dict(meta["info"], split=profile.split, val_with_train_twin=int(val_twin_in_train.sum()))
    if profile.drop_conflicting:  # after the split, so that validation stays the same images
        conflicting = conflicting_rows(groups, everything.age, everything.gender)
        kept = np.setdiff1d(train, conflicting)
        info["dropped_conflicting"] = int(len(train) - len(kept))
        train = kept
    return Splits(
        train=everything.take(train), val=everything.take(val), info=info, val_twin_in_train=val_twin_in_train
    )


def load_test(profile: config.Profile, source=None, cache: bool = True, progress: bool = True) -> FaceSet:
    """The profile's test images: ``test_size`` faces that no training of this profile sees (outside its
    train/validation subset, without a twin in it), drawn with the profile's seed."""
    if not profile.test_size:
        raise DataError("this profile has no test set (test_size is 0)")
    source = resolve_source(source)
    folder = _cache_dir(source, profile) / f"test{profile.test_size}"
    if cache and (folder / "meta.json").is_file():
        images, meta = _read_cache(folder)
    else:
        test = test_faces(list_faces(source)[0], profile, source, progress)
        images, test, _, _ = decode_faces(source, test, profile.image_size, progress)
        meta = {"faces": [[f.name, f.age, f.gender, f.race] for f in test]}
        if cache:
            _write_cache(folder, images, meta)
    return _face_set(meta["faces"], images)


def describe_skipped(info: dict) -> str:
    """One line: how many files were skipped and why."""
    skipped = info.get("skipped") or {}
    if not skipped:
        return f"Read {info['usable']} usable faces from {info['source']}; nothing skipped."
    parts = [f"{v['count']} {reason} (e.g. {', '.join(v['examples'][:2])})" for reason, v in skipped.items()]
    total = sum(v["count"] for v in skipped.values())
    return f"Read {info['usable']} usable faces from {info['source']}; skipped {total}: " + "; ".join(parts)


def summarize_labels(labels) -> dict:
    """The dataset facts of the study's section 2.1, for a labels DataFrame (``FaceSet.labels()``)."""
    per_age = labels["age"].value_counts().sort_index()
    most, least = per_age.max(), per_age.min()
    return {
        "images": len(labels),
        "distinct_ages": int(per_age.size),
        "age_min": int(labels["age"].min()),
        "age_max": int(labels["age"].max()),
        "mean_per_age": float(per_age.mean()),
        "median_per_age": float(per_age.median()),
        "most_frequent_age": int(per_age.idxmax()),
        "most_frequent_count": int(most),
        "least_frequent_ages": [int(a) for a in per_age[per_age == least].index],
        "least_frequent_count": int(least),
        "aged_70_plus": int((labels["age"] >= 70).sum()),
        "male": int((labels["gender"] == 0).sum()),
        "female": int((labels["gender"] == 1).sum()),
        "ethnicity": {RACES[r]: int((labels["race"] == r).sum()) for r in range(len(RACES))},
    }


def all_faces(splits: Splits) -> FaceSet:
    """Train and validation together (the subset), validation first as drawn."""
    return FaceSet(
        splits.val.names + splits.train.names,
        np.concatenate([splits.val.images, splits.train.images]),
        np.concatenate([splits.val.age, splits.train.age]),
        np.concatenate([splits.val.gender, splits.train.gender]),
        np.concatenate([splits.val.race, splits.train.race]),
    )
