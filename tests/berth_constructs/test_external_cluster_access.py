"""ExternalClusterAccess and WorkloadNamespace props: one way into the cluster, labels kept safe.

What the providers synthesize to is asserted on the real stacks (tests/stacks); here the props
refuse what cannot work.
"""

from __future__ import annotations

from typing import Any

import pytest

from berth_constructs.external_cluster_access import ExternalClusterAccessProps
from berth_constructs.workload_namespace import WorkloadNamespaceProps

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
EXEC = {"host": "https://k8s.example.com:6443", "cluster_ca_certificate": PEM, "exec_command": "k"}


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({}, "config_path: give a kubeconfig .* or an exec plugin"),
        ({"config_path": "~/.kube/config", **EXEC}, "not both"),
        ({"config_path": "~/.kube/config"}, "config_context: name the context"),
        ({**EXEC, "host": "http://k8s"}, "host: 'http://k8s' is not an https://"),
        ({**EXEC, "cluster_ca_certificate": "abc"}, "cluster_ca_certificate: give the CA"),
        ({**EXEC, "exec_command": ""}, "exec_command: name the credential plugin"),
        (
            {**EXEC, "enable_kubernetes_provider": False, "enable_helm_provider": False},
            "enable at least one provider",
        ),
    ],
)
def test_access_props_refuse_what_cannot_reach_the_cluster(
    props: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ExternalClusterAccessProps(**props)


def test_either_way_in_is_accepted() -> None:
    ExternalClusterAccessProps(config_path="~/.kube/config", config_context="edge")
    ExternalClusterAccessProps(**EXEC)


def test_namespace_extra_labels_join_and_never_replace_pod_security() -> None:
    props = WorkloadNamespaceProps(name="ecr", extra_labels={"ecr-pull": "enabled"})
    assert props.labels["ecr-pull"] == "enabled"
    assert props.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for key in ("pod-security.kubernetes.io/enforce", "app.kubernetes.io/managed-by"):
        with pytest.raises(ValueError, match=f"extra_labels: {key} is set by the construct"):
            WorkloadNamespaceProps(name="ecr", extra_labels={key: "x"})
