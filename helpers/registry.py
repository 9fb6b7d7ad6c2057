"""The study's models, one entry each: all that the rest of the package knows about a model.

To add a model, write its builder (a function of the profile and of its pretrained weights, which returns an
uncompiled Keras model with outputs ``age`` and ``gender``), a notebook that trains it (as notebook 02 does) and
:func:`register` a :class:`ModelSpec` for it, here or from your own code. The command line, the sweeps, the run
folders, the figures, notebooks 04 and 05 and the report take it from there.
Nothing else in the package compares a model's name with another.

Keras starts where a model is built (:func:`build_model`, :func:`describe`): the builders import
:mod:`helpers.models` when they are called, so that reading the registry (labels, colours, epochs) stays cheap, and
:mod:`helpers.models` never imports the registry.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass

from .config import Profile


@dataclass(frozen=True)
class Stage:
    """One training stage: the profile fields that give its epochs and AdamW settings, and which layers train.

    ``trainable(model, profile)`` makes the stage's layers trainable (None: every layer trains). ``frozen_part(model,
    profile)`` cuts the model where its frozen layers end, as ``(frozen, trainable)``: validation then computes the
    frozen part once a stage (None: validation runs through the whole model every epoch).
    """

    epochs: str
    learning_rate: str
    weight_decay: str
    trainable: Callable | None = None
    frozen_part: Callable | None = None

    def epochs_of(self, profile: Profile) -> int:
        return getattr(profile, self.epochs)

    def optimizer_settings(self, profile: Profile) -> tuple[float, float]:
        """(learning rate, weight decay) of this stage's AdamW."""
        return getattr(profile, self.learning_rate), getattr(profile, self.weight_decay)


@dataclass(frozen=True)
class ModelSpec:
    """One model of the study.

    Attributes:
        name: its key: ``--model``, ``results/<profile>/<name>/``, ``<name>.keras``.
        label: in tables and figure legends ("Custom CNN").
        short: where room is short: the report's first lines, the pretraining table's model column ("CNN").
        prose: in sentences ("the custom CNN").
        color: its colour in every figure.
        summary: the model card's one-line description of the network.
        build: ``build(profile, weights)`` returns the uncompiled model (``weights`` is None for a model without
            pretrained weights).
        stages: its training stages, in order (a model trained from scratch has one).
        stride: ``stride(profile)``, its total down-sampling: ``image_size`` must be a multiple of it.
        weights_variable: the environment variable naming its pretrained weights file (None: trained from scratch).
        find_weights: ``find_weights(weights)`` resolves ``--weights`` (``"env"``: the variable) to what the
            builder reads, or None for random weights (None: a Keras weights file, ``models.resolve_weights``).
        image_size: the one side it reads, whatever the profile says (None: the profile's ``image_size``).
        domain: what its pretrained weights were first trained for (None: trained from scratch here).
        trained_here: what its training changes, for the model card ("head and block 5").
        reported: what the coursework reported for it (final epoch, seed profile), if anything.
        notebook: the notebook that trains it (``notebooks/<notebook>.py``; papermill runs it for ``make``, the
            command line, the sweeps and the experiments): a model without one cannot train.
    """

    name: str
    label: str
    short: str
    prose: str
    color: str
    summary: str
    build: Callable
    stages: tuple[Stage, ...]
    stride: Callable[[Profile], int]
    weights_variable: str | None = None
    find_weights: Callable | None = None
    image_size: int | None = None
    domain: str | None = None
    trained_here: str = "every layer"
    reported: dict | None = None
    notebook: str | None = None

    def profile_for(self, profile: Profile) -> Profile:
        """``profile`` as this model trains with it: its own ``image_size`` where it reads one side only (its
        images are decoded at that size; its manifest and hash record it)."""
        if self.image_size is None or profile.image_size == self.image_size:
            return profile
        return dataclasses.replace(profile, image_size=self.image_size)

    def epochs(self, profile: Profile) -> int:
        """The epochs a training of this model runs, all stages together."""
        return sum(stage.epochs_of(profile) for stage in self.stages)

    def stage_number(self, index: int) -> int | None:
        """The number a history and a checkpoint give stage ``index`` (0-based): None for a one-stage model."""
        return index + 1 if len(self.stages) > 1 else None

    def check_image_size(self, profile: Profile) -> None:
        """``ValueError`` unless ``profile.image_size`` suits this model's total down-sampling."""
        stride = self.stride(profile)
        if profile.image_size % stride:
            raise ValueError(
                f"image_size {profile.image_size} does not suit the {self.label} model: it must be a multiple of "
                f"{stride} (its total down-sampling)"
            )


MODELS: dict[str, ModelSpec] = {}
DEFAULT_MODEL = "custom"  # the experiments' model unless --model names another


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry (replacing an entry of the same name); returns it."""
    MODELS[spec.name] = spec
    return spec


def get(name: str) -> ModelSpec:
    """The entry of model ``name``; ``ValueError`` naming the known models otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def names() -> tuple[str, ...]:
    """Every registered model's name, in the study's order."""
    return tuple(MODELS)


def labels() -> dict[str, str]:
    """Each model's label ("Custom CNN"), by name."""
    return {name: spec.label for name, spec in MODELS.items()}


def reported() -> dict[str, dict]:
    """The coursework's reported numbers of each model that has them, by name."""
    return {name: spec.reported for name, spec in MODELS.items() if spec.reported}


def notebooks() -> list[str]:
    """``model:notebook`` for each model a numbered notebook trains (the Makefile runs them)."""
    return [f"{name}:{spec.notebook}" for name, spec in MODELS.items() if spec.notebook]


def with_weights() -> tuple[str, ...]:
    """The models that start from pretrained weights."""
    return tuple(name for name, spec in MODELS.items() if spec.weights_variable)


def build_model(name: str, profile: Profile, weights: str | None = "imagenet"):
    """Model ``name`` for ``profile``; ``ValueError`` if ``image_size`` does not suit it.

    Args:
        weights: its pretrained weights (see :func:`helpers.models.resolve_weights`); ignored by a model trained
            from scratch.
    """
    spec = get(name)
    profile = spec.profile_for(profile)
    spec.check_image_size(profile)
    return spec.build(profile, weights if spec.weights_variable else None)


def describe(name: str, profile: Profile) -> dict:
    """Layers (trainable as the first stage trains them), parameter counts, trainable parameters per training stage
    (``train`` for a one-stage model) and the :func:`helpers.models.architecture` of model ``name`` (no weights
    loaded)."""
    from . import models

    spec = get(name)
    model = build_model(name, profile, weights=None)
    trainable = {}
    for index, stage in enumerate(spec.stages):
        if stage.trainable:
            stage.trainable(model, profile)
        number = spec.stage_number(index)
        trainable[f"stage{number}" if number else "train"] = models.count_params(model.trainable_weights)
    if spec.stages[0].trainable:  # the layers as training starts them
        spec.stages[0].trainable(model, profile)
    return {
        "model": model.name,
        "layers": [
            {
                "name": layer.name,
                "class_name": type(layer).__name__,
                "trainable": layer.trainable,
                "config": layer.get_config(),
            }
            for layer in models.flat_layers(model)
        ],
        "total_params": models.count_params(model.weights),
        "trainable_params": trainable,
        "architecture": models.architecture(model),
    }


@functools.cache
def current_architecture(name: str, profile: Profile) -> dict:
    """:func:`helpers.models.architecture` of the network the code builds now for model ``name`` and ``profile``."""
    return describe(name, profile)["architecture"]


# The coursework's reported numbers (final epoch, train / validation).
def _reported(train_accuracy: float, val_accuracy: float, train_mae: float, val_mae: float) -> dict:
    return {
        "train_gender_accuracy": train_accuracy,
        "val_gender_accuracy": val_accuracy,
        "train_age_mae": train_mae,
        "val_age_mae": val_mae,
    }


def _build_custom_cnn(profile: Profile, weights=None):
    from . import models

    return models.build_custom_cnn(profile)


def _build_vgg16(profile: Profile, weights=None):
    from . import models

    return models.build_vgg16(profile, weights)


def _build_face(profile: Profile, weights=None):
    from . import face_resnet

    return face_resnet.build_transfer(profile, weights)


def _face_weights(weights="env"):
    from . import face_resnet

    return face_resnet.resolve_weights(weights)


def _face_stage(number: int) -> Stage:
    def trainable(model, profile: Profile) -> None:
        from . import face_resnet

        face_resnet.set_stage(model, number, face_resnet.STAGE2_UNFROZEN_BLOCKS)

    fields = f"stage{number}_"
    return Stage(fields + "epochs", fields + "learning_rate", fields + "weight_decay", trainable)


def _vgg16_stage(number: int) -> Stage:
    def trainable(model, profile: Profile) -> None:
        from . import models

        models.set_vgg16_stage(model, number, profile.stage2_unfrozen_layers)

    def frozen_part(model, profile: Profile):
        from . import models

        return models.split_at_frozen(model, number, profile.stage2_unfrozen_layers)

    fields = f"stage{number}_"
    return Stage(fields + "epochs", fields + "learning_rate", fields + "weight_decay", trainable, frozen_part)


register(
    ModelSpec(
        name="custom",
        label="Custom CNN",
        short="CNN",
        prose="the custom CNN",
        color="#1f77b4",
        summary="a convolutional network trained from scratch: four convolution blocks (32, 64, 128, 256 filters), "
        "flatten, dense 512, and two task branches",
        build=_build_custom_cnn,
        stages=(Stage("epochs", "learning_rate", "weight_decay"),),
        stride=lambda profile: 2 ** len(profile.filters),  # one 2×2 pooling per block
        reported=_reported(0.87, 0.86, 6.4, 8.5),
        notebook="02_custom_cnn",
    )
)
register(
    ModelSpec(
        name="vgg16",
        label="VGG16 transfer",
        short="VGG16",
        prose="VGG16",
        color="#d62728",
        summary="VGG16's 13 convolutional layers with a new head (flatten, dense 512, two task branches), trained "
        "in two stages: the base frozen, then block 5 unfrozen",
        build=_build_vgg16,
        stages=(_vgg16_stage(1), _vgg16_stage(2)),
        stride=lambda profile: 32,  # five 2×2 poolings
        weights_variable="VGG16_WEIGHTS",
        domain="ImageNet object classification",
        trained_here="head and block 5",
        reported=_reported(0.89, 0.88, 5.4, 7.6),
        notebook="03_vgg16_transfer",
    )
)
register(
    ModelSpec(
        name="face",
        label="Face-ResNet transfer",
        short="FaceRes",
        prose="the face-recognition ResNet",
        color="#2ca02c",
        summary="the face-recognition ResNet of dlib and face-api (29 convolutional layers, 150 px, a 128-d face "
        "descriptor) with the study's head (dense 512, two task branches), trained in two stages: the base frozen, "
        "then its last three residual blocks unfrozen",
        build=_build_face,
        stages=(_face_stage(1), _face_stage(2)),
        stride=lambda profile: 1,  # any side: it reads 150 px whatever the profile says (image_size)
        weights_variable="FACE_WEIGHTS",
        find_weights=_face_weights,
        image_size=150,
        domain="face recognition",
        trained_here="head and the last three residual blocks",
        notebook="03b_face_transfer",
    )
)
