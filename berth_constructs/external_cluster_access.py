"""ExternalClusterAccess: the helm/kubernetes providers of a cluster outside EKS.

Two ways in, as the environment file says, and neither writes a credential into the synthesized
JSON or the state:

- a kubeconfig context (`config_path` + `config_context`): the providers read the file on the
  machine that runs Terraform, where its credentials stay;
- an exec credential plugin (`host`, the cluster's CA, `exec_command` + `exec_args`): the
  providers run it at plan/apply time for a short-lived token, with that machine's environment
  (the variables it needs are named in the environment file, never valued).

https://registry.terraform.io/providers/hashicorp/kubernetes/latest/docs#authentication
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktf import Fn
from cdktf_cdktf_provider_helm.provider import (
    HelmProvider,
    HelmProviderKubernetes,
    HelmProviderKubernetesExec,
)
from cdktf_cdktf_provider_kubernetes.provider import KubernetesProvider, KubernetesProviderExec
from constructs import Construct

from berth_constructs.eks_cluster_access import EXEC_API_VERSION
from berth_core.validation import HTTPS_URL


@dataclass(frozen=True, kw_only=True)
class ExternalClusterAccessProps:
    # A kubeconfig on the machine that runs Terraform, and the context to use in it.
    config_path: str | None = None
    config_context: str | None = None
    # Or: the API server, its CA bundle (PEM), and a client-go credential plugin.
    host: str | None = None
    cluster_ca_certificate: str | None = None
    exec_command: str | None = None
    exec_args: Sequence[str] = ()
    exec_api_version: str = EXEC_API_VERSION
    # Which providers the stack needs: `kubernetes` (namespaces), `helm` (releases).
    enable_kubernetes_provider: bool = True
    enable_helm_provider: bool = True

    def __post_init__(self) -> None:
        kubeconfig = self.config_path is not None or self.config_context is not None
        exec_plugin = any((self.host, self.cluster_ca_certificate, self.exec_command))
        if kubeconfig == exec_plugin:
            raise ValueError(
                "config_path: give a kubeconfig (config_path, config_context) or an exec"
                " plugin (host, cluster_ca_certificate, exec_command), not both"
            )
        if kubeconfig and not (self.config_path and self.config_context):
            raise ValueError("config_context: name the context, so a deploy never follows")
        if exec_plugin:
            if not (self.host and HTTPS_URL.match(self.host)):
                raise ValueError(f"host: {self.host!r} is not an https:// API server URL")
            if "-----BEGIN CERTIFICATE-----" not in (self.cluster_ca_certificate or ""):
                raise ValueError("cluster_ca_certificate: give the CA bundle as PEM")
            if not self.exec_command:
                raise ValueError("exec_command: name the credential plugin")
        if not (self.enable_kubernetes_provider or self.enable_helm_provider):
            raise ValueError("enable_kubernetes_provider: enable at least one provider")


class ExternalClusterAccess(Construct):
    """Configures the stack's kubernetes and/or helm provider for the cluster."""

    def __init__(self, scope: Construct, id: str, props: ExternalClusterAccessProps) -> None:
        super().__init__(scope, id)
        if props.config_path is not None:
            # `~` is the home folder of whoever runs Terraform: no machine path in the JSON.
            config_path = Fn.pathexpand(props.config_path)
            if props.enable_kubernetes_provider:
                KubernetesProvider(
                    self,
                    "kubernetes",
                    config_path=config_path,
                    config_context=props.config_context,
                )
            if props.enable_helm_provider:
                HelmProvider(
                    self,
                    "helm",
                    kubernetes=HelmProviderKubernetes(
                        config_path=config_path, config_context=props.config_context
                    ),
                )
            return
        command, args = str(props.exec_command), list(props.exec_args)
        if props.enable_kubernetes_provider:
            KubernetesProvider(
                self,
                "kubernetes",
                host=props.host,
                cluster_ca_certificate=props.cluster_ca_certificate,
                exec=[
                    KubernetesProviderExec(
                        api_version=props.exec_api_version, command=command, args=args
                    )
                ],
            )
        if props.enable_helm_provider:
            HelmProvider(
                self,
                "helm",
                kubernetes=HelmProviderKubernetes(
                    host=props.host,
                    cluster_ca_certificate=props.cluster_ca_certificate,
                    exec=HelmProviderKubernetesExec(
                        api_version=props.exec_api_version, command=command, args=args
                    ),
                ),
            )
