"""The machine and the code a run ran on, for its manifest: versions, git commit, CPU, accelerators, clock."""

from __future__ import annotations

from . import keras_quietly  # noqa: F401  (first: Keras starts without TensorFlow's C++ start-up lines)

# isort: split
import contextlib
import datetime as dt
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import keras

from . import config


def versions() -> dict:
    names = ["keras", "numpy", "pillow", "pandas", "tensorflow", "jax", "torch"]
    versions = {"python": sys.version.split()[0]}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def code_version() -> dict:
    """The git commit of this checkout (and whether it had uncommitted changes), when there is one."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=config.PROJ_ROOT, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
    if head.returncode:
        return {"commit": None}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def cpu() -> dict:
    """The CPU's model name and the vector extensions that decide oneDNN's kernels: runs on CPUs that differ in
    them differ in speed and in float32 rounding (results agree to a few digits, not bit for bit)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"model": platform.processor() or None}
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    flags = set(flags.group(1).split()) if flags else set()
    return {
        "model": model.group(1).strip() if model else None,
        "vector_extensions": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in flags],
    }


def accelerators() -> list[str]:
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_physical_devices("GPU")]
        if backend == "jax":
            import jax

            return [d.device_kind for d in jax.devices() if d.platform != "cpu"]  # e.g. "NVIDIA H200"
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception as err:  # the manifest is informative: never fail a finished run over it
        return [f"unknown ({err})"]
    return []


def hardware() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu(),
        "accelerators": accelerators(),
    }


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
