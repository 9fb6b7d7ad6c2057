"""The report's sentences that depend on results (report/claims.yml): each in the template once, each supported by
the committed seed results, and each one that other results do not support marked where it stands and printed."""

import json
import re
import shutil

import pytest
from conftest import ROOT

from helpers import config
from tools import claims, numbers, report


def test_every_claim_is_in_the_template_once_and_every_claim_of_the_template_is_listed():
    template = (config.REPORT_DIR / "report.md.j2").read_text()
    used = re.findall(r'claim\("([^"]+)"\)', template)
    assert len(used) == len(set(used)) and sorted(used) == sorted(claims.load())


@pytest.fixture(scope="module")
def seed_numbers():
    return numbers.collect(config.get_profile("seed"))


def test_the_committed_seed_results_support_every_claim(seed_numbers):
    unsupported = {claim: why for claim, why in claims.check(claims.load(), seed_numbers).items() if why}
    assert unsupported == {}


def test_a_claim_fails_when_its_numbers_say_otherwise_or_are_missing(seed_numbers):
    listed = claims.load()
    flipped = dict(seed_numbers, **{"vgg16.test_age_mae": seed_numbers["custom.test_age_mae"] + 1})
    assert claims.check(listed, flipped)["order-on-test"] == "does not hold"
    missing = {k: v for k, v in seed_numbers.items() if not k.startswith("face.")}  # the face model not run
    assert claims.check(listed, missing)["order-on-test"].startswith("cannot be checked here")


def test_claims_and_numbers_that_cannot_be_read_are_refused(tmp_path):
    path = tmp_path / "claims.yml"
    path.write_text("- id: a\n  says: x\n  holds: 'True'\n- id: a\n  says: y\n  holds: 'False'\n")
    with pytest.raises(ValueError, match="the claim id 'a' is used twice"):
        claims.load(path)
    path.write_text("- id: b\n  says: x\n")
    with pytest.raises(ValueError, match="the claim 'b' has no holds"):
        claims.load(path)
    with pytest.raises(ValueError, match="lies under another number's name"):
        claims.namespace({"custom.ran": True, "custom.ran.late": 1})


@pytest.mark.slow
def test_a_result_that_flips_a_claim_is_marked_where_the_claim_stands_and_printed(tmp_path, capsys):
    """A retrained VGG16 whose test age MAE is worse than the custom CNN's: the abstract's sentence on the models'
    order is marked in the HTML, and the build prints one line for it; numbers.json holds the planted number."""
    shutil.copytree(ROOT / "results", tmp_path / "results", ignore=shutil.ignore_patterns("*.keras"))
    path = tmp_path / "results" / "seed" / "vgg16" / "metrics.json"
    metrics = json.loads(path.read_text())
    path.write_text(json.dumps(dict(metrics, test_age_mae=9.5)))  # the custom CNN's is 8.30
    out = tmp_path / "report"
    report.build(
        config.get_profile("seed"),
        results_dir=tmp_path / "results",
        figures_dir=tmp_path / "figures",
        out_dir=out,
        pdf=False,
        sweep_dir=tmp_path / "results" / "sweeps",
    )
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("claim ")]
    assert (
        "claim order-on-test not supported by these results (does not hold): on the test images the three models' "
        "age MAEs fall in the same order as on validation (face < VGG16 < custom)"
    ) in printed
    html = (out / "report.html").read_text()
    mark = '<mark class="unsupported">[not supported by these results: order-on-test, does not hold]</mark>'
    assert f"9.50 and 6.25 years. {mark}" in " ".join(html.split())  # right after the sentence it checks
    assert html.count('class="unsupported"') == len(printed)  # every claim printed is marked, and no other
    assert json.loads((out / "numbers.json").read_text())["vgg16.test_age_mae"] == 9.5
