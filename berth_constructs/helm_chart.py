"""Helm charts for `helm_release`: where a chart comes from (`ChartSource`) and one way to install it.

Every Berth release goes through `install_chart`, so all of them share the same safe settings:
a failed install or upgrade rolls back, its leftovers are cleaned up, Helm keeps a bounded
history, the values are one sorted YAML document (a stable diff in `terraform plan`), and the
namespace must already exist: Berth creates namespaces itself, with Pod Security labels
(`WorkloadNamespace`), never through Helm.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cdktf import AssetType, ITerraformDependable, TerraformAsset, TerraformProvider
from cdktf_cdktf_provider_helm.release import Release
from constructs import Construct

_SEMVER = re.compile(r"^\d+\.\d+\.\d+([-+][\w.+-]+)?$")

# Release revisions Helm keeps (and rollbacks can reach); the provider's default keeps all.
MAX_HISTORY = 5


@dataclass(frozen=True, kw_only=True)
class ChartSource:
    """Where `helm_release` gets a chart: a local chart directory, or a pinned repository chart."""

    # A chart directory on this machine (e.g. `charts/s3proxy`); copied into the synth output
    # as a cdktf asset, so the stack does not depend on where it was synthesized.
    path: Path | None = None
    # Chart name in `repository` (with `repository` and `version`).
    name: str | None = None
    # Helm repository URL (`https://...` or `oci://...`).
    repository: str | None = None
    # Exact chart version; required with `repository` so a release never drifts.
    version: str | None = None

    def __post_init__(self) -> None:
        if self.path is not None:
            if self.name or self.repository or self.version:
                raise ValueError("path: give a chart path OR name/repository/version, not both")
            if not (self.path / "Chart.yaml").is_file():
                raise ValueError(f"path: {self.path} is not a chart directory (no Chart.yaml)")
            return
        if not (self.name and self.repository and self.version):
            raise ValueError("name: a repository chart needs name, repository and version")
        if not self.repository.startswith(("https://", "oci://")):
            raise ValueError(f"repository: {self.repository!r} must be an https:// or oci:// URL")
        if not _SEMVER.match(self.version):
            raise ValueError(f"version: {self.version!r} is not an exact chart version")

    def locate(self, scope: Construct, id: str) -> tuple[str, str | None, str | None]:
        """`(chart, repository, version)` for `Release(...)`; a local chart becomes an asset."""
        if self.path is None:
            return str(self.name), self.repository, self.version
        asset = TerraformAsset(scope, id, path=str(self.path.resolve()), type=AssetType.DIRECTORY)
        return asset.path, None, None


def install_chart(
    scope: Construct,
    id: str,
    *,
    chart: ChartSource,
    release_name: str,
    namespace: str,
    values: Mapping[str, Any],
    provider: TerraformProvider | None = None,
    depends_on: Sequence[ITerraformDependable] = (),
) -> Release:
    """A `helm_release` named `id` in `scope`; a local chart becomes the asset `chart` beside it.

    `provider` None uses the stack's default helm provider; `depends_on` are created first.
    """
    chart_ref, repository, version = chart.locate(scope, "chart")
    return Release(
        scope,
        id,
        chart=chart_ref,
        repository=repository,
        version=version,
        name=release_name,
        namespace=namespace,
        # Helm would create an unlabelled namespace; WorkloadNamespace creates it instead.
        create_namespace=False,
        values=[yaml.safe_dump(dict(values), sort_keys=True)],
        # A failed install or upgrade rolls back instead of leaving a half-applied release.
        atomic=True,
        cleanup_on_fail=True,
        max_history=MAX_HISTORY,
        provider=provider,
        depends_on=list(depends_on) or None,
    )
