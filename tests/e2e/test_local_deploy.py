"""End to end: the `local` stack applied by real Terraform to a fresh moto server, checked with boto3.

Terraform finds the aws provider in the offline mirror; S3 lifecycle creation alone waits about a
minute by the provider's design (three consistent reads ten seconds apart), so this is one apply.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from berth.local import LocalDeployment, MotoServer, apply_local_stack
from berth_core.config import load_environment

# One apply shared by the module: keep its tests on one xdist worker.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-local-deploy")]

BUCKET = "berth-local-helm-charts"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(log_path=tmp_path_factory.mktemp("moto-e2e") / "moto.log") as server:
        yield server


@pytest.fixture(scope="module")
def deployment(
    emulator: MotoServer, synth_outdir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalDeployment]:
    work = tmp_path_factory.mktemp("local-stack")
    stack_dir = work / "stack"
    shutil.copytree(synth_outdir / "stacks" / "local", stack_dir)
    region = load_environment("local").region
    deployed = apply_local_stack(
        stack_dir, emulator.endpoint_url, region, work / "terraform.tfstate"
    )
    yield deployed
    deployed.destroy()  # a no-op when the test below already destroyed everything


@pytest.fixture(scope="module")
def s3(emulator: MotoServer) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=emulator.endpoint_url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_outputs_name_the_bucket_and_repo(deployment: LocalDeployment) -> None:
    outputs = deployment.outputs()
    assert outputs["helm_repo_bucket_name"] == BUCKET
    # helm-s3 users add the repository below its prefix (helm_repo.prefix in local.yaml).
    assert outputs["helm_repo_url"] == f"s3://{BUCKET}/charts"
    assert outputs["helm_repo_bucket_region"] == "eu-west-1"


def test_versioning_is_enabled(deployment: LocalDeployment, s3: Any) -> None:
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"


def test_default_encryption_is_kms_with_the_stack_key(deployment: LocalDeployment, s3: Any) -> None:
    (rule,) = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    default = rule["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    assert ":key/" in default["KMSMasterKeyID"]


def test_public_access_is_blocked(deployment: LocalDeployment, s3: Any) -> None:
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }


def test_bucket_policy_lets_the_account_read_and_only_the_publisher_write(
    deployment: LocalDeployment, s3: Any
) -> None:
    import json

    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert statements["ReadCharts"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert statements["ReadCharts"]["Resource"] == f"arn:aws:s3:::{BUCKET}/charts/*"
    assert "s3:PutObject" not in statements["ReadCharts"]["Action"]
    assert statements["PublishCharts"]["Principal"] == {
        "AWS": "arn:aws:iam::123456789012:role/berth-local-chart-publisher"
    }
    assert "s3:PutObject" in statements["PublishCharts"]["Action"]


def test_the_key_policy_is_the_stacks(deployment: LocalDeployment, s3: Any) -> None:
    import json

    (rule,) = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    kms = boto3.client(
        "kms",
        endpoint_url=s3.meta.endpoint_url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    key_id = rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Sid"] == "AccountAdministersKey"
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}


def test_destroy_removes_the_bucket(deployment: LocalDeployment, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="index.yaml", Body=b"apiVersion: v1\nentries: {}\n")
    deployment.destroy()
    with pytest.raises(ClientError) as raised:
        s3.head_bucket(Bucket=BUCKET)
    assert raised.value.response["Error"]["Code"] in {"404", "NoSuchBucket"}
