"""The figures of notebook 05, in the style of :mod:`helpers.plots` (saved with its ``save_fig``): the
experiments' variants against their baselines (Figure 10), the seeds' spread (Figure 12), the learning-rate
protocols' curves (Figure 13) and a photo's predictions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers import config, plots, registry


def remove_fig(name: str, profile: str, folder=None) -> bool:
    """Delete the PNG and PDF that :func:`save_fig` wrote for ``name``: a figure whose source is gone (a model file
    deleted or replaced) would be shown as this run's. Returns whether there was one."""
    out = Path(folder or config.FIGURES_DIR) / profile
    found = [path for path in (out / f"{name}.png", out / f"{name}.pdf") if path.is_file()]
    for path in found:
        path.unlink()
    return bool(found)


def predicted_photo(photo: np.ndarray, found: list[dict], labels: list[str]):
    """A photo with a box and the prediction on every face found (:mod:`extensions.predict`); true labels in
    the title."""
    fig, ax = plt.subplots(figsize=(8, 8 * photo.shape[0] / photo.shape[1] + 0.6))
    ax.imshow(photo)
    ax.axis("off")
    for face in found:
        x, y, w, h = face["box"]
        ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, edgecolor="#d62728", linewidth=2))
        ax.text(
            x,
            y - 4,
            f"{face['age']:.0f} y, {face['gender']} ({face['prob_female']:.2f})",
            color="#d62728",
            fontsize=9,
            va="bottom",
        )
    ax.set_title(f"{len(found)} face(s) found · true labels, left to right: {'; '.join(labels)}", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- variants against a baseline
SPREAD_METRICS = (("val_age_mae", "validation age MAE (years)"), ("val_gender_accuracy", "validation gender accuracy"))
TEST_METRICS = (("test_age_mae", "test age MAE (years)"), ("test_gender_accuracy", "test gender accuracy"))


def against_baseline(
    table: pd.DataFrame, baseline: str, spread: dict[str, float], title: str, metrics=SPREAD_METRICS, noise_sds=None
):
    """Each row of ``table`` (index: labels; columns ``<metric>`` and, where a row is a mean over seeds,
    ``<metric>_sd``) as a dot with ± sd whiskers, beside the ``baseline`` row's value, drawn as a line with the
    seed-to-seed spread (``spread``: sd per metric; NaN: not known) as a band around it, one panel per metric,
    two panels a row. ``noise_sds``: also the wider band inside which a difference is within the noise."""
    return against_baselines({"": (table, baseline, spread)}, title, metrics, noise_sds)


def against_baselines(
    groups: dict[str, tuple], title: str, metrics=SPREAD_METRICS, noise_sds: float | None = None, columns: int = 2
):
    """:func:`against_baseline` for several groups (a model each: its name → its table, baseline label and
    spread), stacked one group under the other, each against its own baseline and spread; ``columns`` panels a
    row."""
    per_group = -(-len(metrics) // columns)
    heights = [(0.55 * len(table) + 1.3) * per_group for table, _, _ in groups.values()]
    fig, axes = plt.subplots(
        per_group * len(groups),
        columns,
        figsize=(5.5 * columns if columns <= 2 else 3.6 * columns, sum(heights) + 0.3),
        sharey="row",
        layout="constrained",
        squeeze=False,
        height_ratios=[h / per_group for h in heights for _ in range(per_group)],
    )
    known = False
    for number, (name, (table, baseline, spread)) in enumerate(groups.items()):
        panels = axes[number * per_group : (number + 1) * per_group].flat
        for ax, (key, label) in zip(panels, metrics):
            _against_baseline_panel(ax, table, baseline, spread.get(key, float("nan")), key, noise_sds)
            ax.set_xlabel(label)
        if name:
            axes[number * per_group, 0].set_title(name, loc="left", fontweight="bold")
        known = known or any(sd == sd for sd in spread.values())
    if known:
        fig.legend(*_unique_handles(axes.flat), loc="outside lower center", fontsize=9, frameon=False, ncols=2)
    else:  # a zoomed axis alone makes any difference look large
        title += "\n(no seed-to-seed spread yet: whether these differences exceed the noise is not known)"
    fig.suptitle(title)
    return fig


def _against_baseline_panel(ax, table: pd.DataFrame, baseline: str, sd: float, key: str, noise_sds: float | None):
    """One metric's panel of :func:`against_baselines`."""
    centre = table.loc[baseline, key]
    if sd == sd and noise_sds:
        ax.axvspan(
            centre - noise_sds * sd,
            centre + noise_sds * sd,
            color="#bbbbbb",
            alpha=0.2,
            lw=0,
            label=f"baseline ± {noise_sds:.1f} sd: a difference inside is within the noise",
        )
    if sd == sd:
        ax.axvspan(centre - sd, centre + sd, color="#bbbbbb", alpha=0.45, lw=0, label="baseline ± seed-to-seed sd")
    ax.axvline(centre, color="#555555", lw=1, ls="--")
    errors = table[f"{key}_sd"].fillna(0) if f"{key}_sd" in table else pd.Series(0.0, index=table.index)
    rows = np.arange(len(table))[::-1]
    for row, name in zip(rows, table.index):
        ax.errorbar(
            table.loc[name, key],
            row,
            xerr=errors[name],
            fmt="o",
            capsize=3,
            zorder=3,
            color="#555555" if name == baseline else "#1f77b4",
        )
    ax.set(yticks=rows, yticklabels=[textwrap.fill(name, 30) for name in table.index])
    ax.margins(x=0.25, y=0.2)


def _unique_handles(axes) -> tuple[list, list]:
    """The legend entries of all ``axes``, each label once (a group without a spread draws no band)."""
    found = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            found.setdefault(label, handle)
    return list(found.values()), list(found)


def seed_dots(by_model: dict[str, dict[int, dict]], reported: dict[str, dict] | None, title: str):
    """Each model's runs over seeds (``by_model``: model → seed → metrics.json), one dot a run, its mean ± sd as a
    whisker, and the coursework's reported validation numbers (``reported``: model → metrics) as crosses; one panel
    per metric of ``SPREAD_METRICS`` (validation, top) and ``TEST_METRICS`` (bottom)."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 1.1 * len(by_model) + 2.6), sharey=True, layout="constrained")
    for ax, (key, label) in zip(axes.flat, SPREAD_METRICS + TEST_METRICS):
        for row, (model, runs) in enumerate(by_model.items()):
            values = np.array([metrics[key] for metrics in runs.values()], dtype=float)
            color = registry.get(model).color
            ax.scatter(values, np.full(len(values), row), color=color, alpha=0.6, zorder=3)
            sd = values.std(ddof=1) if len(values) > 1 else 0.0
            ax.errorbar(values.mean(), row + 0.18, xerr=sd, fmt="D", color=color, capsize=4, zorder=3)
            if reported and key in reported.get(model, {}):
                ax.scatter(reported[model][key], row - 0.18, marker="x", s=60, color="#333333", zorder=4)
        ax.set(xlabel=label)
        ax.margins(x=0.08)
        ax.grid(axis="x", alpha=0.3)
    names = [
        f"{registry.get(m).label}\n(seed{'s' if len(runs) > 1 else ''} {', '.join(map(str, runs))})"
        for m, runs in by_model.items()
    ]
    for ax in axes[:, 0]:
        ax.set_yticks(range(len(by_model)), names)
        ax.set_ylim(-0.6, len(by_model) - 0.4)
    handles = [
        plt.Line2D([], [], marker="o", ls="", color="#777777", alpha=0.6, label="one run (seed)"),
        plt.Line2D([], [], marker="D", color="#777777", label="mean ± sd over seeds"),
        plt.Line2D([], [], marker="x", ls="", color="#333333", label="coursework (reported)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title)
    return fig


SCHEDULE_LINES = {"constant": "--", "cosine_last": "-", "cosine": ":"}


def protocol_curves(runs: dict[str, dict[str, dict[int, pd.DataFrame]]], title: str):
    """Figure 13: each run's validation age MAE per epoch, one panel per model (``runs``: model → learning-rate
    schedule → seed → history), the constant rate's runs light and dashed, the decaying ones' dark (solid: the
    last stage's, dotted: every stage's): does the number a run ends on depend on which epoch came last?"""
    fig, axes = plt.subplots(1, len(runs), figsize=(4.6 * len(runs) + 0.6, 3.6), squeeze=False, layout="constrained")
    for ax, (model, by_schedule) in zip(axes.flat, runs.items()):
        color = registry.get(model).color
        for schedule, by_seed in by_schedule.items():
            constant = schedule == "constant"
            for seed, history in by_seed.items():
                ax.plot(
                    history["epoch"],
                    history["val_age_mae"],
                    color=color,
                    alpha=0.45 if constant else 1.0,
                    linestyle=SCHEDULE_LINES[schedule],
                    linewidth=1.0 if constant else 1.4,
                    label=f"{schedule}, seed {seed}",
                )
        plots.epoch_axis(ax, "validation age MAE (years)")
        top = max(
            history["val_age_mae"].iloc[len(history) // 3 :].max()
            for s in by_schedule.values()
            for history in s.values()
        )
        ax.set_ylim(top=top * 1.05)  # the first epochs' errors would flatten the end, where the question is
        ax.set_title(registry.get(model).label, fontsize=10)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    return fig
