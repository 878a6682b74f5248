"""The Pod Security Standards' `restricted` profile, checked on rendered manifests.

Hand-written from the standard (no Python library implements it; the API server's admission
plugin is Go): https://kubernetes.io/docs/concepts/security/pod-security-standards/ . Each
control of the baseline and restricted profiles that a pod template can break is one check
below; a violation names the workload, the container and the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Baseline: capabilities a container may add; restricted: only NET_BIND_SERVICE.
RESTRICTED_ADDABLE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)


def pod_specs(manifest: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(workload name, pod spec) of every pod a manifest would run."""
    kind = manifest.get("kind")
    name = f"{kind}/{manifest.get('metadata', {}).get('name')}"
    spec = manifest.get("spec", {})
    if kind == "Pod":
        yield name, spec
    elif kind in ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"):
        yield name, spec.get("template", {}).get("spec", {})
    elif kind == "CronJob":
        yield name, spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})


def restricted_violations(manifest: dict[str, Any]) -> list[str]:
    """Every way the manifest's pods break the `restricted` profile (empty: it complies)."""
    found = []
    for workload, pod in pod_specs(manifest):
        found += [f"{workload}: {problem}" for problem in _pod_problems(pod)]
    return found


def _pod_problems(pod: dict[str, Any]) -> Iterator[str]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            yield f"spec.{field} is true"
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            yield f"volume {volume.get('name')} is of type {', '.join(sorted(kinds))}"
    security = pod.get("securityContext", {}) or {}
    for sysctl in security.get("sysctls", []) or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield f"sysctl {sysctl.get('name')} is not a safe sysctl"
    yield from _context_problems("spec.securityContext", security)
    containers = [
        *(("initContainers", c) for c in pod.get("initContainers", []) or []),
        *(("containers", c) for c in pod.get("containers", []) or []),
        *(("ephemeralContainers", c) for c in pod.get("ephemeralContainers", []) or []),
    ]
    for group, container in containers:
        yield from _container_problems(f"{group}[{container.get('name')}]", container, security)


def _container_problems(
    where: str, container: dict[str, Any], security: dict[str, Any]
) -> Iterator[str]:
    context = container.get("securityContext", {}) or {}
    yield from _context_problems(f"{where}.securityContext", context)
    if context.get("privileged"):
        yield f"{where}: privileged"
    if context.get("allowPrivilegeEscalation") is not False:
        yield f"{where}: allowPrivilegeEscalation is not false"
    if not (context.get("runAsNonRoot") is True or security.get("runAsNonRoot") is True):
        yield f"{where}: runAsNonRoot is not true (container or pod)"
    seccomp = (context.get("seccompProfile") or security.get("seccompProfile") or {}).get("type")
    if seccomp not in ALLOWED_SECCOMP:
        yield f"{where}: seccompProfile is {seccomp or 'unset'} (RuntimeDefault or Localhost)"
    capabilities = context.get("capabilities", {}) or {}
    if "ALL" not in (capabilities.get("drop") or []):
        yield f"{where}: capabilities do not drop ALL"
    added = set(capabilities.get("add") or []) - RESTRICTED_ADDABLE_CAPABILITIES
    if added:
        yield f"{where}: capabilities add {', '.join(sorted(added))}"
    if context.get("procMount", "Default") != "Default":
        yield f"{where}: procMount is {context['procMount']}"
    for port in container.get("ports", []) or []:
        if port.get("hostPort"):
            yield f"{where}: hostPort {port['hostPort']}"


def _context_problems(where: str, context: dict[str, Any]) -> Iterator[str]:
    if context.get("runAsUser") == 0:
        yield f"{where}.runAsUser is 0"
    if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
        yield f"{where}.seccompProfile is Unconfined"
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        yield f"{where}.seLinuxOptions set beyond the allowed types"
    apparmor = (context.get("appArmorProfile") or {}).get("type")
    if apparmor not in (None, "RuntimeDefault", "Localhost"):
        yield f"{where}.appArmorProfile is {apparmor}"
    windows = context.get("windowsOptions") or {}
    if windows.get("hostProcess"):
        yield f"{where}.windowsOptions.hostProcess is true"
