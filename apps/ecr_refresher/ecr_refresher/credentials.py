"""ECR docker credentials from `ecr:GetAuthorizationToken` (boto3's default credential chain)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit


class TokenError(RuntimeError):
    """ECR did not give usable credentials; the message says why (never the token)."""


@dataclass(frozen=True)
class RegistryCredential:
    """One registry's docker login. `password` is secret: it is kept out of repr and logs."""

    host: str
    username: str
    password: str = field(repr=False)
    expires_at: datetime


def registry_host(proxy_endpoint: str) -> str:
    """`https://123.dkr.ecr.eu-west-1.amazonaws.com` -> `123.dkr.ecr.eu-west-1.amazonaws.com`."""
    parts = urlsplit(proxy_endpoint if "://" in proxy_endpoint else f"https://{proxy_endpoint}")
    if not parts.hostname:
        raise TokenError(f"ECR returned a proxyEndpoint without a host: {proxy_endpoint!r}")
    return parts.netloc


def decode_authorization(token: str) -> tuple[str, str]:
    """Split a base64 `user:password` authorization token into its parts."""
    try:
        decoded = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise TokenError("ECR returned an authorization token that is not base64") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username or not password:
        raise TokenError("ECR returned an authorization token without user:password")
    return username, password


def credentials_from_response(response: dict[str, Any]) -> list[RegistryCredential]:
    """Turn a GetAuthorizationToken response into one credential per registry."""
    data = response.get("authorizationData") or []
    if not data:
        raise TokenError("ECR returned no authorizationData")
    credentials = []
    for entry in data:
        username, password = decode_authorization(entry["authorizationToken"])
        credentials.append(
            RegistryCredential(
                host=registry_host(entry["proxyEndpoint"]),
                username=username,
                password=password,
                expires_at=entry["expiresAt"],
            )
        )
    return credentials


def fetch_credentials(ecr_client: Any, registry_ids: list[str]) -> list[RegistryCredential]:
    """Ask ECR for docker logins (for `registry_ids`, or the caller's own registry)."""
    kwargs: dict[str, Any] = {"registryIds": registry_ids} if registry_ids else {}
    try:
        response = ecr_client.get_authorization_token(**kwargs)
    except Exception as error:  # botocore raises many unrelated types; all mean "no token"
        raise TokenError(
            f"ecr:GetAuthorizationToken failed: {type(error).__name__}: {error}"
        ) from None
    return credentials_from_response(response)


def earliest_expiry(credentials: list[RegistryCredential]) -> datetime:
    """When the first of these credentials stops working."""
    return min(credential.expires_at for credential in credentials)
