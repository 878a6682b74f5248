"""Helpers shared by the chart repository tests (a module, so spawned workers can import it)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ChartFactory = Callable[..., Path]


def write_chart(root: Path, name: str, version: str, *, greeting: str = "hello") -> Path:
    """A minimal valid chart (one ConfigMap) at root/name-version/name."""
    chart = root / f"{name}-{version}-{uuid.uuid4().hex[:6]}" / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": name,
                "description": f"The {name} test chart",
                "type": "application",
                "version": version,
                "appVersion": "1.0.0",
            }
        )
    )
    (chart / "values.yaml").write_text(f"# -- What the ConfigMap says.\ngreeting: {greeting}\n")
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-"
        + name
        + "\ndata:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    return chart


def object_keys(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def read_index_text(s3: Any, bucket: str) -> str:
    return str(s3.get_object(Bucket=bucket, Key="index.yaml")["Body"].read().decode())
