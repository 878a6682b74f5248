"""A cluster outside EKS: `edge` (IAM users, a kubeconfig context) and a web-identity variant.

The security properties of the registry logins, asserted on the synthesized JSON: no access key
in Terraform, the pull login pulls this environment's repositories and pushes nowhere, the build
login pushes to the build repositories only, each release reads its key from the Secret `berth
refresher rotate-key` writes (or assumes its role by web identity, trusted for exactly its
ServiceAccount), and the providers reach the cluster without a credential in the JSON. The
variant (web identity, an exec credential plugin) is synthesized from a file written here.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cdktf import App

from berth_constructs.ecr_registry import PULL_ACTIONS, PUSH_ACTIONS
from berth_core.config import load_environment, load_environment_file
from berth_core.naming import ecr_builder_release, ecr_refresher_release
from tests.support.releases import values_of
from tests.support.tfjson import data_sources, policy_statements, resources, statement

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


def _repository_keys(stack: dict[str, Any]) -> dict[str, str]:
    """Repository name -> its logical id."""
    return {
        config["name"]: key
        for key, config in stack["resource"]["aws_ecr_repository"].items()
        if "${" not in config["name"]
    }


def _arn_refs(stack: dict[str, Any], names: list[str]) -> set[str]:
    keys = _repository_keys(stack)
    return {f"${{aws_ecr_repository.{keys[name]}.arn}}" for name in names}


def _user_policy(stack: dict[str, Any], user_name: str) -> list[dict[str, Any]]:
    (key,) = [k for k, u in stack["resource"]["aws_iam_user"].items() if u["name"] == user_name]
    (policy,) = [
        p
        for p in resources(stack, "aws_iam_user_policy")
        if p["user"] == f"${{aws_iam_user.{key}.name}}"
    ]
    return policy_statements(stack, policy["policy"])


def test_the_refresher_identities_are_iam_users_without_a_key_in_terraform(
    synthesized: dict[str, Any],
) -> None:
    edge = synthesized["edge"]
    users = {user["name"]: user for user in resources(edge, "aws_iam_user")}
    assert set(users) == {"berth-edge-ecr-refresher", "berth-edge-ecr-builder"}
    # Keys are made by `berth refresher rotate-key`, never here: they would be in the state.
    for stack in synthesized.values():
        assert resources(stack, "aws_iam_access_key") == []
    for user in users.values():
        assert user["force_destroy"] is False  # keys made outside Terraform are never swept away
    text = json.dumps(synthesized["edge"]).lower()
    assert "secret_access_key" not in text and "aws_iam_access_key" not in text


def test_the_pull_login_pulls_every_repository_of_the_environment_and_pushes_none(
    synthesized: dict[str, Any],
) -> None:
    edge = synthesized["edge"]
    environment = load_environment("edge")
    statements = _user_policy(edge, "berth-edge-ecr-refresher")
    assert [s["sid"] for s in statements] == ["GetAuthorizationToken", "PullImages"]
    # AWS cannot scope a registry login; everything else names repositories.
    assert statement(statements, "GetAuthorizationToken")["resources"] == ["*"]
    pull = statement(statements, "PullImages")
    assert pull["actions"] == list(PULL_ACTIONS)
    everything = [
        *environment.image_repositories.values(),
        *environment.build_repositories.values(),
    ]
    assert set(pull["resources"]) == _arn_refs(edge, everything)


def test_the_build_login_pushes_to_the_build_repositories_only(
    synthesized: dict[str, Any],
) -> None:
    edge = synthesized["edge"]
    environment = load_environment("edge")
    builds = list(environment.build_repositories.values())
    assert builds == ["berth-edge/web", "berth-edge/api"]
    statements = _user_policy(edge, "berth-edge-ecr-builder")
    push = statement(statements, "PushImages")
    assert push["actions"] == list(PUSH_ACTIONS)
    assert set(push["resources"]) == _arn_refs(edge, builds)
    assert set(statement(statements, "PullImages")["resources"]) == _arn_refs(edge, builds)
    # The build repositories' own policies name the build login as their only pusher.
    keys = _repository_keys(edge)
    (builder_key,) = [
        k for k, u in edge["resource"]["aws_iam_user"].items() if u["name"].endswith("builder")
    ]
    for name in builds:
        (policy,) = [
            p
            for p in resources(edge, "aws_ecr_repository_policy")
            if p["repository"] == f"${{aws_ecr_repository.{keys[name]}.name}}"
        ]
        push_statement = statement(policy_statements(edge, policy["policy"]), "PushImages")
        assert push_statement["principals"] == [
            {"identifiers": [f"${{aws_iam_user.{builder_key}.arn}}"], "type": "AWS"}
        ]


def test_each_release_reads_its_key_from_the_secret_the_rotation_writes(
    synthesized: dict[str, Any],
) -> None:
    workloads = synthesized["edge-workloads"]
    environment = load_environment("edge")
    for release in environment.credentials_releases:
        values = values_of(workloads, release.release)
        assert values["aws"]["existingSecret"] == release.credentials_secret
        assert "webIdentity" not in values["aws"]
        assert values["serviceAccount"]["name"] == release.service_account
        assert values["fullnameOverride"] == release.release
        assert values["status"] == {"configMapName": release.status_config_map}
        assert values["pullSecret"] == {"name": release.pull_secret}
        assert values["aws"]["registryIds"] == [environment.account_id]
        # Its own image, pinned by digest, pulled with the pull release's secret.
        assert values["image"]["digest"].startswith("${data.aws_ecr_image.")
        assert values["imagePullSecrets"] == [{"name": "ecr-pull"}]
        # The admission policy stays on (the chart's default): never turned off here.
        assert "admissionPolicy" not in values
    lookups = data_sources(workloads, "aws_ecr_image")
    assert [(i["repository_name"], i["image_tag"]) for i in lookups.values()] == [
        ("berth-edge/ecr-refresher", "0.1.0")
    ]


def test_the_pull_release_serves_the_selected_namespaces_and_the_build_release_the_builds(
    synthesized: dict[str, Any],
) -> None:
    workloads = synthesized["edge-workloads"]
    pull = values_of(workloads, "ecr-credential-refresher")
    assert pull["targets"] == {"namespaces": [], "selector": "ecr-pull=enabled", "all": False}
    assert pull["patchServiceAccounts"] == ["default"]
    assert pull["builder"]["enabled"] is False
    build = values_of(workloads, "ecr-build-credentials")
    assert build["targets"] == {"namespaces": ["builds"], "selector": "", "all": False}
    assert build["builder"] == {
        "enabled": True,
        "secretName": "ecr-push",
        "serviceAccount": "builder",
        "createServiceAccount": True,
    }
    assert build["patchServiceAccounts"] == []


def test_the_refresher_namespace_is_restricted_and_selected_for_its_own_pull_secret(
    synthesized: dict[str, Any],
) -> None:
    (namespace,) = resources(synthesized["edge-cluster"], "kubernetes_namespace_v1")
    labels = namespace["metadata"]["labels"]
    assert namespace["metadata"]["name"] == "ecr-credential-refresher"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["ecr-pull"] == "enabled"  # the pull release's selector picks it


@pytest.mark.parametrize("suffix", ["-cluster", "-workloads"])
def test_the_providers_use_the_files_kubeconfig_context_and_no_credential(
    synthesized: dict[str, Any], suffix: str
) -> None:
    providers = synthesized[f"edge{suffix}"]["provider"]
    connection = (
        providers["kubernetes"][0] if suffix == "-cluster" else providers["helm"][0]["kubernetes"]
    )
    assert connection == {
        "config_path": '${pathexpand("~/.kube/config")}',
        "config_context": "edge-k3s-admin",
    }
    assert "aws_eks_cluster" not in synthesized[f"edge{suffix}"].get("data", {})


# ---- the web-identity variant, with an exec credential plugin ----


@pytest.fixture(scope="module")
def web_identity(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """`edge` with a public issuer (web identity, provider created) and an exec plugin."""
    from stacks import add_environment
    from tests.support.tfjson import strip_metadata

    document = yaml.safe_load(Path("environments/edge.yaml").read_text())
    document["external_cluster"] = {
        "name": "edge-k3s",
        "exec": {
            "host": "https://k3s.edge.example.com:6443",
            "certificate_authority_data": base64.b64encode(CA_PEM.encode()).decode(),
            "command": "kubelogin",
            "args": ["get-token", "--oidc-issuer-url=https://login.example.com"],
            "env": ["KUBELOGIN_CLIENT_SECRET"],
        },
        "oidc_issuer_url": "https://k3s.edge.example.com/oidc",
        "oidc_provider": "create",
    }
    document["ecr_refresher"]["identity"] = "web_identity"
    folder = tmp_path_factory.mktemp("environments")
    (folder / "edgeoidc.yaml").write_text(yaml.safe_dump(document))
    environment = load_environment_file(folder / "edgeoidc.yaml")
    outdir = tmp_path_factory.mktemp("cdktf.out")
    app = App(outdir=str(outdir))
    add_environment(app, environment)
    app.synth()
    return {
        path.parent.name: strip_metadata(json.loads(path.read_text()))
        for path in outdir.glob("stacks/*/cdk.tf.json")
    }


def test_web_identity_roles_trust_exactly_each_releases_service_account(
    web_identity: dict[str, dict[str, Any]],
) -> None:
    account = web_identity["edgeoidc"]
    assert resources(account, "aws_iam_user") == []
    (provider,) = resources(account, "aws_iam_openid_connect_provider", "cluster-oidc-provider")
    assert provider["url"] == "https://k3s.edge.example.com/oidc"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    roles = {r["name"]: r for r in resources(account, "aws_iam_role")}
    for release in (
        ecr_refresher_release("berth-edge", "ecr-credential-refresher"),
        ecr_builder_release("berth-edge", "ecr-credential-refresher"),
    ):
        (trust,) = policy_statements(account, roles[release.iam_name]["assume_role_policy"])
        assert trust["actions"] == ["sts:AssumeRoleWithWebIdentity"]
        conditions = {c["variable"]: c["values"] for c in trust["condition"]}
        assert conditions == {
            "k3s.edge.example.com/oidc:sub": [release.subject],
            "k3s.edge.example.com/oidc:aud": ["sts.amazonaws.com"],
        }
        assert [p["type"] for p in trust["principals"]] == ["Federated"]
        assert re.fullmatch(
            r"\$\{aws_iam_openid_connect_provider\.cluster-oidc-provider_\w+\.arn\}",
            trust["principals"][0]["identifiers"][0],
        )


def test_web_identity_releases_project_their_token_for_the_looked_up_role(
    web_identity: dict[str, dict[str, Any]],
) -> None:
    workloads = web_identity["edgeoidc-workloads"]
    looked_up = data_sources(workloads, "aws_iam_role")
    for release in ("ecr-credential-refresher", "ecr-build-credentials"):
        values = values_of(workloads, release)
        assert values["aws"]["existingSecret"] == ""
        assert values["serviceAccount"]["roleArn"] == ""  # no EKS webhook outside EKS
        reference = re.fullmatch(
            r"\$\{data\.aws_iam_role\.([^.]+)\.arn\}", values["aws"]["webIdentity"]["roleArn"]
        )
        assert reference is not None
        assert looked_up[reference.group(1)]["name"] in {
            "berth-edge-ecr-refresher",
            "berth-edge-ecr-builder",
        }


@pytest.mark.parametrize("suffix", ["-cluster", "-workloads"])
def test_an_exec_plugin_gets_its_token_at_plan_time_and_no_value_is_written(
    web_identity: dict[str, dict[str, Any]], suffix: str
) -> None:
    providers = web_identity[f"edgeoidc{suffix}"]["provider"]
    if suffix == "-cluster":
        connection = providers["kubernetes"][0]
        exec_block = connection["exec"][0]
    else:
        connection = providers["helm"][0]["kubernetes"]
        exec_block = connection["exec"]
    assert connection["host"] == "https://k3s.edge.example.com:6443"
    assert connection["cluster_ca_certificate"] == CA_PEM
    assert exec_block == {
        "api_version": "client.authentication.k8s.io/v1beta1",
        "command": "kubelogin",
        "args": ["get-token", "--oidc-issuer-url=https://login.example.com"],
    }
    # The plugin's variables are named in the file, never valued in the JSON.
    assert "KUBELOGIN_CLIENT_SECRET" not in json.dumps(web_identity)
    for forbidden in ("token", "config_path", "client_key", "password"):
        assert forbidden not in connection, forbidden
