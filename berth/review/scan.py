"""The checkov result: per framework counts, the problems, each suppression with its reason."""

from __future__ import annotations

from berth import checkov
from berth_core.tfjson import Json


def checkov_section(scan: checkov.ScanResult | None) -> Json:
    if scan is None:
        return {"ran": False}
    frameworks = {}
    for name in scan.frameworks:
        report = scan.reports.get(name)
        findings = report.findings if report else ()
        suppressed = sum(1 for f in findings if not f.passed and scan.suppression_for(f))
        frameworks[name] = {
            "resources": report.resources_scanned if report else 0,
            "passed": sum(1 for f in findings if f.passed),
            "failed": sum(1 for f in findings if not f.passed) - suppressed,
            "suppressed": suppressed,
            "parsing_errors": list(report.parsing_errors) if report else [],
        }
    used: dict[int, Json] = {}
    for finding, suppression in scan.suppressed():
        entry = used.setdefault(
            id(suppression),
            {"check": suppression.check, "reason": suppression.reason, "findings": []},
        )
        entry["findings"].append(f"{finding.resource} ({finding.file})")
    return {
        "ran": True,
        "frameworks": frameworks,
        "problems": scan.problems(),
        "suppressions": sorted(
            ({**entry, "findings": sorted(set(entry["findings"]))} for entry in used.values()),
            key=lambda entry: (entry["check"], entry["findings"]),
        ),
    }
