"""checkov as a gate: one run over staged inputs, suppressions with reasons, no silent pass.

checkov lives in its own virtualenv (`.tools/checkov`, made by `make setup`) because its pins
clash with the project's. It exits 0 when it cannot parse a file and skips an external check
that fails to import, so its exit code is never trusted: the JSON report is parsed and a scan
counts as clean only with no unsuppressed failure, no parsing error and resources scanned in
every framework asked for.

Suppressions live in `security/checkov.yaml`, each with the reason a reviewer accepted; checkov
itself runs without skips so every finding is reported and then matched against that file.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from berth_core.config import PROJECT_ROOT
from berth_core.errors import BerthError

CHECKOV_ENV = "BERTH_CHECKOV"
DEFAULT_CHECKOV = PROJECT_ROOT / ".tools" / "checkov" / "bin" / "checkov"
SUPPRESSIONS_FILE = PROJECT_ROOT / "security" / "checkov.yaml"
CUSTOM_CHECKS_DIR = PROJECT_ROOT / "security" / "checks"
CHARTS_DIR = PROJECT_ROOT / "charts"
APPS_DIR = PROJECT_ROOT / "apps"

TERRAFORM = "terraform_json"
KUBERNETES = "kubernetes"
DOCKERFILE = "dockerfile"
FRAMEWORKS = (TERRAFORM, KUBERNETES, DOCKERFILE)
# Where `stage_*` put each framework's inputs below the scan root.
STAGE_DIRS = {TERRAFORM: "terraform", KUBERNETES: "kubernetes", DOCKERFILE: "dockerfile"}

_CHECK_ID = r"^(CKV2?_[A-Z0-9]+_\d+|BERTH_[A-Z0-9]+_\d+)$"


class CheckovError(BerthError):
    """checkov is missing, failed to run, or wrote a report that cannot be read."""


def checkov_binary() -> Path:
    """checkov from BERTH_CHECKOV, else the project's `.tools/checkov` virtualenv."""
    configured = os.environ.get(CHECKOV_ENV)
    binary = Path(configured) if configured else DEFAULT_CHECKOV
    if not binary.is_file() or not os.access(binary, os.X_OK):
        source = f"{CHECKOV_ENV}={configured}" if configured else str(binary)
        raise CheckovError(f"checkov not found at {source}: run make setup")
    return binary


class Suppression(BaseModel):
    """One accepted finding: which check, where, and why it is not fixed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The check id; wildcards are refused so a suppression never hides a whole family.
    check: str = Field(pattern=_CHECK_ID)
    # Why the finding is accepted, in words a reviewer can agree or disagree with.
    reason: str = Field(min_length=20)
    # Scan-relative file patterns (fnmatch, e.g. "kubernetes/otel-agent/*"); empty = every file.
    paths: tuple[str, ...] = ()
    # checkov resource patterns (fnmatch, e.g. "DaemonSet.*"); empty = every resource.
    resources: tuple[str, ...] = ()

    def matches(self, finding: Finding) -> bool:
        return (
            finding.check_id == self.check
            and (not self.paths or any(fnmatch.fnmatchcase(finding.file, p) for p in self.paths))
            and (
                not self.resources
                or any(fnmatch.fnmatchcase(finding.resource, p) for p in self.resources)
            )
        )


class _SuppressionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    suppressions: tuple[Suppression, ...] = ()


def load_suppressions(path: Path = SUPPRESSIONS_FILE) -> tuple[Suppression, ...]:
    """The suppressions file, validated; an invalid entry is one clear error line."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        return _SuppressionsFile.model_validate(raw).suppressions
    except OSError as error:
        raise CheckovError(f"{path}: cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise CheckovError(f"{path}: not valid YAML: {error}") from error
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise CheckovError(f"{path}: {where}: {first['msg']}") from error


@dataclass(frozen=True)
class Finding:
    """One check result on one resource."""

    framework: str
    check_id: str
    check_name: str
    # Path relative to the scan root, without a leading slash ("terraform/uat/cdk.tf.json").
    file: str
    resource: str
    passed: bool


@dataclass(frozen=True)
class FrameworkReport:
    framework: str
    findings: tuple[Finding, ...]
    parsing_errors: tuple[str, ...]

    @property
    def resources_scanned(self) -> int:
        # summary.resource_count stays 0 for terraform_json: count what checks looked at.
        return len({(f.file, f.resource) for f in self.findings})


@dataclass(frozen=True)
class ScanResult:
    """Every framework's findings, judged against the suppressions."""

    reports: Mapping[str, FrameworkReport]
    suppressions: tuple[Suppression, ...] = ()
    frameworks: tuple[str, ...] = field(default=FRAMEWORKS)

    def findings(self) -> list[Finding]:
        return [finding for report in self.reports.values() for finding in report.findings]

    def suppression_for(self, finding: Finding) -> Suppression | None:
        return next((s for s in self.suppressions if s.matches(finding)), None)

    def failures(self) -> list[Finding]:
        """Failed findings no suppression accepts."""
        return [f for f in self.findings() if not f.passed and self.suppression_for(f) is None]

    def suppressed(self) -> list[tuple[Finding, Suppression]]:
        found = []
        for finding in self.findings():
            suppression = None if finding.passed else self.suppression_for(finding)
            if suppression is not None:
                found.append((finding, suppression))
        return found

    def unused_suppressions(self) -> list[Suppression]:
        used = {id(s) for _, s in self.suppressed()}
        return [s for s in self.suppressions if id(s) not in used]

    def only(self, prefix: str) -> ScanResult:
        """The part of the scan whose files lie below `prefix` (e.g. "terraform/uat/")."""
        return ScanResult(
            reports={
                name: FrameworkReport(
                    name,
                    tuple(f for f in report.findings if f.file.startswith(prefix)),
                    tuple(e for e in report.parsing_errors if e.startswith(prefix)),
                )
                for name, report in self.reports.items()
            },
            suppressions=self.suppressions,
            frameworks=tuple(
                name
                for name in self.frameworks
                if any(f.file.startswith(prefix) for f in self.reports[name].findings)
                or any(e.startswith(prefix) for e in self.reports[name].parsing_errors)
            ),
        )

    def problems(self) -> list[str]:
        """Why the scan is not clean: one line per problem, [] when it passed."""
        lines: list[str] = []
        for name in self.frameworks:
            report = self.reports.get(name)
            if report is not None:
                lines.extend(f"{name}: cannot parse {path}" for path in report.parsing_errors)
            if report is None or report.resources_scanned == 0:
                lines.append(f"{name}: no resources scanned (wrong directory or nothing parsed?)")
        lines.extend(
            f"{f.framework}: {f.check_id} failed on {f.resource} in {f.file}: {f.check_name}"
            for f in self.failures()
        )
        return lines


def run_checkov(
    root: Path,
    frameworks: Sequence[str] = FRAMEWORKS,
    *,
    suppressions: tuple[Suppression, ...] | None = None,
    external_checks_dir: Path = CUSTOM_CHECKS_DIR,
) -> ScanResult:
    """Scan `root` once with every framework and Berth's custom checks."""
    command = [
        str(checkov_binary()),
        "--directory",
        str(root),
        "--framework",
        *frameworks,
        "--external-checks-dir",
        str(external_checks_dir),
        "--output",
        "json",
        # Offline: no guideline download, no Prisma Cloud calls, no update check.
        "--skip-download",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    # 0 = clean, 1 = failed checks; anything else means checkov itself broke.
    if completed.returncode not in (0, 1):
        tail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        raise CheckovError(f"checkov exited {completed.returncode}: {tail[0]}")
    return parse_report(
        completed.stdout,
        root,
        frameworks,
        load_suppressions() if suppressions is None else suppressions,
    )


def parse_report(
    output: str, root: Path, frameworks: Sequence[str], suppressions: tuple[Suppression, ...]
) -> ScanResult:
    """checkov's `-o json` output: one object, or a list of them for several frameworks."""
    try:
        loaded: Any = json.loads(output)
    except json.JSONDecodeError as error:
        raise CheckovError(f"checkov wrote no JSON report: {output[:120]!r}") from error
    documents = loaded if isinstance(loaded, list) else [loaded]
    reports: dict[str, FrameworkReport] = {}
    for document in documents:
        # A scan that found nothing to check writes a bare summary without check_type.
        name = document.get("check_type")
        if name not in frameworks:
            continue
        results = document.get("results", {})
        findings = tuple(
            _finding(name, record, passed)
            for key, passed in (("passed_checks", True), ("failed_checks", False))
            for record in results.get(key, [])
        )
        errors = tuple(_relative(path, root) for path in results.get("parsing_errors", []))
        reports[name] = FrameworkReport(name, findings, errors)
    return ScanResult(reports=reports, suppressions=suppressions, frameworks=tuple(frameworks))


def _relative(path: str, root: Path) -> str:
    candidate = Path(path)
    if candidate.is_absolute():
        try:
            return candidate.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return path
    return path.lstrip("/")


def _finding(framework: str, record: Mapping[str, Any], passed: bool) -> Finding:
    return Finding(
        framework=framework,
        check_id=str(record["check_id"]),
        check_name=str(record.get("check_name", "")),
        file=str(record.get("file_path", "")).lstrip("/"),
        resource=str(record.get("resource", "")),
        passed=passed,
    )


# ---- staging: every input of a framework below one directory, so checkov starts once ----


def stage_stacks(stacks: Mapping[str, Path | Mapping[str, Any]], root: Path) -> list[Path]:
    """Copy synthesized stacks (files or parsed JSON) to `root/terraform/<name>/cdk.tf.json`."""
    written = []
    for name, stack in sorted(stacks.items()):
        target = root / STAGE_DIRS[TERRAFORM] / name / "cdk.tf.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(stack, Path):
            shutil.copyfile(stack, target)
        else:
            target.write_text(json.dumps(stack, indent=2, sort_keys=True))
        written.append(target)
    return written


def chart_scenarios(charts_dir: Path = CHARTS_DIR) -> list[tuple[str, Path]]:
    """(chart name, values file) for every `charts/<chart>/ci/*-values.yaml`."""
    return [
        (values.parent.parent.name, values)
        for values in sorted(charts_dir.glob("*/ci/*-values.yaml"))
    ]


def stage_charts(root: Path, charts_dir: Path = CHARTS_DIR) -> list[Path]:
    """Render every chart scenario to `root/kubernetes/<chart>/<scenario>.yaml`."""
    # Lazy: the Helm SDK loads a large native library that only chart scans need.
    from berth import helm_sdk

    written = []
    for chart, values_file in chart_scenarios(charts_dir):
        values = yaml.safe_load(values_file.read_text()) or {}
        manifests = helm_sdk.render(charts_dir / chart, values, release_name=chart, namespace=chart)
        scenario = values_file.name.removesuffix("-values.yaml")
        target = root / STAGE_DIRS[KUBERNETES] / chart / f"{scenario}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump_all(manifests, sort_keys=True))
        written.append(target)
    return written


def stage_dockerfiles(root: Path, apps_dir: Path = APPS_DIR) -> list[Path]:
    """Copy every `apps/<app>/Dockerfile` to `root/dockerfile/<app>/Dockerfile`."""
    written = []
    for dockerfile in sorted(apps_dir.glob("*/Dockerfile")):
        target = root / STAGE_DIRS[DOCKERFILE] / dockerfile.parent.name / "Dockerfile"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(dockerfile, target)
        written.append(target)
    return written


def stage_files(files: Iterable[Path], root: Path, framework: str) -> list[Path]:
    """Copy loose inputs (test fixtures), each into its own folder named after its stem."""
    written = []
    for source in sorted(files):
        stem = source.name.split(".tf.json")[0] if framework == TERRAFORM else source.stem
        target = root / STAGE_DIRS[framework] / stem / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    return written
