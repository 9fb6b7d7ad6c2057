"""Duplicates ("twins") in UTKFace: byte-identical files and visually identical images, found by fingerprint.

Twins matter to every split: one on each side of it lets validation grade a face that training has seen.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from . import config
from .decoding import CACHE_VERSION, fingerprint, open_rgb, parallel_map
from .sources import describe_source, list_faces, resolve_source


def fingerprint_source(source=None, progress: bool = True):
    """sha256 and difference hash of every correctly named face in the source (cached): a DataFrame."""
    import pandas as pd

    source = resolve_source(source)
    key = hashlib.sha256(json.dumps([CACHE_VERSION, describe_source(source)["sha256"]]).encode())
    path = config.CACHE_DIR / f"fingerprints-{key.hexdigest()[:16]}.csv"
    if path.is_file():
        return pd.read_csv(path, dtype={"dhash": str})
    faces, _ = list_faces(source)
    results = parallel_map(
        source,
        [f.key for f in faces],
        lambda data: fingerprint(data, open_rgb(data)),
        "Fingerprinting faces",
        progress,
    )
    frame = pd.DataFrame(
        [
            {"file": f.name, "age": f.age, "gender": f.gender, "race": f.race, "sha256": r[0], "dhash": r[1]}
            for f, r in zip(faces, results)
            if r is not None
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path.with_suffix(".part"), index=False)
    os.replace(path.with_suffix(".part"), path)
    return frame


def twin_groups(sha256, dhash, max_distance: int = 0) -> np.ndarray:
    """Group id per image: byte-identical files and images whose difference hashes differ in at most
    ``max_distance`` bits (0-3) share a group. Singletons get a group of their own. Ids are row indices."""
    if not 0 <= max_distance <= 3:
        raise ValueError(f"max_distance must be 0-3 bits, got {max_distance}")
    parent = list(range(len(sha256)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union_bucket(members):
        for other in members[1:]:
            parent[find(other)] = find(members[0])

    hashes = [int(h, 16) for h in dhash]
    buckets: dict = {}
    for i, (digest, value) in enumerate(zip(sha256, hashes)):
        buckets.setdefault(("sha", digest), []).append(i)
        buckets.setdefault(("dhash", value), []).append(i)
    for members in buckets.values():
        union_bucket(members)
    if max_distance:  # two hashes within 3 bits share at least one of their four 16-bit quarters
        quarters: dict = {}
        for i, value in enumerate(hashes):
            for q in range(4):
                quarters.setdefault((q, (value >> (16 * q)) & 0xFFFF), []).append(i)
        for members in quarters.values():
            for a, i in enumerate(members):
                for j in members[a + 1 :]:
                    if find(i) != find(j) and bin(hashes[i] ^ hashes[j]).count("1") <= max_distance:
                        parent[find(j)] = find(i)
    return np.array([find(i) for i in range(len(parent))])


def conflicting_pairs(frame, groups: np.ndarray, n: int = 6, seed: int = 0) -> list[tuple[int, int]]:
    """Up to ``n`` pairs of row indices: twins whose age or gender labels differ, drawn with ``seed``."""
    pairs = []
    for rows in frame.assign(group=groups).groupby("group").indices.values():
        if len(rows) > 1:
            labels = frame.iloc[rows][["age", "gender"]].drop_duplicates()
            if len(labels) > 1:
                pairs.append((int(rows[0]), int(frame.index.get_indexer([labels.index[1]])[0])))
    pick = np.random.default_rng(seed).permutation(len(pairs))[:n]
    return [pairs[i] for i in sorted(pick)]


def twin_summary(frame, groups: np.ndarray) -> dict:
    """Counts of exact and visual duplicates and of duplicate groups whose labels disagree."""
    frame = frame.assign(group=groups)
    exact = frame.groupby("sha256").size()
    visual = frame.groupby("group")
    sizes = visual.size()
    multi = sizes[sizes > 1].index
    twins = frame[frame["group"].isin(multi)]
    per_group = twins.groupby("group").agg(
        ages=("age", "nunique"), genders=("gender", "nunique"), spread=("age", lambda a: int(a.max() - a.min()))
    )
    conflicting = per_group[(per_group["ages"] > 1) | (per_group["genders"] > 1)]
    return {
        "images": len(frame),
        "exact_groups": int((exact > 1).sum()),
        "exact_files": int(exact[exact > 1].sum()),
        "visual_groups": len(multi),
        "visual_files": len(twins),
        "conflicting_groups": len(conflicting),
        "conflicting_gender_groups": int((per_group["genders"] > 1).sum()),
        "conflicting_age_spread_median": float(conflicting["spread"].median()) if len(conflicting) else 0.0,
        "conflicting_age_spread_max": int(conflicting["spread"].max()) if len(conflicting) else 0,
    }


def conflicting_rows(groups: np.ndarray, age: np.ndarray, gender: np.ndarray) -> np.ndarray:
    """Row indices of every image whose twin group holds more than one (age, gender) label."""
    labels: dict = {}
    for group, a, g in zip(groups.tolist(), age.tolist(), gender.tolist()):
        labels.setdefault(group, set()).add((a, g))
    return np.array([i for i, group in enumerate(groups.tolist()) if len(labels[group]) > 1], dtype=int)
