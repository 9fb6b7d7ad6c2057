"""The study's data augmentation: five Keras random layers inside the model, active only while training, and
:class:`RandomAffine`, an option that draws what three of them draw and resamples the image once."""

from __future__ import annotations

from . import keras_quietly  # noqa: F401  (first: Keras starts without TensorFlow's C++ start-up lines)

# isort: split
import keras
from keras import layers

from .config import AUGMENT_RESAMPLINGS

AFFINE_FACTORS = {"rotation": 0.10, "zoom": 0.10, "translation": 0.10}  # the study's, as fractions


@keras.saving.register_keras_serializable(package="helpers")
class RandomAffine(layers.Layer):
    """The study's ``RandomRotation``, ``RandomZoom`` and ``RandomTranslation``, resampling the image once.

    The three Keras layers inside draw their parameters as they would in sequence (same distributions, same
    seeds: the same draws); their transforms, composed in the same order, map each output pixel to the input
    image, which is then sampled once (bilinear, borders reflected) instead of three times. Not the same pixels:
    one interpolation blurs less than three, and only the input's own border is reflected. An option of the
    profile (``augment_resampling="once"``), not the study's default.
    """

    def __init__(self, rotation: float, zoom: float, translation: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.rotation = layers.RandomRotation(rotation, seed=seed, name="random_rotation")
        self.zoom = layers.RandomZoom(zoom, seed=seed, name="random_zoom")
        self.translation = layers.RandomTranslation(translation, translation, seed=seed, name="random_translation")

    def keras_layers(self) -> list:
        return [self.rotation, self.zoom, self.translation]

    def build(self, input_shape):
        for layer in self.keras_layers():
            layer.build(input_shape)

    def call(self, images, training=None):
        images = keras.ops.cast(images, self.compute_dtype)
        if not training:
            return images
        height, width = images.shape[1], images.shape[2]
        rotation = self.rotation.get_random_transformation(images, training=True)["rotation_matrix"]
        zoom = self.zoom.get_random_transformation(images, training=True)
        zoom = self.zoom._get_zoom_matrix(
            keras.ops.concatenate([zoom["width_zoom"], zoom["height_zoom"]], axis=1), height, width
        )
        shift = self.translation._get_translation_matrix(
            self.translation.get_random_transformation(images, training=True)["translations"]
        )
        return keras.ops.image.affine_transform(
            images, compose_transforms(rotation, zoom, shift), interpolation="bilinear", fill_mode="reflect"
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rotation": self.rotation.factor[1],
            "zoom": self.zoom.height_factor,
            "translation": self.translation.height_factor,
            "seed": self.seed,
        }


def compose_transforms(*transforms):
    """One transform doing what applying ``transforms`` to the image in turn does.

    Each is a batch of Keras' 8-number projective transforms (``keras.ops.image.affine_transform``), which map an
    output pixel to where it is read in the input. Applying A, then B, reads pixel p at A(B(p)): the matrices
    multiply in the order of application.
    """

    def matrix(transform):
        ones = keras.ops.ones_like(transform[:, :1])
        return keras.ops.reshape(keras.ops.concatenate([transform, ones], axis=1), (-1, 3, 3))

    product = matrix(transforms[0])
    for transform in transforms[1:]:
        product = keras.ops.matmul(product, matrix(transform))
    product = keras.ops.reshape(product, (-1, 9))
    return product[:, :8] / product[:, 8:]


def augmentation(seed: int | None = None, resampling: str = "each") -> keras.Sequential:
    """The five random layers of the study; active only while training (pixel range 0-255).

    Args:
        resampling: ``"each"`` (the study: rotation, zoom and translation each resample the image) or
            ``"once"`` (:class:`RandomAffine`: the same draws, one resampling).

    ``RandomContrast(0.10)`` is kept to the letter of the study although Keras 3 samples its factor from
    [1.0, 1.1] (contrast only ever rises), not the [0.9, 1.1] its documentation describes.
    """
    if resampling not in AUGMENT_RESAMPLINGS:
        raise ValueError(f"augment_resampling must be one of {', '.join(AUGMENT_RESAMPLINGS)}, got {resampling!r}")
    f = AFFINE_FACTORS
    steps = [layers.RandomFlip("horizontal", seed=seed)]
    if resampling == "once":
        steps.append(RandomAffine(**f, seed=seed, name="random_affine"))
    else:
        steps += [
            layers.RandomRotation(f["rotation"], seed=seed),
            layers.RandomZoom(f["zoom"], seed=seed),
            layers.RandomTranslation(f["translation"], f["translation"], seed=seed),
        ]
    steps.append(layers.RandomContrast(0.10, value_range=(0, 255), seed=seed))
    return keras.Sequential(steps, name="augmentation")


# Keras marks these layers unfit for XLA because TensorFlow's ImageProjectiveTransformV3 has no XLA kernel, and one
# such layer makes the whole model compile with jit_compile=False: on the JAX back end that runs each training step op
# by op (about 0.4 s a step on an H200, whatever the image size). JAX computes them with jax.numpy, which jit compiles.
AFFINE_LAYERS = (layers.RandomRotation, layers.RandomZoom, layers.RandomTranslation)
