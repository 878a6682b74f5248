"""The checkov gate: stacks, rendered charts and Dockerfiles pass, and nothing passes silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from berth import checkov
from berth_core.config import environments_dir

# The session's single checkov run lives on one xdist worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("checkov")

ENVIRONMENTS = sorted(path.stem for path in environments_dir().glob("*.yaml"))
CHART_SCENARIOS = [
    f"{chart}/{values.name.removesuffix('-values.yaml')}"
    for chart, values in checkov.chart_scenarios()
]
APPS = sorted(path.parent.name for path in checkov.APPS_DIR.glob("*/Dockerfile"))


def _assert_clean(part: checkov.ScanResult) -> None:
    problems = part.problems()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_stack_passes_checkov(scan: checkov.ScanResult, environment: str) -> None:
    part = scan.only(f"terraform/{environment}/")
    assert part.frameworks == (checkov.TERRAFORM,)
    _assert_clean(part)


@pytest.mark.parametrize("scenario", CHART_SCENARIOS)
def test_rendered_chart_passes_checkov(scan: checkov.ScanResult, scenario: str) -> None:
    part = scan.only(f"kubernetes/{scenario}.yaml")
    assert part.frameworks == (checkov.KUBERNETES,)
    _assert_clean(part)


@pytest.mark.parametrize("app", APPS)
def test_dockerfile_passes_checkov(scan: checkov.ScanResult, app: str) -> None:
    part = scan.only(f"dockerfile/{app}/")
    assert part.frameworks == (checkov.DOCKERFILE,)
    _assert_clean(part)


def test_every_input_was_scanned(scan: checkov.ScanResult, scan_root: Path) -> None:
    scanned = {finding.file for finding in scan.findings()}
    staged = {
        path.relative_to(scan_root).as_posix()
        for path in scan_root.rglob("*")
        if path.is_file() and not path.is_relative_to(scan_root / "broken")
    }
    assert staged <= scanned, sorted(staged - scanned)


def test_berth_checks_ran_on_the_stacks(scan: checkov.ScanResult) -> None:
    # checkov logs and skips an external check that fails to import: prove ours were loaded.
    ran = {f.check_id for f in scan.only("terraform/").findings()}
    assert {"BERTH_AWS_1", "BERTH_AWS_3", "BERTH_AWS_4", "BERTH_AWS_5", "BERTH_AWS_6"} <= ran


def test_a_file_checkov_cannot_parse_fails_the_gate(scan: checkov.ScanResult) -> None:
    # checkov exits 0 on `terraform.required_version` in Terraform JSON; the gate must not.
    problems = scan.only("broken/").problems()
    assert any("cannot parse broken/terraform/required-version" in line for line in problems)


def test_a_scan_that_saw_no_resources_fails_the_gate() -> None:
    # What checkov prints when a directory holds nothing it can read: a bare summary.
    empty = '{"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}'
    result = checkov.parse_report(empty, Path("/nowhere"), [checkov.TERRAFORM], ())
    assert result.problems() == [
        "terraform_json: no resources scanned (wrong directory or nothing parsed?)"
    ]


def test_every_suppression_is_still_needed(scan: checkov.ScanResult) -> None:
    unused = [f"{s.check} {s.paths or ''} {s.resources or ''}" for s in scan.unused_suppressions()]
    assert not unused, f"remove from security/checkov.yaml, nothing matches: {unused}"


def test_suppressions_carry_reasons_and_name_one_check(tmp_path: Path) -> None:
    for body, message in (
        ("suppressions:\n  - check: CKV_K8S_*\n    reason: long enough to be read\n", "check"),
        ("suppressions:\n  - check: CKV_K8S_43\n    reason: because\n", "reason"),
        ("suppressions:\n  - check: CKV_K8S_43\n", "reason"),
        ("skip-check: [CKV_K8S_43]\n", "skip-check"),
    ):
        config = tmp_path / "checkov.yaml"
        config.write_text(body)
        with pytest.raises(checkov.CheckovError, match=message):
            checkov.load_suppressions(config)


def test_the_project_suppressions_file_is_valid() -> None:
    assert checkov.load_suppressions()


def test_missing_checkov_says_run_make_setup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(checkov.CHECKOV_ENV, str(tmp_path / "no-checkov"))
    with pytest.raises(checkov.CheckovError, match="run make setup"):
        checkov.checkov_binary()
