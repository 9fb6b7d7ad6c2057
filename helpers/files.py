"""Files that long runs rely on: whole or absent (atomic writes), and one writer per folder (an OS lock)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

LOCK_NAME = ".lock"


class FolderInUse(RuntimeError):
    """Another process holds the folder's lock."""


def part_path(path: Path) -> Path:
    """The temporary name a file is written under before it takes its own: hidden, in the same folder (so the
    rename is atomic), with the same extension (which Keras and matplotlib read the format from)."""
    return path.with_name(f".{path.stem}.part{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: Path):
    """Yield a temporary path to write; on success it replaces ``path`` in one rename, on failure it is removed.

    A reader, or a run killed half-way, sees the previous complete file or none, never half of one.
    """
    path = Path(path)
    tmp = part_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write text or bytes to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        else:
            tmp.write_text(content)


def write_json(path: Path, obj, sort_keys: bool = True) -> None:
    """``obj`` as indented JSON, atomically."""
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n")


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; ``ValueError`` naming the file when it is empty, cut short or not an object."""
    text = Path(path).read_text()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is damaged ({'empty' if not text.strip() else err})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} is damaged (not a JSON object)")
    return value


@contextlib.contextmanager
def folder_lock(folder: Path, what: str = "run"):
    """Hold an exclusive lock on ``folder`` (created if needed) while the block runs.

    The lock is ``fcntl.flock`` on ``folder/.lock``: the kernel releases it when the process ends, however it ends,
    so a killed run never leaves a stale lock. ``FolderInUse`` names the folder and the pid that holds it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / LOCK_NAME, "a+")  # noqa: SIM115 (held open while the caller works: the lock is its life)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise FolderInUse(
                f"{folder} is being written by another {what} (pid {holder}); wait for it to end or "
                f"stop it, or choose another folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the lock
