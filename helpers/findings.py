"""The study's findings in words: what the experiments' and the seed sweeps' numbers say, for the report, the
README and notebook 04. Only differences beyond the noise are spelt out; the tables show the rest.
"""

from __future__ import annotations

import pandas as pd

from . import registry
from .config import Profile
from .experiments import CONJECTURES, DUPLICATE_QUESTIONS, EFFECT_METRICS, NOISE_SDS, paired_test, summary
from .seed_sweeps import seed_spread

METRIC_NAMES = {
    "val_gender_accuracy": "validation gender accuracy",
    "val_age_mae": "validation age MAE",
    "test_gender_accuracy": "test gender accuracy",
    "test_age_mae": "test age MAE",
}


def conjecture_findings(
    effects: pd.DataFrame, bands: pd.DataFrame | None = None, shared: dict | None = None
) -> dict[str, str]:
    """One paragraph per conjecture whose variant ran: the differences from the baseline beyond the run-to-run
    noise, with their numbers, and what they support (the table and Figure 10 show the rest). ``effects``:
    :func:`helpers.experiments.variant_effects`; ``bands``: :func:`helpers.experiments.band_errors`; ``shared``:
    :func:`helpers.experiments.shared_test`, the all-images run on the faces it shares with the baseline's test
    set."""
    base, spread = effects.attrs["baseline"], effects.attrs["spread"]
    seeds = spread.attrs["seeds"] if spread is not None else []
    paragraphs = {}
    for variant, row in effects.iterrows():
        if variant not in CONJECTURES:
            continue
        verdict = _verdict(row, base, seeds)
        text = f"**{CONJECTURES[variant].capitalize()}** ({row['label']}): {verdict[0].lower()}{verdict[1:]}"
        if variant == "all_images":
            text += " " + _more_data_caveat(row, base, shared)
        if variant == "age_balanced" and bands is not None:
            text += " " + _oldest_and_youngest(bands)
        paragraphs[variant] = text
    return paragraphs


def _verdict(row: pd.Series, base: pd.Series, seeds: list[int]) -> str:
    """What a variant's differences from the baseline beyond the run-to-run noise say of its conjecture."""
    beyond = [key for key in EFFECT_METRICS if row[f"{key}_beyond"]]
    better = [key for key in beyond if (row[f"{key}_diff"] < 0) == key.endswith("mae")]
    if len(seeds) < 2:
        verdict = "One run of each and no seed spread at this profile yet: no verdict (the seed sweep gives one)."
    elif not beyond:
        verdict = (
            f"Every difference is within the run-to-run noise (twice the sd of a difference between two "
            f"runs, from seeds {', '.join(map(str, seeds))}): the runs neither support the conjecture "
            "nor refute it."
        )
    else:
        verdict = (
            f"Beyond the run-to-run noise (seeds {', '.join(map(str, seeds))}): "
            + "; ".join(
                f"{METRIC_NAMES[key]} {_amount(key, row[key])} against {_amount(key, base[key])} "
                f"({_signed(key, row[f'{key}_diff'])}, {'better' if key in better else 'worse'})"
                for key in beyond
            )
            + f". {_reading(beyond, better)}."
        )
    if len(seeds) == 2:
        verdict += " (Two runs only: the spread, and so this reading, is a rough estimate.)"
    return verdict


def _reading(beyond: list[str], better: list[str]) -> str:
    """Whether the metrics beyond the noise (``better`` of them in the conjecture's favour) support it."""
    reading = (
        "This supports the conjecture"
        if len(better) == len(beyond)
        else "This speaks against the conjecture"
        if not better
        else "The evidence is mixed"
    )
    if len(beyond) < len(EFFECT_METRICS):
        if better == beyond or not better:  # a one-sided reading holds for those metrics only
            reading += " on that metric" if len(beyond) == 1 else " on those metrics"
        reading += "; the other differences are within the noise"
    return reading


def _more_data_caveat(row: pd.Series, base: pd.Series, shared: dict | None) -> str:
    """The all-images variant was graded on other faces than the baseline: how many it trained on, and the two
    runs on the test faces they share where there are some."""
    text = (
        f"This variant trained on {int(row['n_train']):,} images instead of {int(base['n_train']):,}, "
        "and its validation and test images are its own, so part of any difference is which faces "
        "were graded."
    )
    return text + " " + _shared_sentence(shared) if shared else text


def _oldest_and_youngest(bands: pd.DataFrame) -> str:
    """The youngest and the oldest age band's test MAE and bias, baseline → age-balanced loss."""
    return " ".join(
        f"Aged {band}: test MAE {bands.loc[band, 'baseline: MAE']:.1f} → "
        f"{bands.loc[band, 'age_balanced: MAE']:.1f} years, bias {bands.loc[band, 'baseline: bias']:+.1f} → "
        f"{bands.loc[band, 'age_balanced: bias']:+.1f}."
        for band in (bands.index[0], bands.index[-1])
    )


PAIRED_METRICS = (("age_mae", "age MAE"), ("gender_accuracy", "gender accuracy"))


def _paired_sentence(comparison: dict, opening: str) -> str:
    """``opening`` (naming the runs and the faces), then :func:`helpers.evaluation.paired_comparison`'s age MAE and
    gender accuracy of the second run against the first, with their intervals, and which differences lie beyond
    the noise of which faces were graded."""
    from .evaluation import interval_text as interval

    age, gender = comparison["age_mae"], comparison["gender_accuracy"]
    beyond = [
        f"{name} {'better' if comparison[key]['ci95'][0] > 0 else 'worse'}"
        for key, name in PAIRED_METRICS
        if _outside_zero(comparison[key])
    ]
    reading = (
        "neither difference is beyond the noise of which faces were graded"
        if not beyond
        else f"{', '.join(beyond)}, beyond the noise of which faces were graded"
        + ("; the other difference is within it" if len(beyond) == 1 else "")
    )
    return (
        f"{opening} its age MAE is {age['second']:.2f} years against {age['first']:.2f} (advantage "
        f"{age['advantage']:+.2f}, 95 % interval {interval(age, 2)}) and its gender accuracy "
        f"{gender['second']:.3f} against {gender['first']:.3f} ({gender['advantage']:+.3f}, 95 % interval "
        f"{interval(gender, 3)}): {reading}."
    )


def _outside_zero(metric: dict) -> bool:
    low, high = metric["ci95"]
    return low > 0 or high < 0


def graded_metrics(comparison: dict) -> list[tuple[str, str]]:
    """(key, name) of the metrics of a paired comparison whose difference is beyond the noise of which faces were
    graded (its 95 % interval leaves out 0)."""
    return [(key, name) for key, name in PAIRED_METRICS if _outside_zero(comparison[key])]


def beyond_retraining(comparison: dict, spread: pd.DataFrame | None) -> list[str] | None:
    """The names of the :func:`graded_metrics` whose difference is also beyond the run-to-run noise of a test score
    (twice the sd of a difference between two runs, from ``spread``, :func:`helpers.seed_sweeps.seed_spread`);
    None where the profile has no spread of test scores over two seeds or more to read it against."""
    keys = [f"test_{key}" for key, _ in PAIRED_METRICS]
    if spread is None or len(spread.attrs["seeds"]) < 2 or spread.loc[keys, "sd"].isna().any():
        return None  # no spread, or a seed run without test scores
    return [
        name
        for key, name in graded_metrics(comparison)
        if abs(comparison[key]["advantage"]) > NOISE_SDS * spread.loc[f"test_{key}", "sd"]
    ]


def _shared_sentence(shared: dict) -> str:
    return _paired_sentence(
        shared, f"On the {shared['n']:,} test images that both runs held out, the same faces for both,"
    )


def duplicate_findings(
    profile: Profile, model: str = registry.DEFAULT_MODEL, sweep_dir=None, results_dir=None
) -> list[str]:
    """One paragraph per question of :data:`helpers.experiments.DUPLICATE_QUESTIONS` whose two runs have finished:
    the second run against the first on their shared test images (:func:`helpers.experiments.paired_test`), and
    whether a difference beyond the noise of which faces were graded is also beyond the run-to-run noise (twice the
    sd of a difference between two runs, from the profile's seed spread, :func:`helpers.seed_sweeps.seed_spread`)."""
    spread = seed_spread(profile, model, sweep_dir, results_dir)
    devices = summary("duplicates", profile, model, results_dir)["device"]
    paragraphs = []
    for first, second, question in DUPLICATE_QUESTIONS:
        comparison = paired_test(profile, first, second, model, results_dir)
        if comparison is None:
            continue
        text = _paired_sentence(comparison, f"{question}, on the same {comparison['n']:,} test images:")
        graded = graded_metrics(comparison)
        beyond = beyond_retraining(comparison, spread)
        if graded and beyond is not None:
            noise = (
                "the run-to-run noise of a test score (twice the sd of a difference between two runs, from the "
                f"profile's subset runs, seeds {', '.join(map(str, spread.attrs['seeds']))})"
            )
            if beyond:
                text += f" Beyond {noise} as well: {', '.join(beyond)}" + (
                    "; the other is within it." if len(beyond) < len(graded) else "."
                )
            else:
                text += (
                    f" {'It is' if len(graded) == 1 else 'Both are'} within {noise}: one run of each cannot tell "
                    f"{'it' if len(graded) == 1 else 'them'} from a retraining's chance."
                )
        machines = sorted({devices[first], devices[second]})
        if len(machines) > 1:
            text += (
                f" The two trained on different machines ({' and '.join(machines)}): section 4.2's \"The machine "
                'alone" says how far that alone can move a run.'
            )
        paragraphs.append(text)
    return paragraphs


def pretraining_findings(
    table: pd.DataFrame, keys: tuple[str, ...] = ("val_age_mae", "val_gender_accuracy")
) -> list[str]:
    """One sentence per pretrained row of :func:`helpers.seed_sweeps.pretraining_table` (VGG16 from ImageNet or
    other weights): for each metric in ``keys``, the differences from the same model from random weights and from
    the custom CNN that are more than twice their standard error over seeds (those within the noise are left to
    the table and figure), or the plain difference where a single seed gives no noise estimate."""
    scratch = registry.get(registry.DEFAULT_MODEL)
    custom = table[table["model"] == scratch.label]
    sentences = []
    for model in registry.with_weights():
        short = registry.get(model).short
        rows = table[table["model"] == short]
        random = rows[rows["source"] == "none"]
        others = [
            (other, name)
            for other, name in ((random, f"{short} from random weights"), (custom, scratch.prose))
            if len(other)
        ]
        for _, row in rows[rows["source"] != "none"].iterrows() if others else ():
            sentences.append(_pretrained_sentence(short, row, others, keys))
    return sentences


def _pretrained_sentence(short: str, row: pd.Series, others: list, keys: tuple[str, ...]) -> str:
    """A pretrained row against ``others`` (``(rows, name)`` pairs), metric by metric."""
    clauses = []
    for key in keys:
        found = [text for other, name in others if (text := _difference(row, other.iloc[0], name, key))]
        if found:
            clauses.append(f"{METRIC_NAMES[key]} {_amount(key, row[key])}, " + ", and ".join(found))
    return (
        f"{short} with {row['initial weights']}: "
        + ("; ".join(clauses) if clauses else "no difference beyond the seed-to-seed noise")
        + "."
    )


def _difference(row: pd.Series, other: pd.Series, name: str, key: str) -> str | None:
    """How much better or worse a pretrained row is than ``other`` (called ``name``) on ``key``; None within twice
    the standard error of the difference."""
    better = (other[key] - row[key]) * (1 if key.endswith("mae") else -1)  # > 0: the pretrained row is better
    error = (row[f"{key}_sd"] ** 2 / row["seeds"] + other[f"{key}_sd"] ** 2 / other["seeds"]) ** 0.5
    if error == error and abs(better) <= 2 * error:
        return None
    verdict = "" if error == error else " (a single seed: no noise estimate)"
    return f"{_amount(key, abs(better))} {'better' if better > 0 else 'worse'} than {name}{verdict}"


def _amount(key: str, value: float) -> str:
    return f"{value:.2f} years" if key.endswith("mae") else f"{value:.3f}"


def _signed(key: str, value: float) -> str:
    return f"{value:+.2f}" if key.endswith("mae") else f"{value:+.3f}"
