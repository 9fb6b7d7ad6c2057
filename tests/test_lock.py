"""The exact versions (#34): make install installs requirements.txt, the lock that make lock writes from
pyproject.toml's ranges, so a fresh clone runs on the versions the committed runs used."""

import json
import re
import sys
from importlib.metadata import version

import pytest
from conftest import ROOT
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

MAIN_PACKAGES = ["tensorflow", "keras", "numpy", "papermill", "jupytext", "nbconvert"]


def locked_versions() -> dict[str, str]:
    """requirements.txt's pins that apply to this Python and platform, by canonical name."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        pin, _, marker = line.partition(";")
        name, _, exact = pin.strip().partition("==")
        if marker.strip() and not Marker(marker.strip()).evaluate():
            continue
        assert exact, f"requirements.txt: {line!r} is not an exact pin"
        assert canonicalize_name(name) not in pins, f"requirements.txt pins {name} twice for this Python"
        pins[canonicalize_name(name)] = exact
    return pins


@pytest.mark.parametrize("package", MAIN_PACKAGES)
def test_the_main_packages_are_the_locked_versions(package):
    assert version(package) == locked_versions()[package], "run `make install` (it installs requirements.txt)"


def test_the_lock_satisfies_pyproject_ranges():
    pyproject = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", pyproject, flags=re.M | re.S).group(1)
    pins = locked_versions()
    for line in block.splitlines():
        if spec := line.split("#")[0].strip().strip(",").strip('"'):
            requirement = Requirement(spec)
            assert requirement.specifier.contains(pins[canonicalize_name(requirement.name)]), spec


def test_the_committed_seed_runs_ran_on_the_locked_versions():
    pins = locked_versions()
    manifests = sorted((ROOT / "results" / "seed").glob("*/manifest.json"))  # each model's study run
    assert len(manifests) >= 2
    for manifest in manifests:
        model = manifest.parent.name
        ran = json.loads(manifest.read_text())["versions"]
        if ran["python"].split(".")[:2] != [str(part) for part in sys.version_info[:2]]:
            pytest.skip(f"the committed runs used Python {ran['python']}, for which the lock may pin other versions")
        for package in ("keras", "tensorflow", "numpy", "pandas", "pillow"):
            assert pins[package] == ran[package], (model, package)
