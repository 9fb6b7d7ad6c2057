"""Paths and hyper-parameter profiles: the one place that defines both.

Every hyper-parameter of the study lives in :class:`Profile`. Named profiles
(``seed``, ``smoke``, ``full``) are starting points; any field can be overridden
(``--set epochs=5`` on the command line, or papermill parameters).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path


def _find_project_root() -> Path:
    """The checkout that holds this package, or the working directory when installed."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


PROJ_ROOT = _find_project_root()
# The project's GitHub home: the notebooks' Colab cells clone it and the README's badges open it. A fork changes
# every copy at once with `make home GITHUB_HOME=owner/name`; a test checks that they agree.
GITHUB_HOME = "utkface-study/age-gender-utkface"
# Where a profile's released model files live (make release; attached to the GitHub release tagged with the
# profile's name): <RELEASE_URL>/<profile>/<model>.keras, beside its SHA256SUMS.
RELEASE_URL = f"https://github.com/{GITHUB_HOME}/releases/download"
DATA_DIR = Path(os.environ.get("HELPERS_DATA_DIR", PROJ_ROOT / "data"))  # where UTKFace is looked for and downloaded
CACHE_DIR = Path(os.environ.get("HELPERS_CACHE_DIR", DATA_DIR / "cache"))
RESULTS_DIR = PROJ_ROOT / "results"
FIGURES_DIR = PROJ_ROOT / "figures"
REPORT_DIR = PROJ_ROOT / "report"
# The study's images by name (helpers.data.study_images): in the package, so that an installed copy has them too.
STUDY_IMAGES = Path(__file__).resolve().parent / "study_images.csv.gz"

AGE_WEIGHTINGS = ("none", "inverse")
AUGMENT_RESAMPLINGS = ("each", "once")
IMAGE_CHOICES = ("study", "draw")
# The learning rate over a stage: "constant" (the coursework's protocol), "cosine" (every stage's rate decays to 0 over
# the stage, step by step) or "cosine_last" (the last stage's only: the study's second protocol, docs/profiles.md).
LR_SCHEDULES = ("constant", "cosine", "cosine_last")
# Fields added after runs were committed, with the value every earlier run had: at that value they are left out of
# the hash, so those runs keep theirs.
ADDED_LATER = {"augment_resampling": "each", "images": "study", "lr_schedule": "constant"}


@dataclass(frozen=True)
class Profile:
    """Every hyper-parameter of one run. Field names are a stable interface."""

    name: str = "seed"
    # data
    n_images: int | None = 5000  # subset size sampled from UTKFace; None = every usable image
    image_size: int = 128  # square side in pixels
    val_size: int | float = 1000  # validation images (int) or fraction of the subset (float < 1)
    seed: int = 42  # subset, split, weights initialisation and augmentation
    images: str = "study"  # "study": the study's images by name where n_images and seed are its own; "draw": draw
    split: str = "random"  # "random" (as the coursework) or "group": duplicate images never straddle the split
    test_size: int = 2000  # images no training sees: outside the subset, no twin in it; 0 = no test set
    drop_conflicting: bool = False  # leave out of training every image whose twin in the subset has other labels
    age_weighting: str = "none"  # "none" or "inverse": weight the age loss by 1 / frequency of the image's age band
    batch_size: int = 64
    augment: bool = True  # the five random augmentation layers inside the model
    augment_resampling: str = "each"  # "each" (the study: rotation, zoom, translation resample in turn) or "once"
    # custom CNN
    filters: tuple[int, ...] = (32, 64, 128, 256)
    epochs: int = 60
    learning_rate: float = 5e-5
    weight_decay: float = 1e-5
    lr_schedule: str = "constant"  # "constant"; "cosine": decays to 0 over each stage; "cosine_last": the last stage
    # VGG16 transfer: stage 1 trains the head on a frozen base, stage 2 unfreezes block 5
    stage1_epochs: int = 10
    stage1_learning_rate: float = 1e-4
    stage1_weight_decay: float = 1e-5
    stage2_epochs: int = 25
    stage2_learning_rate: float = 1e-5
    stage2_weight_decay: float = 1e-6
    stage2_unfrozen_layers: int = 4  # block5_conv1-3 + block5_pool

    def to_dict(self) -> dict:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def hash(self) -> str:
        """Stable 12-hex-digit hash of every value but the name (same settings, same hash; see ADDED_LATER)."""
        values = {
            k: v for k, v in self.to_dict().items() if k != "name" and not (k in ADDED_LATER and v == ADDED_LATER[k])
        }
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]

    def same_settings(self, recorded: dict) -> bool:
        """Whether a profile recorded in a manifest (``to_dict()``) has these settings; fields it lacks were
        added later and had their default value then."""
        defaults = Profile().to_dict()
        return all(recorded.get(k, defaults[k]) == v for k, v in self.to_dict().items() if k != "name")

    def validate(self) -> Profile:
        """Raise ValueError for values that no run could use."""
        if self.n_images is not None and self.n_images < 2:
            raise ValueError(f"n_images must be at least 2 or null (all images), got {self.n_images}")
        for key in ("image_size", "batch_size", "epochs", "stage1_epochs"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if self.stage2_epochs < 0:
            raise ValueError(f"stage2_epochs must be 0 or more, got {self.stage2_epochs}")
        if isinstance(self.val_size, float) and not 0 < self.val_size < 1:
            raise ValueError(f"val_size as a fraction must be between 0 and 1, got {self.val_size}")
        if isinstance(self.val_size, int) and self.val_size < 1:
            raise ValueError(f"val_size must be at least 1 image, got {self.val_size}")
        if self.n_images is not None and isinstance(self.val_size, int) and self.val_size >= self.n_images:
            raise ValueError(f"val_size ({self.val_size}) must be smaller than n_images ({self.n_images})")
        if self.test_size < 0:
            raise ValueError(f"test_size must be 0 or more, got {self.test_size}")
        if self.split not in ("random", "group"):
            raise ValueError(f"split must be 'random' or 'group', got {self.split!r}")
        if self.age_weighting not in AGE_WEIGHTINGS:
            raise ValueError(f"age_weighting must be one of {', '.join(AGE_WEIGHTINGS)}, got {self.age_weighting!r}")
        if self.images not in IMAGE_CHOICES:
            raise ValueError(f"images must be one of {', '.join(IMAGE_CHOICES)}, got {self.images!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if self.augment_resampling not in AUGMENT_RESAMPLINGS:
            raise ValueError(
                f"augment_resampling must be one of {', '.join(AUGMENT_RESAMPLINGS)}, got {self.augment_resampling!r}"
            )
        if not self.filters or any(f <= 0 for f in self.filters):
            raise ValueError(f"filters must be positive integers, got {list(self.filters)}")
        return self


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


PROFILES: dict[str, Profile] = {
    # The coursework protocol, exactly.
    "seed": Profile(name="seed"),
    # Same code path, tiny: for tests and CI.
    "smoke": Profile(
        name="smoke",
        n_images=300,
        image_size=64,
        val_size=60,
        test_size=60,
        batch_size=32,
        epochs=1,
        stage1_epochs=1,
        stage2_epochs=1,
    ),
    # Every usable UTKFace image, 80/20 split, otherwise as seed.
    "full": Profile(name="full", n_images=None, val_size=0.2),
    # The seed protocol shrunk to fit a 2-core CPU in minutes (64 px, fewer epochs): for experiments there.
    "quick": Profile(name="quick", image_size=64, epochs=10, stage1_epochs=3, stage2_epochs=5),
}


def _field_types() -> dict[str, object]:
    return typing.get_type_hints(Profile)


def _coerce(key: str, value, annotation):
    """Convert a parsed value to the field's type, or raise ValueError saying what was expected."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    if value is None:
        if type(None) in options:
            return None
        raise ValueError(f"{key} cannot be null")
    for option in options:
        if option is bool and isinstance(value, bool):
            return value
        if option is str and isinstance(value, str):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            if int in options and isinstance(value, int):
                continue
            return float(value)
        if (
            typing.get_origin(option) is tuple
            and isinstance(value, (list, tuple))
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            return tuple(value)
    expected = " or ".join("null" if o is type(None) else getattr(o, "__name__", str(o)) for o in options)
    raise ValueError(f"{key} must be {expected}, got {value!r}")


def parse_value(text: str):
    """Parse a command-line value: JSON (5, 1e-4, null, true, [32, 64]) or a plain string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def get_profile(name: str, overrides: dict | None = None) -> Profile:
    """A named profile with overrides applied and checked.

    Args:
        name: one of ``PROFILES``.
        overrides: field name -> value (already parsed, e.g. by :func:`parse_value`).

    Returns:
        The validated :class:`Profile`.
    """
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    types_ = _field_types()
    changes = {}
    for key, value in (overrides or {}).items():
        if key == "name" or key not in types_:
            known = ", ".join(k for k in types_ if k != "name")
            raise ValueError(f"unknown setting {key!r}; known settings: {known}")
        changes[key] = _coerce(key, value, types_[key])
    return dataclasses.replace(PROFILES[name], **changes).validate()


def profile_from_record(name: str, recorded: dict) -> Profile:
    """The profile a run's manifest records (``Profile.to_dict()``); fields added since keep their defaults."""
    values = {key: value for key, value in recorded.items() if key != "name"}
    return dataclasses.replace(get_profile("seed", values), name=name)
