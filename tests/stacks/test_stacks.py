"""The stacks of every environment: backends, providers, the seams between the stacks, snapshots.

`local` is one stack; `uat`, `prod` (EKS) and `edge` (a cluster outside EKS) are three
(account, cluster, workloads). The tests here
hold what no single construct can: the stacks agree with each other (the role a release runs as
is the role the account stack creates, with the trust naming that release's ServiceAccount; the
namespace a release lands in is created by the cluster stack) and name nothing they do not
create or look up.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from tests.support.constants import ENVIRONMENT_ACCOUNTS
from tests.support.tfjson import Reference, data_sources, policy_statements, principals, resources

EKS = ["uat", "prod"]
REAL = [*EKS, "edge"]
STACKS = [
    "edge",
    "edge-cluster",
    "edge-workloads",
    "local",
    "prod",
    "prod-cluster",
    "prod-workloads",
    "uat",
    "uat-cluster",
    "uat-workloads",
]
EKS_STACKS = [s for s in STACKS if s.split("-", 1)[0] in EKS]
ISSUERS = {
    "uat": "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
    "prod": "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE7A1C3F0B9D2E4A6C8E0F2A4C6E",
}


@pytest.fixture
def json_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


def test_every_environment_synthesizes_its_stacks(synthesized: dict[str, Any]) -> None:
    assert sorted(synthesized) == STACKS


@pytest.mark.parametrize("name", STACKS)
def test_stack_snapshot(
    synthesized: dict[str, Any], json_snapshot: SnapshotAssertion, name: str
) -> None:
    assert synthesized[name] == json_snapshot


def test_snapshots_hold_no_machine_paths_or_versions(synthesized: dict[str, Any]) -> None:
    text = json.dumps(synthesized)
    assert not re.search(r"/(tmp|home|root|work|opt)/", text)
    for marker in ("cdktf.out", '"//"', "cdktfVersion"):
        assert marker not in text, marker


def test_stacks_deploy_in_order_account_then_cluster_then_workloads(synth_outdir: Path) -> None:
    manifest = json.loads((synth_outdir / "manifest.json").read_text())
    dependencies = {name: stack["dependencies"] for name, stack in manifest["stacks"].items()}
    for env in REAL:
        assert dependencies[env] == []
        assert dependencies[f"{env}-cluster"] == [env]
        assert dependencies[f"{env}-workloads"] == [f"{env}-cluster"]


@pytest.mark.parametrize("env", REAL)
@pytest.mark.parametrize("suffix", ["", "-cluster", "-workloads"])
def test_real_stacks_keep_encrypted_locked_state_in_s3_through_the_deploy_role(
    synthesized: dict[str, Any], env: str, suffix: str
) -> None:
    backend = synthesized[f"{env}{suffix}"]["terraform"]["backend"]
    assert list(backend) == ["s3"]
    s3 = backend["s3"]
    assert s3["encrypt"] is True
    assert s3["use_lockfile"] is True
    assert s3["key"] == f"berth/{env}{suffix}.tfstate"  # one key per stack
    # Operators need nothing but the right to assume the deploy role, even for the state.
    assert s3["assume_role"] == {
        "role_arn": f"arn:aws:iam::{ENVIRONMENT_ACCOUNTS[env]}:role/berth-{env}-deploy",
        "session_name": f"berth-{env}",
    }


def test_the_emulator_keeps_local_state_and_points_every_service_at_the_emulator(
    synthesized: dict[str, Any],
) -> None:
    local = synthesized["local"]
    assert list(local["terraform"]["backend"]) == ["local"]
    (provider,) = local["provider"]["aws"]
    assert set(provider["endpoints"][0].values()) == {"${var.emulator_endpoint}"}
    assert local["variable"]["emulator_endpoint"]["nullable"] is False
    assert "assume_role" not in provider
    assert set(local["provider"]) == {"aws"}


@pytest.mark.parametrize("env", REAL)
@pytest.mark.parametrize("suffix", ["", "-cluster", "-workloads"])
def test_real_providers_assume_the_deploy_role_and_refuse_the_wrong_account(
    synthesized: dict[str, Any], env: str, suffix: str
) -> None:
    stack = synthesized[f"{env}{suffix}"]
    assert stack["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"
    (provider,) = stack["provider"]["aws"]
    assert "endpoints" not in provider
    assert provider["allowed_account_ids"] == [ENVIRONMENT_ACCOUNTS[env]]
    assert provider["assume_role"] == [
        {
            "role_arn": f"arn:aws:iam::{ENVIRONMENT_ACCOUNTS[env]}:role/berth-{env}-deploy",
            "session_name": f"berth-{env}",
        }
    ]
    tags = provider["default_tags"][0]["tags"]
    assert tags["Environment"] == env and tags["ManagedBy"] == "berth"


@pytest.mark.parametrize("env", REAL)
def test_the_account_stack_is_pure_aws_and_the_cluster_halves_are_kubernetes(
    synthesized: dict[str, Any], env: str
) -> None:
    # The account stack applies with the aws provider alone (and is rehearsed on the emulator).
    assert set(synthesized[env]["provider"]) == {"aws"}
    assert set(synthesized[f"{env}-cluster"]["provider"]) == {"aws", "kubernetes"}
    assert set(synthesized[f"{env}-workloads"]["provider"]) == {"aws", "helm"}
    assert set(synthesized[f"{env}-cluster"]["resource"]) == {"kubernetes_namespace_v1"}
    assert set(synthesized[f"{env}-workloads"]["resource"]) == {"helm_release"}


@pytest.mark.parametrize("stack_name", EKS_STACKS)
def test_cluster_providers_authenticate_with_a_short_lived_exec_token_as_the_deploy_role(
    synthesized: dict[str, Any], stack_name: str
) -> None:
    env = stack_name.split("-", maxsplit=1)[0]
    providers = synthesized[stack_name]["provider"]
    connections = [(p, p["exec"][0]) for p in providers.get("kubernetes", [])]
    connections += [(p["kubernetes"], p["kubernetes"]["exec"]) for p in providers.get("helm", [])]
    assert len(connections) == (0 if stack_name == env else 1)
    for connection, exec_block in connections:
        assert exec_block["command"] == "aws"
        assert exec_block["args"][:2] == ["eks", "get-token"]
        assert (
            f"arn:aws:iam::{ENVIRONMENT_ACCOUNTS[env]}:role/berth-{env}-deploy"
            in exec_block["args"]
        )
        for forbidden in ("token", "config_path", "config_paths", "client_key", "password"):
            assert forbidden not in connection, forbidden


def test_no_token_or_kubeconfig_anywhere_in_the_json(synthesized: dict[str, Any]) -> None:
    text = json.dumps({name: synthesized[name] for name in EKS_STACKS}).lower()
    for forbidden in ('"token":', "kubeconfig", '"config_path"', "bearer "):
        assert forbidden not in text, forbidden
    # The cluster outside EKS is reached through a kubeconfig's path: never its content.
    everything = json.dumps(synthesized).lower()
    for forbidden in ('"token":', "bearer ", "client-key-data", "client_key", "password"):
        assert forbidden not in everything, forbidden


@pytest.mark.parametrize("suffix", ["-cluster", "-workloads"])
def test_cluster_facts_from_the_eks_api_check_the_declared_oidc_issuer(
    synthesized: dict[str, Any], suffix: str
) -> None:
    stack = synthesized[f"uat{suffix}"]
    (cluster,) = stack["data"]["aws_eks_cluster"].values()
    assert cluster["name"] == "uat-eks"
    (postcondition,) = cluster["lifecycle"]["postcondition"]
    assert "identity[0].oidc[0].issuer" in postcondition["condition"]
    assert f"https://{ISSUERS['uat']}" in postcondition["condition"]


@pytest.mark.parametrize("suffix", ["-cluster", "-workloads"])
def test_cluster_facts_from_remote_state_read_the_clusters_outputs_as_the_deploy_role(
    synthesized: dict[str, Any], suffix: str
) -> None:
    prod = synthesized[f"prod{suffix}"]
    assert "aws_eks_cluster" not in prod.get("data", {})
    (state,) = prod["data"]["terraform_remote_state"].values()
    assert state["backend"] == "s3"
    assert state["config"]["bucket"] == "platform-eks-state-222222222222"
    assert state["config"]["assume_role"]["role_arn"] == (
        "arn:aws:iam::222222222222:role/berth-prod-deploy"
    )
    (provider,) = prod["provider"]["kubernetes" if suffix == "-cluster" else "helm"]
    connection = provider if suffix == "-cluster" else provider["kubernetes"]
    assert connection["host"].endswith(".outputs.cluster_endpoint}")
    assert "outputs.cluster_certificate_authority_data" in connection["cluster_ca_certificate"]


@pytest.mark.parametrize("env", EKS)
def test_every_irsa_trust_names_the_looked_up_cluster_oidc_provider(
    synthesized: dict[str, Any], env: str
) -> None:
    stack = synthesized[env]
    (key, lookup), *others = data_sources(stack, "aws_iam_openid_connect_provider").items()
    assert others == []
    assert lookup["url"] == f"https://{ISSUERS[env]}"
    # IRSA tokens carry aud=sts.amazonaws.com: a provider without that client id refuses them.
    (postcondition,) = lookup["lifecycle"]["postcondition"]
    assert 'contains(self.client_id_list, "sts.amazonaws.com")' in postcondition["condition"]
    irsa_roles = [
        r for r in resources(stack, "aws_iam_role") if "IRSA role" in r.get("description", "")
    ]
    assert len(irsa_roles) == 2  # the OpenTelemetry agent and the S3 proxy
    for role in irsa_roles:
        (trust,) = policy_statements(stack, role["assume_role_policy"])
        assert principals(trust, "Federated") == [
            f"${{data.aws_iam_openid_connect_provider.{key}.arn}}"
        ]


def test_prod_checks_the_issuer_its_cluster_state_reports_before_planning(
    synthesized: dict[str, Any],
) -> None:
    prod = synthesized["prod"]
    (state,) = prod["data"]["terraform_remote_state"].values()
    assert state["config"]["key"] == "eks/prod-eks.tfstate"
    (lookup,) = data_sources(prod, "aws_iam_openid_connect_provider").values()
    (precondition,) = lookup["lifecycle"]["precondition"]
    assert ".outputs.cluster_oidc_issuer_url" in precondition["condition"]
    assert f'"https://{ISSUERS["prod"]}"' in precondition["condition"]
    assert (
        "s3://platform-eks-state-222222222222/eks/prod-eks.tfstate"
        in (precondition["error_message"])
    )
    assert "precondition" not in data_sources(synthesized["uat"], "aws_iam_openid_connect_provider")


@pytest.mark.parametrize("env", REAL)
def test_the_deploy_role_is_looked_up_and_only_the_ci_deployer_may_assume_it(
    synthesized: dict[str, Any], env: str
) -> None:
    stack = synthesized[env]
    roles = data_sources(stack, "aws_iam_role")
    assert roles["deploy-role"]["name"] == f"berth-{env}-deploy"
    (deployer,) = [
        r for r in resources(stack, "aws_iam_role") if r["name"] == f"berth-{env}-deployer"
    ]
    assert deployer["description"].endswith(f"deploys the {env} environment")


def _release_values(stack: dict[str, Any], name: str) -> dict[str, Any]:
    (release,) = [r for r in resources(stack, "helm_release") if r["name"] == name]
    return dict(yaml.safe_load(release["values"][0]))


@pytest.mark.parametrize("env", EKS)
@pytest.mark.parametrize("release", ["otel-agent", "s3proxy"])
def test_a_release_runs_as_the_role_whose_trust_names_its_service_account(
    synthesized: dict[str, Any], env: str, release: str
) -> None:
    workloads = synthesized[f"{env}-workloads"]
    (helm_release,) = [r for r in resources(workloads, "helm_release") if r["name"] == release]
    values = _release_values(workloads, release)
    account = values["serviceAccount"]
    assert account["create"] is True
    lookup = Reference.parse(account["roleArn"])
    assert lookup and lookup.data, account["roleArn"]
    assert (lookup.type, lookup.attribute) == ("aws_iam_role", "arn"), account["roleArn"]
    role_name = data_sources(workloads, "aws_iam_role")[lookup.logical_id]["name"]
    (role,) = [r for r in resources(synthesized[env], "aws_iam_role") if r["name"] == role_name]
    (trust,) = policy_statements(synthesized[env], role["assume_role_policy"])
    (subject,) = [c for c in trust["condition"] if c["variable"].endswith(":sub")]
    assert subject["values"] == [
        f"system:serviceaccount:{helm_release['namespace']}:{account['name']}"
    ]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("uat", {"observability", "s3proxy"}),
        ("prod", {"observability", "s3proxy"}),
        ("edge", {"ecr-credential-refresher"}),
    ],
)
def test_every_release_lands_in_a_namespace_the_cluster_stack_creates_as_restricted(
    synthesized: dict[str, Any], env: str, expected: set[str]
) -> None:
    namespaces = {
        ns["metadata"]["name"]: ns["metadata"]["labels"]
        for ns in resources(synthesized[f"{env}-cluster"], "kubernetes_namespace_v1")
    }
    releases = resources(synthesized[f"{env}-workloads"], "helm_release")
    assert {r["namespace"] for r in releases} == set(namespaces) == expected
    for release in releases:
        assert release["create_namespace"] is False, release["name"]
    for labels in namespaces.values():
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


@pytest.mark.parametrize("env", EKS)
def test_release_images_are_the_pushed_tags_pinned_by_digest(
    synthesized: dict[str, Any], env: str
) -> None:
    workloads = synthesized[f"{env}-workloads"]
    lookups = data_sources(workloads, "aws_ecr_image")
    assert {(i["repository_name"], i["image_tag"]) for i in lookups.values()} == {
        (f"berth-{env}/s3proxy", "0.1.0"),
        (f"berth-{env}/appconfig-fetch", "0.1.0"),
    }
    proxy = _release_values(workloads, "s3proxy")["image"]
    assert proxy["digest"].startswith("${data.aws_ecr_image.")
    fetcher = _release_values(workloads, "otel-agent")["fetcher"]["image"]
    assert fetcher["digest"].startswith("${data.aws_ecr_image.")
    # The repositories the releases pull from are the ones the account stack creates.
    created = {r["name"] for r in resources(synthesized[env], "aws_ecr_repository")}
    looked_up = {r["name"] for r in data_sources(workloads, "aws_ecr_repository").values()}
    assert looked_up <= created


@pytest.mark.parametrize("env", EKS)
def test_the_example_url_points_at_an_object_the_account_stack_uploads(
    synthesized: dict[str, Any], env: str
) -> None:
    url = synthesized[f"{env}-workloads"]["output"]["app_url_example"]["value"]
    assert url == f"https://files.{env}.example.com/"
    index = _release_values(synthesized[f"{env}-workloads"], "s3proxy")["s3"]["indexDocument"]
    keys = {o["key"] for o in resources(synthesized[env], "aws_s3_object")}
    assert index in keys and "release-notes.txt" in keys


@pytest.mark.parametrize("name", STACKS)
def test_outputs_are_described(synthesized: dict[str, Any], name: str) -> None:
    for output, config in synthesized[name].get("output", {}).items():
        assert config["description"], output
    if "-" not in name:
        for required in (
            "helm_repo_bucket_name",
            "helm_repo_bucket_arn",
            "helm_repo_bucket_region",
            "helm_repo_url",
        ):
            assert required in synthesized[name]["output"]
