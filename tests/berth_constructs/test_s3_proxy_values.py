"""S3ProxyValues: the one definition of the s3proxy values Berth sets agrees with the chart.

Every key of the shape must exist in `charts/s3proxy/values.schema.json` with a compatible type,
the shape must hold what the schema requires of the blocks it sets, and the values
`S3ProxyRelease` builds must have exactly the shape's keys.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, get_args, get_origin, is_typeddict

import pytest
from cdktf import TerraformStack, Testing

from berth_constructs.container_image import ContainerImage
from berth_constructs.helm_chart import ChartSource
from berth_constructs.s3_proxy_release import S3ProxyRelease, S3ProxyReleaseProps
from berth_constructs.s3_proxy_values import S3ProxyValues

CHART_DIR = Path(__file__).resolve().parents[2] / "charts" / "s3proxy"
SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))
# JSON Schema types a Python value of each type is valid as.
JSON_TYPES: dict[type, set[str]] = {
    str: {"string"},
    bool: {"boolean"},
    int: {"integer", "number"},
    float: {"number"},
}


def _schema_types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type", [])
    return {declared} if isinstance(declared, str) else set(declared)


def _block_problems(shape: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Where a TypedDict does not fit an object schema: its keys, what the schema requires."""
    if "object" not in _schema_types(schema):
        return [f"{path}: an object in the shape, {schema.get('type')} in the schema"]
    hints = typing.get_type_hints(shape)
    found = [
        f"{path}.{key}: required by the schema, not set by the shape"
        for key in schema.get("required", [])
        if key not in hints
    ]
    properties = schema.get("properties", {})
    for key, value_type in hints.items():
        if key not in properties:
            found.append(f"{path}.{key}: not in the schema")
            continue
        found += _problems(value_type, properties[key], f"{path}.{key}")
    return found


def _problems(shape: Any, schema: dict[str, Any], path: str) -> list[str]:  # noqa: PLR0911
    """Where `shape` (a TypedDict, a dict/list type or a scalar) does not fit `schema`."""
    if is_typeddict(shape):
        return _block_problems(shape, schema, path)
    origin = get_origin(shape)
    if origin is dict:
        if "object" not in _schema_types(schema):
            return [f"{path}: a mapping in the shape, {schema.get('type')} in the schema"]
        items = schema.get("additionalProperties", True)
        if items is False:
            return [f"{path}: the schema allows no keys of its own choosing"]
        value_type = get_args(shape)[1]
        return [] if items is True else _problems(value_type, items, f"{path}.*")
    if origin is list:
        if "array" not in _schema_types(schema):
            return [f"{path}: a list in the shape, {schema.get('type')} in the schema"]
        return _problems(get_args(shape)[0], schema.get("items", {}), f"{path}[]")
    if isinstance(shape, types.UnionType) or origin is typing.Union:
        return [p for member in get_args(shape) for p in _problems(member, schema, path)]
    if not JSON_TYPES[shape] & _schema_types(schema):
        return [f"{path}: {shape.__name__} in the shape, {schema.get('type')} in the schema"]
    return []


def test_every_key_of_the_shape_is_in_the_chart_schema_with_a_compatible_type() -> None:
    assert _problems(S3ProxyValues, SCHEMA, "values") == []


@pytest.mark.parametrize(
    ("key", "value_type", "problem"),
    [
        ("extra", str, "values.extra: not in the schema"),
        ("replicaCount", str, "values.replicaCount: str in the shape"),
    ],
)
def test_the_check_finds_a_key_the_chart_does_not_know(
    key: str, value_type: type, problem: str
) -> None:
    drifted = typing.TypedDict(  # type: ignore[operator]
        "Drifted", {**typing.get_type_hints(S3ProxyValues), key: value_type}
    )
    assert any(found.startswith(problem) for found in _problems(drifted, SCHEMA, "values"))


def _mismatches(value: Any, shape: Any, path: str) -> list[str]:
    """Where `value` has keys or types other than `shape`'s."""
    if not is_typeddict(shape):
        expected = get_origin(shape) or shape
        return [] if isinstance(value, expected) else [f"{path}: {value!r} is not {expected}"]
    if not isinstance(value, dict):
        return [f"{path}: {value!r} is not a mapping"]
    hints = typing.get_type_hints(shape)
    found = [f"{path}.{key}: not in the shape" for key in value.keys() - hints.keys()]
    found += [f"{path}.{key}: missing" for key in hints.keys() - value.keys()]
    for key in hints.keys() & value.keys():
        found += _mismatches(value[key], hints[key], f"{path}.{key}")
    return found


def test_the_release_values_have_exactly_the_shape() -> None:
    app = Testing.app()
    stack = TerraformStack(app, "test")
    release = S3ProxyRelease(
        stack,
        "s3proxy",
        S3ProxyReleaseProps(
            bucket_name="test-files",
            bucket_region="eu-west-1",
            role_arn="arn:aws:iam::111111111111:role/test-s3proxy",
            host="files.example.com",
            image=ContainerImage(repository="berth/s3proxy", digest="sha256:" + "cd" * 32),
            chart=ChartSource(path=CHART_DIR),
            htpasswd_secret_name="htpasswd",
            tls_secret_name="tls",
            ingress_annotations={"cert-manager.io/cluster-issuer": "letsencrypt"},
        ),
    )
    assert _mismatches(release.values, S3ProxyValues, "values") == []
