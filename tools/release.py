"""Trained models, published: a model card beside every run's results, and ``release/<profile>/`` (model files,
their cards and ``SHA256SUMS``) ready to attach to a GitHub release or a Hugging Face model repository."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd

from helpers import config, data, evaluation, files, registry, results

CARD = "MODEL_CARD.md"
SUMS = "SHA256SUMS"
# Shared with the report's introduction: what the labels are, and what the models must not be used for.
ETHICS = (
    "UTKFace records gender as a binary label assigned by its annotators and ethnicity as one of five coarse "
    "categories. A model trained on these labels can only reproduce that binary view: it will misgender people "
    "whose appearance does not match the label, and it says nothing about how anyone identifies. Apparent age and "
    "gender are also known to be predicted less accurately for groups that are under-represented in the training "
    "data (see the ethnicity counts in section 2.1). The models here are studied as an exercise in deep learning, "
    "not built for use on people."
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _images(manifest: dict) -> str:
    profile = manifest["profile"]
    study = (
        profile.get("images", "study") == "study"
        and profile["n_images"] == data.STUDY_DRAW["n_images"]
        and profile["seed"] == data.STUDY_DRAW["seed"]
    )
    if study:
        return (
            "the study's images, listed by file name in `helpers/study_images.csv.gz` (the seed-42 draw of "
            "5,000 images and its test images)"
        )
    if profile["n_images"] is not None:
        what = f"{profile['n_images']:,} images"
    elif profile.get("test_size"):  # the test images are drawn first and left out
        what = f"every usable image but {profile['test_size']:,} held out for testing"
    else:
        what = "every usable image"
    text = f"{what}, drawn with seed {profile['seed']} from the copy below"
    if profile.get("split") == "group":
        text += ", split so that no image has a twin (a duplicate face) on both sides"
    dropped = manifest["data"].get("dropped_conflicting", 0)
    if dropped:
        text += f", less {dropped:,} left out of training because a twin of theirs has other labels"
    return text


def _metric_rows(run: results.RunResults) -> list[str]:
    rows = [("validation", run.predictions)]
    if run.test_predictions is not None:
        rows.append(("test (no training saw them)", run.test_predictions))
    lines = ["| images | count | gender accuracy | age MAE (years) |", "|---|---:|---:|---:|"]
    for name, frame in rows:
        summary = evaluation.summarize(frame)
        lines.append(f"| {name} | {summary['n']:,} | {summary['gender_accuracy']:.3f} | {summary['age_mae']:.2f} |")
    return lines


def _group_rows(frame: pd.DataFrame) -> list[str]:
    lines = ["| group | count | gender accuracy | age MAE | mean age error |", "|---|---:|---:|---:|---:|"]
    for row in evaluation.by_group(frame).itertuples():
        lines.append(
            f"| {row.group} | {row.count:,} | {row.gender_accuracy:.3f} | {row.age_mae:.2f} | "
            f"{row.age_mean_signed_error:+.2f} |"
        )
    return lines


def model_card(model: str, folder) -> str:
    """The model card of a finished run, in Markdown, from its result files alone."""
    run = results.load(model, folder)
    manifest, source = run.manifest, run.manifest.get("data", {})
    size = manifest["profile"]["image_size"]
    graded = run.test_predictions if run.test_predictions is not None else run.predictions
    lines = [
        f"# Model card: {registry.get(model).label}, profile {manifest['profile_name']} "
        f"(hash {manifest['hash']}, seed {manifest['seed']})",
        "",
        *_model_details(model, manifest),
        "",
        "## Intended use",
        "Teaching and research on multi-task learning and transfer learning: reproducing and extending the study, "
        "comparing models on UTKFace-like face crops.",
        "",
        "## Out-of-scope use",
        "Any decision about a real person (access, identity, age verification, surveillance, profiling), and any "
        "use on faces unlike UTKFace's aligned crops. Gender here is a binary label assigned by annotators, not "
        "anyone's identity.",
        "",
        "## Training data",
        f"UTKFace, {_images(manifest)}: {source.get('n_train', '?'):,} training and "
        f"{source.get('n_val', '?'):,} validation images. Copy: `{source.get('source', '?')}`, "
        f"{source.get('files', '?'):,} files, sha256 `{source.get('sha256', 'not recorded')}`. Images are for "
        "non-commercial research only (https://susanqq.github.io/UTKFace/).",
        "",
        "## Evaluation",
        *_metric_rows(run),
        "",
        f"Per group, on the {'test' if graded is run.test_predictions else 'validation'} images (labels as "
        "UTKFace assigns them):",
        "",
        *_group_rows(graded),
        "",
        "## Ethical considerations",
        ETHICS.replace(" (see the ethnicity counts in section 2.1)", ""),
        "",
        *_how_to_load(model, size),
        "",
        "## Weights provenance",
        _weights_provenance(model, manifest.get("weights") or {}),
    ]
    return "\n".join(lines) + "\n"


def _model_details(model: str, manifest: dict) -> list[str]:
    commit = (manifest.get("code") or {}).get("commit")
    code = f"commit `{commit}`" if commit else "commit not recorded"
    size = manifest["profile"]["image_size"]
    return [
        "## Model details",
        f"- Predicts **age** (years: one linear output, trained with MAE) and **gender** (P(female): one sigmoid "
        f"output, trained with binary cross-entropy) from one {size}×{size} RGB face of UTKFace's \"aligned & "
        'cropped" kind.',
        f"- Architecture: {registry.get(model).summary}; augmentation layers inside the model (active in training "
        "only).",
        f"- Trained with Keras {manifest['versions'].get('keras', '?')} on {manifest.get('backend', '?')}, finished "
        f"{manifest.get('finished', '?')[:10]}; code: {code}. Settings: `profile` in `manifest.json`.",
        "- Part of the reproduction study https://github.com/" + config.GITHUB_HOME + " (MIT licence for the code; "
        "the weights inherit the data's non-commercial research terms).",
    ]


def _how_to_load(model: str, size: int) -> list[str]:
    return [
        "## How to load it",
        "Plain Keras, no code of this project needed (Keras' own layers only):",
        "",
        "```python",
        "import keras",
        f'model = keras.models.load_model("{model}.keras")',
        f"outputs = model.predict(faces)  # faces: (N, {size}, {size}, 3) RGB, values 0-255",
        'age, p_female = outputs["age"][:, 0], outputs["gender"][:, 0]',
        "```",
        "",
        f"`python -m tools predict photo.jpg --model {model}.keras` finds and crops the faces in a photo first.",
    ]


def _weights_provenance(model: str, weights: dict) -> str:
    spec = registry.get(model)
    if not spec.weights_variable:
        return "Trained from scratch (random initialisation with the run's seed); no pretrained weights."
    return (
        f"Initial weights: {weights.get('label', 'not recorded')}"
        + (f" (file `{weights['path']}`, sha256 `{weights['sha256']}`)" if weights.get("path") else "")
        + f"; {spec.trained_here} trained here."
    )


def run_folders(results_dir=None) -> list[tuple[str, Path]]:
    """Every finished run under the results root (and the sweeps beneath it), as (model, folder)."""
    root = Path(results_dir or config.RESULTS_DIR)
    return sorted(
        (metrics.parent.name, metrics.parent)
        for metrics in root.rglob("metrics.json")
        if metrics.parent.name in registry.names()
    )


def write_cards(results_dir=None) -> list[Path]:
    """Write (or refresh) ``MODEL_CARD.md`` beside every finished run's results; returns the cards written."""
    written = []
    for model, folder in run_folders(results_dir):
        files.write_atomic(folder / CARD, model_card(model, folder))
        written.append(folder / CARD)
    return written


def release(profile: config.Profile, results_dir=None, out_dir=None) -> list[Path]:
    """Gather each model of ``profile`` whose ``.keras`` is on disk into ``release/<profile>/``: the model file,
    its card (``MODEL_CARD_<model>.md``) and a ``SHA256SUMS`` of them all. ``ValueError`` when no model file is
    there (training writes it; it is not committed)."""
    out = Path(out_dir or config.PROJ_ROOT / "release" / profile.name)
    found = [
        (m, results.run_folder(m, profile, results_dir))
        for m in registry.names()
        if results.finished(m, profile, results_dir)
        and (results.run_folder(m, profile, results_dir) / f"{m}.keras").is_file()
    ]
    if not found:
        raise ValueError(
            f"no trained model file of profile {profile.name} in "
            f"{results.profile_folder(profile, results_dir)}/<model>/<model>.keras: train one first "
            f"(make train PROFILE={profile.name}); model files are not committed"
        )
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for model, folder in found:
        with files.atomic_path(out / f"{model}.keras") as tmp:
            shutil.copyfile(folder / f"{model}.keras", tmp)
        files.write_atomic(out / f"MODEL_CARD_{model}.md", model_card(model, folder))
        written += [out / f"{model}.keras", out / f"MODEL_CARD_{model}.md"]
    files.write_atomic(out / SUMS, "".join(f"{sha256_of(path)}  {path.name}\n" for path in written))
    return [*written, out / SUMS]


def model_files(profile: config.Profile, results_dir=None, release_dir=None) -> list[dict]:
    """Per model of ``profile`` that has run: where its released file lives (``url``) and, where the file is on
    this disk (``release/<profile>/`` or the run folder), its ``size`` in bytes and ``sha256``; ``on_disk`` False
    where it is not (model files are not committed: a run's file stays on the machine that trained it)."""
    folder = Path(release_dir or config.PROJ_ROOT / "release" / profile.name)
    sums = (
        dict(line.split()[::-1] for line in (folder / SUMS).read_text().splitlines() if line.strip())
        if (folder / SUMS).is_file()
        else {}
    )
    found = []
    for model in registry.names():
        if not results.finished(model, profile, results_dir):
            continue
        name = f"{model}.keras"
        entry = {"model": model, "file": name, "url": f"{config.RELEASE_URL}/{profile.name}/{name}", "on_disk": False}
        for path in (folder / name, results.run_folder(model, profile, results_dir) / name):
            if path.is_file():
                digest = sums.get(name) if path.parent == folder and name in sums else sha256_of(path)
                entry.update(on_disk=True, size=path.stat().st_size, sha256=digest)
                break
        found.append(entry)
    return found


def add_test_results(model_name: str, profile: config.Profile, out_dir, source=None) -> dict:
    """Evaluate a finished run's saved model on the test images and add the numbers to its metrics.json (and
    its card)."""
    from helpers import models, training  # Keras: only this command needs it

    out = Path(out_dir)
    run = results.load(model_name, out)  # a missing or damaged run is named before anything is written
    with files.folder_lock(out, "run"):
        model_path = out / f"{model_name}.keras"
        try:
            model = models.load(model_path)
        except Exception as err:  # zipfile, h5py and Keras raise their own kinds for a damaged file
            reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise results.DamagedRun(
                f"cannot load {model_path} ({reason}); retrain the run (RETRAIN=1, or delete {out})"
            ) from None
        metrics = dict(run.metrics, **training.evaluate_test(model_name, model, profile, out, source))
        files.write_json(out / "metrics.json", metrics)
        files.write_atomic(out / CARD, model_card(model_name, out))
    return metrics
