"""Bucket policies on the emulator: conditional statements neither allow nor deny, unconditional
ones still apply. The conditions themselves are proven on synthesized JSON (construct tests)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import ClientFactory

from berth.emulator.bucket_policy import unconditional_statements
from tests.support.constants import MOTO_ACCOUNT

PUBLISHER = f"arn:aws:iam::{MOTO_ACCOUNT}:role/berth-uat-chart-publisher"


def _policy(bucket: str, *extra: dict[str, Any]) -> dict[str, Any]:
    """The statements the private Helm repository bucket carries in `uat` and `prod`."""
    objects = f"arn:aws:s3:::{bucket}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", objects],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyChartWritesExceptPublishers",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": objects,
                "Condition": {"ArnNotLike": {"aws:PrincipalArn": [PUBLISHER]}},
            },
            {
                "Sid": "ReadAndWriteForTheAccount",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{MOTO_ACCOUNT}:root"},
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": objects,
            },
            *extra,
        ],
    }


@pytest.fixture
def s3(client: ClientFactory) -> Any:
    return client("s3")


def _new_bucket_name() -> str:
    return f"berth-policy-{uuid.uuid4().hex[:12]}"


def _bucket_with(s3: Any, bucket: str, *extra: dict[str, Any]) -> str:
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(_policy(bucket, *extra)))
    return bucket


def test_conditional_denies_do_not_block_the_accounts_reads_and_writes(s3: Any) -> None:
    bucket = _bucket_with(s3, _new_bucket_name())
    s3.put_object(Bucket=bucket, Key="index.yaml", Body=b"apiVersion: v1\n")
    assert s3.get_object(Bucket=bucket, Key="index.yaml")["Body"].read() == b"apiVersion: v1\n"
    assert s3.head_object(Bucket=bucket, Key="index.yaml")["ContentLength"] == 15


def test_an_unconditional_deny_still_denies(s3: Any) -> None:
    name = _new_bucket_name()
    bucket = _bucket_with(
        s3,
        name,
        {
            "Sid": "NeverDelete",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:DeleteObject",
            "Resource": f"arn:aws:s3:::{name}/*",
        },
    )
    s3.put_object(Bucket=bucket, Key="chart.tgz", Body=b"x")
    with pytest.raises(ClientError) as raised:
        s3.delete_object(Bucket=bucket, Key="chart.tgz")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert s3.head_object(Bucket=bucket, Key="chart.tgz")["ContentLength"] == 1


def test_only_statements_with_a_condition_are_left_out() -> None:
    policy = _policy("b", {"Sid": "Plain", "Effect": "Deny", "Principal": "*", "Action": "s3:*"})
    kept = unconditional_statements(policy)
    assert [statement["Sid"] for statement in kept["Statement"]] == [
        "ReadAndWriteForTheAccount",
        "Plain",
    ]
    assert kept["Version"] == "2012-10-17"
    single = unconditional_statements({"Statement": policy["Statement"][0]})
    assert single["Statement"] == []
