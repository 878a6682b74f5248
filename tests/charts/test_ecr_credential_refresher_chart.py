"""The ecr-credential-refresher chart, rendered through the Helm SDK seam and schema-checked."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from berth import helm_sdk

CHART = Path(__file__).resolve().parents[2] / "charts" / "ecr-credential-refresher"
CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
SCENARIOS = [path.name.removesuffix("-values.yaml") for path in CI_FILES]
# Every Kubernetes version the chart supports (kubeVersion >= 1.30: the admission policy's API)
# that kubernetes-validate has a schema for.
OLDEST_SUPPORTED = (1, 30)
KUBERNETES_VERSIONS = sorted(
    {v for v in all_versions() if tuple(map(int, v.split(".")[:2])) >= OLDEST_SUPPORTED},
    key=lambda v: tuple(map(int, v.split("."))),
)
RELEASE, NAMESPACE = "ecr", "ecr-system"
FULLNAME = "ecr-ecr-credential-refresher"


def ci_values(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text()))


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    return helm_sdk.render(CHART, values, release_name=RELEASE, namespace=NAMESPACE)


def of_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [manifest] = of_kind(manifests, kind)
    return manifest


def pod_spec(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(one(manifests, "Deployment")["spec"]["template"]["spec"])


def env(manifests: list[dict[str, Any]]) -> dict[str, str]:
    [container] = pod_spec(manifests)["containers"]
    return {item["name"]: item["value"] for item in container["env"]}


def target_roles(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Roles / ClusterRole of the target namespaces (not the status Role)."""
    return [
        role
        for role in of_kind(manifests, "Role") + of_kind(manifests, "ClusterRole")
        if not role["metadata"]["name"].endswith("-status")
    ]


def secret_rules(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for rule in role["rules"] if "secrets" in rule["resources"]]


@pytest.fixture(scope="module", params=SCENARIOS)
def scenario(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    """Each ci/<scenario>-values.yaml rendered once per module."""
    return request.param, render(ci_values(request.param))


def test_ci_scenarios_cover_every_target_mode() -> None:
    assert {"default", "list", "selector", "all-static-keys", "builder", "external"} <= set(
        SCENARIOS
    )


def test_lint_is_clean_with_chart_defaults_and_every_scenario() -> None:
    # Publishing lints the chart with its own values.yaml.
    assert helm_sdk.lint(CHART, strict=True) == helm_sdk.LintReport()
    for name in SCENARIOS:
        assert helm_sdk.lint(CHART, ci_values(name), strict=True) == helm_sdk.LintReport(), name


def test_the_supported_versions_start_where_the_chart_says() -> None:
    assert helm_sdk.chart_metadata(CHART)["kubeVersion"] == ">=1.30.0-0"
    assert KUBERNETES_VERSIONS[0] == "1.30.0" and len(KUBERNETES_VERSIONS) >= 8


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_passes_the_kubernetes_schema_of_each_supported_version(
    scenario: tuple[str, list[dict[str, Any]]], version: str
) -> None:
    _, manifests = scenario
    assert manifests
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)


def test_deployment_is_single_replica_recreate_with_probes_and_resources(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    _, manifests = scenario
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    [container] = pod_spec(manifests)["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_secure_contexts_by_default(scenario: tuple[str, list[dict[str, Any]]]) -> None:
    _, manifests = scenario
    spec = pod_spec(manifests)
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = spec["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["runAsUser"] > 0
    # The API token is mounted explicitly, as an expiring projected token.
    [token_volume] = [v for v in spec["volumes"] if v["name"] == "kube-api-access"]
    sources = token_volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["expirationSeconds"] <= 3607


def test_no_rule_anywhere_allows_delete_or_wildcards(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    _, manifests = scenario
    for role in of_kind(manifests, "Role") + of_kind(manifests, "ClusterRole"):
        for rule in role["rules"]:
            assert not {"delete", "deletecollection", "*"} & set(rule["verbs"])
            assert "*" not in rule["resources"]


def test_secret_rights_are_scoped_to_the_secret_name_except_create(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    name, manifests = scenario
    values = ci_values(name)
    builder = values.get("builder", {})
    expected = {values.get("pullSecret", {}).get("name", "ecr-pull")} | (
        {builder.get("secretName", "ecr-creds")} if builder.get("enabled") else set()
    )
    for role in target_roles(manifests):
        rules = secret_rules(role)
        named = [rule for rule in rules if "resourceNames" in rule]
        unnamed = [rule for rule in rules if "resourceNames" not in rule]
        assert [set(rule["resourceNames"]) for rule in named] == [expected]
        assert set(named[0]["verbs"]) == {"get", "update", "patch"}
        # create cannot be limited by name (the RBAC docs); it is the only unnamed verb.
        assert [rule["verbs"] for rule in unnamed] == [["create"]]


def test_explicit_namespaces_get_roles_and_no_cluster_wide_secret_rights() -> None:
    manifests = render(ci_values("list"))

    assert of_kind(manifests, "ClusterRole") == []
    assert of_kind(manifests, "ClusterRoleBinding") == []
    roles = target_roles(manifests)
    bindings = [
        b
        for b in of_kind(manifests, "RoleBinding")
        if not b["metadata"]["name"].endswith("-status")
    ]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
        ]
    # No namespace list/watch is needed for a fixed list.
    assert all("namespaces" not in rule["resources"] for r in roles for rule in r["rules"])
    assert env(manifests)["ECR_REFRESHER_NAMESPACES"] == "team-a,team-b"


@pytest.mark.parametrize(
    ("name", "variable", "value"),
    [
        ("selector", "ECR_REFRESHER_NAMESPACE_SELECTOR", "ecr-pull=enabled"),
        ("all-static-keys", "ECR_REFRESHER_ALL_NAMESPACES", "true"),
    ],
)
def test_discovering_modes_use_a_cluster_role_with_namespace_watch(
    name: str, variable: str, value: str
) -> None:
    manifests = render(ci_values(name))

    assert [r["metadata"]["name"] for r in of_kind(manifests, "Role")] == [f"{FULLNAME}-status"]
    role = one(manifests, "ClusterRole")
    namespace_rules = [rule for rule in role["rules"] if "namespaces" in rule["resources"]]
    assert [set(rule["verbs"]) for rule in namespace_rules] == [{"get", "list", "watch"}]
    assert one(manifests, "ClusterRoleBinding")["roleRef"]["name"] == role["metadata"]["name"]
    assert env(manifests)[variable] == value
    other_modes = {
        "ECR_REFRESHER_NAMESPACES",
        "ECR_REFRESHER_NAMESPACE_SELECTOR",
        "ECR_REFRESHER_ALL_NAMESPACES",
    } - {variable}
    assert not other_modes & set(env(manifests))


def test_service_account_rights_only_for_named_accounts() -> None:
    with_accounts = render(ci_values("list"))
    without = render(ci_values("default"))

    [rule] = [
        rule
        for rule in target_roles(with_accounts)[0]["rules"]
        if "serviceaccounts" in rule["resources"]
    ]
    assert rule["resourceNames"] == ["default"]
    assert set(rule["verbs"]) == {"get", "patch"}
    assert all(
        "serviceaccounts" not in rule["resources"]
        for role in of_kind(without, "Role")
        for rule in role["rules"]
    )


def test_builder_mode_passes_names_and_scopes_rights() -> None:
    manifests = render(ci_values("builder"))

    variables = env(manifests)
    assert variables["ECR_REFRESHER_BUILDER_SECRET_NAME"] == "ecr-creds"
    assert variables["ECR_REFRESHER_BUILDER_SERVICE_ACCOUNT"] == "builder"
    [role] = target_roles(manifests)
    [rule] = [rule for rule in role["rules"] if "serviceaccounts" in rule["resources"]]
    assert rule["resourceNames"] == ["builder"]


def test_irsa_annotation_and_static_keys_secret() -> None:
    irsa = render(ci_values("list"))
    static = render(ci_values("all-static-keys"))

    annotations = one(irsa, "ServiceAccount")["metadata"]["annotations"]
    assert annotations == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/berth-uat-ecr-refresher"
    }
    assert "annotations" not in one(static, "ServiceAccount")["metadata"]
    # IRSA: no credentials file, no volume for it.
    [container] = pod_spec(irsa)["containers"]
    assert "AWS_SHARED_CREDENTIALS_FILE" not in env(irsa)
    assert "aws-credentials" not in {v["name"] for v in pod_spec(irsa)["volumes"]}
    assert "aws-credentials" not in {m["name"] for m in container["volumeMounts"]}


def test_no_aws_keys_reach_the_pod_as_environment_variables(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    _, manifests = scenario
    [container] = pod_spec(manifests)["containers"]
    assert "envFrom" not in container
    for item in container["env"]:
        assert "valueFrom" not in item
        assert item["name"] not in {
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        }
        assert "aws_secret_access_key" not in str(item.get("value", "")).lower()


def test_static_keys_are_a_read_only_credentials_file() -> None:
    manifests = render(ci_values("all-static-keys"))
    spec = pod_spec(manifests)
    [container] = spec["containers"]
    [volume] = [v for v in spec["volumes"] if v["name"] == "aws-credentials"]
    # Only the `credentials` key (shared-credentials INI), owner-read-only.
    assert volume["secret"] == {
        "secretName": "ecr-refresher-aws-keys",
        "defaultMode": 0o400,
        "items": [{"key": "credentials", "path": "credentials"}],
    }
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "aws-credentials"]
    assert mount == {
        "name": "aws-credentials",
        "mountPath": "/var/run/secrets/aws",
        "readOnly": True,
    }
    assert "subPath" not in mount  # a subPath mount would never see a rotated Secret
    # boto3's default chain reads the file named here; the app reads no key itself.
    assert env(manifests)["AWS_SHARED_CREDENTIALS_FILE"] == "/var/run/secrets/aws/credentials"
    # The kubelet makes the file readable to the non-root user through the fsGroup.
    assert spec["securityContext"]["fsGroup"] == container["securityContext"]["runAsGroup"]


def test_static_keys_without_fs_group_are_refused() -> None:
    values = copy.deepcopy(ci_values("all-static-keys"))
    # Helm merges maps with the chart defaults: null removes the default fsGroup.
    values["podSecurityContext"] = {"fsGroup": None}
    with pytest.raises(
        helm_sdk.HelmError, match=re.escape("aws.existingSecret needs podSecurityContext.fsGroup")
    ):
        render(values)


def test_notes_name_the_credentials_file() -> None:
    notes = helm_sdk.render_notes(
        CHART, ci_values("all-static-keys"), name=RELEASE, namespace=NAMESPACE
    )
    assert '"credentials" key' in notes
    assert "/var/run/secrets/aws/credentials" in notes
    assert "without a restart" in notes
    assert f"get configmap {FULLNAME}-status -o jsonpath='{{.data.accessKeyId}}'" in notes


def test_image_by_digest_when_given() -> None:
    [container] = pod_spec(render(ci_values("selector")))["containers"]
    assert container["image"] == (
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/berth/ecr-refresher@sha256:" + "0" * 63 + "3"
    )
    assert env(render(ci_values("selector")))["ECR_REFRESHER_REGISTRY_IDS"] == (
        "123456789012,210987654321"
    )


def test_selector_labels_carry_no_chart_version() -> None:
    deployment = one(render(ci_values("default")), "Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector == {
        "app.kubernetes.io/name": "ecr-credential-refresher",
        "app.kubernetes.io/instance": RELEASE,
    }


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ({}, "set exactly one of targets"),
        ({"namespaces": ["a"], "selector": "x=y"}, "set exactly one of targets"),
        ({"selector": "x=y", "all": True}, "set exactly one of targets"),
    ],
    ids=["none", "list-and-selector", "selector-and-all"],
)
def test_install_fails_unless_exactly_one_target_mode(
    targets: dict[str, Any], message: str
) -> None:
    values = {"aws": {"region": "eu-west-1"}, "targets": targets}
    with pytest.raises(helm_sdk.HelmError, match=message):
        render(values)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"aws": {"region": ""}}, "aws.region is required"),
        ({"builder": {"enabled": True, "secretName": "ecr-pull"}}, "must differ"),
        ({"builder": {"serviceAccount": "builder"}}, "builder.enabled"),
        ({"refreshMargin": "soon"}, "refreshMargin"),
        ({"targets": {"namespaces": ["Team_A"]}}, "namespaces"),
        ({"pullSecret": {"name": "ecr-pull", "extra": 1}}, "extra"),
    ],
    ids=[
        "no-region",
        "same-secret-names",
        "builder-sa-without-builder",
        "bad-margin",
        "bad-namespace",
        "unknown-key",
    ],
)
def test_invalid_values_are_refused(change: dict[str, Any], message: str) -> None:
    values = copy.deepcopy(ci_values("default"))
    for key, value in change.items():
        values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
    with pytest.raises(helm_sdk.HelmError, match=message):
        render(values)


def test_schema_closes_our_own_blocks() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    for block in ("image", "aws", "serviceAccount", "pullSecret", "targets", "builder", "metrics"):
        assert schema["properties"][block]["additionalProperties"] is False, block


def _documented(lines: list[str], index: int) -> bool:
    """Whether the comment block right above line `index` holds a `# --` description."""
    above = index - 1
    while above >= 0 and lines[above].strip().startswith("#"):
        if lines[above].strip().startswith("# --"):
            return True
        above -= 1
    return False


def test_every_value_is_documented() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    parent_documented = False
    for index, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z]\w*):(.*)$", line)
        if match is None:
            continue
        indent, key, value = len(match[1]), match[2], match[3].strip()
        if indent == 0:
            parent_documented = _documented(lines, index)
            if value:  # a top-level leaf
                assert parent_documented, f"undocumented value: {key}"
        elif indent == 2 and not parent_documented:
            # Keys of our own blocks; maps documented as a whole (resources, ...) are skipped.
            assert _documented(lines, index), f"undocumented value: {key}"


def test_notes_say_where_the_secret_goes() -> None:
    notes = helm_sdk.render_notes(CHART, ci_values("builder"), name=RELEASE, namespace=NAMESPACE)
    assert 'pull secret "ecr-pull"' in notes
    assert "into: builds" in notes
    assert 'service account "builder"' in notes


def test_chart_version_has_a_changelog_entry() -> None:
    metadata = helm_sdk.chart_metadata(CHART)
    # 0.4.0: the helpers, labels and ServiceAccount rule shared with the other charts.
    assert metadata["version"] == "0.4.0"
    assert f"## {metadata['version']} " in (CHART / "CHANGELOG.md").read_text()


def test_web_identity_without_the_eks_webhook_projects_a_token_for_sts() -> None:
    manifests = render(ci_values("external"))
    spec = pod_spec(manifests)
    [container] = spec["containers"]
    variables = env(manifests)
    assert variables["AWS_ROLE_ARN"] == "arn:aws:iam::333333333333:role/berth-edge-ecr-builder"
    token_file = variables["AWS_WEB_IDENTITY_TOKEN_FILE"]
    [volume] = [v for v in spec["volumes"] if v["name"] == "aws-web-identity"]
    assert volume["projected"]["sources"] == [
        {
            "serviceAccountToken": {
                "path": "token",
                "audience": "sts.amazonaws.com",
                "expirationSeconds": 3600,
            }
        }
    ]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "aws-web-identity"]
    assert token_file == f"{mount['mountPath']}/token" and mount["readOnly"] is True
    # No EKS annotation, no keys file: one identity.
    [account] = [
        a for a in of_kind(manifests, "ServiceAccount") if a["metadata"]["namespace"] == NAMESPACE
    ]
    assert "annotations" not in account["metadata"]
    assert "AWS_SHARED_CREDENTIALS_FILE" not in variables


@pytest.mark.parametrize(
    "identities",
    [
        {
            "aws": {
                "existingSecret": "keys",
                "webIdentity": {"roleArn": "arn:aws:iam::111111111111:role/x"},
            }
        },
        {
            "aws": {"webIdentity": {"roleArn": "arn:aws:iam::111111111111:role/x"}},
            "serviceAccount": {"roleArn": "arn:aws:iam::111111111111:role/x"},
        },
    ],
    ids=["keys-and-web-identity", "web-identity-and-irsa"],
)
def test_two_aws_identities_are_refused(identities: dict[str, Any]) -> None:
    values = copy.deepcopy(ci_values("default"))
    for key, value in identities.items():
        values[key] = {**values.get(key, {}), **value}
    with pytest.raises(helm_sdk.HelmError, match="give one AWS identity"):
        render(values)


def test_the_chart_makes_the_builder_account_naming_both_secrets() -> None:
    manifests = render(ci_values("external"))
    builders = [
        a for a in of_kind(manifests, "ServiceAccount") if a["metadata"]["name"] == "builder"
    ]
    assert sorted(a["metadata"]["namespace"] for a in builders) == ["builds", "builds-nightly"]
    for account in builders:
        assert account["secrets"] == [{"name": "ecr-push"}]
        assert account["imagePullSecrets"] == [{"name": "ecr-build-pull"}]
        assert account["automountServiceAccountToken"] is False
    # The refresher then patches no ServiceAccount, so it gets no right on them.
    assert "ECR_REFRESHER_BUILDER_SERVICE_ACCOUNT" not in env(manifests)
    assert env(manifests)["ECR_REFRESHER_BUILDER_SECRET_NAME"] == "ecr-push"
    for role in target_roles(manifests):
        assert all("serviceaccounts" not in rule["resources"] for rule in role["rules"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"builder": {"enabled": False}}, "needs builder.enabled"),
        ({"builder": {"serviceAccount": ""}}, "needs builder.serviceAccount"),
        ({"targets": {"namespaces": [], "all": True}}, "needs targets.namespaces"),
    ],
    ids=["builder-off", "no-account-name", "not-list-mode"],
)
def test_builder_account_combinations_that_cannot_work_are_refused(
    change: dict[str, Any], message: str
) -> None:
    values = copy.deepcopy(ci_values("external"))
    for key, value in change.items():
        values[key] = {**values[key], **value}
    with pytest.raises(helm_sdk.HelmError, match=message):
        render(values)


def test_the_status_config_map_is_the_only_config_map_the_refresher_may_touch(
    scenario: tuple[str, list[dict[str, Any]]],
) -> None:
    name, manifests = scenario
    expected = ci_values(name).get("status", {}).get("configMapName") or f"{FULLNAME}-status"
    if name == "external":
        assert expected == "ecr-build-credentials-status"
    [config_map] = of_kind(manifests, "ConfigMap")
    assert config_map["metadata"] == {**config_map["metadata"], "name": expected}
    assert config_map["metadata"]["namespace"] == NAMESPACE
    assert env(manifests)["ECR_REFRESHER_STATUS_CONFIGMAP"] == expected
    assert env(manifests)["ECR_REFRESHER_STATUS_NAMESPACE"] == NAMESPACE
    rules = [
        rule
        for role in of_kind(manifests, "Role") + of_kind(manifests, "ClusterRole")
        for rule in role["rules"]
        if "configmaps" in rule["resources"]
    ]
    assert rules == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [expected],
            "verbs": ["get", "patch"],
        }
    ]
    [status_role] = [r for r in of_kind(manifests, "Role") if r["rules"][0] == rules[0]]
    [binding] = [
        b
        for b in of_kind(manifests, "RoleBinding")
        if b["roleRef"]["name"] == status_role["metadata"]["name"]
    ]
    account = pod_spec(manifests)["serviceAccountName"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
    ]
