import json

import pytest

from helpers import config
from tools.cli import parse_overrides


def test_seed_profile_is_the_coursework_protocol():
    p = config.get_profile("seed")
    assert (p.n_images, p.image_size, p.val_size, p.batch_size) == (5000, 128, 1000, 64)
    assert (p.epochs, p.learning_rate, p.weight_decay) == (60, 5e-5, 1e-5)
    assert (p.stage1_epochs, p.stage1_learning_rate, p.stage1_weight_decay) == (10, 1e-4, 1e-5)
    assert (p.stage2_epochs, p.stage2_learning_rate, p.stage2_weight_decay) == (25, 1e-5, 1e-6)
    assert p.stage2_unfrozen_layers == 4 and p.filters == (32, 64, 128, 256) and p.augment


def test_smoke_and_full_profiles():
    smoke = config.get_profile("smoke")
    assert smoke.n_images <= 500 and smoke.image_size == 64
    assert smoke.epochs == smoke.stage1_epochs == smoke.stage2_epochs == 1
    full = config.get_profile("full")
    assert full.n_images is None and full.image_size == 128 and full.epochs == 60


def test_overrides_are_typed_and_change_the_hash():
    base = config.get_profile("seed")
    changed = config.get_profile("seed", parse_overrides(["epochs=5", "n_images=null", "filters=[8,16]"]))
    assert changed.epochs == 5 and changed.n_images is None and changed.filters == (8, 16)
    assert changed.hash != base.hash
    assert config.get_profile("seed", {"learning_rate": 1}).learning_rate == 1.0


def test_hash_is_stable_and_ignores_the_name():
    assert config.get_profile("seed").hash == "77ce313cd9b1"  # the hash the committed VGG16 seed run recorded
    same_as_smoke = config.get_profile(
        "seed", {k: v for k, v in config.PROFILES["smoke"].to_dict().items() if k != "name"}
    )
    assert same_as_smoke.hash == config.get_profile("smoke").hash
    assert json.loads(config.get_profile("seed").to_json())["filters"] == [32, 64, 128, 256]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"epoch": 5}, "unknown setting 'epoch'"),
        ({"epochs": "five"}, "epochs must be int"),
        ({"epochs": 0}, "epochs must be positive"),
        ({"epochs": True}, "epochs must be int"),
        ({"val_size": 1.5}, "between 0 and 1"),
        ({"val_size": 6000}, "must be smaller than n_images"),
        ({"image_size": None}, "image_size cannot be null"),
        ({"augment_resampling": "twice"}, "augment_resampling must be one of each, once"),
        ({"lr_schedule": "step"}, "lr_schedule must be one of constant, cosine"),
    ],
)
def test_bad_overrides_say_what_is_wrong(overrides, message):
    with pytest.raises(ValueError, match=message):
        config.get_profile("seed", overrides)


def test_unknown_profile_and_bad_pair():
    with pytest.raises(ValueError, match="unknown profile 'fast'; choose one of: seed, smoke, full, quick"):
        config.get_profile("fast")
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["epochs"])


def test_settings_recorded_before_a_field_existed_still_match():
    seed = config.get_profile("seed")
    recorded = {k: v for k, v in seed.to_dict().items() if k != "split"}  # a manifest from before `split`
    assert seed.same_settings(recorded)
    assert not config.get_profile("seed", {"split": "group"}).same_settings(recorded)
    assert not seed.same_settings(dict(recorded, epochs=5))


def test_fields_added_later_keep_the_hashes_of_earlier_runs():
    """A field added after runs were committed is hashed only away from the value those runs had."""
    import hashlib

    seed = config.get_profile("seed")
    before = {k: v for k, v in seed.to_dict().items() if k != "name" and k not in config.ADDED_LATER}
    assert seed.hash == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:12]
    assert config.get_profile("seed", {"augment_resampling": "once"}).hash != seed.hash
    assert config.get_profile("seed", {"lr_schedule": "cosine"}).hash != seed.hash


def test_every_committed_run_keeps_its_hash():
    """The settings each committed manifest records hash, with today's fields, to the hash it was trained under
    (but for runs older than a field outside ``ADDED_LATER``, which are matched by their settings instead)."""
    hashed = set(config.Profile().to_dict()) - set(config.ADDED_LATER)
    manifests = [json.loads(path.read_text()) for path in (config.PROJ_ROOT / "results").glob("**/manifest.json")]
    checked = [manifest for manifest in manifests if hashed <= set(manifest["profile"])]
    assert len(checked) > 30
    for manifest in checked:
        profile = config.profile_from_record(manifest["profile_name"], manifest["profile"])
        assert profile.hash == manifest["hash"], manifest
