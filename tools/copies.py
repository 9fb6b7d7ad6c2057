"""Which copy of UTKFace a reader has, beside the one a run used (``make report``'s notes, ``python -m tools plan``),
and the study's images checked in or exported from it (``python -m tools data``)."""

from __future__ import annotations

from pathlib import Path

from helpers import config, data, files, sources


def reader_copy(profile: config.Profile, source=None) -> dict | None:
    """The copy of UTKFace on this machine (:func:`helpers.sources.describe_source`), with ``found`` and ``of``: how
    many of the study's images it holds by name, for a profile that takes them; None when there is no copy here."""
    try:
        source = sources.resolve_source(source, download=False)
    except sources.DataError:
        return None
    described = sources.describe_source(source)
    if data.uses_study_images(profile):
        present = {face.name for face in sources.list_faces(source)[0]}
        names = data.study_names(profile)
        described.update(found=sum(name in present for name in names), of=len(names))
    return described


def copy_note(run_data: dict, reader: dict | None) -> str:
    """Whether the reader's copy is the one a run used (a manifest's ``data``), and if not how its images were
    matched. ``reader``: :func:`reader_copy` of the run's profile."""
    if reader is None:
        return "no copy of UTKFace here to compare with"
    if run_data.get("sha256") == reader["sha256"]:
        return "your copy is the one this run used"
    if "found" in reader:
        return (
            f"your copy differs (sha256 {reader['sha256'][:12]}…): the study's images matched by name, "
            f"{reader['found']:,} of {reader['of']:,} found"
        )
    return (
        f"your copy differs (sha256 {reader['sha256'][:12]}…): this run drew its images from its own copy, so "
        "retraining here draws others"
    )


def check_study_images(profile: config.Profile, source=None) -> str:
    """One line on the images ``profile`` takes from the copy: the study's by name (``DataError`` when some are
    missing), or a draw from this copy."""
    source = sources.resolve_source(source, download=False)
    if not data.uses_study_images(profile):
        return f"profile {profile.name}: images drawn from this copy with seed {profile.seed}"
    names = data.study_names(profile)
    data.by_name(sources.list_faces(source)[0], names)
    same = sources.describe_source(source)["sha256"] == data.STUDY_COPY["sha256"]
    return f"profile {profile.name}: the study's {len(names):,} images, " + (
        "from the copy the committed runs used" if same else f"all {len(names):,} found by name in this copy"
    )


def export_study_images(profile: config.Profile, dest, source=None) -> int:
    """Copy the images a study profile reads (its subset, and its test images when they are the study's) into the
    folder ``dest`` under their UTKFace names: 7,000 JPEGs (36 MB) that train the study as the whole archive does,
    for a Drive, a Colab session or a GPU machine that cannot hold the archive. Never commit them (licence).

    Returns:
        How many files were written; those already there with the same bytes are kept.
    """
    if not data.uses_study_images(profile):
        raise sources.DataError(
            f"profile {profile.name} takes none of the study's named images (those need images=study, "
            f"n_images={data.STUDY_DRAW['n_images']} and seed={data.STUDY_DRAW['seed']}; it has "
            f"images={profile.images}, n_images={profile.n_images}, seed={profile.seed}): it draws from "
            "the whole copy, so train it from that"
        )
    source = sources.resolve_source(source, download=False)
    dest = Path(dest).expanduser().resolve()
    if source.is_dir() and dest.is_relative_to(source):
        raise sources.DataError(
            f"the export folder {dest} is inside the copy it reads ({source}); choose another folder"
        )
    wanted = {face.key: face.name for face in data.by_name(sources.list_faces(source)[0], data.study_names(profile))}
    dest.mkdir(parents=True, exist_ok=True)
    written = 0
    for key, content in sources.iter_bytes(source, set(wanted)):
        target = dest / wanted[key]
        if not (target.is_file() and target.read_bytes() == content):
            files.write_atomic(target, content)
            written += 1
    return written
