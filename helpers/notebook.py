"""What every notebook does first: Colab set-up, the profile from its parameters, the plot style.

Keras does not start here: notebooks 01, 04 and 05 never need it, and a training notebook's run seeds it
(``training.start``)."""

from __future__ import annotations

import os
import sys

from . import config, plots, registry


def in_colab() -> bool:
    return "google.colab" in sys.modules


# Where a Colab user's copy of UTKFace is looked for on a mounted Google Drive (drive.mount("/content/drive")).
DRIVE_COPIES = (
    "/content/drive/MyDrive/UTKFace.tar.gz",
    "/content/drive/MyDrive/UTKFace",
    "/content/drive/MyDrive/data/UTKFace.tar.gz",
)


def colab_setup(data: str = "") -> str | None:
    """Where UTKFace is: the ``data`` parameter, else ``$UTKFACE``, else (in Colab) a copy on a mounted Google
    Drive; None leaves it to :func:`helpers.sources.resolve_source` (``data/``, or the download). Never asks: "Run all"
    runs through."""
    if data or os.environ.get("UTKFACE") or not in_colab():
        return data or None
    for candidate in DRIVE_COPIES:
        if os.path.exists(candidate):
            print(f"UTKFace: {candidate} (Google Drive)")
            return candidate
    return None


def none_if_empty(*values):
    """The parameters as the helpers take them: papermill and the parameters cells write "" for "not set", the
    helpers None for "the default" (``results/``, ``figures/``, ``results/sweeps/``)."""
    return tuple(None if value == "" else value for value in values)


def setup(profile: str, overrides: dict | None = None, model: str | None = None) -> config.Profile:
    """The run's profile (named profile + overrides), with the plot style set.

    Args:
        model: the model a training notebook trains: its profile then says the image size it reads.
    """
    chosen = config.get_profile(profile, overrides)
    if model:
        chosen = registry.get(model).profile_for(chosen)
    plots.set_style()
    print(f"profile {chosen.name} ({chosen.hash})")
    if in_colab() and not _has_accelerator():
        print(
            "Colab without a GPU: loading committed results is quick, but training the seed profile takes hours "
            "(Runtime > Change runtime type > GPU)"
        )
    return chosen


def _has_accelerator() -> bool:
    from . import host  # Keras starts here, in Colab only

    return bool(host.accelerators())
