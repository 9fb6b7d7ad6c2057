"""The report's claims: each sentence whose truth depends on results, checked against the numbers.

``report/claims.yml`` lists them: an ``id``, the words the claim ``says``, and an expression that ``holds`` when the
results support it, over the names of :mod:`tools.numbers` (``vgg16.val_age_mae < custom.val_age_mae``). The
template puts ``{{ claim("id") }}`` after the sentence; a claim the numbers do not support is marked there.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from helpers import config

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


class _Numbers:
    """A node of the dotted names: ``custom.val_age_mae`` reads ``custom`` then ``val_age_mae``; a name that was
    not measured raises AttributeError naming its whole path."""

    def __init__(self, path: str, children: dict):
        self._path, self._children = path, children

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._children[name]
        except KeyError:
            raise AttributeError(f"{self._path}.{name}") from None


def namespace(numbers: dict) -> dict:
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
    return {key: _nested(key, value) for key, value in root.items()}


def _nested(path: str, value):
    if not isinstance(value, dict):
        return value
    return _Numbers(path, {key: _nested(f"{path}.{key}", child) for key, child in value.items()})


def check(claims: dict[str, dict], numbers: dict) -> dict[str, str | None]:
    """Per claim, None where the numbers support it, else why not ("does not hold", or the number it lacks)."""
    names = {**namespace(numbers), **FUNCTIONS}
    found = {}
    for claim_id, claim in claims.items():
        try:
            holds = eval(claim["holds"], {"__builtins__": {}, **names})  # globals: generator expressions see them
            found[claim_id] = None if holds else "does not hold"
        except (AttributeError, NameError) as err:  # a number not measured here
            missing = err.name if isinstance(err, NameError) else str(err)  # AttributeError: the whole dotted name
            found[claim_id] = f"cannot be checked here: {missing} was not measured"
        except TypeError:  # a number measured as None
            found[claim_id] = "cannot be checked here: a number it needs was not measured"
    return found
