"""WorkloadNamespace: a namespace for Berth's workloads, with Pod Security Admission labels.

Helm can create a release's namespace (`create_namespace`), but such a namespace carries no
labels, so the cluster's default Pod Security level applies and nothing records who owns it.
Berth creates every namespace a release lands in, before the release, with the Pod Security
Standard enforced (`restricted` by default: every Berth chart runs non-root, without privilege
escalation or capabilities, with a RuntimeDefault seccomp profile) and the same level audited and
warned about, so an upgrade that would break it is reported before it is refused.

https://kubernetes.io/docs/concepts/security/pod-security-admission/
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from cdktf_cdktf_provider_kubernetes.namespace_v1 import NamespaceV1, NamespaceV1Metadata
from constructs import Construct

from berth_core.validation import DNS_LABEL

PodSecurityLevel = Literal["privileged", "baseline", "restricted"]
# Labels the API server's Pod Security admission reads.
# https://kubernetes.io/docs/tasks/configure-pod-container/enforce-standards-namespace-labels/
POD_SECURITY_MODES = ("enforce", "audit", "warn")

_MANAGED_BY = "app.kubernetes.io/managed-by"
_VERSION = re.compile(r"^(latest|v1\.\d+)$")


@dataclass(frozen=True, kw_only=True)
class WorkloadNamespaceProps:
    # Namespace name.
    name: str
    # Pod Security Standard enforced (and audited, and warned about) in the namespace.
    pod_security_level: PodSecurityLevel = "restricted"
    # Version of the standard (`latest` or `v1.N`): pin it to upgrade clusters without surprises.
    pod_security_version: str = "latest"
    # Further labels, e.g. the one a label selector picks the namespace by.
    extra_labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not DNS_LABEL.match(self.name):
            raise ValueError(f"name: {self.name!r} is not a Kubernetes namespace name")
        if self.pod_security_level not in ("privileged", "baseline", "restricted"):
            raise ValueError(
                f"pod_security_level: {self.pod_security_level!r} must be privileged, baseline"
                " or restricted"
            )
        if not _VERSION.match(self.pod_security_version):
            raise ValueError(
                f"pod_security_version: {self.pod_security_version!r} must be latest or v1.N"
            )
        for key in self.extra_labels:
            if key.startswith("pod-security.kubernetes.io/") or key == _MANAGED_BY:
                raise ValueError(f"extra_labels: {key} is set by the construct")

    @property
    def labels(self) -> dict[str, str]:
        labels = {**self.extra_labels, _MANAGED_BY: "berth"}
        for mode in POD_SECURITY_MODES:
            labels[f"pod-security.kubernetes.io/{mode}"] = self.pod_security_level
            labels[f"pod-security.kubernetes.io/{mode}-version"] = self.pod_security_version
        return labels


class WorkloadNamespace(Construct):
    """Outputs: `name`."""

    def __init__(self, scope: Construct, id: str, props: WorkloadNamespaceProps) -> None:
        super().__init__(scope, id)
        namespace = NamespaceV1(
            self,
            "namespace",
            metadata=NamespaceV1Metadata(name=props.name, labels=props.labels),
        )
        self.name: str = namespace.metadata.name
