"""One stack per environment: backend, provider pins, default tags, outputs, and snapshots."""

from __future__ import annotations

import json
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension


@pytest.fixture
def json_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("name", ["local", "uat", "prod"])
def test_stack_snapshot(synthesized: dict[str, Any], json_snapshot: SnapshotAssertion, name: str) -> None:
    assert synthesized[name] == json_snapshot


def test_snapshots_hold_no_machine_paths_or_versions(synthesized: dict[str, Any]) -> None:
    text = json.dumps(synthesized)
    for marker in ("/tmp/", "/home/", "/root/", "cdktf.out", "\"//\"", "cdktfVersion"):
        assert marker not in text, marker


@pytest.mark.parametrize("name", ["uat", "prod"])
def test_real_accounts_keep_encrypted_locked_state_in_s3_one_key_per_stack(synthesized: dict[str, Any], name: str) -> None:
    backend = synthesized[name]["terraform"]["backend"]
    assert list(backend) == ["s3"]
    assert backend["s3"]["encrypt"] is True
    assert backend["s3"]["use_lockfile"] is True
    assert backend["s3"]["key"] == f"berth/{name}.tfstate"


def test_the_emulator_keeps_local_state_and_points_every_service_at_the_emulator(synthesized: dict[str, Any]) -> None:
    local = synthesized["local"]
    assert list(local["terraform"]["backend"]) == ["local"]
    (provider,) = local["provider"]["aws"]
    assert set(provider["endpoints"][0].values()) == {"${var.emulator_endpoint}"}
    assert local["variable"]["emulator_endpoint"]["nullable"] is False


@pytest.mark.parametrize("name", ["uat", "prod"])
def test_real_providers_talk_to_aws_and_refuse_the_wrong_account(synthesized: dict[str, Any], name: str) -> None:
    (provider,) = synthesized[name]["provider"]["aws"]
    assert "endpoints" not in provider
    assert provider["allowed_account_ids"] == [{"uat": "111111111111", "prod": "222222222222"}[name]]


@pytest.mark.parametrize("name", ["local", "uat", "prod"])
def test_provider_version_is_pinned_and_default_tags_set(synthesized: dict[str, Any], name: str) -> None:
    stack = synthesized[name]
    assert stack["terraform"]["required_providers"]["aws"]["version"] == "5.100.0"
    (provider,) = stack["provider"]["aws"]
    tags = provider["default_tags"][0]["tags"]
    assert tags["Environment"] == name and tags["ManagedBy"] == "berth"


@pytest.mark.parametrize("name", ["local", "uat", "prod"])
def test_outputs_are_described(synthesized: dict[str, Any], name: str) -> None:
    outputs = synthesized[name]["output"]
    for required in ("helm_repo_bucket_name", "helm_repo_bucket_arn", "helm_repo_bucket_region", "helm_repo_url"):
        assert outputs[required]["description"], required
