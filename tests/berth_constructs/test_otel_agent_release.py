"""OtelAgentRelease: the otel-agent Helm release, running as its IRSA role.

One stack synthesized once; the release's values are then rendered with the real chart through
`berth.helm_sdk` (schema validation included) after Terraform's references are replaced by ids.
The role itself and its AppConfig grant live in the account stack (tests/stacks).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from berth import helm_sdk
from berth_constructs.container_image import ContainerImage
from berth_constructs.helm_chart import ChartSource
from berth_constructs.otel_agent_release import (
    OtelAgentRelease,
    OtelAgentReleaseProps,
    otel_agent_values,
)
from berth_core.naming import secret_app_config_names
from tests.support.constants import ACCOUNT, CHARTS_DIR, DIGEST, REGION, role_arn
from tests.support.releases import release_values
from tests.support.stacks import new_stack, stack_json
from tests.support.tfjson import one_resource

CHART = CHARTS_DIR / "otel-agent"
ROLE_ARN = role_arn("berth-uat-otel-agent")
NAMES = secret_app_config_names("berth-uat", "uat", "coralogix-private-key")
# Terraform references in the values, replaced by ids of the right shape before rendering.
_REFERENCE = re.compile(r"\$\{[^}]+\}")

VALID: dict[str, Any] = {
    "private_key": NAMES,
    "role_arn": ROLE_ARN,
    "region": REGION,
    "coralogix_domain": "eu2.coralogix.com",
}


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    from cdktf_cdktf_provider_aws.data_aws_iam_role import DataAwsIamRole

    stack = new_stack(helm=True)
    role = DataAwsIamRole(stack, "otel-agent-role", name="berth-uat-otel-agent")
    OtelAgentRelease(
        stack,
        "otel-agent",
        OtelAgentReleaseProps(
            **{**VALID, "role_arn": role.arn},
            json_key="privateKey",
            fetcher_image=ContainerImage(
                repository=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/appconfig-fetch",
                tag="0.1.0",
                digest=DIGEST,
            ),
        ),
    )
    return stack_json(stack)


@pytest.fixture(scope="module")
def release(stack: dict[str, Any]) -> dict[str, Any]:
    return one_resource(stack, "helm_release")


@pytest.fixture(scope="module")
def values(release: dict[str, Any]) -> dict[str, Any]:
    return release_values(release)


def test_chart_creates_the_service_account_annotated_with_the_role(
    values: dict[str, Any],
) -> None:
    assert values["serviceAccount"] == {
        "create": True,
        "name": "otel-agent",
        "roleArn": "${data.aws_iam_role.otel-agent-role.arn}",
    }


def test_values_ask_appconfig_for_the_keys_names(values: dict[str, Any]) -> None:
    # AppConfigData takes names: the release needs nothing from the account stack's state.
    assert values["appconfig"] == {
        "region": REGION,
        "application": "berth-uat-coralogix-private-key",
        "environment": "uat",
        "profile": "coralogix-private-key",
        "jsonKey": "privateKey",
    }


def test_no_secret_reaches_the_release(release: dict[str, Any]) -> None:
    text = json.dumps(release)
    assert "secretsmanager_secret" not in text
    assert "${var." not in text
    for block in ("set", "set_sensitive", "set_wo", "set_list"):
        assert block not in release, block


def test_release_installs_the_local_chart_atomically_into_an_existing_namespace(
    release: dict[str, Any],
) -> None:
    # The repository's chart, copied in as a cdktf asset: a path relative to the stack's folder.
    assert release["chart"].startswith("assets/otel-agent_chart_")
    assert "repository" not in release and "version" not in release
    assert release["namespace"] == "observability"
    assert release["create_namespace"] is False
    assert release["atomic"] is True
    assert release["cleanup_on_fail"] is True


def test_default_chart_is_this_repositorys_otel_agent_chart() -> None:
    assert OtelAgentReleaseProps(**VALID).chart == ChartSource(path=CHART)


def test_repository_chart_is_passed_pinned() -> None:
    other = new_stack("repository-chart", region=None)
    OtelAgentRelease(
        other,
        "otel-agent",
        OtelAgentReleaseProps(
            chart=ChartSource(
                name="otel-agent", repository="oci://charts.example.com/berth", version="0.1.2"
            ),
            **VALID,
        ),
    )
    release = one_resource(stack_json(other), "helm_release")
    assert (release["chart"], release["repository"], release["version"]) == (
        "otel-agent",
        "oci://charts.example.com/berth",
        "0.1.2",
    )


def _concrete(values: dict[str, Any]) -> dict[str, Any]:
    """The values with Terraform references replaced by a value of the right shape."""
    text = _REFERENCE.sub(ROLE_ARN, yaml.safe_dump(values))
    return dict(yaml.safe_load(text))


def test_synthesized_values_pass_the_chart_schema_and_render(values: dict[str, Any]) -> None:
    manifests = helm_sdk.render(
        CHART, _concrete(values), release_name="otel-agent", namespace="observability"
    )
    (account,) = [m for m in manifests if m["kind"] == "ServiceAccount"]
    assert account["metadata"]["name"] == "otel-agent"
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == ROLE_ARN
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
        role_arn=ROLE_ARN,
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
        role_arn=ROLE_ARN,
        region=REGION,
        application="a",
        environment="e",
        profile="p",
        coralogix_domain="coralogix.com",
    )
    flat = yaml.safe_dump(values).lower()
    assert "privatekey:" not in flat and "secret" not in flat and "apikey" not in flat


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"coralogix_domain": "https://eu2.coralogix.com"}, "coralogix_domain: .* not a domain"),
        ({"mode": "statefulset"}, "mode: 'statefulset' must be"),
        ({"role_arn": "berth-uat-otel-agent"}, "role_arn: .* is not an IAM role ARN"),
    ],
)
def test_props_refuse_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OtelAgentReleaseProps(**{**VALID, **changes})


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
        OtelAgentReleaseProps(chart=ChartSource(**kwargs), **VALID)
