"""The s3proxy chart: lint, render every ci/ scenario, validate manifests, assert security."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography import x509

from berth import helm_sdk

CHART = Path(__file__).resolve().parents[2] / "charts" / "s3proxy"
SCENARIOS = sorted(path.stem for path in (CHART / "ci").glob("*-values.yaml"))
K8S_VERSION = "1.30.0"
# Custom resources: kubernetes_validate ships core schemas only.
CRD_KINDS = {"HTTPRoute", "PodMonitor"}
MINIMAL: dict[str, Any] = {"s3": {"bucket": "a-bucket"}, "auth": {"enabled": False}}


def _values(scenario: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "ci" / f"{scenario}.yaml").read_text())
    return loaded


def _render(values: dict[str, Any]) -> list[dict[str, Any]]:
    return helm_sdk.render(CHART, values, release_name="proxy", namespace="repo")


def _kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [manifest for manifest in manifests if manifest["kind"] == kind]


def _deployment(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = _kind(manifests, "Deployment")
    return deployment


def _env(manifests: list[dict[str, Any]]) -> dict[str, str]:
    container = _deployment(manifests)["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item["value"] for item in container["env"]}


@pytest.fixture(scope="module", params=SCENARIOS)
def scenario(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, _render(_values(request.param))


def test_chart_metadata() -> None:
    metadata = helm_sdk.chart_metadata(CHART)
    assert (metadata["name"], metadata["version"]) == ("s3proxy", "0.3.0")
    assert metadata.get("appVersion", metadata.get("app_version")) == "0.2.0"


def test_there_are_ci_scenarios() -> None:
    assert {
        "default-values",
        "helm-repo-values",
        "self-signed-values",
        "monitored-values",
    } <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_lint_is_clean(name: str) -> None:
    report = helm_sdk.lint(CHART, _values(name), strict=True)
    assert report.errors == []
    assert report.warnings == []


def test_every_manifest_is_valid_kubernetes(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, manifests = scenario
    assert manifests
    for manifest in manifests:
        if manifest["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_every_object_is_namespaced_and_labelled(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    _, manifests = scenario
    for manifest in manifests:
        metadata = manifest["metadata"]
        assert metadata["namespace"] == "repo", manifest["kind"]
        labels = metadata["labels"]
        assert labels["app.kubernetes.io/name"] == "s3proxy"
        assert labels["app.kubernetes.io/instance"] == "proxy"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"


def test_selectors_do_not_carry_the_chart_version(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    _, manifests = scenario
    selector = _deployment(manifests)["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "s3proxy", "app.kubernetes.io/instance": "proxy"}
    (service,) = _kind(manifests, "Service")
    assert service["spec"]["selector"] == selector


def test_pod_is_locked_down(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, manifests = scenario
    pod = _deployment(manifests)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] >= 10000
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    tmp = next(volume for volume in pod["volumes"] if volume["name"] == "tmp")
    assert "emptyDir" in tmp
    for probe, path in (
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ):
        assert container[probe]["httpGet"] == {"path": path, "port": "management"}
    assert container["resources"]["limits"]["memory"]
    assert container["resources"]["requests"]["cpu"]


def test_irsa_annotation() -> None:
    manifests = _render(_values("helm-repo-values"))
    (account,) = _kind(manifests, "ServiceAccount")
    assert account["metadata"]["name"] == "s3proxy"
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/berth-s3proxy"
    }
    assert account["automountServiceAccountToken"] is False
    pod = _deployment(manifests)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "s3proxy"


def test_app_settings_reach_the_environment() -> None:
    env = _env(_render(_values("helm-repo-values")))
    assert env["S3_BUCKET"] == "berth-helm-repo"
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["S3PROXY_PREFIX"] == "charts/"
    assert env["S3PROXY_INDEX_DOCUMENT"] == "index.yaml"
    assert env["S3PROXY_ACCESS_DENIED_STATUS"] == "404"
    assert env["S3PROXY_HTPASSWD_FILE"] == "/etc/s3proxy/auth/htpasswd"
    assert "S3PROXY_AUTH_DISABLED" not in env


def test_image_digest_wins_over_tag() -> None:
    manifests = _render(_values("helm-repo-values"))
    image = _deployment(manifests)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith("/berth/s3proxy@sha256:" + "0123456789abcdef" * 4)


def test_image_tag_defaults_to_app_version() -> None:
    image = _deployment(_render(MINIMAL))["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "berth/s3proxy:0.2.0"


def test_htpasswd_secret_is_mounted_and_works_with_the_app(tmp_path: Path) -> None:
    from s3proxy.auth import HtpasswdAuthenticator

    manifests = _render(_values("default-values"))
    (secret,) = _kind(manifests, "Secret")
    pod = _deployment(manifests)["spec"]["template"]["spec"]
    volume = next(volume for volume in pod["volumes"] if volume["name"] == "htpasswd")
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "htpasswd")
    assert "subPath" not in mount  # a subPath mount would never see Secret updates
    path = tmp_path / "htpasswd"
    path.write_bytes(base64.b64decode(secret["data"]["htpasswd"]))
    assert HtpasswdAuthenticator(path).check("ci", "test", now=0.0)


def test_existing_secret_is_used_without_creating_one() -> None:
    manifests = _render(_values("helm-repo-values"))
    assert _kind(manifests, "Secret") == []
    pod = _deployment(manifests)["spec"]["template"]["spec"]
    volume = next(volume for volume in pod["volumes"] if volume["name"] == "htpasswd")
    assert volume["secret"]["secretName"] == "helm-repo-htpasswd"


def test_auth_disabled_is_explicit() -> None:
    manifests = _render(_values("auth-disabled-values"))
    assert _env(manifests)["S3PROXY_AUTH_DISABLED"] == "true"
    pod = _deployment(manifests)["spec"]["template"]["spec"]
    assert [volume["name"] for volume in pod["volumes"]] == ["tmp"]


def test_ingress_references_the_tls_secret_and_needs_no_controller_annotations() -> None:
    (ingress,) = _kind(_render(_values("helm-repo-values")), "Ingress")
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["charts.example.com"], "secretName": "charts-example-com-tls"}
    ]
    assert not any("nginx.ingress" in key for key in ingress["metadata"].get("annotations", {}))
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "proxy-s3proxy", "port": {"name": "http"}}


def test_self_signed_certificate_names_the_host() -> None:
    manifests = _render(_values("self-signed-values"))
    (ingress,) = _kind(manifests, "Ingress")
    secret_name = ingress["spec"]["tls"][0]["secretName"]
    (tls,) = [s for s in _kind(manifests, "Secret") if s["metadata"]["name"] == secret_name]
    assert tls["type"] == "kubernetes.io/tls"
    certificate = x509.load_pem_x509_certificate(base64.b64decode(tls["data"]["tls.crt"]))
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["charts.uat.example.com"]


def test_http_route_is_optional() -> None:
    assert _kind(_render(MINIMAL), "HTTPRoute") == []
    (route,) = _kind(_render(_values("self-signed-values")), "HTTPRoute")
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [{"name": "shared-gateway", "namespace": "gateway"}]
    assert route["spec"]["hostnames"] == ["charts.uat.example.com"]
    assert route["spec"]["rules"][0]["backendRefs"] == [{"name": "proxy-s3proxy", "port": 80}]


def test_autoscaling_replaces_fixed_replicas() -> None:
    manifests = _render(_values("helm-repo-values"))
    assert "replicas" not in _deployment(manifests)["spec"]
    (hpa,) = _kind(manifests, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)


def test_network_policy_admits_only_the_content_and_management_ports() -> None:
    (policy,) = _kind(_render(_values("monitored-values")), "NetworkPolicy")
    content, management = policy["spec"]["ingress"]
    assert content["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert content["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}
    ]
    assert management["ports"] == [{"port": "management", "protocol": "TCP"}]
    assert management["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]


def _ports(manifests: list[dict[str, Any]]) -> dict[str, int]:
    container = _deployment(manifests)["spec"]["template"]["spec"]["containers"][0]
    return {port["name"]: port["containerPort"] for port in container["ports"]}


def test_management_port_is_apart_from_content(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    _, manifests = scenario
    ports = _ports(manifests)
    assert ports == {"http": 8080, "management": 9090}
    env = _env(manifests)
    assert (env["S3PROXY_PORT"], env["S3PROXY_MANAGEMENT_PORT"]) == ("8080", "9090")
    # Nothing that routes outside traffic reaches the management port.
    (service,) = _kind(manifests, "Service")
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]
    for ingress in _kind(manifests, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["port"] == {"name": "http"}
    for route in _kind(manifests, "HTTPRoute"):
        for rule in route["spec"]["rules"]:
            assert [ref["port"] for ref in rule["backendRefs"]] == [
                service["spec"]["ports"][0]["port"]
            ]


def test_scraping_points_at_the_management_port() -> None:
    annotations = _deployment(_render(MINIMAL))["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9090"
    assert annotations["prometheus.io/path"] == "/metrics"
    manifests = _render(_values("monitored-values"))
    assert "annotations" not in _deployment(manifests)["spec"]["template"]["metadata"]
    (monitor,) = _kind(manifests, "PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "s3proxy",
        "app.kubernetes.io/instance": "proxy",
    }
    assert monitor["spec"]["podMetricsEndpoints"] == [
        {"port": "management", "path": "/metrics", "interval": "15s"}
    ]
    assert _kind(_render(MINIMAL), "PodMonitor") == []


def test_timeouts_and_limits_reach_the_app() -> None:
    from s3proxy.config import load_config

    env = _env(_render(_values("monitored-values")))
    assert env["S3PROXY_WORKERS"] == "2"
    assert env["S3PROXY_AUTH_MAX_PENDING"] == "32"
    # The app accepts exactly what the chart renders (its own validation, its own names).
    config = load_config({**env, "S3PROXY_HTPASSWD_FILE": ""} | {"S3PROXY_AUTH_DISABLED": "true"})
    assert config.max_connections == 2048
    assert config.header_timeout == 5
    assert config.send_timeout == 30
    assert config.connect_timeout == 2
    assert config.read_timeout == 20
    assert config.s3_max_attempts == 4
    assert config.s3_pool_size == 128
    assert config.auth_check_threads == 1
    assert config.management_port == 9090


def test_pod_disruption_budget() -> None:
    (pdb,) = _kind(_render(MINIMAL), "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1


@pytest.mark.parametrize(
    "values",
    [
        {**MINIMAL, "unknown": 1},
        {**MINIMAL, "s3": {"bucket": "a-bucket", "bukcet": "typo"}},
        {**MINIMAL, "auth": {"enabled": False, "users": []}},
        {**MINIMAL, "ingress": {"tls": {"secret": "x"}}},
        {**MINIMAL, "s3": {"bucket": "a-bucket", "accessDeniedStatus": 500}},
        {**MINIMAL, "image": {"repository": "x", "digest": "latest"}},
        {**MINIMAL, "serviceAccount": {"roleArn": "not-an-arn"}},
        {**MINIMAL, "proxy": {"threads": 8}},
        {**MINIMAL, "proxy": {"headerTimeoutSeconds": 61}},
        {**MINIMAL, "proxy": {"maxConnections": 1}},
        {**MINIMAL, "auth": {"enabled": False, "checkThreads": 0}},
        {**MINIMAL, "metrics": {"podMonitor": {"interval": "often"}}},
    ],
    ids=[
        "top-level",
        "s3",
        "auth",
        "ingress-tls",
        "denied-status",
        "digest",
        "role-arn",
        "removed-threads",
        "header-timeout",
        "max-connections",
        "check-threads",
        "monitor-interval",
    ],
)
def test_schema_rejects_bad_values(values: dict[str, Any]) -> None:
    with pytest.raises(helm_sdk.HelmError):
        _render(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"auth": {"enabled": False}}, "s3.bucket is required"),
        ({"s3": {"bucket": ""}, "auth": {"enabled": False}}, "s3.bucket is required"),
        ({"s3": {"bucket": "a-bucket"}}, "auth.enabled needs auth.htpasswd"),
        (
            {"s3": {"bucket": "a-bucket"}, "auth": {"htpasswd": "a:b", "existingSecret": "s"}},
            "exclusive",
        ),
        ({**MINIMAL, "ingress": {"enabled": True, "host": "h.example.com"}}, "ingress.tls"),
        ({**MINIMAL, "ingress": {"enabled": True, "tls": {"selfSigned": True}}}, "ingress.host"),
        ({**MINIMAL, "httpRoute": {"enabled": True}}, "httpRoute.parentRefs"),
    ],
)
def test_invalid_combinations_fail(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_sdk.HelmError, match=message):
        _render(copy.deepcopy(values))


def test_notes_show_how_to_use_the_repository() -> None:
    notes = helm_sdk.render_notes(
        CHART, _values("helm-repo-values"), name="proxy", namespace="repo"
    )
    assert "https://charts.example.com/" in notes
    assert "helm repo add proxy" in notes
