"""Fixtures for the s3proxy tests: one moto bucket, and one real proxy process per configuration."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from s3proxy_harness import BIG, INDEX, PREFIX, USERS, ProxyProcess, htpasswd_line

from berth.local import EMULATOR_CREDENTIALS


@pytest.fixture(scope="session")
def s3_client(moto_endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="eu-west-1",
        aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=EMULATOR_CREDENTIALS["AWS_SESSION_TOKEN"],
    )


@pytest.fixture(scope="session")
def bucket(s3_client: Any) -> str:
    """A bucket of our own in the shared moto server (no reset: others use the server too)."""
    name = f"s3proxy-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    s3_client.put_object(Bucket=name, Key="outside.txt", Body=b"must stay private")
    s3_client.put_object(Bucket=name, Key=PREFIX + INDEX, Body=b"root index")
    s3_client.put_object(Bucket=name, Key=PREFIX + "dir/" + INDEX, Body=b"dir index")
    s3_client.put_object(
        Bucket=name,
        Key=PREFIX + "big.bin",
        Body=BIG,
        ContentType="application/x-test",
        CacheControl="max-age=60",
    )
    s3_client.put_object(Bucket=name, Key=PREFIX + "empty.txt", Body=b"")
    return name


@pytest.fixture(scope="session")
def put_object(s3_client: Any, bucket: str) -> Callable[[str, bytes], None]:
    def put(key: str, body: bytes) -> None:
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)

    return put


@pytest.fixture(scope="session")
def htpasswd_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "htpasswd"
    lines = [htpasswd_line("alice", USERS["alice"]), htpasswd_line("bob", USERS["bob"], "$2b$")]
    path.write_text("# users\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def start_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ProxyProcess]]:
    """Start proxies on demand; all are stopped at the end of the session."""
    started: list[ProxyProcess] = []
    log_dir = tmp_path_factory.mktemp("proxy-logs")

    def start(env: dict[str, str], *, tls: bool = False) -> ProxyProcess:
        proxy = ProxyProcess(env=env, log_dir=log_dir, tls=tls).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture(scope="session")
def proxy(
    start_proxy: Callable[..., ProxyProcess], moto_endpoint: str, bucket: str, htpasswd_file: Path
) -> ProxyProcess:
    """The main proxy: auth on, prefix `site/`, index document `index.yaml`, against moto."""
    return start_proxy(
        {
            "AWS_ENDPOINT_URL": moto_endpoint,
            "S3_BUCKET": bucket,
            "S3PROXY_PREFIX": PREFIX,
            "S3PROXY_INDEX_DOCUMENT": INDEX,
            "S3PROXY_HTPASSWD_FILE": str(htpasswd_file),
        }
    )


@pytest.fixture(scope="session")
def alice() -> tuple[str, str]:
    return ("alice", USERS["alice"])
