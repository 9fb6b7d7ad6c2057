"""Made-up 150×150 RGB images for checking the Keras face-recognition port against face-api's own descriptors.

Synthetic on purpose, never UTKFace (whose images may not be committed). A fixed PCG64 seed and plain arithmetic
rebuild them bit-for-bit (numpy ≥ 1.17); tests/fixtures/faceapi_descriptors.json holds their sha256 and the
descriptors face-api 1.7.15 computes for them (made by tests/fixtures/faceapi_descriptors.mjs).
"""

import numpy as np

SIZE = 150
SEED = 20240515


def _face(yy, xx, skin, rng):
    """A skin-coloured ellipse with darker eyes and mouth on a low-frequency noise background."""
    img = np.kron(rng.integers(40, 200, size=(15, 15, 3)), np.ones((10, 10, 1)))  # 10×10 blocks
    img[((yy - 78) / 60) ** 2 + ((xx - 75) / 45) ** 2 <= 1] = skin
    for cy, cx, ry, rx in ((62, 57, 6, 10), (62, 93, 6, 10), (108, 75, 7, 20)):  # eyes, mouth
        img[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = np.asarray(skin) * 0.35
    return img


def fixture_images() -> np.ndarray:
    """Six deterministic images, uint8 of shape (6, 150, 150, 3)."""
    rng = np.random.default_rng(SEED)
    yy, xx = np.meshgrid(np.arange(SIZE, dtype=np.float64), np.arange(SIZE, dtype=np.float64), indexing="ij")
    images = np.empty((6, SIZE, SIZE, 3), dtype=np.float64)
    # 0: smooth colour gradients
    images[0] = np.stack([xx * (255 / 149), yy * (255 / 149), (xx + yy) * (255 / 298)], axis=-1)
    # 1, 2: two cartoon faces with different skin tones and backgrounds
    images[1] = _face(yy, xx, (224, 172, 138), rng)
    images[2] = _face(yy, xx, (141, 85, 54), rng)
    # 3: low-frequency random noise (5×5 blocks of 30×30 pixels)
    images[3] = np.repeat(np.repeat(rng.integers(0, 256, size=(5, 5, 3)), 30, axis=0), 30, axis=1)
    # 4: pure per-pixel random noise
    images[4] = rng.integers(0, 256, size=(SIZE, SIZE, 3))
    # 5: uniform mid grey
    images[5] = 128
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)
