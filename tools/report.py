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

from extensions import experiments, seed_sweeps
from helpers import config, evaluation, files, registry, results
from helpers.config import Profile

from . import bench, browser, claims, copies, numbers, release

TEMPLATE = "report.md.j2"
NO_TABLE = '<p class="missing">Nothing has run for this table at this profile yet.</p>'  # a table of no run
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
    hash the run recorded, and where it ran. ``reader``: :func:`tools.copies.reader_copy`, to say whether the
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
            + copies.copy_note(data, reader),
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
    also = f"make report PROFILE={profile.name} TRAIN=1"
    return (
        f"Train it with <code>python -m tools train --model {model} --profile {profile.name} --out "
        f"results/{profile.name}/{model}</code> (or <code>{also}</code>): {time}."
    )


def context(profile: Profile, results_dir=None, figures_dir=None, sweep_dir=None) -> dict:
    """Everything the template reads: the numbers (``N``; ``n`` and ``s`` format them), the tables, the figures,
    the notices, and ``claim`` (see :func:`render_html`)."""
    root = results.profile_folder(profile, results_dir)
    figures = Path(figures_dir or config.FIGURES_DIR) / profile.name
    evaluation_path = root / "evaluation.json"
    evaluations = json.loads(evaluation_path.read_text()) if evaluation_path.is_file() else {}
    runs = results.load_available(profile, results_dir)
    not_run = {m: not_run_note(m, profile, results_dir) for m in registry.names() if m not in runs}
    described = {m: registry.describe(m, profile) for m in registry.names()}
    found = numbers.collect(profile, results_dir, sweep_dir)
    pretraining = next(
        (
            t
            for p in experiments.shown_profiles(profile)
            if (t := seed_sweeps.pretraining_table(p, sweep_dir, results_dir)) is not None
        ),
        None,
    )
    protocols = seed_sweeps.protocol_table(profile, sweep_dir=sweep_dir, results_dir=results_dir)
    return {
        "profile": profile,
        "N": found,
        "figures": {p.stem: _figure_uri(figures, p.stem) for p in sorted(figures.glob("*.png"))},
        "params": {m: description["trainable_params"] for m, description in described.items()},
        "custom_design": network_design(described["custom"], profile.image_size),
        "seed_dataset": results.SEED_DATASET,
        "notices": _notices(profile, runs, not_run),
        "not_run": not_run,
        "ethics": release.ETHICS,
        "summary": results.comparison_table(runs).T if runs else None,
        "headline": evaluation.headline_table(evaluations, registry.labels()) if evaluations else None,
        "pretraining": seed_sweeps.readable_pretraining(pretraining) if pretraining is not None else None,
        "gaps": numbers.gaps_table(found),
        "conjectures": numbers.effects_table(found),
        "duplicates": numbers.duplicates_table(found),
        "machine": numbers.machine_table(found),
        "protocols": seed_sweeps.readable_protocols(protocols) if protocols is not None else None,
        "protocol_gaps": numbers.gaps_table(found, "cosine_last"),
        "best": numbers.best_table(found),
        "provenance": provenance(runs, copies.reader_copy(profile), profile),
        "model_files": _model_files(profile, results_dir),
    }


def _notices(profile: Profile, runs: dict, not_run: dict) -> list[str]:
    """The boxes at the top of page 1: another profile than the study's, weights other than ImageNet's (named in
    full in the provenance table), models not run yet."""
    notices = []
    if profile.hash != config.PROFILES["seed"].hash:
        notices.append(
            f"This report was made with the <b>{profile.name}</b> profile (hash {profile.hash}), not the "
            "coursework's seed protocol: its numbers are not comparable with the coursework's."
        )
    for model, run in runs.items():
        spec, weights = registry.get(model), run.manifest["weights"]
        if spec.reported and weights and weights["source"] != "imagenet":  # a stand-in for ImageNet's weights
            notices.append(f"{spec.label} started from <b>{weights['label']}</b>; the coursework used ImageNet's.")
    if not_run:
        notices.append(
            "Not run yet for this profile: "
            + ", ".join(registry.get(m).label for m in not_run)
            + ". Its sections say so and how to train it; no number is shown for it."
        )
    return notices


def _model_files(profile: Profile, results_dir=None) -> pd.DataFrame | None:
    """Each run's model file: where it is released and, where it is on this disk, its size and sha256."""
    rows = {
        registry.get(entry["model"]).label: {
            "file": f"[{entry['file']}]({entry['url']})",
            "size": f"{entry['size'] / 1e6:.1f} MB" if entry["on_disk"] else "—",
            "sha256": f"`{entry['sha256'][:16]}…`" if entry["on_disk"] else "not on this disk (not committed)",
        }
        for entry in release.model_files(profile, results_dir)
    }
    return pd.DataFrame.from_dict(rows, orient="index") if rows else None


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


def number(found: dict, name: str, digits: int = 2, sign: bool = False) -> str:
    """The template's ``n(name, digits)`` (and ``s``: signed): a number of ``found`` formatted, or "—" where it was
    not measured; whole numbers with thousands separators when ``digits`` is 0."""
    value = found.get(name)
    if value is None or isinstance(value, bool):
        return "—" if value is None else str(value)
    if isinstance(value, str):
        return value
    return f"{value:{'+' if sign else ''},.{digits}f}"


def render_html(ctx: dict) -> tuple[str, dict[str, str]]:
    """The report's HTML, and the claims of the text the numbers do not support (id: why), each marked where it
    stands (:mod:`tools.claims`)."""
    found = ctx["N"]
    checked = claims.check(claims.load(), found)
    unsupported = {}

    def claim(claim_id: str) -> str:
        reason = checked[claim_id]  # a KeyError names an id missing from report/claims.yml
        if reason is None:
            return ""
        unsupported[claim_id] = reason
        return f' <mark class="unsupported">[not supported by these results: {claim_id}, {reason}]</mark>'

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(config.REPORT_DIR), undefined=jinja2.StrictUndefined, autoescape=False
    )
    env.globals.update(
        n=lambda name, digits=2: number(found, name, digits),
        s=lambda name, digits=2: number(found, name, digits, sign=True),
        claim=claim,
    )
    env.filters["thousands"] = lambda value: f"{value:,}"
    env.filters["table"] = lambda frame, digits=3: NO_TABLE if frame is None else markdown_table(frame, digits)
    markdown = env.get_template(TEMPLATE).render(**ctx)
    body = mistune.create_markdown(escape=False, plugins=["table"])(markdown)
    style = (config.REPORT_DIR / STYLE).read_text()
    title = "Age and gender from a face: a custom CNN, VGG16 transfer and a face-recognition start"
    return PAGE.format(title=title, style=style, body=body), unsupported


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
    to print it (:func:`tools.browser.find`), the HTML only and one line saying how to get the PDF."""
    out = Path(out_dir or config.REPORT_DIR / "build" / profile.name)
    out.mkdir(parents=True, exist_ok=True)
    html = out / "report.html"
    ctx = context(profile, results_dir, figures_dir, sweep_dir)
    page, unsupported = render_html(ctx)
    numbers.write(ctx["N"], out / "numbers.json")
    files.write_atomic(html, page)
    for claim_id, reason in unsupported.items():
        print(f"claim {claim_id} not supported by these results ({reason}): {claims.load()[claim_id]['says']}")
    written = {"html": html, "numbers": out / "numbers.json"}
    if pdf and browser.find() is None:
        print(f"report.pdf not written: {browser.NO_BROWSER} (the HTML has everything)", flush=True)
    elif pdf:
        with files.atomic_path(out / "report.pdf") as tmp:  # a killed build leaves the old PDF or none
            html_to_pdf(html, tmp)
        written["pdf"] = out / "report.pdf"
    return written
