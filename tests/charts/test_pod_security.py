"""Every chart, in every `ci/` scenario, runs pods the `restricted` Pod Security Standard admits.

The cluster stack enforces `restricted` in every namespace Berth creates (WorkloadNamespace);
this is what lets it: a chart change that needs more privilege fails here, not at admission.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from berth import helm_sdk
from berth.checkov import chart_scenarios
from tests.support.pod_security import restricted_violations

SCENARIOS = chart_scenarios()


@pytest.mark.parametrize(
    ("chart", "values_file"), SCENARIOS, ids=[f"{c}/{v.name}" for c, v in SCENARIOS]
)
def test_every_pod_meets_the_restricted_profile(chart: str, values_file: Path) -> None:
    values = yaml.safe_load(values_file.read_text()) or {}
    manifests = helm_sdk.render(
        values_file.parent.parent, values, release_name=chart, namespace=chart
    )
    pods = [
        m
        for m in manifests
        if m["kind"] in ("Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob", "Pod")
    ]
    assert pods, f"{chart}: no workload rendered"
    violations = [v for manifest in manifests for v in restricted_violations(manifest)]
    assert violations == []


def _pod(**container: Any) -> dict[str, Any]:
    base = {
        "name": "app",
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{**base, **container}]},
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"securityContext": {"privileged": True}}, "allowPrivilegeEscalation is not false"),
        ({"ports": [{"containerPort": 80, "hostPort": 80}]}, "hostPort 80"),
    ],
)
def test_the_checker_finds_what_the_profile_refuses(change: dict[str, Any], expected: str) -> None:
    assert restricted_violations(_pod()) == []
    violations = restricted_violations(_pod(**change))
    assert any(expected in v for v in violations), violations
    host = _pod()
    host["spec"]["hostNetwork"] = True
    host["spec"]["volumes"] = [{"name": "logs", "hostPath": {"path": "/var/log"}}]
    assert restricted_violations(host) == [
        "Pod/p: spec.hostNetwork is true",
        "Pod/p: volume logs is of type hostPath",
    ]
