"""Where UTKFace is and what its files say: the folder or .tar.gz source, the download, labels from file names.

UTKFace names its files ``<age>_<gender>_<race>_<datetime>.jpg.chip.jpg``
(gender 0 = male, 1 = female; race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from . import config

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
