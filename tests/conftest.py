"""Shared fixtures: tiny UTKFace-like sources the tests build, and the real archive in ../shared."""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import subprocess
import sys
import tarfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import config, registry

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
# Absolute: notebooks run with their own working directory.
REAL_DATA = Path(os.environ.get("UTKFACE") or SHARED / "data" / "UTKFace.tar.gz").resolve()
REAL_WEIGHTS = Path(os.environ.get("VGG16_WEIGHTS") or SHARED / "weights" / "vgg16_notop.weights.h5").resolve()
FACE_WEIGHTS = Path(os.environ.get("FACE_WEIGHTS") or SHARED / "weights" / "face-api-1.7.15").resolve()

MALFORMED = [
    "24_0_1_20170116220224657",
    "55_0_0_20170116232725357jpg.chip.jpg",
    "39_1_20170116174525125.jpg.chip.jpg",
    "61_1_20170109142408075.jpg.chip.jpg",
    "61_1_20170109150557335.jpg.chip.jpg",
]

needs_real_data = pytest.mark.skipif(not REAL_DATA.exists(), reason=f"UTKFace archive not found at {REAL_DATA}")


def pdf_tools_missing() -> str | None:
    from tools import browser

    if browser.find() is None:
        return browser.NO_BROWSER
    return None if shutil.which("pdftotext") else "no pdftotext (poppler-utils) to read the PDF with"


# Tests that print or read a PDF: skipped, saying why, where no browser prints it (macOS without Chrome, a server
# without root: make report writes the HTML only there).
needs_pdf_tools = pytest.mark.skipif(pdf_tools_missing() is not None, reason=pdf_tools_missing() or "")


def path_without_browsers(folder: Path) -> str:
    """A PATH of links to this machine's commands but any Chrome, Chromium, Edge and apt-get: a Mac's or a
    root-less server's, as far as the PDF is concerned."""
    folder.mkdir(parents=True, exist_ok=True)
    for directory in os.environ["PATH"].split(os.pathsep):
        for command in Path(directory).glob("*") if Path(directory).is_dir() else ():
            hidden = command.name.startswith(("chrom", "google-chrome", "microsoft-edge", "msedge", "apt"))
            if not hidden and not (folder / command.name).exists() and os.access(command, os.X_OK):
                (folder / command.name).symlink_to(command)
    return str(folder)


def jpeg_bytes(seed: int, size: int = 40) -> bytes:
    """A small random RGB JPEG (a stand-in face)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def face_names(n: int) -> list[str]:
    """``n`` valid UTKFace names with varied labels."""
    return [f"{1 + (7 * i) % 90}_{i % 2}_{i % 5}_2017011{i:010d}.jpg.chip.jpg" for i in range(n)]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test gets its own decode cache (never the user's data/cache)."""
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path / "cache")


@pytest.fixture
def face_folder(tmp_path) -> Path:
    """A folder with 40 valid faces and the 5 real malformed names."""
    folder = tmp_path / "UTKFace"
    folder.mkdir()
    for i, name in enumerate(face_names(40) + MALFORMED):
        (folder / name).write_bytes(jpeg_bytes(i))
    return folder


@pytest.fixture
def face_archive(tmp_path, face_folder) -> Path:
    """The same files as ``face_folder`` in the official ``UTKFace/<name>`` .tar.gz layout."""
    path = tmp_path / "UTKFace.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for file in sorted(face_folder.iterdir()):
            tar.add(file, arcname=f"UTKFace/{file.name}")
    return path


def train_here(model: str, profile, out: Path, source, notebook: Path | None = None) -> dict:
    """``model`` trained through its notebook (or ``notebook``) in this process (``execute.train_here``)."""
    from tools import execute

    return execute.train_here(model, profile, out, source, notebook)


def lock_holder(folder: Path) -> int | None:
    """The pid written in ``folder``'s lock: the kernel that runs a training notebook."""
    try:
        return int((folder / ".lock").read_text())
    except (OSError, ValueError):
        return None


def train_cli(out: Path, model: str, *extra: str, cache: Path, wait: bool = True):
    """``python -m tools train`` on the real archive, smoke profile; returns the finished process or Popen."""
    env = dict(
        os.environ,
        UTKFACE=str(REAL_DATA),
        VGG16_WEIGHTS=str(REAL_WEIGHTS),
        FACE_WEIGHTS=str(FACE_WEIGHTS),
        HELPERS_CACHE_DIR=str(cache),
    )
    command = [
        sys.executable,
        "-m",
        "tools",
        "train",
        "--model",
        model,
        "--profile",
        "smoke",
        "--out",
        str(out),
        *extra,
    ]
    if not wait:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def shared_tmp(tmp_path_factory) -> Path:
    """A folder of this test run common to its pytest-xdist workers (`make test` runs two)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def one_at_a_time(lock: Path):
    """Hold an exclusive lock on ``lock`` (waiting for it): one xdist worker at a time."""
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def smoke_cache(shared_tmp) -> Path:
    path = shared_tmp / "smoke_cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def shared_cache(smoke_cache, monkeypatch) -> Path:
    """The smoke runs' decode cache for runs in the test's own process (``train_here``), as ``train_cli`` gives it to
    a command: the real archive's smoke images are decoded once per test run, not once per test."""
    monkeypatch.setattr(config, "CACHE_DIR", smoke_cache)
    return smoke_cache


STUDY_MODELS = registry.names()  # as the package registers them (a test may register a third one for itself)


@pytest.fixture(scope="session")
def smoke_runs(shared_tmp, smoke_cache):
    """Both models trained once per test run with the smoke profile (the first worker to need them trains them,
    the other waits and reads them); {model: (output folder, stdout)}. Tests read these folders, never change them."""
    base = shared_tmp / "smoke_runs"
    base.mkdir(exist_ok=True)
    out = {}
    with one_at_a_time(base / "train.lock"):
        for model in STUDY_MODELS:
            stdout = base / f"{model}.stdout"
            if not stdout.is_file():
                result = train_cli(base / model, model, cache=smoke_cache)
                assert result.returncode == 0, result.stderr[-3000:]
                stdout.write_text(result.stdout)
            out[model] = (base / model, stdout.read_text())
    return out
