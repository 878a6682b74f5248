"""OtelAgentRelease: the otel-agent Helm release, its IRSA role and its AppConfig grant.

One stack synthesized once; the release's values are then rendered with the real chart through
`berth.helm_sdk` (schema validation included) after Terraform's references are replaced by ids.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cdktf
import kubernetes_validate
import pytest
import yaml

from berth import helm_sdk
from berth_constructs.helm_chart import ChartSource
from berth_constructs.otel_agent_release import (
    ImageRef,
    OtelAgentRelease,
    OtelAgentReleaseProps,
    otel_agent_values,
)
from berth_constructs.secret_app_config import SecretAppConfig, SecretAppConfigProps
from tests.support.tfjson import one_resource, policy_statements, resources

CHART = Path(__file__).resolve().parents[2] / "charts" / "otel-agent"
ACCOUNT = "111111111111"
REGION = "eu-west-1"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
DIGEST = "sha256:" + "a" * 64
# Terraform references in the values, replaced by ids of the right shape before rendering.
_REFERENCE = re.compile(r"\$\{[^}]+\}")


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    from cdktf_cdktf_provider_aws.provider import AwsProvider
    from cdktf_cdktf_provider_helm.provider import HelmProvider, HelmProviderKubernetes
    from cdktf_cdktf_provider_kubernetes.provider import KubernetesProvider

    app = cdktf.Testing.app()
    stack = cdktf.TerraformStack(app, "test")
    AwsProvider(stack, "aws", region=REGION)
    KubernetesProvider(stack, "kubernetes", host="https://kubernetes.invalid")
    HelmProvider(
        stack, "helm", kubernetes=HelmProviderKubernetes(host="https://kubernetes.invalid")
    )
    private_key = SecretAppConfig(
        stack,
        "coralogix-key",
        SecretAppConfigProps(
            name="coralogix-private-key",
            name_prefix="berth-uat",
            environment_name="uat",
            account_id=ACCOUNT,
            region=REGION,
            value_source="out_of_band",
        ),
    )
    OtelAgentRelease(
        stack,
        "otel-agent",
        OtelAgentReleaseProps(
            private_key=private_key,
            role_name="berth-uat-otel-agent",
            oidc_provider_arn=PROVIDER_ARN,
            region=REGION,
            coralogix_domain="eu2.coralogix.com",
            json_key="privateKey",
            fetcher_image=ImageRef(
                repository=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/appconfig-fetch",
                tag="0.1.0",
                digest=DIGEST,
            ),
        ),
    )
    return dict(json.loads(cdktf.Testing.synth(stack)))


@pytest.fixture(scope="module")
def release(stack: dict[str, Any]) -> dict[str, Any]:
    return one_resource(stack, "helm_release")


@pytest.fixture(scope="module")
def values(release: dict[str, Any]) -> dict[str, Any]:
    (document,) = release["values"]
    return dict(yaml.safe_load(document))


def test_chart_does_not_create_a_second_service_account(values: dict[str, Any]) -> None:
    assert values["serviceAccount"] == {"create": False, "name": "otel-agent"}


def test_service_account_and_trust_share_one_namespace_and_name(stack: dict[str, Any]) -> None:
    account = one_resource(stack, "kubernetes_service_account_v1")
    assert (account["metadata"]["namespace"], account["metadata"]["name"]) == (
        "observability",
        "otel-agent",
    )
    roles = [r for r in resources(stack, "aws_iam_role") if r["name"] == "berth-uat-otel-agent"]
    (role,) = roles
    (trust,) = policy_statements(stack, role["assume_role_policy"])
    subjects = [c["values"] for c in trust["condition"] if c["variable"].endswith(":sub")]
    assert subjects == [["system:serviceaccount:observability:otel-agent"]]


def test_role_may_only_read_the_keys_appconfig_profile(stack: dict[str, Any]) -> None:
    (policy,) = [
        p
        for p in resources(stack, "aws_iam_role_policy")
        if p["role"].startswith("${aws_iam_role.otel-agent_irsa_role_")
    ]
    (grant,) = policy_statements(stack, policy["policy"])
    assert grant["actions"] == [
        "appconfig:StartConfigurationSession",
        "appconfig:GetLatestConfiguration",
    ]
    (arn,) = grant["resources"]
    assert "${aws_appconfig_application.coralogix-key_application_" in arn
    assert "${aws_appconfig_environment.coralogix-key_environment_" in arn


def test_values_point_at_the_keys_appconfig_ids(values: dict[str, Any]) -> None:
    appconfig = values["appconfig"]
    assert appconfig["region"] == REGION
    assert appconfig["application"].startswith("${aws_appconfig_application.coralogix-key_")
    assert appconfig["environment"].endswith(".environment_id}")
    assert appconfig["profile"].endswith(".configuration_profile_id}")
    assert appconfig["jsonKey"] == "privateKey"


def test_no_secret_reaches_the_release(release: dict[str, Any]) -> None:
    text = json.dumps(release)
    assert "secretsmanager_secret" not in text
    assert "${var." not in text
    for block in ("set", "set_sensitive", "set_wo", "set_list"):
        assert block not in release, block


def test_release_waits_for_role_grant_and_service_account(release: dict[str, Any]) -> None:
    depends_on = release["depends_on"]
    assert any(d.startswith("aws_iam_role.otel-agent_irsa_role_") for d in depends_on)
    assert any(d.startswith("aws_iam_role_policy.otel-agent_irsa_policy_") for d in depends_on)
    assert any(d.startswith("kubernetes_service_account_v1.") for d in depends_on)


def test_release_installs_the_local_chart_atomically(release: dict[str, Any]) -> None:
    # The repository's chart, copied in as a cdktf asset: a path relative to the stack's folder.
    assert release["chart"].startswith("assets/otel-agent_chart_")
    assert "repository" not in release and "version" not in release
    assert release["namespace"] == "observability"
    assert release["atomic"] is True
    assert release["cleanup_on_fail"] is True


def test_default_chart_is_this_repositorys_otel_agent_chart() -> None:
    props = OtelAgentReleaseProps(private_key=None, **VALID)  # type: ignore[arg-type]
    assert props.chart == ChartSource(path=CHART)


def test_repository_chart_is_passed_pinned() -> None:
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    other = cdktf.TerraformStack(cdktf.Testing.app(), "repository-chart")
    AwsProvider(other, "aws", region=REGION)
    private_key = SecretAppConfig(
        other,
        "coralogix-key",
        SecretAppConfigProps(
            name="coralogix-private-key",
            name_prefix="berth-uat",
            environment_name="uat",
            account_id=ACCOUNT,
            region=REGION,
            value_source="out_of_band",
        ),
    )
    OtelAgentRelease(
        other,
        "otel-agent",
        OtelAgentReleaseProps(
            private_key=private_key,
            chart=ChartSource(
                name="otel-agent", repository="oci://charts.example.com/berth", version="0.1.2"
            ),
            **VALID,
        ),
    )
    release = one_resource(json.loads(cdktf.Testing.synth(other)), "helm_release")
    assert (release["chart"], release["repository"], release["version"]) == (
        "otel-agent",
        "oci://charts.example.com/berth",
        "0.1.2",
    )


def _concrete(values: dict[str, Any]) -> dict[str, Any]:
    """The values with Terraform references replaced by ids of AppConfig's shape."""
    text = _REFERENCE.sub("abc1234", yaml.safe_dump(values))
    return dict(yaml.safe_load(text))


def test_synthesized_values_pass_the_chart_schema_and_render(values: dict[str, Any]) -> None:
    manifests = helm_sdk.render(
        CHART, _concrete(values), release_name="otel-agent", namespace="observability"
    )
    kinds = [m["kind"] for m in manifests]
    assert "ServiceAccount" not in kinds
    (workload,) = [m for m in manifests if m["kind"] in ("Deployment", "DaemonSet")]
    spec = workload["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "otel-agent"
    images = [c["image"] for c in [*spec.get("initContainers", []), *spec["containers"]]]
    assert any(image.endswith(f"appconfig-fetch@{DIGEST}") for image in images)
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.33.0", strict=True)


def test_daemonset_values_pass_the_chart_schema() -> None:
    values = otel_agent_values(
        mode="daemonset",
        service_account_name="otel-agent",
        region=REGION,
        application="app1234",
        environment="env1234",
        profile="prof123",
        coralogix_domain="coralogix.com",
    )
    manifests = helm_sdk.render(CHART, values, release_name="otel", namespace="observability")
    assert [m["kind"] for m in manifests].count("DaemonSet") == 1


def test_values_carry_no_key_field() -> None:
    values = otel_agent_values(
        mode="deployment",
        service_account_name="otel-agent",
        region=REGION,
        application="a",
        environment="e",
        profile="p",
        coralogix_domain="coralogix.com",
    )
    flat = yaml.safe_dump(values).lower()
    assert "privatekey:" not in flat and "secret" not in flat and "apikey" not in flat


VALID: dict[str, Any] = {
    "role_name": "otel-agent",
    "oidc_provider_arn": PROVIDER_ARN,
    "region": REGION,
    "coralogix_domain": "eu2.coralogix.com",
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"coralogix_domain": "https://eu2.coralogix.com"}, "coralogix_domain: .* not a domain"),
        ({"mode": "statefulset"}, "mode: 'statefulset' must be"),
    ],
)
def test_props_refuse_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OtelAgentReleaseProps(private_key=None, **{**VALID, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"name": "otel-agent", "repository": "s3://charts", "version": "0.1.2"},
            "repository: .* https:// or oci://",
        ),
        (
            {"name": "otel-agent", "repository": "https://charts.example.com"},
            "name: a repository chart needs name, repository and version",
        ),
        (
            {"path": Path("https://charts.example.com/otel-agent.tgz")},
            "path: .* is not a chart directory",
        ),
    ],
)
def test_chart_must_be_a_chart_directory_or_a_pinned_repository_chart(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        OtelAgentReleaseProps(private_key=None, chart=ChartSource(**kwargs), **VALID)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tag": "latest"}, "tag: 'latest' is not a pinned tag"),
        ({"digest": "sha256:abc"}, "digest: 'sha256:abc' is not"),
    ],
)
def test_image_refs_must_be_pinned(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ImageRef(**{"repository": "r", "tag": "1.0.0", **changes})
