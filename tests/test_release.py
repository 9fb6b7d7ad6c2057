"""Model cards beside every committed run (#22); the release folder itself is tested with the smoke models in
tests/test_predict.py."""

import shutil

import pytest

from helpers import config
from tools import release


def test_every_committed_run_has_its_current_model_card():
    runs = release.run_folders()
    assert len(runs) >= 20  # results/seed, results/quick and the sweeps
    for model, folder in runs:
        card = folder / release.CARD
        assert card.is_file(), f"{folder} has no {release.CARD}: run `python -m tools cards`"
        assert card.read_text() == release.model_card(model, folder), f"{card} is stale: run `python -m tools cards`"


def test_release_without_model_files_says_what_to_do(tmp_path):
    shutil.copytree(
        config.RESULTS_DIR / "seed" / "custom",
        tmp_path / "results" / "seed" / "custom",
        ignore=shutil.ignore_patterns("*.keras"),
    )  # the committed run, as a clone has it
    with pytest.raises(ValueError, match=r"no trained model file of profile seed .*make train PROFILE=seed"):
        release.release(config.get_profile("seed"), tmp_path / "results", tmp_path / "release")
    assert not (tmp_path / "release").exists()


def test_a_card_says_which_images_trained_the_model():
    card = release.model_card("custom", config.RESULTS_DIR / "seed" / "experiments" / "all_images" / "custom")
    assert (
        "UTKFace, every usable image but 2,000 held out for testing, drawn with seed 42 from the copy below: "
        "15,762 training and 3,940 validation images." in card
    )
    clean = release.model_card(
        "custom", config.RESULTS_DIR / "seed" / "experiments" / "all_images_group_clean" / "custom"
    )
    assert (
        "drawn with seed 42 from the copy below, split so that no image has a twin (a duplicate face) on both "
        "sides, less 426 left out of training because a twin of theirs has other labels: 15,336 training" in clean
    )
    assert "the study's images, listed by file name" in release.model_card(
        "custom", config.RESULTS_DIR / "seed" / "custom"
    )


def test_run_times_name_the_gpu_and_back_end_a_run_trained_on():
    """docs/profiles.md's run-time rows: a group of runs that trained on a GPU names it and its back end, and its
    seconds-long times are not rounded to "0 s" or "1 min"."""
    import json

    from tools import readme

    on_gpu = {
        folder.name
        for _, folder in release.run_folders()
        if json.loads((folder / "manifest.json").read_text())["hardware"]["accelerators"]
    }
    rows = [row.split(" | ") for row in readme.run_times().splitlines() if "NVIDIA" in row]
    assert on_gpu and rows  # the committed runs include some that trained on a GPU
    for row in rows:
        assert row[-1].endswith(", jax |"), row
        assert row[3].endswith(" s") and row[3] != "0 s", row  # the whole group's time, in seconds
        assert all(epoch.endswith(" s") and epoch != "0.0 s" for epoch in row[4].split(" / ")), row
