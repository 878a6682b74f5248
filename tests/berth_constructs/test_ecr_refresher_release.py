"""EcrRefresherRelease: the helm_release it synthesizes, and its values against the real chart.

One stack, synthesized once: `wired` (identity from an EcrRegistry refresher role, values hold
Terraform references) and `keys` (an existing static-keys Secret, literal values rendered by the
real chart through `berth.helm_sdk.render`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from berth import helm_sdk
from berth_constructs.container_image import ContainerImage
from berth_constructs.ecr_refresher_release import EcrRefresherRelease, EcrRefresherReleaseProps
from berth_constructs.ecr_registry import EcrRegistry, EcrRegistryProps, RefresherTrust
from berth_constructs.helm_chart import ChartSource
from tests.support.constants import CHARTS_DIR, DIGEST, EXTERNAL_PROVIDER_ARN
from tests.support.releases import helm_release, values_of
from tests.support.stacks import new_stack, stack_json
from tests.support.tfjson import policy_statements, resources

CHART_DIR = CHARTS_DIR / "ecr-credential-refresher"
IMAGE = ContainerImage(
    repository="111111111111.dkr.ecr.eu-west-1.amazonaws.com/berth/ecr-refresher", digest=DIGEST
)


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    stack = new_stack(helm=True)
    trust = RefresherTrust(
        oidc_provider_arn=EXTERNAL_PROVIDER_ARN, role_name="test-ecr-refresher", namespace="ecr"
    )
    registry = EcrRegistry(
        stack,
        "registry",
        EcrRegistryProps(
            repository_name="berth/ecr-refresher",
            push_principals=["arn:aws:iam::111111111111:role/ci"],
            refresher=trust,
        ),
    )
    EcrRefresherRelease(
        stack,
        "wired",
        EcrRefresherReleaseProps(
            region="eu-west-1",
            image=registry.image(tag="0.1.0"),
            chart=ChartSource(path=CHART_DIR),
            target_namespaces=["team-a", "team-b"],
            role_arn=registry.refresher_role_arn,
            registry_ids=[registry.registry_id],
            namespace=trust.namespace,
            service_account_name=trust.service_account_name,
            patch_service_accounts=["default"],
        ),
    )
    EcrRefresherRelease(
        stack,
        "keys",
        EcrRefresherReleaseProps(
            region="eu-central-1",
            image=IMAGE,
            chart=ChartSource(
                name="ecr-credential-refresher",
                repository="https://charts.example.com",
                version="0.1.0",
            ),
            target_namespace_selector="ecr-pull=enabled",
            aws_credentials_secret="ecr-refresher-aws-keys",
            registry_ids=["111111111111", "222222222222"],
            release_name="refresher-keys",
            enable_builder_secret=True,
            builder_service_account="builder",
            image_pull_secrets=["bootstrap-pull"],
            refresh_margin="1h",
        ),
    )
    return stack_json(stack)


def test_wired_release_uses_the_registry_role_and_the_trusted_service_account(
    stack: dict[str, Any],
) -> None:
    values = values_of(stack, "ecr-credential-refresher")
    role_key = next(
        key
        for key, role in stack["resource"]["aws_iam_role"].items()
        if role["name"] == "test-ecr-refresher"
    )
    assert values["serviceAccount"] == {
        "create": True,
        "name": "ecr-credential-refresher",
        "roleArn": f"${{aws_iam_role.{role_key}.arn}}",
    }
    # The chart's ServiceAccount is the one subject the role trusts: same namespace and name.
    (trust,) = policy_statements(
        stack, stack["resource"]["aws_iam_role"][role_key]["assume_role_policy"]
    )
    sub = next(c for c in trust["condition"] if c["variable"].endswith(":sub"))
    release = helm_release(stack, "ecr-credential-refresher")
    assert sub["values"] == [
        f"system:serviceaccount:{release['namespace']}:ecr-credential-refresher"
    ]
    assert values["aws"]["existingSecret"] == ""


def test_wired_release_pulls_its_image_from_the_registry(stack: dict[str, Any]) -> None:
    image = values_of(stack, "ecr-credential-refresher")["image"]
    assert image["repository"].startswith("${aws_ecr_repository.")
    assert image["repository"].endswith(".repository_url}")
    assert image["tag"] == "0.1.0"


def test_local_chart_is_an_asset_of_the_stack_not_an_absolute_path(stack: dict[str, Any]) -> None:
    release = helm_release(stack, "ecr-credential-refresher")
    assert release["chart"].startswith("assets/")
    assert "repository" not in release


def test_repository_chart_is_pinned_to_a_version(stack: dict[str, Any]) -> None:
    release = helm_release(stack, "refresher-keys")
    assert release["chart"] == "ecr-credential-refresher"
    assert release["repository"] == "https://charts.example.com"
    assert release["version"] == "0.1.0"


def test_releases_roll_back_when_an_install_fails(stack: dict[str, Any]) -> None:
    for name in ("ecr-credential-refresher", "refresher-keys"):
        release = helm_release(stack, name)
        assert release["atomic"] is True and release["cleanup_on_fail"] is True


def test_no_aws_key_material_is_in_the_values(stack: dict[str, Any]) -> None:
    for release in resources(stack, "helm_release"):
        (document,) = release["values"]
        assert "AWS_SECRET_ACCESS_KEY" not in document and "aws_secret_access_key" not in document
    for resource_type in ("aws_iam_user", "aws_iam_access_key"):
        assert resources(stack, resource_type) == []


def test_static_keys_release_values_pass_the_chart_schema_and_render(
    stack: dict[str, Any],
) -> None:
    values = values_of(stack, "refresher-keys")
    manifests = helm_sdk.render(CHART_DIR, values, release_name="refresher-keys", namespace="ecr")
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{IMAGE.repository}@{DIGEST}"
    # The keys reach the pod as a mounted credentials file, never as environment variables.
    assert "envFrom" not in container
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == "/var/run/secrets/aws/credentials"
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert any(v.get("secret", {}).get("secretName") == "ecr-refresher-aws-keys" for v in volumes)
    assert env["AWS_REGION"] == "eu-central-1"
    assert env["ECR_REFRESHER_NAMESPACE_SELECTOR"] == "ecr-pull=enabled"
    assert env["ECR_REFRESHER_REGISTRY_IDS"] == "111111111111,222222222222"
    assert env["ECR_REFRESHER_BUILDER_SERVICE_ACCOUNT"] == "builder"
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [
        {"name": "bootstrap-pull"}
    ]


def test_wired_release_values_pass_the_chart_schema_once_terraform_fills_them_in(
    stack: dict[str, Any],
) -> None:
    values = values_of(stack, "ecr-credential-refresher")
    # What Terraform substitutes at apply time for the three references.
    values["image"]["repository"] = (
        "111111111111.dkr.ecr.eu-west-1.amazonaws.com/berth/ecr-refresher"
    )
    values["aws"]["registryIds"] = ["111111111111"]
    values["serviceAccount"]["roleArn"] = "arn:aws:iam::111111111111:role/test-ecr-refresher"
    manifests = helm_sdk.render(
        CHART_DIR, values, release_name="ecr-credential-refresher", namespace="ecr"
    )
    kinds = sorted(m["kind"] for m in manifests)
    # Named namespaces: namespaced Roles only, no cluster-wide secret rights.
    assert "ClusterRole" not in kinds and "Role" in kinds
    (account,) = [m for m in manifests if m["kind"] == "ServiceAccount"]
    assert account["metadata"]["name"] == "ecr-credential-refresher"
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        ":role/test-ecr-refresher"
    )


VALID_PROPS: dict[str, Any] = {
    "region": "eu-west-1",
    "image": IMAGE,
    "chart": ChartSource(path=CHART_DIR),
    "target_namespaces": ["default"],
    "role_arn": "arn:aws:iam::111111111111:role/refresher",
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"region": "europe"}, "region: 'europe' is not"),
        ({"target_namespaces": []}, "target_namespaces: choose exactly one"),
        ({"allow_all_namespaces": True}, "target_namespaces: choose exactly one"),
        ({"target_namespaces": ["Team_A"]}, "target_namespaces: 'Team_A' is not"),
        ({"role_arn": None}, "role_arn: give exactly one AWS identity"),
        ({"aws_credentials_secret": "keys"}, "role_arn: give exactly one AWS identity"),
        ({"role_arn": "arn:aws:iam::111111111111:user/bob"}, "role_arn: .* is not an IAM role ARN"),
        ({"registry_ids": ["12345"]}, "registry_ids: '12345' is not"),
        ({"pull_secret_name": "Pull_Secret"}, "pull_secret_name: 'Pull_Secret' is not"),
        (
            {"enable_builder_secret": True, "builder_secret_name": "ecr-pull"},
            "builder_secret_name: must differ",
        ),
        ({"refresh_margin": "soon"}, "refresh_margin: 'soon' is not"),
        ({"log_level": "TRACE"}, "log_level: 'TRACE' is not"),
        (
            {"role_arn": None, "aws_credentials_secret": "k", "project_web_identity_token": True},
            "project_web_identity_token: needs role_arn",
        ),
        (
            {"create_builder_service_account": True, "builder_service_account": "builder"},
            "create_builder_service_account: needs enable_builder_secret",
        ),
        (
            {
                "target_namespaces": [],
                "allow_all_namespaces": True,
                "enable_builder_secret": True,
                "builder_service_account": "builder",
                "create_builder_service_account": True,
            },
            "create_builder_service_account: needs .* target_namespaces",
        ),
        ({"status_config_map": "Status"}, "status_config_map: 'Status' is not"),
    ],
)
def test_props_refuse_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EcrRefresherReleaseProps(**{**VALID_PROPS, **changes})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": Path("/nonexistent")}, "path: /nonexistent is not a chart directory"),
        ({"path": CHART_DIR, "version": "1.0.0"}, "path: give a chart path OR"),
        (
            {"name": "x", "repository": "https://charts.example.com"},
            "name: a repository chart needs",
        ),
        (
            {"name": "x", "repository": "http://charts", "version": "1.0.0"},
            "repository: .* https://",
        ),
        ({"name": "x", "repository": "oci://r/x", "version": "^1.0"}, "version: '\\^1.0' is not"),
    ],
)
def test_chart_source_refuses_unpinned_or_missing_charts(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ChartSource(**kwargs)
