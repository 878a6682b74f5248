"""Berth's checkov checks (security/checks/): each fails its failing fixtures, passes the other.

Fixtures are `tests/security/fixtures/<CHECK_ID>.<pass|fail[-variant]>.tf.json`, scanned in the
session's single checkov run (see conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from berth import checkov

pytestmark = pytest.mark.xdist_group("checkov")

# The same files conftest.py stages for the session scan.
FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures"
FIXTURES = {
    path.name.removesuffix(".tf.json"): path for path in sorted(FIXTURE_DIR.glob("*.tf.json"))
}
CHECK_IDS = sorted({name.split(".")[0] for name in FIXTURES})


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_check_outcome_on_fixture(scan: checkov.ScanResult, fixture: str) -> None:
    check_id, outcome = fixture.split(".", 1)
    results = [
        finding
        for finding in scan.only(f"fixtures/terraform/{fixture}/").findings()
        if finding.check_id == check_id
    ]
    assert results, f"{check_id} did not run on {fixture} (not loaded by checkov?)"
    expected_pass = outcome.split("-")[0] == "pass"
    assert {finding.passed for finding in results} == {expected_pass}, results


@pytest.mark.parametrize("check_id", CHECK_IDS)
def test_each_check_has_a_passing_and_a_failing_fixture(check_id: str) -> None:
    outcomes = {
        name.split(".", 1)[1].split("-")[0] for name in FIXTURES if name.startswith(f"{check_id}.")
    }
    assert outcomes == {"pass", "fail"}


def test_every_check_in_the_repo_has_fixtures() -> None:
    shipped = {
        line.split('"')[1]
        for path in Path(checkov.CUSTOM_CHECKS_DIR).glob("*.py")
        for line in path.read_text().splitlines()
        if line.strip().startswith('id="BERTH_')
    }
    assert shipped == set(CHECK_IDS)
