"""The proxy's narrow SigV4 signer produces exactly botocore's signature for its requests."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from s3proxy.sigv4 import S3Signer

NOW = datetime(2026, 12, 2, 13, 14, 15, tzinfo=UTC)
KEYS = ["plain.txt", "dir/nested/file.txt", "with space+plus (1).txt", "café/日本語.txt", "a=b@c~d"]


def _botocore(
    method: str,
    url: str,
    headers: dict[str, str],
    credentials: ReadOnlyCredentials,
    *,
    region: str,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: NOW.replace(tzinfo=None))
    request = AWSRequest(method=method, url=url, headers=dict(headers))
    S3SigV4Auth(credentials, "s3", region).add_auth(request)
    return str(request.headers["Authorization"])


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-amz-checksum-mode": "ENABLED"},
        {"If-Match": '"abc"', "Range": "bytes=0-9", "x-amz-checksum-mode": "ENABLED"},
    ],
    ids=["none", "checksum-mode", "pinned-range"],
)
@pytest.mark.parametrize("token", [None, "session-token/with+odd=chars"])
def test_signature_matches_botocore(
    monkeypatch: pytest.MonkeyPatch,
    key: str,
    method: str,
    headers: dict[str, str],
    token: str | None,
) -> None:
    credentials = ReadOnlyCredentials(
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token
    )
    host, region = "s3.eu-west-1.amazonaws.com", "eu-west-1"
    path = "/my-bucket/" + quote(key, safe="/~")
    expected = _botocore(
        method,
        f"https://{host}{path}",
        headers,
        credentials,
        region=region,
        monkeypatch=monkeypatch,
    )
    signed = S3Signer(host, region).sign(method, path, headers, credentials=credentials, now=NOW)
    assert signed["authorization"] == expected
    if token:
        assert signed["x-amz-security-token"] == token


def test_host_with_port_and_new_day_change_the_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = ReadOnlyCredentials("AKID", "secret", None)
    signer = S3Signer("127.0.0.1:9000", "us-east-1")
    first = signer.sign("GET", "/b/k", {}, credentials=credentials, now=NOW)
    assert first["authorization"] == _botocore(
        "GET",
        "http://127.0.0.1:9000/b/k",
        {},
        credentials,
        region="us-east-1",
        monkeypatch=monkeypatch,
    )
    tomorrow = NOW.replace(day=3)
    second = signer.sign("GET", "/b/k", {}, credentials=credentials, now=tomorrow)
    assert "/20261203/us-east-1/s3/aws4_request" in second["authorization"]
    assert second["authorization"] == _botocore_at(tomorrow, credentials, monkeypatch)


def _botocore_at(
    moment: datetime, credentials: ReadOnlyCredentials, monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: moment.replace(tzinfo=None))
    request = AWSRequest(method="GET", url="http://127.0.0.1:9000/b/k", headers={})
    S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    return str(request.headers["Authorization"])
