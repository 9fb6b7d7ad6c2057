import errno
import hashlib
import os
import tarfile
import tempfile

import numpy as np
import pytest
from conftest import MALFORMED, face_names, jpeg_bytes

from helpers import config, data, decoding, sources, twins
from tools import copies


def test_parse_name_reads_the_labels():
    face = sources.parse_name("UTKFace/26_1_2_20170116174525125.jpg.chip.jpg")
    assert (face.age, face.gender, face.race) == (26, 1, 2)
    assert face.name == "26_1_2_20170116174525125.jpg.chip.jpg"


@pytest.mark.parametrize("name", [*MALFORMED, "24_0_1_20170116220224657 .jpg.chip.jpg"])
def test_the_real_malformed_names_are_rejected_by_name(name):
    with pytest.raises(ValueError, match="not a UTKFace name") as err:
        sources.parse_name(f"UTKFace/{name}")
    assert name in str(err.value)


@pytest.mark.parametrize(
    "name, message",
    [
        ("0_1_2_20170116174525125.jpg.chip.jpg", "age 0"),
        ("121_1_2_20170116174525125.jpg.chip.jpg", "age 121"),
        ("30_2_2_20170116174525125.jpg.chip.jpg", "gender 2"),
        ("30_1_5_20170116174525125.jpg.chip.jpg", "race 5"),
    ],
)
def test_labels_out_of_range_are_rejected(name, message):
    with pytest.raises(ValueError, match=message):
        sources.parse_name(name)


@pytest.mark.parametrize("kind", ["folder", "archive"])
def test_sources_list_the_same_faces_and_skip_malformed(kind, face_folder, face_archive):
    source = face_folder if kind == "folder" else face_archive
    faces, skipped = sources.list_faces(source)
    assert sorted(f.name for f in faces) == sorted(face_names(40))
    assert sorted(skipped["not a UTKFace name"]) == sorted(MALFORMED)


def test_folder_and_archive_give_identical_splits(face_folder, face_archive):
    profile = config.get_profile("smoke", {"n_images": 30, "val_size": 10, "image_size": 32})
    a = data.load_splits(profile, face_folder, progress=False)
    b = data.load_splits(profile, face_archive, progress=False)
    assert a.train.names == b.train.names and a.val.names == b.val.names
    np.testing.assert_array_equal(a.train.images, b.train.images)
    assert a.train.images.shape == (20, 32, 32, 3) and a.train.images.dtype == np.uint8
    assert a.info["skipped"]["not a UTKFace name"]["count"] == 5
    assert a.info["files"] == 45 and a.info["usable"] == 40


def test_labels_follow_their_images(face_folder):
    profile = config.get_profile("smoke", {"n_images": 12, "val_size": 4, "image_size": 40})
    splits = data.load_splits(profile, face_folder, progress=False, cache=False)
    for faces in (splits.train, splits.val):
        for i, name in enumerate(faces.names):
            face = sources.parse_name(name)
            assert (faces.age[i], faces.gender[i], faces.race[i]) == (face.age, face.gender, face.race)
            # 40 px files at 40 px: decoding is lossless apart from JPEG, so the pixels match the file
            expected = decoding.decode_image((face_folder / name).read_bytes(), 40)
            np.testing.assert_array_equal(faces.images[i], expected)


def test_subset_and_split_depend_only_on_the_seed(face_folder):
    profile = config.get_profile("smoke", {"n_images": 30, "val_size": 10, "image_size": 32})
    first = data.load_splits(profile, face_folder, progress=False, cache=False)
    again = data.load_splits(profile, face_folder, progress=False, cache=False)
    other = data.load_splits(
        config.get_profile("smoke", {"n_images": 30, "val_size": 10, "image_size": 32, "seed": 7}),
        face_folder,
        progress=False,
        cache=False,
    )
    assert first.train.names == again.train.names and first.val.names == again.val.names
    assert first.val.names != other.val.names
    assert not set(first.train.names) & set(first.val.names)


def test_subset_ignores_the_listing_order():
    faces = [sources.parse_name(n) for n in face_names(50)]
    a = data.select_subset(faces, 20, seed=3)
    b = data.select_subset(list(reversed(faces)), 20, seed=3)
    assert a == b


def test_second_load_hits_the_cache(face_archive):
    profile = config.get_profile("smoke", {"n_images": 30, "val_size": 10, "image_size": 32})
    cold = data.load_splits(profile, face_archive, progress=False)
    warm = data.load_splits(profile, face_archive, progress=False)
    assert (cold.info["cache"], warm.info["cache"]) == ("miss", "hit")
    assert warm.train.names == cold.train.names
    np.testing.assert_array_equal(warm.val.images, cold.val.images)


def test_the_cache_follows_the_archive_content_not_its_path(face_archive, tmp_path):
    profile = config.get_profile("smoke", {"n_images": 30, "val_size": 10, "image_size": 32})
    data.load_splits(profile, face_archive, progress=False)
    copy = tmp_path / "elsewhere" / "UTKFace.tar.gz"
    copy.parent.mkdir()
    copy.write_bytes(face_archive.read_bytes())
    warm = data.load_splits(profile, copy, progress=False)
    assert warm.info["cache"] == "hit"  # moved or copied: same cache
    assert warm.info["source"] == str(copy.resolve())  # and the message names the copy read, not the first one
    content = face_archive.read_bytes()
    copy.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))  # other content, same size
    os.utime(copy, ns=(copy.stat().st_atime_ns, copy.stat().st_mtime_ns + 10**9))  # a later edit, as in life
    assert data.load_splits(profile, copy, progress=False).info["cache"] == "miss"


def test_fractional_validation_size(face_folder):
    profile = config.get_profile("smoke", {"n_images": None, "val_size": 0.25, "image_size": 32, "test_size": 0})
    splits = data.load_splits(profile, face_folder, progress=False)
    assert (len(splits.train), len(splits.val)) == (30, 10)


def test_asking_for_more_images_than_exist_says_how_many(face_folder):
    profile = config.get_profile("smoke", {"n_images": 100, "val_size": 10, "image_size": 32})
    with pytest.raises(sources.DataError, match="asks for 100 images but the source has only 40"):
        data.load_splits(profile, face_folder, progress=False)


def test_missing_source_explains_how_to_get_utkface(tmp_path, monkeypatch):
    monkeypatch.delenv("UTKFACE", raising=False)
    monkeypatch.setattr(config, "DATA_DIR", tmp_path / "nowhere")
    with pytest.raises(sources.DataError, match=r"no UTKFace data found.*UTKFACE="):
        sources.resolve_source(download=False)
    monkeypatch.setenv("UTKFACE_URL", "http://127.0.0.1:9/UTKFace.tar.gz")  # nothing listens there: offline
    with pytest.raises(
        sources.DataError,
        match=r"no UTKFace data found .* and could not download http://127.0.0.1:9/"
        r"UTKFace.tar.gz \(.*\); put UTKFace.tar.gz .* in data/, or set UTKFACE=",
    ):
        sources.resolve_source()
    assert not (tmp_path / "nowhere").exists() or not list((tmp_path / "nowhere").iterdir())
    with pytest.raises(sources.DataError, match="does not exist"):
        sources.resolve_source(tmp_path / "missing.tar.gz")


def test_environment_variable_names_the_source(face_archive, monkeypatch):
    monkeypatch.setenv("UTKFACE", str(face_archive))
    assert sources.resolve_source() == face_archive.resolve()


def test_unsafe_archive_members_are_refused(tmp_path):
    path = tmp_path / "evil.tar.gz"
    payload = tmp_path / "x.jpg"
    payload.write_bytes(jpeg_bytes(0))
    with tarfile.open(path, "w:gz") as tar:
        tar.add(payload, arcname="../30_1_0_20170116174525125.jpg.chip.jpg")
    with pytest.raises(sources.DataError, match="unsafe path"):
        sources.list_faces(path)


def test_download_verifies_the_checksum(tmp_path, face_archive):
    good = hashlib.sha256(face_archive.read_bytes()).hexdigest()
    dest = sources.download_utkface(tmp_path / "dl" / "UTKFace.tar.gz", url=face_archive.as_uri(), sha256=good)
    assert dest.read_bytes() == face_archive.read_bytes()
    with pytest.raises(sources.DataError, match="expected 0000"):
        sources.download_utkface(tmp_path / "bad" / "UTKFace.tar.gz", url=face_archive.as_uri(), sha256="0000")
    assert not list((tmp_path / "bad").iterdir())  # nothing half-downloaded is left behind
    with pytest.raises(sources.DataError, match="could not download"):
        sources.download_utkface(tmp_path / "off" / "UTKFace.tar.gz", url=(tmp_path / "absent").as_uri())


def test_missing_data_is_downloaded_when_a_source_is_online(tmp_path, face_archive, monkeypatch):
    monkeypatch.delenv("UTKFACE", raising=False)
    monkeypatch.setattr(config, "DATA_DIR", tmp_path / "data")
    monkeypatch.setenv("UTKFACE_URL", face_archive.as_uri())
    monkeypatch.setenv("UTKFACE_SHA256", hashlib.sha256(face_archive.read_bytes()).hexdigest())
    assert sources.resolve_source() == (tmp_path / "data" / "UTKFace.tar.gz").resolve()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["UTKFace.tar.gz"]


def test_a_full_disk_stops_the_download_in_one_line_and_leaves_nothing(tmp_path, face_archive, monkeypatch):
    real = tempfile.NamedTemporaryFile

    class FullDisk:  # a temporary file whose writes fail as on a full disk
        def __init__(self, **kwargs):
            self.file = real(**kwargs)
            self.name = self.file.name

        def write(self, chunk):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

    monkeypatch.setattr(sources.tempfile, "NamedTemporaryFile", FullDisk)
    with pytest.raises(sources.DataError, match=r"could not write .*UTKFace\.tar\.gz \(No space left on device\)"):
        sources.download_utkface(tmp_path / "dl" / "UTKFace.tar.gz", url=face_archive.as_uri(), sha256="0")
    assert not list((tmp_path / "dl").iterdir())


def test_unreadable_images_are_skipped_and_counted(face_folder):
    (face_folder / face_names(1)[0]).write_bytes(b"not a jpeg")
    profile = config.get_profile("smoke", {"n_images": None, "val_size": 5, "image_size": 32, "test_size": 0})
    splits = data.load_splits(profile, face_folder, progress=False)
    assert len(splits.train) + len(splits.val) == 39
    assert splits.info["skipped"]["unreadable image"] == {"count": 1, "examples": [face_names(1)[0]]}
    assert "skipped 6" in data.describe_skipped(splits.info)


# ---------------------------------------------------------------- duplicates
def _variants(tmp_path):
    """A folder with byte-identical copies, a re-encoded copy, a resized copy, and different faces."""
    import io as _io

    from PIL import Image

    folder = tmp_path / "twins"
    folder.mkdir()
    rng = np.random.default_rng(1)

    def smooth(generator):  # a smooth 200 px picture, like a face crop (no sharp block edges)
        small = Image.fromarray(generator.integers(0, 256, (10, 10, 3)).astype(np.uint8))
        return np.asarray(small.resize((200, 200), Image.Resampling.BICUBIC))

    base = smooth(rng)

    def save(array, name, quality=95, size=None):
        image = Image.fromarray(array)
        if size:
            image = image.resize((size, size), Image.Resampling.LANCZOS)
        buffer = _io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        (folder / name).write_bytes(buffer.getvalue())

    save(base, "30_0_0_20170101000000001.jpg.chip.jpg")
    (folder / "31_0_0_20170101000000002.jpg.chip.jpg").write_bytes(
        (folder / "30_0_0_20170101000000001.jpg.chip.jpg").read_bytes()
    )  # byte-identical, other age
    save(base, "30_1_0_20170101000000003.jpg.chip.jpg", quality=60)  # re-encoded, other gender
    save(base, "30_0_0_20170101000000004.jpg.chip.jpg", size=190)  # slightly resized
    for i in range(5, 13):  # clearly different faces
        save(smooth(np.random.default_rng(i)), f"{40 + i}_{i % 2}_1_20170101000000{i:03d}.jpg.chip.jpg")
    return folder


def test_twins_are_found_and_grouped(tmp_path):
    frame = twins.fingerprint_source(_variants(tmp_path), progress=False)
    groups = twins.twin_groups(frame["sha256"], frame["dhash"])
    by_name = dict(zip(frame["file"], groups))
    variants = {n for n in by_name if n.startswith(("30_", "31_"))}
    assert len({by_name[n] for n in variants}) == 1  # all four variants in one group
    assert len(set(groups)) == 1 + 8  # the eight other faces stay single
    summary = twins.twin_summary(frame, groups)
    assert (summary["exact_groups"], summary["exact_files"]) == (1, 2)
    assert (summary["visual_groups"], summary["visual_files"]) == (1, 4)
    assert summary["conflicting_groups"] == 1 and summary["conflicting_gender_groups"] == 1
    assert summary["conflicting_age_spread_max"] == 1


def test_group_split_never_separates_twins(tmp_path):
    folder = _variants(tmp_path)
    for seed in range(6):
        profile = config.get_profile(
            "smoke", {"n_images": None, "val_size": 3, "image_size": 32, "seed": seed, "test_size": 0, "split": "group"}
        )
        splits = data.load_splits(profile, folder, progress=False)
        variants = {n for n in splits.train.names + splits.val.names if n.startswith(("30_", "31_"))}
        assert variants <= set(splits.train.names) or variants <= set(splits.val.names)
        assert len(splits.val) == 3 and splits.info["val_with_train_twin"] == 0
        again = data.load_splits(profile, folder, progress=False)
        assert again.val.names == splits.val.names  # deterministic for a seed


def test_random_split_reports_twins_across_the_split(tmp_path):
    folder = _variants(tmp_path)
    counts = []
    for seed in range(6):
        profile = config.get_profile(
            "smoke", {"n_images": None, "val_size": 3, "image_size": 32, "seed": seed, "test_size": 0}
        )
        splits = data.load_splits(profile, folder, progress=False)
        train_twins = sum(n.startswith(("30_", "31_")) for n in splits.train.names)
        val_twins = sum(n.startswith(("30_", "31_")) for n in splits.val.names)
        counts.append(splits.info["val_with_train_twin"])
        assert splits.info["val_with_train_twin"] == (val_twins if train_twins else 0)
    assert max(counts) > 0  # some seed splits the group


# ---------------------------------------------------------------- the test split
def test_test_images_are_outside_the_subset_and_have_no_twin_in_it(tmp_path):
    folder = _variants(tmp_path)  # 12 faces: 4 twins (30_*/31_*) and 8 single ones
    for seed in range(6):
        profile = config.get_profile(
            "smoke", {"n_images": 5, "val_size": 2, "image_size": 32, "seed": seed, "test_size": 3}
        )
        splits = data.load_splits(profile, folder, progress=False)
        test = data.load_test(profile, folder, progress=False)
        subset = set(splits.train.names + splits.val.names)
        assert len(test) == 3 and not subset & set(test.names)
        variants = {n for n in (subset | set(test.names)) if n.startswith(("30_", "31_"))}
        assert variants <= subset or variants <= set(test.names)  # twins never on both sides
        assert data.load_test(profile, folder, progress=False).names == test.names  # cached, same draw


def test_all_images_profile_holds_the_test_set_out(tmp_path):
    folder = _variants(tmp_path)
    profile = config.get_profile("smoke", {"n_images": None, "val_size": 2, "image_size": 32, "test_size": 4})
    splits = data.load_splits(profile, folder, progress=False)
    test = data.load_test(profile, folder, progress=False)
    assert len(splits.train) + len(splits.val) + len(test) == 12
    assert not set(test.names) & set(splits.train.names + splits.val.names)


def test_too_large_a_test_set_says_what_to_do(face_folder):
    profile = config.get_profile("smoke", {"n_images": 30, "val_size": 10, "image_size": 32, "test_size": 20})
    with pytest.raises(sources.DataError, match=r"only 10 images are left for a test set of 20.*test_size"):
        data.load_test(profile, face_folder, progress=False)


def test_conflicting_twins_leave_training_and_validation_stays(tmp_path):
    folder = _variants(tmp_path)  # the four 30_/31_ twins disagree on age or gender
    for seed in range(4):
        settings = {"n_images": None, "val_size": 3, "image_size": 32, "seed": seed, "test_size": 0, "split": "group"}
        kept = data.load_splits(config.get_profile("smoke", settings), folder, progress=False)
        clean = data.load_splits(
            config.get_profile("smoke", {**settings, "drop_conflicting": True}), folder, progress=False
        )
        assert clean.val.names == kept.val.names
        twins_in_train = [n for n in kept.train.names if n.startswith(("30_", "31_"))]
        assert clean.info["dropped_conflicting"] == len(twins_in_train)
        assert sorted(clean.train.names) == sorted(set(kept.train.names) - set(twins_in_train))


# ---------------------------------------------------------------- the study's images, by name (#21)
STUDY_SETTINGS = {"n_images": 20, "val_size": 5, "image_size": 32, "seed": 42, "test_size": 5}


@pytest.fixture
def study_list(tmp_path, monkeypatch):
    """A study of 20 + 5 of face_names(40), listed like config.STUDY_IMAGES (subset in its order, then test)."""
    import pandas as pd

    names = face_names(40)
    order = np.random.default_rng(7).permutation(40)
    subset, test = [names[i] for i in order[:20]], [names[i] for i in order[20:25]]
    path = tmp_path / "study_images.csv.gz"
    pd.DataFrame({"file": subset + test, "role": ["validation"] * 5 + ["train"] * 15 + ["test"] * 5}).to_csv(
        path, index=False
    )
    monkeypatch.setattr(config, "STUDY_IMAGES", path)
    monkeypatch.setattr(data, "STUDY_DRAW", {"n_images": 20, "seed": 42, "test_size": 5})
    data.study_images.cache_clear()
    yield subset, test
    data.study_images.cache_clear()


def _copy(folder, tmp_path, name, extra=(), drop=()):
    """A copy of ``folder`` as another folder, with ``extra`` faces added and ``drop`` left out."""
    copy = tmp_path / name / "UTKFace"
    copy.mkdir(parents=True)
    for file in folder.iterdir():
        if file.name not in drop:
            (copy / file.name).write_bytes(file.read_bytes())
    for i, extra_name in enumerate(extra):
        (copy / extra_name).write_bytes(jpeg_bytes(1000 + i))
    return copy


def _archive(folder, path):
    with tarfile.open(path, "w:gz") as tar:
        for file in sorted(folder.iterdir()):
            tar.add(file, arcname=f"UTKFace/{file.name}")
    return path


def test_the_study_images_are_taken_by_name_from_any_copy(study_list, face_folder, tmp_path):
    subset, test = study_list
    # Valid names that sort before, between and after the study's: a draw from this copy would pick other images.
    extra = [
        "1_0_0_20160000000000001.jpg.chip.jpg",
        "45_1_2_20170110000000000.jpg.chip.jpg",
        "99_1_4_20189999999999999.jpg.chip.jpg",
    ]
    superset = _copy(face_folder, tmp_path, "superset", extra=extra)
    profile = config.get_profile("smoke", STUDY_SETTINGS)
    loaded = {}
    for kind, source in [
        ("exact", _copy(face_folder, tmp_path, "exact", drop=set(face_names(40)) - set(subset + test))),
        ("superset folder", superset),
        ("superset archive", _archive(superset, tmp_path / "UTKFace.tar.gz")),
    ]:
        splits, tested = (
            data.load_splits(profile, source, progress=False),
            data.load_test(profile, source, progress=False),
        )
        assert splits.val.names + splits.train.names == subset, kind
        assert tested.names == test, kind
        assert splits.info["images"] == "the study's 20 images, found by name"
        loaded[kind] = (splits, tested)
    for kind in ("superset folder", "superset archive"):  # the same pixels too, not just the same names
        assert np.array_equal(loaded[kind][0].train.images, loaded["exact"][0].train.images)
        assert np.array_equal(loaded[kind][1].images, loaded["exact"][1].images)
    drawn = data.load_splits(
        config.get_profile("smoke", {**STUDY_SETTINGS, "images": "draw"}), superset, progress=False
    )
    assert drawn.val.names + drawn.train.names != subset and drawn.info["images"] == "drawn from this copy with seed 42"
    assert "found by name in this copy" in copies.check_study_images(profile, superset)


def test_a_copy_missing_study_images_says_so_in_one_line(study_list, face_folder, tmp_path, capsys):
    from tools.cli import main

    subset, test = study_list
    lacking = _copy(face_folder, tmp_path, "lacking", drop={subset[3], test[0]})
    profile = config.get_profile("smoke", STUDY_SETTINGS)
    with pytest.raises(sources.DataError, match=r"lacks 2 of the study's 25 images .*sha256 .*images=draw"):
        data.load_splits(profile, lacking, progress=False)  # the missing test image too, before any training
    settings = [f"--set={key}={value}" for key, value in STUDY_SETTINGS.items()]
    assert main(["data", "--data", str(lacking), "--profile", "smoke", *settings]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and subset[3] in err and data.STUDY_COPY["sha256"] in err
    drawn = config.get_profile("smoke", {**STUDY_SETTINGS, "images": "draw"})  # asked for explicitly: a fresh draw
    assert len(data.load_splits(drawn, lacking, progress=False).train) == 15


def test_the_copy_note_says_whether_the_readers_copy_is_the_runs(study_list, face_folder, tmp_path, monkeypatch):
    """Page 1 of the report and make report's plan: the run's copy, or how many of the study's images another one
    holds by name, or that a drawn run's images come from its own copy (#35)."""
    subset, _ = study_list
    profile = config.get_profile("smoke", STUDY_SETTINGS)
    run_data = sources.describe_source(face_folder)  # what a run on face_folder records in its manifest
    assert copies.copy_note(run_data, copies.reader_copy(profile, face_folder)) == "your copy is the one this run used"
    lacking = _copy(face_folder, tmp_path, "lacking", drop={subset[0]})
    reader = copies.reader_copy(profile, lacking)
    assert copies.copy_note(run_data, reader) == (
        f"your copy differs (sha256 {reader['sha256'][:12]}…): the study's images matched by name, 24 of 25 found"
    )
    drawn = config.get_profile("smoke", {**STUDY_SETTINGS, "images": "draw"})
    assert copies.copy_note(run_data, copies.reader_copy(drawn, lacking)).endswith(
        "this run drew its images from its own copy, so retraining here draws others"
    )
    monkeypatch.delenv("UTKFACE", raising=False)
    assert copies.reader_copy(profile, tmp_path / "nowhere") is None
    assert copies.copy_note(run_data, None) == "no copy of UTKFace here to compare with"


def test_the_study_images_export_to_a_folder_that_trains_the_same(study_list, face_folder, tmp_path, capsys):
    from tools.cli import main

    subset, test = study_list
    superset = _archive(
        _copy(face_folder, tmp_path, "superset", extra=["1_0_0_20160000000000001.jpg.chip.jpg"]),
        tmp_path / "UTKFace.tar.gz",
    )
    settings = [f"--set={key}={value}" for key, value in STUDY_SETTINGS.items()]
    exported = tmp_path / "drive" / "study"
    assert main(["data", "--data", str(superset), "--profile", "smoke", *settings, "--export", str(exported)]) == 0
    assert "25 images written" in capsys.readouterr().out
    assert sorted(p.name for p in exported.iterdir()) == sorted(subset + test)
    profile = config.get_profile("smoke", STUDY_SETTINGS)
    for loaded in (data.load_splits, data.load_test):
        ours, theirs = loaded(profile, exported, progress=False), loaded(profile, superset, progress=False)
        if loaded is data.load_splits:
            ours, theirs = ours.train, theirs.train
        assert ours.names == theirs.names and np.array_equal(ours.images, theirs.images)
    assert copies.export_study_images(profile, exported, superset) == 0  # a second export keeps what is there
    with pytest.raises(
        sources.DataError, match=r"takes none of the study.s named images.*seed=1\): it draws from the whole copy"
    ):
        copies.export_study_images(config.get_profile("smoke", {**STUDY_SETTINGS, "seed": 1}), tmp_path / "x", superset)
    with pytest.raises(sources.DataError, match="inside the copy it reads"):
        copies.export_study_images(profile, exported / "again", exported)
