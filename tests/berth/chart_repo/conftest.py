"""Fixtures for the chart repository: a fresh bucket per test on the session moto server, an
environment file pointing at it, and small real charts to lint, package and publish."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from chart_repo_support import ChartFactory, write_chart

from berth.chart_repo.store import ChartStore
from berth_core.config import Environment, load_environment_file


@pytest.fixture
def make_chart(tmp_path: Path) -> ChartFactory:
    def factory(name: str = "demo", version: str = "0.1.0", **kwargs: Any) -> Path:
        return write_chart(tmp_path / "charts", name, version, **kwargs)

    return factory


@pytest.fixture(scope="session")
def _shared_boto_session() -> boto3.Session:
    # Loading the S3 model costs ~0.5 s per boto3.Session; clients of one session cost ~15 ms.
    return boto3.Session(
        region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def s3(aws_session: boto3.Session, _shared_boto_session: boto3.Session, moto_endpoint: str) -> Any:
    """An S3 client on the session moto server (aws_session also points env vars at moto)."""
    return _shared_boto_session.client("s3", endpoint_url=moto_endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    """A new, versioned bucket (as HelmRepoBucket makes them) with a unique name."""
    name = f"charts-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def env_file(tmp_path: Path, bucket: str) -> Path:
    """An emulator environment file whose Helm repo bucket is this test's bucket."""
    path = tmp_path / "envs" / "citest.yaml"
    path.parent.mkdir()
    path.write_text(
        yaml.safe_dump(
            {
                "account_id": "123456789012",
                "region": "eu-west-1",
                "name_prefix": "berth-citest",
                "emulator": True,
                "helm_repo": {
                    "publisher_principals": ["arn:aws:iam::123456789012:role/publisher"],
                    "bucket_name": bucket,
                },
            }
        )
    )
    return path


@pytest.fixture
def env(env_file: Path) -> Environment:
    return load_environment_file(env_file)


@pytest.fixture
def store(s3: Any, bucket: str) -> ChartStore:
    return ChartStore(s3, bucket)


@pytest.fixture
def out() -> io.StringIO:
    """Where progress goes; tests read it back."""
    return io.StringIO()
