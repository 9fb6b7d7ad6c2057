"""The report's claims: each sentence whose truth depends on results, checked against the numbers.

``report/claims.yml`` lists them: an ``id``, the words the claim ``says``, and an expression that ``holds`` when the
results support it, over the names of :mod:`helpers.numbers` (``vgg16.val_age_mae < custom.val_age_mae``). The
template puts ``{{ claim("id") }}`` after the sentence; a claim the numbers do not support is marked there.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import yaml

from . import config

CLAIMS = config.REPORT_DIR / "claims.yml"
FUNCTIONS = {"abs": abs, "min": min, "max": max, "all": all, "any": any}


def load(path: Path = CLAIMS) -> dict[str, dict]:
    """The claims by id; ``ValueError`` for an entry without ``id``, ``says`` or ``holds``, or a repeated id."""
    entries = yaml.safe_load(Path(path).read_text()) or []
    claims = {}
    for entry in entries:
        missing = [key for key in ("id", "says", "holds") if key not in entry]
        if missing:
            raise ValueError(f"{path}: the claim {entry.get('id', entry)!r} has no {', '.join(missing)}")
        if entry["id"] in claims:
            raise ValueError(f"{path}: the claim id {entry['id']!r} is used twice")
        claims[entry["id"]] = entry
    return claims


def namespace(numbers: dict) -> dict[str, SimpleNamespace]:
    """The flat dotted names as nested attributes (``custom.val_age_mae``), for the expressions."""
    root: dict = {}
    for name, value in numbers.items():
        *parents, leaf = name.split(".")
        node = root
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"the number {name!r} lies under another number's name")
        node[leaf] = value
    return {key: _nested(value) for key, value in root.items()}


def _nested(value):
    return SimpleNamespace(**{k: _nested(v) for k, v in value.items()}) if isinstance(value, dict) else value


def check(claims: dict[str, dict], numbers: dict) -> dict[str, str | None]:
    """Per claim, None where the numbers support it, else why not ("does not hold", or the number it lacks)."""
    names = {**namespace(numbers), **FUNCTIONS}
    found = {}
    for claim_id, claim in claims.items():
        try:
            holds = eval(claim["holds"], {"__builtins__": {}, **names})  # globals: generator expressions see them
            found[claim_id] = None if holds else "does not hold"
        except (AttributeError, NameError, TypeError) as err:  # a number not measured here (None, or absent)
            found[claim_id] = f"cannot be checked here ({err})"
    return found
