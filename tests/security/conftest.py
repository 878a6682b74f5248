"""One checkov run per test session over everything the gate covers.

checkov takes seconds to start, so every input is staged below one directory and scanned once
with all three frameworks: the synthesized stacks (terraform/<env>/), the check fixtures
(fixtures/...), a file checkov cannot parse (broken/...), every chart's rendered ci scenarios
(kubernetes/<chart>/<scenario>.yaml) and every app's Dockerfile (dockerfile/<app>/). Tests
then assert per item on the parsed report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berth import checkov

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_files() -> list[Path]:
    """The custom-check fixtures: `<CHECK_ID>.<pass|fail[-variant]>.tf.json`."""
    return sorted(FIXTURES.glob("*.tf.json"))


@pytest.fixture(scope="session")
def scan_root(tmp_path_factory: pytest.TempPathFactory, synthesized: dict[str, Any]) -> Path:
    root = tmp_path_factory.mktemp("checkov-scan")
    checkov.stage_stacks(synthesized, root)
    checkov.stage_files(fixture_files(), root / "fixtures", checkov.TERRAFORM)
    broken = sorted((FIXTURES / "broken").glob("*.tf.json"))
    checkov.stage_files(broken, root / "broken", checkov.TERRAFORM)
    checkov.stage_charts(root)
    checkov.stage_dockerfiles(root)
    return root


@pytest.fixture(scope="session")
def scan(scan_root: Path) -> checkov.ScanResult:
    """The whole session's checkov result, judged against security/checkov.yaml."""
    return checkov.run_checkov(scan_root)
