"""Kubernetes writes: create-or-update secrets and attach them to service accounts.

Updates are in place and optimistic (resourceVersion); on 409 Conflict we re-read and try
again. Nothing here ever deletes anything: a failed refresh leaves the old secret working.
"""

from __future__ import annotations

from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from .manifests import service_account_patch, with_reference

MERGE_PATCH = "application/merge-patch+json"
# Re-read-and-retry rounds after 409 Conflict inside one attempt; persistent conflicts
# fall through to the caller's backoff.
CONFLICT_ROUNDS = 5
# Statuses worth another try: races (404 namespace/service account not there yet, 409),
# throttling (429) and server trouble (5xx).
RETRYABLE_STATUSES = frozenset({404, 409, 429, 500, 502, 503, 504})


class PermanentError(RuntimeError):
    """A write that retrying cannot fix (e.g. a foreign secret of another type has the name)."""


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt could succeed."""
    if isinstance(error, ApiException):
        return error.status in RETRYABLE_STATUSES or not error.status
    return isinstance(error, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError)


def describe(error: BaseException) -> str:
    """A short one-line description of a failure (never a request or response body)."""
    if isinstance(error, ApiException):
        return f"HTTP {error.status} {error.reason}".strip()
    return f"{type(error).__name__}: {error}"


def _as_dict(api: client.CoreV1Api, obj: object) -> dict[str, Any]:
    """A model object as the API's own JSON dict (camelCase keys, no None fields)."""
    data: dict[str, Any] = api.api_client.sanitize_for_serialization(obj)
    return data


def _secret_model(body: dict[str, Any]) -> client.V1Secret:
    secret = client.V1Secret.from_dict(body)
    if secret is None:  # from_dict only returns None for None input
        raise ValueError("empty secret body")
    return secret


def _merged(current: dict[str, str] | None, ours: dict[str, str]) -> dict[str, str]:
    return {**(current or {}), **ours}


def upsert_secret(api: client.CoreV1Api, body: dict[str, Any]) -> str:
    """Create the secret, or replace it in place; returns "created" or "updated".

    Labels and annotations others put on an existing secret are kept.
    """
    name = body["metadata"]["name"]
    namespace = body["metadata"]["namespace"]
    for _ in range(CONFLICT_ROUNDS):
        try:
            current = _as_dict(api, api.read_namespaced_secret(name, namespace))
        except ApiException as error:
            if error.status != 404:
                raise
            try:
                api.create_namespaced_secret(namespace, _secret_model(body))
            except ApiException as create_error:
                if create_error.status == 409:  # created meanwhile: read it and update
                    continue
                raise
            return "created"
        if current.get("type") != body["type"]:
            raise PermanentError(
                f"secret {namespace}/{name} exists with type {current.get('type')},"
                f" not {body['type']}; left untouched"
            )
        current_meta = current["metadata"]
        metadata = dict(body["metadata"])
        metadata["resourceVersion"] = current_meta["resourceVersion"]
        metadata["labels"] = _merged(current_meta.get("labels"), body["metadata"]["labels"])
        metadata["annotations"] = _merged(
            current_meta.get("annotations"), body["metadata"]["annotations"]
        )
        replacement = _secret_model({**body, "metadata": metadata})
        try:
            api.replace_namespaced_secret(name, namespace, replacement)
        except ApiException as error:
            if error.status == 409:  # changed since we read it: read again
                continue
            raise
        return "updated"
    raise ApiException(status=409, reason=f"Conflict on secret {namespace}/{name} persisted")


def attach_to_service_account(
    api: client.CoreV1Api,
    namespace: str,
    service_account: str,
    *,
    image_pull_secret: str | None = None,
    secret: str | None = None,
) -> bool:
    """Add secret names to a service account's imagePullSecrets / secrets; True if it changed.

    Idempotent: names already listed are left alone, and other entries are kept.
    """
    for _ in range(CONFLICT_ROUNDS):
        account = _as_dict(api, api.read_namespaced_service_account(service_account, namespace))
        pull = (
            with_reference(account.get("imagePullSecrets"), image_pull_secret)
            if image_pull_secret
            else None
        )
        secrets = with_reference(account.get("secrets"), secret) if secret else None
        if pull is None and secrets is None:
            return False
        patch = service_account_patch(
            account["metadata"]["resourceVersion"], image_pull_secrets=pull, secrets=secrets
        )
        try:
            api.patch_namespaced_service_account(
                service_account, namespace, patch, _content_type=MERGE_PATCH
            )
        except ApiException as error:
            if error.status == 409:
                continue
            raise
        return True
    raise ApiException(
        status=409, reason=f"Conflict on serviceaccount {namespace}/{service_account} persisted"
    )


def list_target_namespaces(api: client.CoreV1Api, label_selector: str | None) -> list[str]:
    """Active namespaces (optionally matching a label selector), sorted by name.

    Terminating namespaces are skipped: the API server refuses new objects in them.
    """
    kwargs: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
    listing = _as_dict(api, api.list_namespace(**kwargs))
    return sorted(active_namespace_names(listing.get("items") or []))


def active_namespace_names(items: list[dict[str, Any]]) -> list[str]:
    """Names of the namespaces in `items` that are not being deleted."""
    return [
        item["metadata"]["name"]
        for item in items
        if (item.get("status") or {}).get("phase") != "Terminating"
    ]


def patch_config_map_data(
    api: client.CoreV1Api, namespace: str, name: str, data: dict[str, str]
) -> None:
    """Set keys of an existing ConfigMap's `data` (JSON merge patch; other keys are kept).

    Never creates it: the chart does, and the refresher's RBAC names it (get/patch only).
    """
    api.patch_namespaced_config_map(name, namespace, {"data": data}, _content_type=MERGE_PATCH)
