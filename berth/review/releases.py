"""Helm releases: their network entry points (ingress hosts, TLS, auth) and the AWS identity
each runs as.

The ingress, TLS, auth and ServiceAccount blocks are read with the shape `S3ProxyRelease` sets
them in (`berth_constructs.s3_proxy_values`, checked against the chart's schema): of Berth's
charts only s3proxy has an entry point, and mypy checks every key read here against that shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, cast

import yaml

from berth_constructs.s3_proxy_values import (
    S3ProxyAuth,
    S3ProxyIngress,
    S3ProxyServiceAccount,
    S3ProxyTls,
)
from berth_core.tfjson import Json, TerraformJson, as_dict, as_list, logical_path

# How a release whose AWS identity is an IAM user's key in a Secret is shown.
STATIC_KEYS = "static keys"


def _merged_values(stack: TerraformJson, release: Json) -> Json:
    values: Json = {}
    for document in release.get("values", []) or []:
        loaded = yaml.safe_load(str(document)) or {}
        if isinstance(loaded, dict):
            _deep_merge(values, loaded)
    for item in list(release.get("set", []) or []) + list(release.get("set_sensitive", []) or []):
        node = values
        *parents, leaf = str(item.get("name", "")).split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = item.get("value")
    return values


def _deep_merge(into: Json, other: Mapping[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value


def _auth(stack: TerraformJson, values: Mapping[str, Any]) -> str:
    if not isinstance(values.get("auth"), dict):
        return "not configured in the release values (chart default applies)"
    auth = cast(S3ProxyAuth, values["auth"])
    if auth.get("enabled") is False:
        return "DISABLED"
    if auth.get("existingSecret"):
        return f"basic auth, htpasswd from Secret {stack.readable(auth['existingSecret'])}"
    if auth.get("htpasswd"):
        return "basic auth, htpasswd INLINE in the release values (stored in Terraform state)"
    return "enabled (chart default source)"


def _tls(value: Any) -> str:
    if not value:
        return "none"
    if not isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    tls = cast(S3ProxyTls, value)
    if tls.get("selfSigned"):
        return "self-signed certificate"
    if tls.get("secretName"):
        return f"certificate from Secret {tls['secretName']}"
    return json.dumps(tls, sort_keys=True)


def _chart_label(config: Mapping[str, Any]) -> str:
    """Where the chart comes from, without the content hash of a cdktf asset path."""
    chart = str(config.get("chart", ""))
    version = str(config.get("version", "") or "")
    if config.get("repository"):
        chart = f"{config['repository']}/{chart}"
    elif chart.startswith("assets/"):
        chart = f"local chart (asset {logical_path(chart.split('/')[1])})"
    else:
        chart = re.sub(r"^(\.\./)+", "", chart)
    return f"{chart} {version}".strip()


def _irsa_roles(stack: TerraformJson) -> dict[tuple[str, str], str]:
    """(namespace, service account) -> the role its `eks.amazonaws.com/role-arn` names."""
    found = {}
    for kind in ("kubernetes_service_account_v1", "kubernetes_service_account"):
        for _, _, config in stack.resources(kind):
            for metadata in as_list(config.get("metadata")):
                role = (metadata.get("annotations") or {}).get("eks.amazonaws.com/role-arn")
                if role:
                    key = (str(metadata.get("namespace", "default")), str(metadata.get("name")))
                    found[key] = stack.readable(role)
    return found


def entry_points(stack: TerraformJson) -> list[Json]:
    releases: list[Json] = []
    service_account_roles = _irsa_roles(stack)
    for _, logical_id, config in stack.resources("helm_release"):
        values = _merged_values(stack, config)
        entries = []
        if isinstance(values.get("ingress"), dict):
            ingress = cast(S3ProxyIngress, values["ingress"])
            if ingress.get("enabled"):
                host = ingress.get("host")
                entries.append(
                    {
                        "kind": "Ingress",
                        "class": ingress.get("className", "") or "cluster default",
                        "hosts": [stack.readable(host)] if host else [],
                        "tls": _tls(ingress.get("tls")),
                    }
                )
        route = values.get("httpRoute")
        if isinstance(route, dict) and route.get("enabled"):
            entries.append(
                {
                    "kind": "HTTPRoute",
                    "class": ", ".join(
                        str(p.get("name", p)) for p in route.get("parentRefs", []) or []
                    ),
                    "hosts": [stack.readable(h) for h in route.get("hostnames", []) or []],
                    "tls": "terminated by the parent Gateway",
                }
            )
        service = values.get("service")
        if isinstance(service, dict) and service.get("type") in ("LoadBalancer", "NodePort"):
            entries.append(
                {
                    "kind": f"Service {service['type']}",
                    "class": "",
                    "hosts": [],
                    "tls": "none (TCP)",
                }
            )
        release_name = str(config.get("name", logical_path(logical_id)))
        namespace = str(config.get("namespace", "default"))
        service_account = cast(S3ProxyServiceAccount, as_dict(values.get("serviceAccount")))
        # The chart's role annotation (or the web-identity role it projects a token for), else
        # the ServiceAccount Terraform made for the release.
        aws = as_dict(values.get("aws"))
        web_identity = as_dict(aws.get("webIdentity"))
        role = str(service_account.get("roleArn", "") or web_identity.get("roleArn", "") or "")
        account_name = str(service_account.get("name", "") or release_name)
        releases.append(
            {
                "release": release_name,
                "chart": _chart_label(config),
                "namespace": namespace,
                "entry_points": entries,
                "auth": _auth(stack, values) if entries else "no entry point",
                "aws_role": stack.readable(role)
                if role
                else f"{STATIC_KEYS} from Secret {namespace}/{aws['existingSecret']}"
                " (its `credentials` key)"
                if aws.get("existingSecret")
                else service_account_roles.get((namespace, account_name), "none"),
            }
        )
    return releases
