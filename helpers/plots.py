"""One function per figure of the study, one style, one way to save (``save_fig``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import MaxNLocator

from . import config, files, registry
from .data import FaceSet
from .sources import GENDERS, RACES


def set_style() -> None:
    """The figures' common look (call once per notebook)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="deep")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "axes.titleweight": "bold"})


def save_fig(fig, name: str, profile: str, folder=None) -> None:
    """Save ``fig`` as ``<folder>/<profile>/<name>.png`` and ``.pdf`` (returns nothing, so that a notebook cell
    ending with it shows the figure alone)."""
    out = Path(folder or config.FIGURES_DIR) / profile
    out.mkdir(parents=True, exist_ok=True)
    with files.atomic_path(out / f"{name}.png") as tmp:  # a killed notebook leaves the old figure or none
        fig.savefig(tmp, bbox_inches="tight")
    with files.atomic_path(out / f"{name}.pdf") as tmp:
        fig.savefig(tmp, bbox_inches="tight", metadata={"CreationDate": None})  # same figure, same bytes


# ---------------------------------------------------------------- data
def sample_grid(faces: FaceSet, n: int = 16, seed: int = 0):
    """Figure 1: ``n`` faces drawn at random, each titled with its labels."""
    pick = np.random.default_rng(seed).choice(len(faces), size=min(n, len(faces)), replace=False)
    cols = 8 if len(pick) > 8 else len(pick)
    rows = int(np.ceil(len(pick) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 2.0 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, pick):
        ax.imshow(faces.images[i])
        ax.set_title(f"{faces.age[i]} y, {GENDERS[faces.gender[i]]}\n{RACES[faces.race[i]]}", fontsize=8)
    fig.suptitle("Sample faces with their labels (age, gender, ethnicity)")
    return fig


def age_distribution(labels: pd.DataFrame):
    """Figure 2: number of images per age, split by gender."""
    counts = (
        labels.assign(gender=labels["gender"].map(dict(enumerate(GENDERS))))
        .groupby(["age", "gender"])
        .size()
        .unstack(fill_value=0)
    )
    fig, ax = plt.subplots(figsize=(10, 3.8))
    ax.bar(counts.index, counts.get("male", 0), width=1.0, label="male", color="#4c72b0")
    ax.bar(
        counts.index, counts.get("female", 0), width=1.0, bottom=counts.get("male", 0), label="female", color="#dd8452"
    )
    ax.set(xlabel="age (years)", ylabel="images", title="Age distribution of the subset")
    ax.legend(title="gender")
    fig.tight_layout()
    return fig


def twin_pairs(pairs: list[tuple[dict, dict]], images: dict[str, np.ndarray]):
    """Pictures that appear twice in UTKFace under different labels, side by side with both labels."""
    fig, axes = plt.subplots(
        1, 2 * len(pairs), figsize=(1.7 * 2 * len(pairs), 2.3), squeeze=False, layout="constrained"
    )
    for k, pair in enumerate(pairs):
        for j, face in enumerate(pair):
            ax = axes[0][2 * k + j]
            ax.imshow(images[face["file"]])
            ax.set_title(f"{face['age']} y, {GENDERS[face['gender']]}", fontsize=8, color="#8a1f11" if j else "#222222")
            ax.axis("off")
    fig.suptitle("The same picture under two labels (pairs of identical difference hash)")
    return fig


def error_gallery(worst: dict[str, pd.DataFrame], images: dict[str, np.ndarray], title: str):
    """The worst age errors (top row) and the most confident gender mistakes (bottom row), with labels and
    predictions (``helpers.evaluation.worst_predictions``)."""
    cols = max(len(worst["age"]), len(worst["gender"]), 1)
    fig, axes = plt.subplots(2, cols, figsize=(1.6 * cols, 4.4), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, row in zip(axes[0], worst["age"].itertuples()):
        ax.imshow(images[row.file])
        ax.set_title(f"true {row.age} y\npredicted {row.pred_age:.0f}", fontsize=8)
    for ax, row in zip(axes[1], worst["gender"].itertuples()):
        ax.imshow(images[row.file])
        ax.set_title(f"labelled {GENDERS[row.gender]}\nP(female) {row.prob_female:.2f}", fontsize=8)
    fig.suptitle(f"{title}: largest age errors (top), most confident gender mistakes (bottom)")
    return fig


# ---------------------------------------------------------------- architecture
def _box(ax, x, y, w, h, text, color):
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=color,
            edgecolor="#333333",
            linewidth=1,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5)


def _arrow(ax, x0, y0, x1, y1):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={"arrowstyle": "->", "color": "#333333"})


def architecture(trunk: list[tuple[str, str]], heads: dict[str, list[str]], title: str):
    """A block diagram: ``trunk`` boxes top to bottom (text, colour), then one column per task head."""
    n = len(trunk) + max(len(v) for v in heads.values())
    fig, ax = plt.subplots(figsize=(7.5, 0.62 * n + 0.8))
    ax.set(xlim=(0, 10), ylim=(-n + 0.3, 1.0))
    ax.axis("off")
    y = 0.0
    for i, (text, color) in enumerate(trunk):
        _box(ax, 5, y, 6.4, 0.5, text, color)
        if i:
            _arrow(ax, 5, y + 0.75, 5, y + 0.27)
        y -= 1.0
    for boxes, x in zip(heads.values(), (2.8, 7.2)):
        _arrow(ax, 5, y + 0.75, x, y + 0.27)
        for j, text in enumerate(boxes):
            _box(ax, x, y - j, 3.8, 0.5, text, "#fde0c5" if j == len(boxes) - 1 else "#f2f2f2")
            if j:
                _arrow(ax, x, y - j + 0.75, x, y - j + 0.27)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def architecture_from_description(description: dict, image_size: int, title: str):
    """Figure 3 (and its VGG16 counterpart) drawn from ``helpers.registry.describe``."""
    layers = description["layers"]
    by_name = {layer["name"]: layer for layer in layers}
    aug = ", ".join(
        layer["class_name"].removeprefix("Random") for layer in layers if layer["class_name"].startswith("Random")
    )
    trunk = [(f"Input {image_size}×{image_size}×3 (RGB, 0-255)", "#dbe9f6")]
    if aug:
        trunk.append((f"Augmentation (training only): {aug}", "#e8f4e0"))
    size = image_size
    if "vgg16_preprocess" in by_name:
        trunk.append(("VGG16 preprocess_input (BGR, ImageNet means)", "#f2f2f2"))
        for block in range(1, 6):
            convs = [layer for layer in layers if layer["name"].startswith(f"block{block}_conv")]
            size //= 2
            state = "trainable in stage 2" if block == 5 else "frozen"
            trunk.append(
                (
                    f"VGG16 block {block}: {len(convs)}× Conv3×3 {convs[0]['config']['filters']} + MaxPool "
                    f"→ {size}×{size} ({state})",
                    "#e5dcf0" if block < 5 else "#d4c4ea",
                )
            )
        dense = by_name["head_dense"]
        trunk.append(("Flatten", "#f2f2f2"))
        trunk.append((f"Dense {dense['config']['units']} → BatchNorm → ReLU", "#dbe9f6"))
    elif "shared_dense" in by_name:
        trunk.append(("Rescaling 1/255", "#f2f2f2"))
        block = 1
        while f"block{block}_conv" in by_name:
            size //= 2
            filters = by_name[f"block{block}_conv"]["config"]["filters"]
            trunk.append(
                (f"Conv3×3 {filters} (no bias) → BatchNorm → ReLU → MaxPool 2×2 → {size}×{size}×{filters}", "#e5dcf0")
            )
            block += 1
        trunk.append(("Flatten", "#f2f2f2"))
        trunk.append((f"Dense {by_name['shared_dense']['config']['units']} (no bias) → BatchNorm → ReLU", "#dbe9f6"))
    else:  # a network of its own (a new entry of the registry): its layers as they come
        trunk += [(f"{layer['class_name']} {layer['name']}", "#f2f2f2") for layer in _trunk_layers(layers)]
    heads = {}
    for task, activation in (("age", "linear, years"), ("gender", "sigmoid, P(female)")):
        rate = by_name[f"{task}_dropout"]["config"]["rate"]
        heads[task] = [
            f"Dropout {rate:.2f}",
            f"Dense {by_name[f'{task}_dense']['config']['units']} ReLU",
            f"{task}: Dense 1 ({activation})",
        ]
    params = description["trainable_params"]
    counts = ", ".join(f"{k.replace('stage', 'stage ')} {v / 1e6:.2f} M" for k, v in params.items())
    return architecture(
        trunk, heads, f"{title}\n{description['total_params'] / 1e6:.2f} M parameters; trainable ({counts})"
    )


def _trunk_layers(layers: list) -> list:
    """The layers between the augmentation and the task heads."""
    heads = {f"{task}{part}" for task in ("age", "gender") for part in ("", "_dropout", "_dense")}
    return [
        layer
        for layer in layers
        if layer["name"] not in heads
        and not layer["class_name"].startswith("Random")
        and layer["class_name"] != "InputLayer"
    ]


# ---------------------------------------------------------------- training curves
CURVES = (
    ("gender_loss", "gender loss (binary cross-entropy)"),
    ("gender_accuracy", "gender accuracy"),
    ("age_mae", "age MAE (years)"),
)
LINE = {"marker": "o", "markersize": 2.5, "linewidth": 1.5}  # markers keep one-epoch runs visible


def epoch_axis(ax, label: str) -> None:
    ax.set(xlabel="epoch", ylabel=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def training_curves(history: pd.DataFrame, title: str):
    """Figures 4 and 5: train and validation gender loss, gender accuracy and age MAE per epoch."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (key, label) in zip(axes, CURVES):
        ax.plot(history["epoch"], history[key], label="train", color="#4c72b0", **LINE)
        ax.plot(history["epoch"], history[f"val_{key}"], label="validation", color="#dd8452", **LINE)
        epoch_axis(ax, label)
        if "stage" in history and history["stage"].nunique() > 1:
            start = history.loc[history["stage"] == 2, "epoch"].min() - 0.5
            ax.axvline(start, color="#555555", linestyle="--", linewidth=1)
            ax.text(start, ax.get_ylim()[1], " stage 2", va="top", fontsize=8, color="#555555")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def comparison(histories: dict[str, pd.DataFrame], predictions: dict[str, pd.DataFrame]):
    """Every model's validation curves on shared axes, and predicted against true age."""
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    for model, history in histories.items():
        for ax, (key, label) in zip(axes[:3], CURVES):
            ax.plot(
                history["epoch"],
                history[f"val_{key}"],
                label=registry.get(model).label,
                color=registry.get(model).color,
                **LINE,
            )
            epoch_axis(ax, label)
            ax.set_title(f"validation {label.split(' (')[0]}")
    axes[0].legend()
    ax = axes[3]
    top = max(float(max(p["age"].max(), p["pred_age"].max())) for p in predictions.values())
    for model, frame in predictions.items():
        ax.scatter(
            frame["age"],
            frame["pred_age"],
            s=6,
            alpha=0.45,
            label=registry.get(model).label,
            color=registry.get(model).color,
        )
    ax.plot([0, top], [0, top], color="#333333", linewidth=1, linestyle="--", label="perfect")
    ax.set(xlabel="true age (years)", ylabel="predicted age (years)", title="validation images")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def evaluation(evaluations: dict[str, dict]):
    """Reliability curve of P(female), and mean signed age error per age band, for each model."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
    left.plot([0, 1], [0, 1], color="#333333", linestyle="--", linewidth=1, label="perfectly calibrated")
    for model, result in evaluations.items():
        curve = pd.DataFrame(result["calibration"])
        left.plot(
            curve["mean_predicted"],
            curve["observed"],
            color=registry.get(model).color,
            label=registry.get(model).label,
            **LINE,
        )
        bands = pd.DataFrame(result["age_bands"])
        right.plot(
            bands["band"],
            bands["mean_signed_error"],
            color=registry.get(model).color,
            label=registry.get(model).label,
            **LINE,
        )
    left.set(xlabel="predicted P(female)", ylabel="observed share of women", title="gender calibration")
    right.axhline(0, color="#333333", linewidth=1)
    right.set(
        xlabel="true age band (years)",
        ylabel="mean predicted − true age (years)",
        title="age bias by band (below 0: underestimated)",
    )
    left.legend(fontsize=8)
    right.legend(fontsize=8)
    return fig
