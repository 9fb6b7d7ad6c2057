"""The face-recognition network of face-api (dlib's ResNet) in Keras 3, and its pretrained weights.

``FaceRecognitionNet`` as ``src/faceRecognitionNet/*.ts`` of the npm package @vladmandic/face-api 1.7.15 computes it:
150×150 RGB, the mean RGB subtracted and the result divided by 255, a 7×7 stride-2 convolution, 3×3 max pooling,
residual blocks of 32, 64, 128 and 256 filters (a down-sampling block halves the side: its shortcut is the 2×2
average of the input with zero channels appended), global average pooling and a 128-d descriptor. The weights are
dlib's face-recognition ResNet (public domain), as the package ships them (TensorFlow.js, uint8-quantized; MIT).

Each of the source's convolutions is followed by a per-channel scale layer (``x·w + b``); here it is folded into the
convolution (kernel·w, bias·w + b), which computes the same function with Keras' own layers only.
"""

from __future__ import annotations

from . import keras_quietly  # noqa: F401  (first: Keras starts without TensorFlow's C++ start-up lines)

# isort: split
import json
import os
import tarfile
from pathlib import Path

import keras
import numpy as np
from keras import layers

from . import config, models, sources
from .config import Profile

INPUT_SIZE = 150  # the side FaceRecognitionNet reads (toBatchTensor(150))
MEAN_RGB = (122.782, 117.001, 104.298)  # subtracted before the division by 255, as the source does
PACKAGE = "@vladmandic/face-api 1.7.15"
TARBALL_URL = "https://registry.npmjs.org/@vladmandic/face-api/-/face-api-1.7.15.tgz"
TARBALL_SHA256 = "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"
BIN_NAME = "face_recognition_model.bin"
MANIFEST_NAME = "face_recognition_model-weights_manifest.json"
# (filters, blocks, the first down-samples), in order; the last 256 block down-samples once more ("down_out").
STAGES = ((32, 3, False), (64, 4, True), (128, 3, True), (256, 3, True))
# What the head reads and how deep stage 2 fine-tunes: chosen by benchmarks/face_choices.py on the quick profile.
FEATURES = "descriptor"
STAGE2_UNFROZEN_BLOCKS = 3


def block_names() -> list[str]:
    """The residual blocks' names, input to output, as the source's parameters name them."""
    names = []
    for filters, blocks, down in STAGES:
        names += [
            f"conv{filters}_down" if down and i == 0 else f"conv{filters}_{i + int(not down)}" for i in range(blocks)
        ]
    return [*names, "conv256_down_out"]


def _conv(x, filters: int, size: int, strides: int, padding: str, name: str, relu: bool = True):
    x = layers.Conv2D(filters, size, strides=strides, padding=padding, name=name)(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _residual(x, filters: int, name: str, down: bool):
    """The source's ``residual`` (``down=False``) or ``residualDown`` block."""
    out = _conv(x, filters, 3, 2 if down else 1, "valid" if down else "same", f"{name}_conv1")
    out = _conv(out, filters, 3, 1, "same", f"{name}_conv2", relu=False)
    shortcut = x
    if down:
        shortcut = layers.AveragePooling2D(2, name=f"{name}_avgpool")(x)
        missing = shortcut.shape[1] - out.shape[1]
        if missing:  # an odd side: the source appends zero rows and columns to the convolved branch
            out = layers.ZeroPadding2D(((0, missing), (0, missing)), name=f"{name}_pad")(out)
        channels = shortcut.shape[-1]
        if channels != filters:  # zero channels appended to the shortcut, through a 3-D padding of Keras' own
            side = shortcut.shape[1]
            shortcut = layers.Reshape((side, side, channels, 1), name=f"{name}_split")(shortcut)
            shortcut = layers.ZeroPadding3D(((0, 0), (0, 0), (0, filters - channels)), name=f"{name}_zeros")(shortcut)
            shortcut = layers.Reshape((side, side, filters), name=f"{name}_widen")(shortcut)
    x = layers.Add(name=f"{name}_add")([out, shortcut])
    return layers.ReLU(name=f"{name}_relu")(x)


def build_base(weights: str | None = None, output: str = "descriptor") -> keras.Model:
    """FaceRecognitionNet, input RGB 0-255 at 150×150.

    Args:
        weights: the path of ``face_recognition_model.bin`` (its manifest beside it), or None (random weights).
        output: ``"descriptor"`` (the 128-d face descriptor) or ``"pooled"`` (the 256-d global average before it).

    Returns:
        A Functional model named ``face_resnet``.
    """
    if output not in ("descriptor", "pooled"):
        raise ValueError(f"output must be 'descriptor' or 'pooled', got {output!r}")
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="face")
    variance = [255.0**2] * 3  # (x - mean) / sqrt(variance): the source's division by 255
    x = layers.Normalization(mean=list(MEAN_RGB), variance=variance, name="face_normalize")(inputs)
    x = _conv(x, 32, 7, 2, "valid", "conv32_down")
    x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    for name in block_names():  # "conv64_down": 64 filters, down-sampling
        x = _residual(x, int(name[4:].split("_")[0]), name, down="down" in name)
    x = layers.GlobalAveragePooling2D(name="face_pool")(x)
    if output == "descriptor":
        x = layers.Dense(128, use_bias=False, name="face_descriptor")(x)
    base = keras.Model(inputs, x, name="face_resnet")
    if weights is not None:
        set_weights(base, read_weights(weights))
    return base


def build_transfer(
    profile: Profile, weights: str | None = None, features: str = FEATURES, unit_scale: bool = True
) -> keras.Model:
    """FaceRecognitionNet with the study's head, set up for stage 1 (base frozen).

    Args:
        profile: gives ``augment`` and ``seed``; its ``image_size`` must be 150.
        weights: the path of ``face_recognition_model.bin``, or None (random weights).
        features: what the head reads (see :func:`build_base`).
        unit_scale: hand the head the features' direction with a mean square of 1 per component. The raw
            descriptor's components are about 0.1, so the head's dense outputs vary about 200 times less than the
            batch normalisation's moving variance (which starts at 1) assumes: validation, which uses the moving
            statistics, lagged training by hundreds of steps (benchmarks/face_choices.json, ``raw_descriptor_3``).

    Returns:
        An uncompiled Functional model with outputs ``age`` and ``gender``; the base is the nested layer
        ``face_resnet``.
    """
    if profile.image_size != INPUT_SIZE:
        raise ValueError(
            f"the face-recognition network reads {INPUT_SIZE} px images, got image_size {profile.image_size}"
        )
    inputs, x = models.inputs_and_augmentation(profile)
    base = build_base(weights, features)
    base.trainable = False
    x = base(x)
    if unit_scale:
        x = layers.UnitNormalization(name="unit_features")(x)
        x = layers.Rescaling(float(np.sqrt(x.shape[-1])), name="features_scale")(x)
    return keras.Model(inputs, models.transfer_head(x), name="face_transfer")


def read_weights(path) -> dict[str, np.ndarray]:
    """The TensorFlow.js weights beside ``path`` (the .bin, its manifest or their folder), dequantized: a uint8
    tensor's bytes are ``q``, its values ``q × scale + min``; a few are plain float32."""
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    data = b"".join((folder / shard).read_bytes() for group in manifest for shard in group["paths"])
    tensors, offset = {}, 0
    for entry in (entry for group in manifest for entry in group["weights"]):
        quantization = entry.get("quantization", {"dtype": entry["dtype"]})
        size = int(np.prod(entry["shape"]))
        if quantization["dtype"] == "uint8":
            q = np.frombuffer(data, np.uint8, size, offset).astype("float32")
            values = q * np.float32(quantization["scale"]) + np.float32(quantization["min"])
        elif quantization["dtype"] == "float32":  # a few tensors are stored unquantized
            values = np.frombuffer(data, "<f4", size, offset)
        else:
            raise ValueError(f"{folder / MANIFEST_NAME}: {entry['name']} is {quantization['dtype']}")
        tensors[entry["name"]] = values.reshape(entry["shape"])
        offset += size * values.dtype.itemsize if quantization["dtype"] == "float32" else size
    if offset != len(data):
        raise ValueError(f"{folder}: the manifest describes {offset} bytes, the weights hold {len(data)}")
    return tensors


def set_weights(base: keras.Model, tensors: dict[str, np.ndarray]) -> None:
    """Give ``base``'s layers the source's weights, each scale layer folded into its convolution."""
    for layer in base.layers:
        if isinstance(layer, layers.Conv2D):
            prefix = layer.name.replace("_conv1", "/conv1").replace("_conv2", "/conv2")
            scale, shift = tensors[f"{prefix}/scale/weights"], tensors[f"{prefix}/scale/biases"]
            kernel, bias = tensors[f"{prefix}/conv/filters"], tensors[f"{prefix}/conv/bias"]
            layer.set_weights([kernel * scale, bias * scale + shift])
        elif layer.name == "face_descriptor":
            layer.set_weights([tensors["fc"]])


def set_stage(model: keras.Model, stage: int, unfrozen_blocks: int) -> None:
    """Stage 1: the base frozen. Stage 2: its last ``unfrozen_blocks`` residual blocks (and the layers after
    them) trainable."""
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage}")
    base = model.get_layer("face_resnet")
    base.trainable = stage == 2
    if stage == 2:
        first = block_names()[-unfrozen_blocks] if unfrozen_blocks else "face_pool"
        names = [layer.name for layer in base.layers]
        start = next(i for i, name in enumerate(names) if name.startswith(first))
        for layer in base.layers[:start]:
            layer.trainable = False


def resolve_weights(weights="env") -> str | None:
    """The path of ``face_recognition_model.bin`` to start from, or None (``"none"``: random weights).

    ``"env"`` reads ``$FACE_WEIGHTS``; without it the npm package's tarball is downloaded once into
    ``data/weights/`` (sha256 pinned). A path may name the .bin, its manifest or the folder holding both.
    """
    if weights == "env":
        weights = os.environ.get("FACE_WEIGHTS") or "download"
    if weights in (None, "none", "None", ""):
        return None
    if weights == "download":
        return str(download_weights())
    path = Path(weights).expanduser()
    folder = path if path.is_dir() else path.parent
    if not (folder / BIN_NAME).is_file() or not (folder / MANIFEST_NAME).is_file():
        raise ValueError(
            f"face weights {path}: expected {BIN_NAME} and {MANIFEST_NAME} there (FACE_WEIGHTS=FOLDER or "
            "--weights FOLDER, e.g. the model/ folder of the npm package @vladmandic/face-api 1.7.15)"
        )
    return str((folder / BIN_NAME).resolve())


def download_weights(dest: Path | None = None) -> Path:
    """The weights' .bin in ``dest`` (``data/weights/face-api-1.7.15/``), extracted from the npm package's tarball
    after checking its sha256; ``DataError`` in one line when offline."""
    dest = Path(dest or config.DATA_DIR / "weights" / "face-api-1.7.15")
    if (dest / BIN_NAME).is_file() and (dest / MANIFEST_NAME).is_file():
        return dest / BIN_NAME
    try:
        tarball = sources.download_file(TARBALL_URL, dest.parent / "face-api-1.7.15.tgz", TARBALL_SHA256, PACKAGE)
    except sources.DataError as err:
        raise sources.DataError(f"{err}; offline, pass the weights' folder (FACE_WEIGHTS=… or --weights)") from None
    with tarfile.open(tarball) as archive:
        for name in (MANIFEST_NAME, BIN_NAME):  # the .bin last: its presence means both are there
            member = archive.extractfile(f"package/model/{name}")
            dest.mkdir(parents=True, exist_ok=True)
            part = dest / f".{name}.part"
            part.write_bytes(member.read())
            os.replace(part, dest / name)
    tarball.unlink()
    return dest / BIN_NAME
