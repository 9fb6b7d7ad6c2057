"""UTKFace: file-name labels, folder or .tar.gz sources, the seeded subset and split, a decode cache.

UTKFace names its files ``<age>_<gender>_<race>_<datetime>.jpg.chip.jpg``
(gender 0 = male, 1 = female; race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image
from tqdm import tqdm

from . import config, files

GENDERS = ("male", "female")
RACES = ("White", "Black", "Asian", "Indian", "Others")

# Where a missing archive is downloaded from; UTKFACE_URL / UTKFACE_SHA256 name a mirror (or a test archive).
UTKFACE_URL = "https://huggingface.co/datasets/py97/UTKFace-Cropped/resolve/main/UTKFace.tar.gz"
UTKFACE_SHA256 = "2c0655397b498e81b82d685ee74bee8c2e4364a5897caf3afec6ea48929024a7"
DOWNLOAD_TIMEOUT = 15  # seconds without an answer (connecting or reading) before a download gives up
HOW_TO_GET = (
    "put UTKFace.tar.gz (the 'aligned & cropped' faces, https://susanqq.github.io/UTKFace/) in data/, "
    "or set UTKFACE=/path/to/UTKFace.tar.gz (or a folder of its images)"
)
CACHE_VERSION = 3  # bump when decoding changes, so old caches are not reused

# The study's images are named, not drawn: config.STUDY_IMAGES lists the 5,000-image subset (in the order drawn:
# 1,000 validation, then 4,000 training) and the 2,000 test images that seed 42 drew from the copy every committed
# run used (STUDY_COPY). Profiles with the study's n_images and seed take them by name from any copy that holds them.
STUDY_DRAW = {"n_images": 5000, "seed": 42, "test_size": 2000}
STUDY_COPY = {
    "source": "UTKFace.tar.gz",
    "files": 21707,
    "sha256": "6f1806bd0f3312268f54c3d282c6a796d1ebbcf07df260a166bafa49d802ab76",
}

_NAME = re.compile(r"^(\d+)_(\d+)_(\d+)_(\d+)\.jpg(\.chip\.jpg)?$")


class DataError(ValueError):
    """A data source that cannot serve the request; the message says what to do."""


@dataclass(frozen=True)
class Face:
    """One labelled file: ``key`` locates it in its source, ``name`` is its file name."""

    key: str
    name: str
    age: int
    gender: int
    race: int


def parse_name(path: str) -> Face:
    """Read the labels from a UTKFace file name.

    Args:
        path: the file name, optionally with folders (``UTKFace/26_1_0_2017….jpg.chip.jpg``).

    Returns:
        A :class:`Face`. Raises ``ValueError`` naming the file when the name is malformed.
    """
    name = PurePosixPath(path).name
    match = _NAME.match(name)
    if not match:
        raise ValueError(f"{name!r} is not a UTKFace name (<age>_<gender>_<race>_<datetime>.jpg.chip.jpg)")
    age, gender, race = (int(g) for g in match.groups()[:3])
    if not 1 <= age <= 120:
        raise ValueError(f"{name!r}: age {age} is outside 1-120")
    if gender not in (0, 1):
        raise ValueError(f"{name!r}: gender {gender} is not 0 (male) or 1 (female)")
    if not 0 <= race <= 4:
        raise ValueError(f"{name!r}: race {race} is not 0-4")
    return Face(key=path, name=name, age=age, gender=gender, race=race)


# ---------------------------------------------------------------- sources
def resolve_source(source: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Where the images are: ``source``, else ``$UTKFACE``, else ``data/``; else, with ``download``, the archive
    downloaded into ``data/``. ``DataError`` (one line: what is missing and how to supply it) when none works."""
    given = source or os.environ.get("UTKFACE")
    if given:
        path = Path(given).expanduser()
        if not path.exists():
            raise DataError(f"UTKFace source {path} does not exist; {HOW_TO_GET}")
        return path.resolve()
    for candidate in (config.DATA_DIR / "UTKFace.tar.gz", config.DATA_DIR / "UTKFace"):
        if candidate.exists():
            return candidate.resolve()
    if not download:
        raise DataError(f"no UTKFace data found in {config.DATA_DIR}; {HOW_TO_GET}")
    url = os.environ.get("UTKFACE_URL") or UTKFACE_URL
    try:
        return download_utkface(url=url, sha256=os.environ.get("UTKFACE_SHA256") or UTKFACE_SHA256)
    except DataError as err:
        raise DataError(f"no UTKFace data found in {config.DATA_DIR} and {err}; {HOW_TO_GET}") from None


def describe_source(source: Path) -> dict:
    """What a reader elsewhere can check: the source's name, kind and a sha256 — of the archive's bytes, or for a
    folder of its sorted file names and sizes (images are not re-read). The decode caches are keyed by it too, so
    a moved or copied archive keeps its cache. Computed once per process and state of the file."""
    source = Path(source).resolve()
    stat = source.stat()
    return dict(_describe_source(source, stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _describe_source(source: Path, size: int, mtime_ns: int) -> dict:
    digest = hashlib.sha256()
    if source.is_dir():
        for key in list_files(source):
            digest.update(f"{key}\t{(source / key).stat().st_size}\n".encode())
        return {
            "source": source.name,
            "source_kind": "folder",
            "sha256": digest.hexdigest(),
            "sha256_of": "sorted 'name<TAB>size' lines of its files",
        }
    with open(source, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return {
        "source": source.name,
        "source_kind": "archive",
        "sha256": digest.hexdigest(),
        "sha256_of": "the archive file",
    }


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar"))


def _check_member_name(name: str) -> None:
    if name.startswith("/") or ".." in PurePosixPath(name).parts:
        raise DataError(f"refusing archive member with an unsafe path: {name!r}")


def list_files(source: Path) -> list[str]:
    """Keys of the regular files in a folder (relative paths) or archive (member names), sorted."""
    if source.is_dir():
        return sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    if not is_archive(source):
        raise DataError(f"{source} is neither a folder nor a .tar.gz archive; {HOW_TO_GET}")
    try:
        with tarfile.open(source) as tar:
            members = [m for m in tar if m.isfile()]
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"cannot read archive {source}: {err or type(err).__name__}") from None
    for member in members:
        _check_member_name(member.name)
    return sorted(m.name for m in members)


def iter_bytes(source: Path, keys: set[str]):
    """Yield ``(key, bytes)`` for the wanted files; an archive is read once, in its own order."""
    if source.is_dir():
        for key in sorted(keys):
            yield key, (source / key).read_bytes()
        return
    try:
        with tarfile.open(source) as tar:
            for member in tar:
                if member.isfile() and member.name in keys:
                    yield member.name, tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"cannot read archive {source}: {err or type(err).__name__}") from None


def list_faces(source: Path) -> tuple[list[Face], dict[str, list[str]]]:
    """Every correctly named face in ``source``, and the skipped files grouped by reason."""
    faces, skipped = [], {}
    for key in list_files(source):
        try:
            faces.append(parse_name(key))
        except ValueError as err:
            reason = "not a UTKFace name" if "not a UTKFace name" in str(err) else "label out of range"
            skipped.setdefault(reason, []).append(PurePosixPath(key).name)
    return faces, skipped


def download_utkface(dest: Path | None = None, url: str = UTKFACE_URL, sha256: str = UTKFACE_SHA256) -> Path:
    """Download the UTKFace archive to ``dest`` (``data/UTKFace.tar.gz``): see :func:`download_file`."""
    return download_file(url, Path(dest or config.DATA_DIR / "UTKFace.tar.gz"), sha256, "UTKFace")


def download_file(url: str, dest: Path, sha256: str, what: str) -> Path:
    """Download ``url`` to ``dest``, verify its sha256 and only then give it its name: an interrupted or wrong
    download never leaves a file that looks complete. ``DataError`` saying what failed (network, checksum, disk)."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by the with block below, which needs it first)
            dir=dest.parent, delete=False, prefix=f".{dest.name}.", suffix=".part"
        )
    except OSError as err:
        raise DataError(f"cannot write to {dest.parent} ({err.strerror or err})") from None
    digest = hashlib.sha256()
    try:
        with tmp, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            print(f"Downloading {what} from {url} to {dest}", file=sys.stderr, flush=True)
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                while chunk := response.read(1 << 20):
                    try:
                        tmp.write(chunk)
                    except OSError as err:
                        raise DataError(f"could not write {dest} ({err.strerror or err})") from None
                    digest.update(chunk)
                    bar.update(len(chunk))
    except DataError:
        Path(tmp.name).unlink(missing_ok=True)
        raise
    except (OSError, ValueError) as err:  # ValueError: a malformed URL
        Path(tmp.name).unlink(missing_ok=True)
        raise DataError(f"could not download {url} ({getattr(err, 'reason', None) or err})") from None
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise
    if digest.hexdigest() != sha256:
        Path(tmp.name).unlink(missing_ok=True)
        raise DataError(f"the download from {url} has sha256 {digest.hexdigest()}, expected {sha256}: not kept")
    os.replace(tmp.name, dest)
    return dest


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


def _study_names(profile: config.Profile) -> list[str]:
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


def reader_copy(profile: config.Profile, source=None) -> dict | None:
    """The copy of UTKFace on this machine (:func:`describe_source`), with ``found`` and ``of``: how many of the
    study's images it holds by name, for a profile that takes them; None when there is no copy here."""
    try:
        source = resolve_source(source, download=False)
    except DataError:
        return None
    described = describe_source(source)
    if uses_study_images(profile):
        present = {face.name for face in list_faces(source)[0]}
        names = _study_names(profile)
        described.update(found=sum(name in present for name in names), of=len(names))
    return described


def copy_note(run_data: dict, reader: dict | None) -> str:
    """Whether the reader's copy is the one a run used (a manifest's ``data``), and if not how its images were
    matched. ``reader``: :func:`reader_copy` of the run's profile."""
    if reader is None:
        return "no copy of UTKFace here to compare with"
    if run_data.get("sha256") == reader["sha256"]:
        return "your copy is the one this run used"
    if "found" in reader:
        return (
            f"your copy differs (sha256 {reader['sha256'][:12]}…): the study's images matched by name, "
            f"{reader['found']:,} of {reader['of']:,} found"
        )
    return (
        f"your copy differs (sha256 {reader['sha256'][:12]}…): this run drew its images from its own copy, so "
        "retraining here draws others"
    )


def check_study_images(profile: config.Profile, source=None) -> str:
    """One line on the images ``profile`` takes from the copy: the study's by name (``DataError`` when some are
    missing), or a draw from this copy."""
    source = resolve_source(source, download=False)
    if not uses_study_images(profile):
        return f"profile {profile.name}: images drawn from this copy with seed {profile.seed}"
    names = _study_names(profile)
    by_name(list_faces(source)[0], names)
    same = describe_source(source)["sha256"] == STUDY_COPY["sha256"]
    return f"profile {profile.name}: the study's {len(names):,} images, " + (
        "from the copy the committed runs used" if same else f"all {len(names):,} found by name in this copy"
    )


def export_study_images(profile: config.Profile, dest, source=None) -> int:
    """Copy the images a study profile reads (its subset, and its test images when they are the study's) into the
    folder ``dest`` under their UTKFace names: 7,000 JPEGs (36 MB) that train the study as the whole archive does,
    for a Drive, a Colab session or a GPU machine that cannot hold the archive. Never commit them (licence).

    Returns:
        How many files were written; those already there with the same bytes are kept.
    """
    if not uses_study_images(profile):
        raise DataError(
            f"profile {profile.name} takes none of the study's named images (those need images=study, "
            f"n_images={STUDY_DRAW['n_images']} and seed={STUDY_DRAW['seed']}; it has "
            f"images={profile.images}, n_images={profile.n_images}, seed={profile.seed}): it draws from "
            "the whole copy, so train it from that"
        )
    source = resolve_source(source, download=False)
    dest = Path(dest).expanduser().resolve()
    if source.is_dir() and dest.is_relative_to(source):
        raise DataError(f"the export folder {dest} is inside the copy it reads ({source}); choose another folder")
    wanted = {face.key: face.name for face in by_name(list_faces(source)[0], _study_names(profile))}
    dest.mkdir(parents=True, exist_ok=True)
    written = 0
    for key, content in iter_bytes(source, set(wanted)):
        target = dest / wanted[key]
        if not (target.is_file() and target.read_bytes() == content):
            files.write_atomic(target, content)
            written += 1
    return written


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


# ---------------------------------------------------------------- decoding
def difference_hash(image: Image.Image) -> int:
    """64-bit difference hash: a 9×8 grey thumbnail, one bit per pair of horizontal neighbours (right brighter)."""
    grey = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    return int.from_bytes(np.packbits(grey[:, 1:] > grey[:, :-1]).tobytes(), "big")


def _open_rgb(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def resize_square(image: Image.Image, size: int) -> np.ndarray:
    """A square RGB image as a ``size``×``size`` uint8 array (antialiased Lanczos resize)."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def decode_image(data: bytes, size: int) -> np.ndarray:
    """JPEG/PNG bytes -> RGB uint8 array of ``size``×``size`` (antialiased Lanczos resize)."""
    return resize_square(_open_rgb(data), size)


def _parallel(source: Path, keys: list[str], work, desc: str, progress: bool):
    """``work(data)`` for every key, on all cores; returns (results in ``keys`` order, None where unreadable)."""
    index = {key: i for i, key in enumerate(keys)}
    results = [None] * len(keys)
    with (
        ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool,
        tqdm(total=len(keys), desc=desc, unit="img", disable=not progress) as bar,
    ):

        def run(key, data):
            with contextlib.suppress(OSError, ValueError, Image.DecompressionBombError):
                results[index[key]] = work(data)
            bar.update(1)

        futures = [pool.submit(run, key, data) for key, data in iter_bytes(source, set(index))]
        for future in futures:
            future.result()
    return results


def _fingerprint(data: bytes, image: Image.Image) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), f"{difference_hash(image):016x}"


def decode_faces(source: Path, faces: list[Face], size: int, progress: bool = True):
    """Decode ``faces`` in parallel.

    Returns:
        (images in ``faces`` order, kept faces, their (sha256, difference hash) fingerprints, unreadable names).
    """

    def work(data):
        image = _open_rgb(data)
        return resize_square(image, size), _fingerprint(data, image)

    results = _parallel(source, [f.key for f in faces], work, f"Decoding {size}px faces", progress)
    kept = [i for i, result in enumerate(results) if result is not None]
    images = np.stack([results[i][0] for i in kept]) if kept else np.zeros((0, size, size, 3), np.uint8)
    unreadable = sorted(f.name for f, result in zip(faces, results) if result is None)
    return images, [faces[i] for i in kept], [results[i][1] for i in kept], unreadable


# ---------------------------------------------------------------- duplicates ("twins")
def fingerprint_source(source=None, progress: bool = True):
    """sha256 and difference hash of every correctly named face in the source (cached): a DataFrame."""
    import pandas as pd

    source = resolve_source(source)
    key = hashlib.sha256(json.dumps([CACHE_VERSION, describe_source(source)["sha256"]]).encode())
    path = config.CACHE_DIR / f"fingerprints-{key.hexdigest()[:16]}.csv"
    if path.is_file():
        return pd.read_csv(path, dtype={"dhash": str})
    faces, _ = list_faces(source)
    results = _parallel(
        source,
        [f.key for f in faces],
        lambda data: _fingerprint(data, _open_rgb(data)),
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


def load_named_images(source, names: list[str], size: int) -> dict[str, np.ndarray]:
    """Decode a few files by file name (for figures)."""
    source = resolve_source(source)
    wanted = set(names)
    keys = [key for key in list_files(source) if PurePosixPath(key).name in wanted]
    return {PurePosixPath(key).name: decode_image(payload, size) for key, payload in iter_bytes(source, set(keys))}


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


def conflicting_rows(groups: np.ndarray, age: np.ndarray, gender: np.ndarray) -> np.ndarray:
    """Row indices of every image whose twin group holds more than one (age, gender) label."""
    labels: dict = {}
    for group, a, g in zip(groups.tolist(), age.tolist(), gender.tolist()):
        labels.setdefault(group, set()).add((a, g))
    return np.array([i for i, group in enumerate(groups.tolist()) if len(labels[group]) > 1], dtype=int)


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
        meta = json.loads((folder / "meta.json").read_text())
        images = np.load(folder / "images.npy")
        meta["info"].update(cache="hit", source=str(source))  # the cache is keyed by content: this copy's path
    else:
        faces, skipped = list_faces(source)
        if not faces:
            raise DataError(
                f"no UTKFace file names (<age>_<gender>_<race>_<datetime>.jpg.chip.jpg) in {source}; {HOW_TO_GET}"
            )
        n_files = len(faces) + sum(len(names) for names in skipped.values())
        n_usable = len(faces)
        if profile.n_images is None and profile.test_size:  # "all images" leaves the test set out
            held_out = {
                f.name
                for f in draw_test(faces, set(), fingerprint_source(source, progress), profile.test_size, profile.seed)
            }
            faces = [f for f in faces if f.name not in held_out]
        if uses_study_images(profile):
            by_name(faces, _study_names(profile))  # a missing test image stops the run now, not after training
        subset = subset_faces(faces, profile)
        images, subset, fingerprints, unreadable = decode_faces(source, subset, profile.image_size, progress)
        if unreadable:
            skipped["unreadable image"] = unreadable
        meta = {
            "faces": [[f.name, f.age, f.gender, f.race, *fp] for f, fp in zip(subset, fingerprints)],
            "info": {
                "source": str(source),
                "files": n_files,
                "usable": n_usable - len(unreadable),
                "skipped": {reason: {"count": len(names), "examples": names[:5]} for reason, names in skipped.items()},
                "images": (
                    f"the study's {len(subset):,} images, found by name"
                    if uses_study_images(profile)
                    else f"drawn from this copy with seed {profile.seed}"
                ),
                "cache": "off" if not cache else "miss",
            },
        }
        if cache:
            _write_cache(folder, images, meta)
    names, age, gender, race, sha256, dhash = zip(*meta["faces"]) if meta["faces"] else ((),) * 6
    everything = FaceSet(
        list(names), images, np.array(age, np.int32), np.array(gender, np.int32), np.array(race, np.int32)
    )
    groups = twin_groups(sha256, dhash)
    train, val = split_indices(groups, validation_count(len(everything), profile.val_size), profile.split == "group")
    val_twin_in_train = np.isin(groups[val], groups[train])  # measured before conflicts leave training
    info = dict(meta["info"], split=profile.split, val_with_train_twin=int(val_twin_in_train.sum()))
    if profile.drop_conflicting:  # after the split, so that validation stays the same images
        conflicting = conflicting_rows(groups, everything.age, everything.gender)
        kept = np.setdiff1d(train, conflicting)
        info["dropped_conflicting"] = int(len(train) - len(kept))
        train = kept
    info["load_seconds"] = round(time.perf_counter() - start, 3)
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
        rows, images = json.loads((folder / "meta.json").read_text())["faces"], np.load(folder / "images.npy")
    else:
        test = test_faces(list_faces(source)[0], profile, source, progress)
        images, test, _, _ = decode_faces(source, test, profile.image_size, progress)
        rows = [[f.name, f.age, f.gender, f.race] for f in test]
        if cache:
            _write_cache(folder, images, {"faces": rows})
    names, age, gender, race = zip(*rows)
    return FaceSet(list(names), images, np.array(age, np.int32), np.array(gender, np.int32), np.array(race, np.int32))


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
