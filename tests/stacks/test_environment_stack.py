"""One stack per environment: backend, provider pins, default tags, outputs, and snapshots."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension


@pytest.fixture
def json_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("name", ["local", "uat", "prod"])
def test_stack_snapshot(
    synthesized: dict[str, Any], json_snapshot: SnapshotAssertion, name: str
) -> None:
    assert synthesized[name] == json_snapshot


def test_snapshots_hold_no_machine_paths_or_versions(synthesized: dict[str, Any]) -> None:
    text = json.dumps(synthesized)
    assert not re.search(r"/(tmp|home|root|work|opt)/", text)
    for marker in ("cdktf.out", '"//"', "cdktfVersion"):
        assert marker not in text, marker


@pytest.mark.parametrize("name", ["uat", "prod"])
def test_real_accounts_keep_encrypted_locked_state_in_s3_one_key_per_stack(
    synthesized: dict[str, Any], name: str
) -> None:
    backend = synthesized[name]["terraform"]["backend"]
    assert list(backend) == ["s3"]
    assert backend["s3"]["encrypt"] is True
    assert backend["s3"]["use_lockfile"] is True
    assert backend["s3"]["key"] == f"berth/{name}.tfstate"


def test_the_emulator_keeps_local_state_and_points_every_service_at_the_emulator(
    synthesized: dict[str, Any],
) -> None:
    local = synthesized["local"]
    assert list(local["terraform"]["backend"]) == ["local"]
    (provider,) = local["provider"]["aws"]
    assert set(provider["endpoints"][0].values()) == {"${var.emulator_endpoint}"}
    assert local["variable"]["emulator_endpoint"]["nullable"] is False


@pytest.mark.parametrize("name", ["uat", "prod"])
def test_real_providers_talk_to_aws_and_refuse_the_wrong_account(
    synthesized: dict[str, Any], name: str
) -> None:
    (provider,) = synthesized[name]["provider"]["aws"]
    assert "endpoints" not in provider
    assert provider["allowed_account_ids"] == [
        {"uat": "111111111111", "prod": "222222222222"}[name]
    ]


@pytest.mark.parametrize("name", ["local", "uat", "prod"])
def test_provider_version_is_pinned_and_default_tags_set(
    synthesized: dict[str, Any], name: str
) -> None:
    stack = synthesized[name]
    assert stack["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"
    (provider,) = stack["provider"]["aws"]
    tags = provider["default_tags"][0]["tags"]
    assert tags["Environment"] == name and tags["ManagedBy"] == "berth"


@pytest.mark.parametrize("name", ["local", "uat", "prod"])
def test_outputs_are_described(synthesized: dict[str, Any], name: str) -> None:
    outputs = synthesized[name]["output"]
    for required in (
        "helm_repo_bucket_name",
        "helm_repo_bucket_arn",
        "helm_repo_bucket_region",
        "helm_repo_url",
    ):
        assert outputs[required]["description"], required


@pytest.mark.parametrize("name", ["uat", "prod"])
def test_every_real_provider_assumes_the_environments_deploy_role(
    synthesized: dict[str, Any], name: str
) -> None:
    (provider,) = synthesized[name]["provider"]["aws"]
    account = {"uat": "111111111111", "prod": "222222222222"}[name]
    assert provider["assume_role"] == [
        {
            "role_arn": f"arn:aws:iam::{account}:role/berth-{name}-deploy",
            "session_name": f"berth-{name}",
        }
    ]


def test_the_emulator_provider_assumes_no_role(synthesized: dict[str, Any]) -> None:
    (provider,) = synthesized["local"]["provider"]["aws"]
    assert "assume_role" not in provider
    assert "helm" not in synthesized["local"]["provider"]
    assert "kubernetes" not in synthesized["local"]["provider"]


@pytest.mark.parametrize("name", ["uat", "prod"])
def test_cluster_providers_authenticate_with_a_short_lived_exec_token(
    synthesized: dict[str, Any], name: str
) -> None:
    providers = synthesized[name]["provider"]
    (kubernetes,) = providers["kubernetes"]
    (helm,) = providers["helm"]
    for connection, exec_block in (
        (kubernetes, kubernetes["exec"][0]),
        (helm["kubernetes"], helm["kubernetes"]["exec"]),
    ):
        assert exec_block["command"] == "aws"
        assert exec_block["args"][:2] == ["eks", "get-token"]
        assert (
            f"arn:aws:iam::{'111111111111' if name == 'uat' else '222222222222'}:role/berth-{name}-deploy"
            in exec_block["args"]
        )
        for forbidden in ("token", "config_path", "config_paths", "client_key", "password"):
            assert forbidden not in connection, forbidden


def test_no_token_or_kubeconfig_anywhere_in_the_json(synthesized: dict[str, Any]) -> None:
    text = json.dumps(synthesized).lower()
    for forbidden in ('"token":', "kubeconfig", '"config_path"', "bearer "):
        assert forbidden not in text, forbidden


def test_cluster_facts_from_the_eks_api_check_the_declared_oidc_issuer(
    synthesized: dict[str, Any],
) -> None:
    (cluster,) = synthesized["uat"]["data"]["aws_eks_cluster"].values()
    assert cluster["name"] == "uat-eks"
    (postcondition,) = cluster["lifecycle"]["postcondition"]
    assert "identity[0].oidc[0].issuer" in postcondition["condition"]
    assert (
        "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
        in postcondition["condition"]
    )
    (kubernetes,) = synthesized["uat"]["provider"]["kubernetes"]
    assert kubernetes["host"].startswith("${data.aws_eks_cluster.")


def test_cluster_facts_from_remote_state_read_the_clusters_outputs(
    synthesized: dict[str, Any],
) -> None:
    prod = synthesized["prod"]
    assert "aws_eks_cluster" not in prod.get("data", {})
    (state,) = prod["data"]["terraform_remote_state"].values()
    assert state["backend"] == "s3"
    assert state["config"]["bucket"] == "platform-eks-state-222222222222"
    (kubernetes,) = prod["provider"]["kubernetes"]
    assert kubernetes["host"].endswith(".outputs.cluster_endpoint}")
    assert "outputs.cluster_certificate_authority_data" in kubernetes["cluster_ca_certificate"]
