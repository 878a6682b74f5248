"""The deploy role's policy, derived from the synthesized stacks (berth.deploy_permissions)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from berth.config import PROJECT_ROOT, load_environment
from berth.deploy_permissions import (
    UNSCOPABLE,
    UnknownTypeError,
    deploy_role_policy,
    markdown_table,
)

REAL = ["uat", "prod", "edge"]


def _policy(synthesized: dict[str, Any], env: str) -> dict[str, Any]:
    environment = load_environment(env)
    return deploy_role_policy(environment, [synthesized[name] for name in environment.stack_names])


def _statements(policy: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in policy["Statement"] if action in s["Action"]]


def _resources(statement: dict[str, Any]) -> list[str]:
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


@pytest.mark.parametrize("env", REAL)
def test_every_type_the_stacks_use_has_its_permissions(
    synthesized: dict[str, Any], env: str
) -> None:
    policy = _policy(synthesized, env)
    own = (
        [("aws_iam_user", "iam:CreateUser")]
        if env == "edge"
        else [("aws_appconfig_environment", "appconfig:CreateEnvironment")]
    )
    for kind, action in (
        ("aws_s3_bucket", "s3:CreateBucket"),
        ("aws_iam_role", "iam:CreateRole"),
        ("aws_ecr_repository", "ecr:CreateRepository"),
        ("data aws_ecr_image", "ecr:DescribeImages"),
        *own,
    ):
        assert _statements(policy, action), kind


def test_a_type_without_known_permissions_stops_the_derivation(
    synthesized: dict[str, Any],
) -> None:
    environment = load_environment("uat")
    stack = {**synthesized["uat"], "resource": {"aws_lambda_function": {"f": {}}}}
    with pytest.raises(UnknownTypeError, match="resource aws_lambda_function"):
        deploy_role_policy(environment, [stack])


@pytest.mark.parametrize("env", REAL)
def test_no_wildcard_actions_and_wildcard_resources_only_where_aws_allows_nothing_else(
    synthesized: dict[str, Any], env: str
) -> None:
    for statement in _policy(synthesized, env)["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            assert "*" not in action, action
        if "*" in _resources(statement):
            assert set(statement["Action"]) <= UNSCOPABLE, statement["Sid"]


@pytest.mark.parametrize("env", ["uat", "prod"])
def test_resources_are_the_ones_the_stacks_name(synthesized: dict[str, Any], env: str) -> None:
    policy = _policy(synthesized, env)
    account = {"uat": "111111111111", "prod": "222222222222", "edge": "333333333333"}[env]
    (create_bucket,) = _statements(policy, "s3:CreateBucket")
    assert sorted(_resources(create_bucket)) == [
        f"arn:aws:s3:::berth-{env}-helm-charts",
        f"arn:aws:s3:::berth-{env}-s3proxy-content",
    ]
    (create_role,) = _statements(policy, "iam:CreateRole")
    assert all(
        r.startswith(f"arn:aws:iam::{account}:role/berth-{env}-") for r in _resources(create_role)
    )
    (get_role,) = _statements(policy, "iam:GetRole")
    assert f"arn:aws:iam::{account}:role/berth-{env}-deploy" in _resources(get_role)


@pytest.mark.parametrize("env", REAL)
def test_the_chart_reader_policy_is_managed_by_name_and_attached_to_the_stacks_roles(
    synthesized: dict[str, Any], env: str
) -> None:
    policy = _policy(synthesized, env)
    account = {"uat": "111111111111", "prod": "222222222222", "edge": "333333333333"}[env]
    region = {"uat": "eu-west-1", "prod": "eu-west-1", "edge": "eu-central-1"}[env]
    for action in ("iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicy"):
        (found,) = _statements(policy, action)
        assert _resources(found) == [f"arn:aws:iam::{account}:policy/berth-{env}-chart-reader"]
    (attach,) = _statements(policy, "iam:AttachRolePolicy")
    assert all(r.startswith(f"arn:aws:iam::{account}:role/") for r in _resources(attach))
    # The keys carry explicit policies: writing one is PutKeyPolicy, on this account's keys.
    (put_key_policy,) = _statements(policy, "kms:PutKeyPolicy")
    assert f"arn:aws:kms:{region}:{account}:key/*" in _resources(put_key_policy)


@pytest.mark.parametrize("env", REAL)
def test_every_stacks_state_and_lock_but_nothing_else_of_the_state_bucket(
    synthesized: dict[str, Any], env: str
) -> None:
    statements = {s["Sid"]: s for s in _policy(synthesized, env)["Statement"]}
    bucket = {
        "uat": "berth-terraform-state-111111111111",
        "prod": "berth-terraform-state-222222222222",
        "edge": "berth-terraform-state-333333333333",
    }[env]
    keys = [f"berth/{env}{suffix}.tfstate" for suffix in ("", "-cluster", "-workloads")]
    assert statements["ReadWriteState"]["Resource"] == [f"arn:aws:s3:::{bucket}/{k}" for k in keys]
    assert statements["LockState"]["Resource"] == [
        f"arn:aws:s3:::{bucket}/{k}.tflock" for k in keys
    ]
    assert "s3:DeleteObject" not in statements["ReadWriteState"]["Action"]


def test_prod_reads_its_clusters_state(synthesized: dict[str, Any]) -> None:
    statements = {s["Sid"]: s for s in _policy(synthesized, "prod")["Statement"]}
    assert statements["ReadClusterState"]["Resource"] == (
        "arn:aws:s3:::platform-eks-state-222222222222/eks/prod-eks.tfstate"
    )
    assert "ReadClusterState" not in {s["Sid"] for s in _policy(synthesized, "uat")["Statement"]}


def test_the_retrieval_role_is_passed_to_appconfig_only(synthesized: dict[str, Any]) -> None:
    (passing,) = _statements(_policy(synthesized, "uat"), "iam:PassRole")
    assert passing["Resource"] == [
        "arn:aws:iam::111111111111:role/berth-uat-coralogix-private-key-appconfig"
    ]
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "appconfig.amazonaws.com"}
    }


def test_the_readme_lists_the_actions_uat_derives(synthesized: dict[str, Any]) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    match = re.search(
        r"<!-- deploy-role-actions:begin[^>]*-->\n(.*?)<!-- deploy-role-actions:end -->",
        readme,
        re.S,
    )
    assert match, "README.md: no deploy-role-actions block"
    assert match.group(1) == markdown_table(_policy(synthesized, "uat"))


def test_the_command_prints_the_policy(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    from berth.cli import main

    assert main(["deploy-role-policy", "uat", "--outdir", str(tmp_path)]) == 0
    policy = json.loads(capsys.readouterr().out)
    assert policy["Version"] == "2012-10-17" and policy["Statement"]
    assert main(["deploy-role-policy", "local", "--outdir", str(tmp_path)]) == 1
    assert "has no deploy role" in capsys.readouterr().err


def test_edge_may_manage_its_keyless_users_and_their_keys_and_no_other_user(
    synthesized: dict[str, Any],
) -> None:
    policy = _policy(synthesized, "edge")
    users = [
        "arn:aws:iam::333333333333:user/berth-edge-ecr-builder",
        "arn:aws:iam::333333333333:user/berth-edge-ecr-refresher",
    ]
    for action in (
        "iam:CreateUser",
        "iam:DeleteUser",
        "iam:PutUserPolicy",
        "iam:ListGroupsForUser",
        # `berth refresher rotate-key` makes and deletes the keys, as the deploy role.
        "iam:CreateAccessKey",
        "iam:ListAccessKeys",
        "iam:DeleteAccessKey",
    ):
        (found,) = _statements(policy, action)
        assert sorted(_resources(found)) == users, action
    # Environments without users get no user or key right at all.
    uat = json.dumps(_policy(synthesized, "uat"))
    assert "AccessKey" not in uat and ":user/" not in uat and "User" not in uat
