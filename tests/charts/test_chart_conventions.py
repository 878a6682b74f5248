"""The charts follow one set of conventions (the `helm create` scaffold's), so they cannot drift.

Same helpers with the same bodies, the recommended labels on every object and pod, one
ServiceAccount name rule, the same values keys for the same things (and they reach the pod),
`image.pullPolicy: IfNotPresent`, a schema in step with values.yaml, a changelog entry per version.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth import helm_sdk

CHARTS = Path(__file__).resolve().parents[2] / "charts"
CHART_DIRS = sorted(p.parent for p in CHARTS.glob("*/Chart.yaml"))
IDS = [p.name for p in CHART_DIRS]
RELEASE, NAMESPACE = "rel", "ns"

# The helper set every chart defines as `<chart>.<name>`, with the same body.
COMMON_HELPERS = (
    "name",
    "fullname",
    "chart",
    "labels",
    "selectorLabels",
    "serviceAccountName",
    "serviceAccountAnnotations",
    "validateServiceAccount",
    "image",
)
RECOMMENDED_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)
# The values keys every chart has for the things every chart has.
COMMON_VALUES: dict[str, Any] = {
    "nameOverride": "",
    "fullnameOverride": "",
    "image": {"repository", "tag", "digest", "pullPolicy"},
    "imagePullSecrets": [],
    "serviceAccount": {"create", "name", "roleArn", "annotations"},
    "podAnnotations": {},
    "podLabels": {},
    "podSecurityContext": None,
    "securityContext": None,
    "resources": None,
    "nodeSelector": {},
    "tolerations": [],
    "affinity": {},
}
# Charts that refuse the `default` ServiceAccount fallback: their RBAC names the account, so the
# fallback would hand the chart's rights to every pod of the namespace that runs as `default`.
REFUSES_DEFAULT_ACCOUNT = {"ecr-credential-refresher"}
WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet")
# A label value: at most 63 characters, alphanumeric at both ends.
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _defines(chart_dir: Path) -> dict[str, str]:
    text = (chart_dir / "templates" / "_helpers.tpl").read_text()
    pattern = re.compile(
        r'\{\{- define "'
        + re.escape(chart_dir.name)
        + r'\.(?P<name>[A-Za-z]+)" -\}\}\n(?P<body>.*?)\n\{\{- end \}\}\n(?=\n|\{\{/\*|$)',
        re.DOTALL,
    )
    return {
        m.group("name"): m.group("body").replace(f'"{chart_dir.name}.', '"CHART.')
        for m in pattern.finditer(text)
    }


def _base_values(chart_dir: Path) -> dict[str, Any]:
    """The chart's smallest installable values: its ci/default-values.yaml."""
    loaded: dict[str, Any] = yaml.safe_load((chart_dir / "ci" / "default-values.yaml").read_text())
    return loaded


def _render(chart_dir: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
    return helm_sdk.render(chart_dir, values, release_name=RELEASE, namespace=NAMESPACE)


def _workload(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    [workload] = [m for m in manifests if m["kind"] in WORKLOAD_KINDS]
    return workload


def _merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def test_every_chart_has_a_ci_default_scenario() -> None:
    assert IDS == ["ecr-credential-refresher", "otel-agent", "s3proxy"]
    for chart_dir in CHART_DIRS:
        assert (chart_dir / "ci" / "default-values.yaml").is_file(), chart_dir.name


def test_the_common_helpers_are_the_same_in_every_chart() -> None:
    helpers = {chart_dir.name: _defines(chart_dir) for chart_dir in CHART_DIRS}
    for name in COMMON_HELPERS:
        bodies = {}
        for chart, defined in helpers.items():
            assert name in defined, f"{chart}: _helpers.tpl defines no {chart}.{name}"
            # The component is the chart's own; everything else is shared.
            bodies[chart] = re.sub(r"app\.kubernetes\.io/component: .*", "", defined[name])
        assert len(set(bodies.values())) == 1, f"{name} differs between charts: {bodies}"


@pytest.mark.parametrize("chart_dir", CHART_DIRS, ids=IDS)
def test_every_object_and_pod_carries_the_recommended_labels(chart_dir: Path) -> None:
    manifests = _render(chart_dir, _base_values(chart_dir))
    chart = helm_sdk.chart_metadata(chart_dir)
    for manifest in manifests:
        labels = manifest["metadata"].get("labels", {})
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        assert set(RECOMMENDED_LABELS) <= set(labels), where
        assert labels["helm.sh/chart"] == f"{chart['name']}-{chart['version']}", where
        assert labels["app.kubernetes.io/instance"] == RELEASE, where
        assert labels["app.kubernetes.io/managed-by"] == "Helm", where
        assert labels["app.kubernetes.io/part-of"] == "berth", where
    workload = _workload(manifests)
    selector = workload["spec"]["selector"]["matchLabels"]
    assert selector == {
        "app.kubernetes.io/name": chart_dir.name,
        "app.kubernetes.io/instance": RELEASE,
    }
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]
    assert workload["metadata"]["labels"].items() <= pod_labels.items()


@pytest.mark.parametrize("chart_dir", CHART_DIRS, ids=IDS)
def test_the_version_label_is_the_image_tag_cut_to_a_label_value(chart_dir: Path) -> None:
    tag = "_1.2.3-" + "x" * 60 + "."
    manifests = _render(chart_dir, _merge(_base_values(chart_dir), {"image": {"tag": tag}}))

    version = _workload(manifests)["metadata"]["labels"]["app.kubernetes.io/version"]
    assert version == ("1.2.3-" + "x" * 60)[:62].rstrip("-")
    assert len(version) <= 63 and _LABEL_VALUE.match(version)
    plain = _render(chart_dir, _merge(_base_values(chart_dir), {"image": {"tag": "1.4.2"}}))
    assert _workload(plain)["metadata"]["labels"]["app.kubernetes.io/version"] == "1.4.2"


@pytest.mark.parametrize("chart_dir", CHART_DIRS, ids=IDS)
@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ({"create": True, "name": ""}, "FULLNAME"),
        ({"create": True, "name": "given"}, "given"),
        ({"create": False, "name": "given"}, "given"),
        ({"create": False, "name": ""}, "default"),
    ],
    ids=["created-unnamed", "created-named", "existing-named", "existing-unnamed"],
)
def test_one_service_account_name_rule(
    chart_dir: Path, account: dict[str, Any], expected: str
) -> None:
    values = _merge(_base_values(chart_dir), {"serviceAccount": account})
    if not account["create"]:
        values["serviceAccount"].pop("roleArn", None)  # only for an account the chart creates
    elif not values["serviceAccount"].get("roleArn"):
        values["serviceAccount"]["roleArn"] = "arn:aws:iam::123456789012:role/x"
    if expected == "default" and chart_dir.name in REFUSES_DEFAULT_ACCOUNT:
        with pytest.raises(helm_sdk.HelmError, match=r"serviceAccount\.name is required"):
            _render(chart_dir, values)
        return

    manifests = _render(chart_dir, values)

    fullname = f"{RELEASE}-{chart_dir.name}"
    want = fullname if expected == "FULLNAME" else expected
    assert _workload(manifests)["spec"]["template"]["spec"]["serviceAccountName"] == want
    accounts = [
        m["metadata"]["name"]
        for m in manifests
        if m["kind"] == "ServiceAccount" and m["metadata"]["namespace"] == NAMESPACE
    ]
    assert accounts == ([want] if account["create"] else [])


@pytest.mark.parametrize("chart_dir", CHART_DIRS, ids=IDS)
@pytest.mark.parametrize(
    ("account", "message"),
    [
        (
            {
                "roleArn": "arn:aws:iam::123456789012:role/a",
                "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/b"},
            },
            "not both",
        ),
        (
            {"create": False, "name": "given", "roleArn": "arn:aws:iam::123456789012:role/a"},
            "no effect when serviceAccount.create is false",
        ),
    ],
    ids=["role-twice", "role-without-account"],
)
def test_contradicting_service_account_values_fail(
    chart_dir: Path, account: dict[str, Any], message: str
) -> None:
    values = _merge(_base_values(chart_dir), {"serviceAccount": account})
    with pytest.raises(helm_sdk.HelmError, match=message):
        _render(chart_dir, values)


@pytest.mark.parametrize("chart_dir", CHART_DIRS, ids=IDS)
def test_the_role_becomes_the_irsa_annotation(chart_dir: Path) -> None:
    role = "arn:aws:iam::123456789012:role/x"
    values = _merge(
        _base_values(chart_dir),
        {"serviceAccount": {"roleArn": role, "annotations": {"example.com/team": "a"}}},
    )
    values.get("aws", {}).pop("existingSecret", None)
    [account] = [m for m in _render(chart_dir, values) if m["kind"] == "ServiceAccount"]
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": role,
        "example.com/team": "a",
    }
    assert account["automountServiceAccountToken"] is False


@pytest.mark.parametrize("chart_dir", CHART_DIRS, ids=IDS)
def test_the_common_values_exist_with_the_same_defaults(chart_dir: Path) -> None:
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    for key, expected in COMMON_VALUES.items():
        assert key in values, f"{chart_dir.name}: values.yaml has no {key}"
        if isinstance(expected, set):
            assert expected <= set(values[key]), f"{chart_dir.name}: {key}"
        elif expected is not None:
            assert values[key] == expected, f"{chart_dir.name}: {key}"
    images = [
        values["image"],
        *(v["image"] for v in values.values() if isinstance(v, dict) and "image" in v),
    ]
    assert [image["pullPolicy"] for image in images] == ["IfNotPresent"] * len(images)


@pytest.mark.parametrize("chart_dir", CHART_DIRS, ids=IDS)
def test_the_common_values_reach_the_pod(chart_dir: Path) -> None:
    change = {
        "image": {"pullPolicy": "Always"},
        "imagePullSecrets": [{"name": "registry"}],
        "podAnnotations": {"example.com/note": "n"},
        "podLabels": {"example.com/team": "t"},
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": 20002,
            "runAsGroup": 20002,
            "fsGroup": 20002,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {
            "requests": {"cpu": "1", "memory": "512Mi"},
            "limits": {"cpu": "3", "memory": "1Gi"},
        },
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"operator": "Exists"}],
        "affinity": {"podAntiAffinity": {}},
    }
    values = _merge(_base_values(chart_dir), change)
    values["securityContext"] = {
        **yaml.safe_load((chart_dir / "values.yaml").read_text())["securityContext"],
        "runAsUser": 20002,
    }

    template = _workload(_render(chart_dir, values))["spec"]["template"]

    assert template["metadata"]["annotations"]["example.com/note"] == "n"
    assert template["metadata"]["labels"]["example.com/team"] == "t"
    spec = template["spec"]
    assert spec["imagePullSecrets"] == [{"name": "registry"}]
    assert spec["securityContext"] == change["podSecurityContext"]
    assert spec["nodeSelector"] == change["nodeSelector"]
    assert spec["tolerations"] == change["tolerations"]
    assert spec["affinity"] == change["affinity"]
    main = spec["containers"][0]
    assert main["imagePullPolicy"] == "Always"
    assert main["resources"] == change["resources"]
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        assert container["securityContext"]["runAsUser"] == 20002, container["name"]


def _schema_gaps(values: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Keys of `values` the schema does not describe, and schema properties values.yaml lacks."""
    properties = schema.get("properties")
    if not isinstance(values, dict) or properties is None:
        return []
    gaps = [
        f"{path}{key}: in values.yaml, not in the schema" for key in values if key not in properties
    ]
    gaps += [
        f"{path}{key}: in the schema, not in values.yaml"
        for key in properties
        if key not in values and key != "global"
    ]
    for key, value in values.items():
        if key in properties:
            gaps += _schema_gaps(value, properties[key], f"{path}{key}.")
    return gaps


@pytest.mark.parametrize("chart_dir", CHART_DIRS, ids=IDS)
def test_the_schema_describes_exactly_the_values(chart_dir: Path) -> None:
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    schema = yaml.safe_load((chart_dir / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert _schema_gaps(values, schema, "") == []


@pytest.mark.parametrize("chart_dir", CHART_DIRS, ids=IDS)
def test_the_chart_version_has_a_changelog_entry(chart_dir: Path) -> None:
    version = helm_sdk.chart_metadata(chart_dir)["version"]
    headings = re.findall(r"^## (\S+)", (chart_dir / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert headings[0] == version
