"""The HTML + PDF report: a Markdown/Jinja template filled with numbers read from a run's result files."""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from pathlib import Path

import jinja2
import mistune
import numpy as np
import pandas as pd

from . import (
    bench,
    browser,
    config,
    evaluation,
    experiments,
    face_claim,
    files,
    findings,
    registry,
    release,
    report_sections,
    results,
    seed_sweeps,
)
from . import data as utk
from .config import Profile

TEMPLATE = "report.md.j2"
STYLE = "style.css"
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{style}</style></head>
<body>{body}</body></html>
"""


def _figure_uri(folder: Path, name: str) -> str | None:
    path = folder / f"{name}.png"
    if not path.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


OLDER_HASH = "older, same settings"  # a run from before settings were added: accepted by Profile.same_settings


def provenance(runs: dict, reader: dict | None = None, profile: Profile | None = None) -> pd.DataFrame | None:
    """Per model, what a reader can check: data (name and sha256), weights (label, file and sha256), the code
    (git commit; "+ changes" when the tree was dirty) the run started with and was resumed with, the settings'
    hash the run recorded, and where it ran. ``reader``: :func:`helpers.data.reader_copy`, to say whether the
    reader's copy of UTKFace is the run's; ``profile``: to say why a recorded hash that is not its own still
    counts (the run predates settings added since, at the value they had then)."""

    def short(digest):
        return f"`{digest[:16]}…`" if digest else "not recorded"

    def code(version):
        if not version or not version.get("commit"):
            return "not recorded"
        return f"`{version['commit'][:10]}`" + (" + changes" if version.get("dirty") else "")

    rows = {}
    for model, run in runs.items():
        manifest, data = run.manifest, run.manifest.get("data", {})
        weights = manifest.get("weights") or {}
        resumes = [code(r.get("code")) for r in manifest.get("resumes", [])]
        rows[registry.get(model).label] = {
            "data": f"{Path(data.get('source', '?')).name} · sha256 {short(data.get('sha256'))} · "
            + utk.copy_note(data, reader),
            "weights": "—"
            if not registry.get(model).weights_variable
            else weights.get("label", "?")
            + (
                f" · {Path(weights['path']).name} · sha256 {short(weights.get('sha256'))}"
                if weights.get("path")
                else ""
            ),
            "code": code(manifest.get("code")) + (f" (resumed with {', '.join(resumes)})" if resumes else ""),
            "settings": f"hash `{manifest.get('hash', '?')}`"
            + (f" ({OLDER_HASH})" if profile and manifest.get("hash") != profile.hash else ""),
            "ran on": _device(manifest.get("hardware", {}))
            + f", {manifest.get('backend', '?')}, finished {manifest.get('finished', '?')[:10]}",
        }
    return pd.DataFrame.from_dict(rows, orient="index") if rows else None


def _device(hardware: dict) -> str:
    """Where a run ran, e.g. "NVIDIA H100" or "CPU (2 cores, AMD EPYC)" (the CPU model where it was recorded)."""
    if hardware.get("accelerators"):
        return ", ".join(hardware["accelerators"])
    model = (hardware.get("cpu") or {}).get("model")
    return f"CPU ({hardware.get('cpu_count', '?')} cores{', ' + model if model else ''})"


def not_run_note(model: str, profile: Profile, results_dir=None) -> str:
    """What a model's sections say when it has not run: the command that trains it, how long it should take and
    how far an unfinished run got."""
    time = bench.time_to_train(model, profile, results.run_folder(model, profile, results_dir))
    also = (
        f"make report PROFILE={profile.name} TRAIN=1"
        if registry.get(model).notebook
        else f"make train MODELS={model} PROFILE={profile.name}"
    )
    return (
        f"Train it with <code>python -m helpers train --model {model} --profile {profile.name} --out "
        f"results/{profile.name}/{model}</code> (or <code>{also}</code>): {time}."
    )


def context(profile: Profile, results_dir=None, figures_dir=None, sweep_dir=None) -> dict:
    """Everything the template reads: profile, data summary, runs, figures, parameter counts, notices."""
    root = Path(results_dir or config.RESULTS_DIR) / profile.name
    figures = Path(figures_dir or config.FIGURES_DIR) / profile.name
    summary_path = root / "data_summary.json"
    evaluation_path = root / "evaluation.json"
    evaluations = json.loads(evaluation_path.read_text()) if evaluation_path.is_file() else {}
    runs = results.load_available(profile, results_dir)
    not_run = {m: not_run_note(m, profile, results_dir) for m in registry.names() if m not in runs}
    descriptions = {m: registry.describe(m, profile) for m in registry.names()}
    spreads = report_sections.sweeps(
        profile, sweep_dir, {m: run.manifest["weights"] for m, run in runs.items()}, results_dir
    )
    return {
        "profile": profile,
        "seed_profile": config.PROFILES["seed"],
        "data": json.loads(summary_path.read_text()) if summary_path.is_file() else None,
        "runs": runs,
        # the study's two models, which sections 2 and 3 describe
        "custom": runs.get("custom"),
        "vgg": runs.get("vgg16"),
        "params": {m: description["trainable_params"] for m, description in descriptions.items()},
        "custom_design": network_design(descriptions["custom"], profile.image_size),
        "figures": {p.stem: _figure_uri(figures, p.stem) for p in sorted(figures.glob("*.png"))},
        "seed_reported": registry.reported(),
        "model_names": registry.labels(),
        "prose": {m: spec.prose for m, spec in registry.MODELS.items()},
        "seed_dataset": results.SEED_DATASET,
        **_comparison(runs, evaluations),
        "notices": _notices(profile, runs, not_run),
        "ethics": release.ETHICS,
        "model_files": release.model_files(profile, results_dir),
        "release_url": config.RELEASE_URL,
        "study_images": utk.uses_study_images(profile),
        "not_run": not_run,
        "provenance": provenance(runs, utk.reader_copy(profile), profile),
        "older_hash": OLDER_HASH,
        "experiments": report_sections.experiment_tables(profile, results_dir, sweep_dir),
        "sweeps": spreads,
        "specs": registry.MODELS,
        "domain_models": face_claim.face_domain_models(),
        "face_claim": {
            entry["model"]: entry
            for entry in face_claim.section(
                runs, next((e["models"] for e in spreads if e["profile"].name == profile.name), None)
            )
        },
        "protocols": (
            None
            if (protocols := seed_sweeps.protocol_table(profile, sweep_dir=sweep_dir, results_dir=results_dir)) is None
            else seed_sweeps.readable_protocols(protocols)
        ),
        "pretraining": [
            {
                "profile": shown,
                "table": seed_sweeps.readable_pretraining(table),
                "findings": findings.pretraining_findings(table),
                "imagenet": bool((table["source"] == "imagenet").any()),
            }
            for shown in experiments.shown_profiles(profile)
            if (table := seed_sweeps.pretraining_table(shown, sweep_dir, results_dir)) is not None
        ],
    }


def _notices(profile: Profile, runs: dict, not_run: dict) -> list[str]:
    """The boxes at the top of page 1: another profile than the study's, weights other than ImageNet's, models
    not run yet."""
    notices = []
    if profile.hash != config.PROFILES["seed"].hash:
        notices.append(
            f"This report was made with the <b>{profile.name}</b> profile (hash {profile.hash}), not the "
            "coursework's seed protocol: its numbers are not comparable with the coursework's."
        )
    for model, run in runs.items():
        spec, weights = registry.get(model), run.manifest["weights"]
        if spec.weights_variable and weights["source"] != "imagenet":
            notices.append(
                f"{spec.label} was trained from <b>{weights['label']}</b>"
                + (
                    f" (<code>{weights['path']}</code>, sha256 {weights['sha256'][:16]}…)"
                    if "sha256" in weights
                    else ""
                )
                + ("; the coursework used ImageNet weights." if spec.reported else ".")
            )
    if not_run:
        notices.append(
            "Not run yet for this profile: "
            + ", ".join(registry.get(m).label for m in not_run)
            + ". Its sections say so and how to train it; no number is shown for it."
        )
    return notices


def _comparison(runs: dict, evaluations: dict) -> dict:
    """Section 4's tables: the summary, each pair of models image by image, the headline and per-group tables."""
    tested = {m: e["test"] for m, e in evaluations.items() if "test" in e}
    return {
        "table": results.comparison_table(runs) if runs else None,
        "pairs": [
            {
                "first": first,
                "second": second,
                "table": evaluation.paired_table(comparisons),
                "findings": evaluation.paired_findings(
                    comparisons, (registry.get(first).prose, registry.get(second).prose)
                ),
                "coursework_found_second_better": _reported_better(second, first),
            }
            for (first, second), comparisons in results.paired_comparisons(runs).items()
        ],
        "evaluations": evaluations,
        "headline": evaluation.headline_table(evaluations, registry.labels()) if evaluations else None,
        "groups": evaluation.group_table(evaluations, registry.labels()) if evaluations else None,
        "groups_test": evaluation.group_table(tested, registry.labels()) if tested else None,
    }


def _reported_better(model: str, other: str) -> bool:
    """Whether the coursework reported ``model`` better than ``other`` in both validation numbers."""
    mine, theirs = registry.get(model).reported, registry.get(other).reported
    return bool(mine and theirs) and (
        mine["val_gender_accuracy"] > theirs["val_gender_accuracy"] and mine["val_age_mae"] < theirs["val_age_mae"]
    )


NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def network_design(description: dict, image_size: int) -> dict:
    """What section 2.3 says of the custom CNN, read from :func:`helpers.registry.describe`: its convolutional blocks
    (count in words, filters), the side of the features they leave, the shared dense layer's units and the task
    branches' dropout rates."""
    layers = {layer["name"]: layer for layer in description["layers"]}
    convs = [layer for layer in description["layers"] if layer["class_name"] == "Conv2D"]
    pools = sum(layer["class_name"] == "MaxPooling2D" for layer in description["layers"])
    count = len(convs)
    return {
        "blocks": NUMBER_WORDS[count] if count < len(NUMBER_WORDS) else str(count),
        "filters": [layer["config"]["filters"] for layer in convs],
        "side": image_size // 2**pools,
        "dense": layers["shared_dense"]["config"]["units"],
        "dropout": {task: layers[f"{task}_dropout"]["config"]["rate"] for task in ("age", "gender")},
    }


def sentence_start(prose: str) -> str:
    """A model's name in a sentence as it opens one: "the custom CNN" -> "Custom CNN", "VGG16" -> "VGG16"."""
    name = prose.removeprefix("the ")
    return name[:1].upper() + name[1:]


def markdown_table(frame, digits: int = 3) -> str:
    """A DataFrame as a Markdown table (index as the first column, numbers rounded)."""

    def cell(value):
        if isinstance(value, float):
            return "—" if value != value else f"{value:.{digits}f}"
        return f"{value:,}" if isinstance(value, (int, np.integer)) else str(value)

    def label(key):  # a MultiIndex key reads "VGG16 · random initialisation"
        return " · ".join(map(str, key)) if isinstance(key, tuple) else str(key)

    headers = [label(c) for c in frame.columns]
    lines = ["| | " + " | ".join(headers) + " |", "|---|" + "---:|" * len(headers)]
    lines += [
        "| " + label(index) + " | " + " | ".join(cell(v) for v in row) + " |"
        for index, row in zip(frame.index, frame.itertuples(index=False))
    ]
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} minutes" if seconds < 7200 else f"{seconds / 3600:.1f} hours"


def training_time(run) -> str:
    """How long a run trained, for the report: the summed epoch times, or, when they hold pauses (a shared
    machine, a stopped process: summed times above 1.25× the median epoch's pace), that pace as well."""
    if "seconds" not in run.history or run.history["seconds"].isna().any():
        return _duration(run.manifest["seconds"])
    seconds = run.history["seconds"]
    by_stage = list(run.history.groupby("stage")["seconds"]) if "stage" in run.history else [(1, seconds)]
    pace = sum(stage.median() * len(stage) for _, stage in by_stage)
    medians = " and ".join(
        f"{stage.median():.0f} s" + (f" in stage {number}" if len(by_stage) > 1 else "") for number, stage in by_stage
    )
    if seconds.sum() <= 1.25 * pace:
        return f"{_duration(seconds.sum())} (median epoch {medians})"
    return (
        f"about {_duration(pace)} at its median epoch time of {medians} ({_duration(seconds.sum())} summed over "
        "its epochs: the run was paused or shared the machine)"
    )


def render_html(ctx: dict) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(config.REPORT_DIR), undefined=jinja2.StrictUndefined, autoescape=False
    )
    env.filters["f"] = lambda value, digits=2: f"{value:.{digits}f}"
    env.filters["thousands"] = lambda value: f"{value:,}"
    env.filters["table"] = markdown_table
    env.filters["training_time"] = training_time
    env.filters["device"] = _device
    env.filters["sentence_start"] = sentence_start
    markdown = env.get_template(TEMPLATE).render(**ctx)
    body = mistune.create_markdown(escape=False, plugins=["table"])(markdown)
    style = (config.REPORT_DIR / STYLE).read_text()
    return PAGE.format(title="Age and gender from a face: custom CNN vs VGG16 transfer", style=style, body=body)


def html_to_pdf(html: Path, pdf: Path) -> Path:
    """Print ``html`` to an A4 PDF with headless Chromium (offline; no browser download)."""
    printer = browser.find()
    if printer is None:
        raise FileNotFoundError(browser.NO_BROWSER)
    with tempfile.TemporaryDirectory() as profile_dir:
        command = [
            printer,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={profile_dir}",
            f"--print-to-pdf={pdf}",
            html.resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode or not pdf.is_file():
        raise RuntimeError(f"Chromium could not print {html} to PDF: {done.stderr.strip()[-500:]}")
    return pdf


def build(profile: Profile, results_dir=None, figures_dir=None, out_dir=None, pdf: bool = True, sweep_dir=None) -> dict:
    """Write ``report.html`` (self-contained) and ``report.pdf`` to ``report/build/<profile>/``; without a browser
    to print it (:func:`helpers.browser.find`), the HTML only and one line saying how to get the PDF."""
    out = Path(out_dir or config.REPORT_DIR / "build" / profile.name)
    out.mkdir(parents=True, exist_ok=True)
    html = out / "report.html"
    files.write_atomic(html, render_html(context(profile, results_dir, figures_dir, sweep_dir)))
    written = {"html": html}
    if pdf and browser.find() is None:
        print(f"report.pdf not written: {browser.NO_BROWSER} (the HTML has everything)", flush=True)
    elif pdf:
        with files.atomic_path(out / "report.pdf") as tmp:  # a killed build leaves the old PDF or none
            html_to_pdf(html, tmp)
        written["pdf"] = out / "report.pdf"
    return written
