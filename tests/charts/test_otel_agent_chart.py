"""The otel-agent chart, rendered through the Helm SDK seam and checked against k8s schemas."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from berth import helm_sdk

CHART = Path(__file__).resolve().parents[2] / "charts" / "otel-agent"
CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
KUBERNETES_VERSION = "1.33.0"
KEY_FILE = "/var/run/secrets/coralogix/private-key"
RELEASE, NAMESPACE = "otel", "observability"


def ci_values(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text()))


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    return helm_sdk.render(CHART, values, release_name=RELEASE, namespace=NAMESPACE)


def one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [manifest] = [m for m in manifests if m["kind"] == kind]
    return manifest


def workload(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    [manifest] = [m for m in manifests if m["kind"] in ("Deployment", "DaemonSet")]
    return manifest


def pod_spec(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(workload(manifests)["spec"]["template"]["spec"])


def collector_config(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(yaml.safe_load(one(manifests, "ConfigMap")["data"]["relay.yaml"]))


@pytest.fixture(scope="module", params=[p.name.removesuffix("-values.yaml") for p in CI_FILES])
def scenario(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    """Each ci/<scenario>-values.yaml rendered once per module."""
    return request.param, render(ci_values(request.param))


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return render(ci_values("default"))


def test_ci_scenarios_exist() -> None:
    assert {p.name for p in CI_FILES} >= {
        "default-values.yaml",
        "daemonset-values.yaml",
        "existing-serviceaccount-values.yaml",
    }


@pytest.mark.parametrize("ci_file", CI_FILES, ids=lambda p: p.name)
def test_lint_is_clean(ci_file: Path) -> None:
    report = helm_sdk.lint(CHART, yaml.safe_load(ci_file.read_text()), strict=True)
    assert report.errors == [] and report.warnings == []


def test_every_manifest_is_valid_kubernetes(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, manifests = scenario
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        assert manifest["metadata"]["namespace"] == NAMESPACE


def test_fetcher_is_a_native_sidecar_gating_the_collector(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    _, manifests = scenario
    spec = pod_spec(manifests)
    [sidecar] = spec["initContainers"]
    assert sidecar["name"] == "appconfig-fetch"
    assert sidecar["restartPolicy"] == "Always"
    # The kubelet starts the collector only after this probe passes: the key file exists.
    assert sidecar["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "fetch-health"}
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    assert env["APPCONFIG_FETCH_OUTPUT"] == KEY_FILE
    assert [c["name"] for c in spec["containers"]] == ["otel-collector"]


def test_key_lives_on_an_in_memory_volume_shared_read_only(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    _, manifests = scenario
    spec = pod_spec(manifests)
    [volume] = [v for v in spec["volumes"] if v["name"] == "coralogix-key"]
    assert volume["emptyDir"]["medium"] == "Memory"
    key_dir = str(Path(KEY_FILE).parent)
    [writer] = [
        m for m in spec["initContainers"][0]["volumeMounts"] if m["name"] == "coralogix-key"
    ]
    [reader] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "coralogix-key"]
    assert writer["mountPath"] == reader["mountPath"] == key_dir
    assert not writer.get("readOnly") and reader["readOnly"] is True


def test_collector_reads_the_key_from_the_file(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, manifests = scenario
    config = collector_config(manifests)
    exporter = config["exporters"]["coralogix"]
    assert exporter["private_key"] == f"${{file:{KEY_FILE}}}"
    assert exporter["domain"] == "eu2.coralogix.com"
    for pipeline in config["service"]["pipelines"].values():
        assert pipeline["exporters"] == ["coralogix"]


def test_no_key_material_anywhere(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, manifests = scenario
    assert not [m for m in manifests if m["kind"] == "Secret"]
    text = yaml.safe_dump_all(manifests)
    # The only mention of the key is the file reference; no env var or arg can carry it.
    assert text.count("private_key") == 1
    spec = pod_spec(manifests)
    for container in spec["initContainers"] + spec["containers"]:
        for env in container.get("env", []):
            assert "KEY" not in env["name"] or env["name"] == "APPCONFIG_FETCH_JSON_KEY"
            assert "SECRET" not in env["name"]
        assert not container.get("envFrom")


def test_secure_contexts_probes_and_resources(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, manifests = scenario
    spec = pod_spec(manifests)
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["initContainers"] + spec["containers"]:
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        # Same uid in both: the key file is 0400, owner-readable only.
        assert context["runAsUser"] == 10001
        assert container["livenessProbe"] and container["readinessProbe"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind])
        image = container["image"]
        assert not image.endswith(":latest") and (":" in image.rsplit("/", 1)[-1] or "@" in image)


def test_selectors_do_not_carry_the_chart_version(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    _, manifests = scenario
    selector = workload(manifests)["spec"]["selector"]["matchLabels"]
    assert selector == {
        "app.kubernetes.io/name": "otel-agent",
        "app.kubernetes.io/instance": RELEASE,
    }
    template_labels = workload(manifests)["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= template_labels.items()
    for service in (m for m in manifests if m["kind"] == "Service"):
        assert service["spec"]["selector"] == selector


def test_network_policy_admits_only_the_receivers_and_health(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    name, manifests = scenario
    policy = one(manifests, "NetworkPolicy")
    assert (
        policy["spec"]["podSelector"]["matchLabels"]
        == (workload(manifests)["spec"]["selector"]["matchLabels"])
    )
    # Ingress only; egress stays open (Coralogix, AppConfig, STS).
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [
        {"port": port, "protocol": "TCP"} for port in ("otlp-grpc", "otlp-http", "health")
    ]
    # The named ports are the collector's, so the policy admits exactly 4317, 4318 and 13133.
    [collector] = pod_spec(manifests)["containers"]
    ports = {p["name"]: p["containerPort"] for p in collector["ports"]}
    assert [ports[p["port"]] for p in rule["ports"]] == [4317, 4318, 13133]
    expected = ci_values(name).get("networkPolicy", {}).get("ingressFrom") or [
        {"namespaceSelector": {}}
    ]
    assert rule["from"] == expected


def test_network_policy_default_peers_are_the_cluster_pods(default: list[dict[str, Any]]) -> None:
    # No ingressFrom: every pod of the cluster, never an empty `from` (which would admit anyone).
    [rule] = one(default, "NetworkPolicy")["spec"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {}}]
    peers = [{"podSelector": {"matchLabels": {"app": "api"}}}]
    [rule] = one(
        render(_with(ci_values("default"), "networkPolicy.ingressFrom", peers)), "NetworkPolicy"
    )["spec"]["ingress"]
    assert rule["from"] == peers


def test_network_policy_disabled_is_absent() -> None:
    manifests = render(_with(ci_values("default"), "networkPolicy.enabled", False))
    assert not [m for m in manifests if m["kind"] == "NetworkPolicy"]


def test_irsa_annotation_on_the_created_service_account(default: list[dict[str, Any]]) -> None:
    account = one(default, "ServiceAccount")
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/berth-uat-otel-agent"
    }
    assert account["automountServiceAccountToken"] is False
    assert pod_spec(default)["serviceAccountName"] == account["metadata"]["name"]


def test_existing_service_account_is_used_not_created() -> None:
    manifests = render(ci_values("existing-serviceaccount"))
    assert not [m for m in manifests if m["kind"] == "ServiceAccount"]
    assert pod_spec(manifests)["serviceAccountName"] == "otel-agent"
    # Without a name, the namespace's default account (the `helm create` rule).
    unnamed = render(_with(ci_values("existing-serviceaccount"), "serviceAccount.name", ""))
    assert pod_spec(unnamed)["serviceAccountName"] == "default"
    sidecar_env = {e["name"]: e["value"] for e in pod_spec(manifests)["initContainers"][0]["env"]}
    assert sidecar_env["APPCONFIG_FETCH_JSON_KEY"] == "privateKey"
    assert not [m for m in manifests if m["kind"] == "Service"]


def test_daemonset_mode_with_digests() -> None:
    manifests = render(ci_values("daemonset"))
    daemonset = one(manifests, "DaemonSet")
    assert not [m for m in manifests if m["kind"] == "Deployment"]
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"].endswith("@sha256:" + "0" * 63 + "1")
    assert spec["initContainers"][0]["image"].endswith("@sha256:" + "0" * 63 + "2")
    assert one(manifests, "Service")["spec"]["internalTrafficPolicy"] == "Local"


def test_config_change_rolls_the_pods(default: list[dict[str, Any]]) -> None:
    values = ci_values("default")
    values["coralogix"]["domain"] = "us2.coralogix.com"
    changed = render(values)
    annotation = "checksum/config"

    def checksum(manifests: list[dict[str, Any]]) -> str:
        return str(workload(manifests)["spec"]["template"]["metadata"]["annotations"][annotation])

    assert checksum(default) != checksum(changed)


def _without(values: dict[str, Any], path: str) -> dict[str, Any]:
    result = copy.deepcopy(values)
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node[part]
    del node[last]
    return result


def _with(values: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(values)
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return result


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("privateKey", "cxtp_leak"),
        ("coralogix.privateKey", "cxtp_leak"),
        ("coralogix.private_key", "cxtp_leak"),
        ("appconfig.secretValue", "cxtp_leak"),
        ("fetcher.env", [{"name": "X", "value": "y"}]),
        ("fetcher.image.foo", "bar"),
        ("serviceAccount.foo", True),
        ("image.tag", "latest"),
        ("mode", "statefulset"),
        ("appconfig.region", "Ireland"),
        ("serviceAccount.roleArn", "role/otel"),
        ("fetcher.pollIntervalSeconds", 5),
        ("networkPolicy.egress", []),
        ("networkPolicy.ingressFrom", [{"podSelectors": {}}]),
    ],
)
def test_schema_rejects_unknown_keys_and_bad_values(path: str, value: Any) -> None:
    # The schema names the offending key (or its location) in the error.
    with pytest.raises(helm_sdk.HelmError, match=re.escape(path.rsplit(".", 1)[-1])):
        render(_with(ci_values("default"), path, value))


REQUIRED_VALUES = [
    "appconfig.region",
    "appconfig.application",
    "appconfig.environment",
    "appconfig.profile",
    "coralogix.domain",
]


@pytest.mark.parametrize("path", REQUIRED_VALUES)
def test_required_value_left_empty_fails_the_install_naming_it(path: str) -> None:
    # The schema allows "" (the chart's defaults, so `helm lint` passes for publishing); an install
    # or upgrade fails in the templates with a message naming the value.
    with pytest.raises(helm_sdk.HelmError, match=re.escape(f"{path} is required")):
        render(_with(ci_values("default"), path, ""))


@pytest.mark.parametrize("path", REQUIRED_VALUES)
def test_schema_requires_every_required_key(path: str) -> None:
    with pytest.raises(helm_sdk.HelmError, match=path.rsplit(".", 1)[-1]):
        render(_without(ci_values("default"), path))


def test_chart_defaults_alone_are_refused() -> None:
    # No AppConfig ids, no Coralogix domain, no IRSA role: nothing sensible to install.
    with pytest.raises(helm_sdk.HelmError, match=re.escape("serviceAccount.roleArn is required")):
        render({})
    # With only the IRSA role given, the first empty AppConfig id is named.
    role = {"serviceAccount": {"roleArn": "arn:aws:iam::123456789012:role/otel"}}
    with pytest.raises(helm_sdk.HelmError, match=re.escape("appconfig.region is required")):
        render(role)


def test_chart_defaults_lint_clean() -> None:
    # `berth charts publish` lints with the chart's own values.yaml: the empty required values
    # must not fail the schema or the templates there.
    report = helm_sdk.lint(CHART, strict=True)
    assert report.errors == [] and report.warnings == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            _without(ci_values("default"), "serviceAccount.roleArn"),
            "serviceAccount.roleArn is required",
        ),
        (
            _with(
                ci_values("existing-serviceaccount"),
                "serviceAccount.roleArn",
                "arn:aws:iam::123456789012:role/x",
            ),
            "no effect when serviceAccount.create is false",
        ),
        (
            _with(
                ci_values("default"),
                "serviceAccount.annotations",
                {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/other"},
            ),
            "not both",
        ),
    ],
)
def test_invalid_combinations_fail(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_sdk.HelmError, match=message):
        render(values)


def test_notes_say_where_the_key_comes_from_and_how_to_roll() -> None:
    notes = helm_sdk.render_notes(CHART, ci_values("default"), name=RELEASE, namespace=NAMESPACE)
    assert "otel-config/uat/coralogix-private-key (eu-west-1)" in notes
    assert f"rollout restart deployment/{RELEASE}-otel-agent" in notes


def test_chart_metadata_and_changelog() -> None:
    metadata = helm_sdk.chart_metadata(CHART)
    assert metadata["apiVersion"] == "v2"
    assert metadata["version"] == "0.2.0"
    assert f"## {metadata['version']}" in (CHART / "CHANGELOG.md").read_text()
    values_text = (CHART / "values.yaml").read_text()
    assert yaml.safe_load(values_text)["image"]["tag"] == metadata["appVersion"]
