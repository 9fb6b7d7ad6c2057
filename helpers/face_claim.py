"""Report section 3.5: does a start from a closely related domain (face recognition) help more than one from
ImageNet, and than none? The coursework's cited claim (Özbulak, Aytar and Ekenel, 2016), read against each model's
run-to-run spread over seeds.
"""

from __future__ import annotations

from . import registry

FACE_DOMAIN = "face recognition"  # a registry entry's ``domain`` for weights trained to tell faces apart
METRICS = (("val_age_mae", 2, " years", True), ("val_gender_accuracy", 3, "", False))
METRIC_NAMES = {"val_age_mae": "validation age MAE", "val_gender_accuracy": "validation gender accuracy"}


def face_domain_models() -> list[str]:
    """The registered models whose pretrained weights come from face recognition."""
    return [name for name, spec in registry.MODELS.items() if spec.domain == FACE_DOMAIN]


def pair_gap(spreads: dict[str, dict], first: str, second: str) -> dict:
    """``second``'s advantage over ``first`` (positive: better) per validation metric, against their run-to-run
    spread. ``spreads``: by model, {"seeds", metric: {"mean", "sd", "runs"}} (``report_sections.sweeps``).

    The standard error of the difference of the two means is sd²/runs of each, summed. A model with a single run
    has no sd of its own: the other's stands in for it (said so), and two single runs cannot be judged.

    Returns:
        {"sentence", "beyond": metrics whose advantage exceeds twice the standard error, "better": metrics where
        ``second`` is ahead at all}; the sentence alone when the spread cannot be judged.
    """
    one, other = spreads[first], spreads[second]
    names = {model: registry.get(model).prose for model in (first, second)}
    single = [model for model in (first, second) if len(spreads[model]["seeds"]) < 2]
    if len(single) == 2:
        return {"sentence": f"{names[first]} and {names[second]} have one run each here: their spread is not known."}
    parts, beyond, better = [], [], []
    for key, digits, unit, lower_is_better in METRICS:
        advantage = (one[key]["mean"] - other[key]["mean"]) * (1 if lower_is_better else -1)
        if single:  # the single run is one draw with the other model's sd
            known = spreads[second if single[0] == first else first][key]
            variance = known["sd"] ** 2 / known["runs"] + known["sd"] ** 2
        else:
            variance = sum(spreads[model][key]["sd"] ** 2 / spreads[model][key]["runs"] for model in (first, second))
        error = variance**0.5
        beyond += [key] if abs(advantage) > 2 * error and advantage > 0 else []
        better += [key] if advantage > 0 else []
        parts.append(
            f"{METRIC_NAMES[key]} {advantage:+.{digits}f}{unit} (standard error {error:.{digits}f}: "
            f"{'beyond' if abs(advantage) > 2 * error else 'within'} twice that)"
        )
    stand_in = (
        f" {names[single[0]][0].upper()}{names[single[0]][1:]} has one run (seed {spreads[single[0]]['seeds'][0]}): "
        f"the other model's sd stands in for its own."
        if single
        else ""
    )
    seeds = {model: ", ".join(map(str, spreads[model]["seeds"])) for model in (first, second)}
    sentence = (
        f"{names[second][0].upper()}{names[second][1:]}'s advantage over {names[first]} (seeds {seeds[second]} "
        f"against {seeds[first]}): " + "; ".join(parts) + "." + stand_in
    )
    return {"sentence": sentence, "beyond": beyond, "better": better}


def verdict(gaps: dict[str, dict], model: str) -> str:
    """One sentence on the cited claim from ``model``'s gaps over the other models (by the other model's name): it
    holds where ``model`` is better than every other model in both numbers beyond the spread, and its second half
    needs another pretrained model to compare with."""
    judged = {other: gap for other, gap in gaps.items() if "beyond" in gap}
    if not judged:
        return "The claim cannot be judged yet: there are not enough runs."
    prose = registry.get(model).prose
    standing = "; ".join(f"against {registry.get(other).prose}, {_standing(gap)}" for other, gap in judged.items())
    if not any(registry.get(other).weights_variable for other in judged):
        return (
            f"{prose[0].upper()}{prose[1:]}: {standing}. The claim's second half (a face-recognition start against "
            "another pretrained start) cannot be judged at this profile: no other pretrained model has run here."
        )
    if all(len(gap["beyond"]) == len(METRICS) for gap in judged.values()):
        label = "Supported here"
    elif any(gap["beyond"] for gap in judged.values()):
        label = "Partly supported here"
    else:
        label = "Not supported here"
    return f"{label}. {prose[0].upper()}{prose[1:]}: {standing}."


def _standing(gap: dict) -> str:
    if len(gap["beyond"]) == len(METRICS):
        return "better in both numbers beyond the spread"
    if gap["beyond"]:
        return f"better in {METRIC_NAMES[gap['beyond'][0]]} only beyond the spread"
    return "not better beyond the spread"


def section(runs: dict, spreads: dict[str, dict] | None) -> list[dict]:
    """Per face-domain model with a run: {"model", "gaps": [sentence by other model], "verdict"}. ``spreads``: the
    report profile's spread by model (:func:`helpers.report_sections.sweeps`), or None."""
    found = []
    for model in face_domain_models():
        if model not in runs or not spreads or model not in spreads:
            continue
        gaps = {
            other: pair_gap(spreads, other, model) for other in registry.names() if other != model and other in spreads
        }
        found.append(
            {
                "model": model,
                "gaps": [gap["sentence"] for gap in gaps.values()],
                "verdict": verdict(gaps, model),
            }
        )
    return found
