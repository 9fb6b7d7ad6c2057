"""Image bytes to arrays and fingerprints: decoded on all cores, resized square, hashed to find twins."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image
from tqdm import tqdm

from .sources import Face, iter_bytes, list_files, resolve_source

CACHE_VERSION = 3  # bump when decoding changes, so old caches are not reused


def difference_hash(image: Image.Image) -> int:
    """64-bit difference hash: a 9×8 grey thumbnail, one bit per pair of horizontal neighbours (right brighter)."""
    grey = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    return int.from_bytes(np.packbits(grey[:, 1:] > grey[:, :-1]).tobytes(), "big")


def open_rgb(data: bytes) -> Image.Image:
    """JPEG/PNG bytes as an RGB image, decoded in full so that nothing stays open."""
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


def resize_square(image: Image.Image, size: int) -> np.ndarray:
    """A square RGB image as a ``size``×``size`` uint8 array (antialiased Lanczos resize)."""
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def decode_image(data: bytes, size: int) -> np.ndarray:
    """JPEG/PNG bytes -> RGB uint8 array of ``size``×``size`` (antialiased Lanczos resize)."""
    return resize_square(open_rgb(data), size)


def parallel_map(source: Path, keys: list[str], work, desc: str, progress: bool):
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


def fingerprint(data: bytes, image: Image.Image) -> tuple[str, str]:
    """(sha256 of the file's bytes, its image's difference hash in hex): what finds byte-identical and visual twins."""
    return hashlib.sha256(data).hexdigest(), f"{difference_hash(image):016x}"


def decode_faces(source: Path, faces: list[Face], size: int, progress: bool = True):
    """Decode ``faces`` in parallel.

    Returns:
        (images in ``faces`` order, kept faces, their (sha256, difference hash) fingerprints, unreadable names).
    """

    def work(data):
        image = open_rgb(data)
        return resize_square(image, size), fingerprint(data, image)

    results = parallel_map(source, [f.key for f in faces], work, f"Decoding {size}px faces", progress)
    kept = [i for i, result in enumerate(results) if result is not None]
    images = np.stack([results[i][0] for i in kept]) if kept else np.zeros((0, size, size, 3), np.uint8)
    unreadable = sorted(f.name for f, result in zip(faces, results) if result is None)
    return images, [faces[i] for i in kept], [results[i][1] for i in kept], unreadable


def load_named_images(source, names: list[str], size: int) -> dict[str, np.ndarray]:
    """Decode a few files by file name (for figures)."""
    source = resolve_source(source)
    wanted = set(names)
    keys = [key for key in list_files(source) if PurePosixPath(key).name in wanted]
    return {PurePosixPath(key).name: decode_image(payload, size) for key, payload in iter_bytes(source, set(keys))}
