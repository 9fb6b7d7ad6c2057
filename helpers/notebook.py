"""What every notebook does first: Colab set-up, the profile from its parameters, the plot style."""

from __future__ import annotations

import os
import sys

from . import config, plots


def in_colab() -> bool:
    return "google.colab" in sys.modules


def colab_setup(data: str = "") -> str:
    """Inside Colab only: ask where UTKFace is (empty answer: download it). Returns the data location."""
    if not in_colab() or data or os.environ.get("UTKFACE"):
        return data
    answer = input("Path to UTKFace.tar.gz or its folder (e.g. on Google Drive); leave empty to download it: ")
    if answer.strip():
        return answer.strip()
    from . import data as data_module

    return str(data_module.resolve_source(download=True))


def setup(profile: str, overrides: dict | None = None) -> config.Profile:
    """The run's profile (named profile + overrides), with seeds and plot style set."""
    import keras

    chosen = config.get_profile(profile, overrides)
    keras.utils.set_random_seed(chosen.seed)
    plots.set_style()
    print(f"profile {chosen.name} ({chosen.hash}), Keras {keras.__version__} on {keras.backend.backend()}")
    return chosen

