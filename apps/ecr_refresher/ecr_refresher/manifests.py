"""Pure builders for the objects the refresher writes (no I/O, easy to test)."""

from __future__ import annotations

import base64
import json
from typing import Any

from .credentials import RegistryCredential, earliest_expiry

PULL_SECRET_TYPE = "kubernetes.io/dockerconfigjson"  # noqa: S105 - a type name, not a secret
BASIC_AUTH_TYPE = "kubernetes.io/basic-auth"
MANAGED_BY = {"app.kubernetes.io/managed-by": "ecr-credential-refresher"}
# Lets `kubectl get secret -o yaml` (and alerts) tell when the token inside stops working.
EXPIRES_AT_ANNOTATION = "ecr-credential-refresher.berth.dev/expires-at"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def docker_config_json(credentials: list[RegistryCredential]) -> str:
    """The `.dockerconfigjson` document: one `auths` entry per registry host."""
    auths = {
        credential.host: {
            "username": credential.username,
            "password": credential.password,
            "auth": _b64(f"{credential.username}:{credential.password}"),
        }
        for credential in credentials
    }
    return json.dumps({"auths": auths}, sort_keys=True)


def _metadata(name: str, namespace: str, credentials: list[RegistryCredential]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "labels": dict(MANAGED_BY),
        "annotations": {EXPIRES_AT_ANNOTATION: earliest_expiry(credentials).isoformat()},
    }


def pull_secret(name: str, namespace: str, credentials: list[RegistryCredential]) -> dict[str, Any]:
    """A `kubernetes.io/dockerconfigjson` secret holding the ECR logins."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(name, namespace, credentials),
        "type": PULL_SECRET_TYPE,
        "data": {".dockerconfigjson": _b64(docker_config_json(credentials))},
    }


def builder_hosts(credentials: list[RegistryCredential]) -> list[str]:
    """Hosts that share the first registry's login (one basic-auth secret holds one login)."""
    first = credentials[0]
    return [
        c.host for c in credentials if (c.username, c.password) == (first.username, first.password)
    ]


def builder_secret(
    name: str, namespace: str, credentials: list[RegistryCredential]
) -> dict[str, Any]:
    """A `kubernetes.io/basic-auth` secret annotated for Tekton and Knative builds.

    Tekton and Knative build pick up basic-auth secrets of the build's service account whose
    `tekton.dev/docker-N` / `build.knative.dev/docker-N` annotations name the registry URL.
    """
    metadata = _metadata(name, namespace, credentials)
    for index, host in enumerate(builder_hosts(credentials)):
        metadata["annotations"][f"tekton.dev/docker-{index}"] = f"https://{host}"
        metadata["annotations"][f"build.knative.dev/docker-{index}"] = f"https://{host}"
    first = credentials[0]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": BASIC_AUTH_TYPE,
        "data": {"username": _b64(first.username), "password": _b64(first.password)},
    }


def with_reference(
    references: list[dict[str, Any]] | None, name: str
) -> list[dict[str, Any]] | None:
    """`references` plus `{"name": name}`, or None when it is already there (nothing to do).

    Existing entries are kept as they are, in order: other tools put their secrets there too.
    """
    current = list(references or [])
    if any(reference.get("name") == name for reference in current):
        return None
    return [*current, {"name": name}]


def service_account_patch(
    resource_version: str,
    *,
    image_pull_secrets: list[dict[str, Any]] | None = None,
    secrets: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) that replaces the given lists, guarded by resourceVersion.

    The full list is sent (merge patch replaces lists), and the resourceVersion makes the API
    server refuse it with 409 if someone changed the account since we read it.
    """
    patch: dict[str, Any] = {"metadata": {"resourceVersion": resource_version}}
    if image_pull_secrets is not None:
        patch["imagePullSecrets"] = image_pull_secrets
    if secrets is not None:
        patch["secrets"] = secrets
    return patch
