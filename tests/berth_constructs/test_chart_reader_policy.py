"""ChartReaderPolicy: the reader's half of reading a (central) chart repository.

Asserted on the synthesized JSON of the real stacks (prod reads uat's central repository) and of
an account stack built from a reader environment file that lists in-cluster reader roles.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from berth_constructs.chart_reader_policy import ChartReaderPolicyProps, ChartRepositoryGrant
from berth_core.config import load_environment_file
from tests.support.tfjson import one_resource, policy_statements, resources, statement

VIA_S3 = {
    "test": "StringEquals",
    "variable": "kms:ViaService",
    "values": ["s3.eu-west-1.amazonaws.com"],
}
BELOW_CHARTS = {"test": "StringLike", "variable": "s3:prefix", "values": ["charts/*"]}
UAT_KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def reader_policy(stack: dict[str, Any]) -> list[dict[str, Any]]:
    return policy_statements(stack, one_resource(stack, "aws_iam_policy", "chart-reader")["policy"])


def attached_roles(stack: dict[str, Any]) -> list[str]:
    return sorted(a["role"] for a in resources(stack, "aws_iam_role_policy_attachment"))


def test_prod_reads_uats_central_repository_below_its_prefix_through_s3_only(
    synthesized: dict[str, Any],
) -> None:
    statements = reader_policy(synthesized["prod"])
    read = statement(statements, "ReadChartsCentral")
    assert read["actions"] == ["s3:GetObject"]
    assert read["resources"] == ["arn:aws:s3:::berth-uat-helm-charts/charts/*"]
    listing = statement(statements, "ListChartsCentral")
    assert listing["actions"] == ["s3:ListBucket"]
    assert listing["resources"] == ["arn:aws:s3:::berth-uat-helm-charts"]
    assert listing["condition"] == [BELOW_CHARTS]
    decrypt = statement(statements, "DecryptChartsCentral")
    assert decrypt["actions"] == ["kms:Decrypt"]
    assert decrypt["resources"] == [UAT_KEY]
    assert decrypt["condition"] == [VIA_S3]


def test_every_statement_reads_and_none_names_everything(synthesized: dict[str, Any]) -> None:
    for name in ("uat", "prod"):
        for stmt in reader_policy(synthesized[name]):
            assert stmt["effect"] == "Allow"
            assert set(stmt["actions"]) <= {"s3:GetObject", "s3:ListBucket", "kms:Decrypt"}
            assert "*" not in stmt["resources"], stmt["sid"]
            if stmt["actions"] == ["s3:GetObject"]:
                assert all(r.endswith("/charts/*") for r in stmt["resources"]), stmt["sid"]


def test_the_deployer_reads_charts_and_prods_publisher_too_as_it_promotes(
    synthesized: dict[str, Any],
) -> None:
    # uat owns the central repository: its publisher writes it (its own policy); prod promotes
    # from it, so prod's publisher reads it through the chart-reader policy.
    assert attached_roles(synthesized["uat"]) == ["${aws_iam_role.ci_deployer-role_E7318BFA.name}"]
    assert attached_roles(synthesized["prod"]) == [
        "${aws_iam_role.ci_deployer-role_E7318BFA.name}",
        "${aws_iam_role.ci_publisher-role_A141668D.name}",
    ]
    assert one_resource(synthesized["prod"], "aws_iam_policy")["name"] == "berth-prod-chart-reader"


def test_the_emulator_environment_has_no_reader_to_grant(synthesized: dict[str, Any]) -> None:
    assert resources(synthesized["local"], "aws_iam_policy") == []


@pytest.fixture(scope="module")
def reader_stack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The account stack of `team`, which reads `shared`'s central repository only (no bucket
    of its own) with its deployer and two in-cluster roles it names."""
    from cdktf import Testing

    from stacks.account_stack import AccountStack

    folder = tmp_path_factory.mktemp("environments")
    base = {
        "region": "eu-west-1",
        "state_backend": {"bucket": "state-bucket", "region": "eu-west-1"},
    }
    (folder / "shared.yaml").write_text(
        yaml.safe_dump(
            {
                **base,
                "account_id": "111111111111",
                "name_prefix": "acme-shared",
                "deploy_role": {"role_arn": "arn:aws:iam::111111111111:role/deploy"},
                "helm_repo": {
                    "prefix": "charts",
                    "publisher_principals": ["arn:aws:iam::111111111111:role/ci"],
                    "readers": {"accounts": ["444444444444"]},
                },
            }
        )
    )
    (folder / "team.yaml").write_text(
        yaml.safe_dump(
            {
                **base,
                "account_id": "444444444444",
                "name_prefix": "acme-team",
                "deploy_role": {"role_arn": "arn:aws:iam::444444444444:role/deploy"},
                "ci": {"repository": "acme/team"},
                "helm_repo": {
                    "central": {
                        "environment": "shared",
                        "kms_key_arn": "arn:aws:kms:eu-west-1:111111111111:key/abc-123",
                    },
                    "reader_roles": [
                        "arn:aws:iam::444444444444:role/argocd-repo-server",
                        "arn:aws:iam::444444444444:role/platform/flux-source-controller",
                    ],
                },
            }
        )
    )
    environment = load_environment_file(folder / "team.yaml")
    app = Testing.app()
    return dict(json.loads(Testing.synth(AccountStack(app, environment))))


def test_a_reader_without_a_repository_of_its_own_creates_no_bucket_and_no_publisher(
    reader_stack: dict[str, Any],
) -> None:
    assert resources(reader_stack, "aws_s3_bucket") == []
    roles = [r["name"] for r in resources(reader_stack, "aws_iam_role")]
    assert roles == ["acme-team-deployer"]
    assert "ci_publisher_role_arn" not in reader_stack["output"]
    assert reader_stack["output"]["central_helm_repo_url"]["value"] == (
        "s3://acme-shared-helm-charts/charts"
    )


def test_listed_reader_roles_are_looked_up_and_get_the_policy(
    reader_stack: dict[str, Any],
) -> None:
    looked_up = {
        logical_id: config["name"]
        for logical_id, config in reader_stack["data"]["aws_iam_role"].items()
    }
    assert sorted(looked_up.values()) == ["argocd-repo-server", "deploy", "flux-source-controller"]
    attached = attached_roles(reader_stack)
    for logical_id, name in looked_up.items():
        if name != "deploy":
            assert f"${{data.aws_iam_role.{logical_id}.name}}" in attached, name
    assert "${aws_iam_role.ci_deployer-role_E7318BFA.name}" in attached
    assert len(attached) == 3


def test_a_reader_reads_the_central_repository_only(reader_stack: dict[str, Any]) -> None:
    sids = sorted(s["sid"] for s in reader_policy(reader_stack))
    assert sids == ["DecryptChartsCentral", "ListChartsCentral", "ReadChartsCentral"]
    read = statement(reader_policy(reader_stack), "ReadChartsCentral")
    assert read["resources"] == ["arn:aws:s3:::acme-shared-helm-charts/charts/*"]


GRANT: dict[str, Any] = {
    "name": "Central",
    "bucket_arn": "arn:aws:s3:::charts",
    "prefix": "charts/",
    "kms_key_arn": "arn:aws:kms:eu-west-1:111111111111:key/abc",
    "region": "eu-west-1",
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bucket_arn": "charts"}, "bucket_arn: 'charts' is not an S3 bucket ARN"),
        ({"bucket_arn": "arn:aws:s3:::*"}, r"bucket_arn: 'arn:aws:s3:::\*' is not"),
        ({"kms_key_arn": "alias/charts"}, "kms_key_arn: 'alias/charts' is not a KMS key ARN"),
        ({"prefix": "charts"}, "prefix: 'charts' must be path segments ending in '/'"),
        ({"region": "Ireland"}, "region: 'Ireland' is not an AWS region"),
        ({"name": "central"}, "name: 'central' must be a short CamelCase word"),
    ],
)
def test_grant_props_refuse_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ChartRepositoryGrant(**{**GRANT, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"repositories": []}, "repositories: at least one repository"),
        ({"roles": {}}, "roles: at least one role"),
        ({"roles": {"Bad Label": "r"}}, "roles: 'Bad Label' is not a short kebab-case label"),
        ({"policy_name": "a b"}, "policy_name: 'a b' is not an IAM policy name"),
    ],
)
def test_policy_props_refuse_invalid_values(changes: dict[str, Any], message: str) -> None:
    props: dict[str, Any] = {
        "policy_name": "acme-chart-reader",
        "repositories": [ChartRepositoryGrant(**GRANT)],
        "roles": {"deployer": "acme-deployer"},
    }
    with pytest.raises(ValueError, match=message):
        ChartReaderPolicyProps(**{**props, **changes})


def test_two_repositories_need_two_names() -> None:
    with pytest.raises(ValueError, match="repositories: names must differ"):
        ChartReaderPolicyProps(
            policy_name="acme-chart-reader",
            repositories=[ChartRepositoryGrant(**GRANT), ChartRepositoryGrant(**GRANT)],
            roles={"deployer": "acme-deployer"},
        )
