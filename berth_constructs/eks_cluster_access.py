"""EksClusterAccess: the cluster's facts and the helm/kubernetes providers that reach it.

Endpoint and CA come from the EKS API (by cluster name) or from the cluster's own Terraform
state. Both providers authenticate with a short-lived token from `aws eks get-token`, run at
plan/apply time with the environment's deploy role, so no token or kubeconfig ever lands in
the synthesized JSON or in state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cdktf import (
    DataTerraformRemoteStateS3,
    Fn,
    Postcondition,
    S3BackendAssumeRoleConfig,
    TerraformResourceLifecycle,
)
from cdktf_cdktf_provider_aws.data_aws_eks_cluster import DataAwsEksCluster
from cdktf_cdktf_provider_helm.provider import (
    HelmProvider,
    HelmProviderKubernetes,
    HelmProviderKubernetesExec,
)
from cdktf_cdktf_provider_kubernetes.provider import KubernetesProvider, KubernetesProviderExec
from constructs import Construct

from berth_core.validation import HTTPS_URL

EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


@dataclass(frozen=True, kw_only=True)
class EksClusterAccessProps:
    # EKS cluster name.
    cluster_name: str
    # Region of the cluster.
    region: str
    # The OIDC issuer the environment file declares; planning fails if EKS reports another.
    oidc_issuer_url: str
    # Where endpoint and CA come from: the EKS API, or the cluster's Terraform remote state.
    facts_source: Literal["eks_api", "remote_state"] = "eks_api"
    # Remote state location (facts_source = "remote_state").
    remote_state_bucket: str | None = None
    remote_state_key: str | None = None
    remote_state_region: str | None = None
    # Output names in that state (terraform-aws-modules/eks names by default).
    endpoint_output: str = "cluster_endpoint"
    certificate_authority_output: str = "cluster_certificate_authority_data"
    # Role `aws eks get-token` assumes for the token (the environment's deploy role).
    token_role_arn: str | None = None
    # Role the remote-state read assumes (the deploy role, as for the stack's own state).
    remote_state_assume_role: S3BackendAssumeRoleConfig | None = None
    # Which providers the stack needs: `kubernetes` (namespaces), `helm` (releases).
    enable_kubernetes_provider: bool = True
    enable_helm_provider: bool = True

    def __post_init__(self) -> None:
        if self.facts_source == "remote_state" and not (
            self.remote_state_bucket and self.remote_state_key
        ):
            raise ValueError("remote_state_bucket: remote_state facts need a bucket and a key")
        if self.facts_source == "eks_api" and (self.remote_state_bucket or self.remote_state_key):
            raise ValueError("remote_state_bucket: only used when facts_source is 'remote_state'")
        if not HTTPS_URL.match(self.oidc_issuer_url):
            raise ValueError("oidc_issuer_url: must be an https:// URL")
        if not (self.enable_kubernetes_provider or self.enable_helm_provider):
            raise ValueError("enable_kubernetes_provider: enable at least one provider")


class EksClusterAccess(Construct):
    """Outputs: `cluster_endpoint`, `cluster_certificate_authority`; configures both providers."""

    def __init__(self, scope: Construct, id: str, props: EksClusterAccessProps) -> None:
        super().__init__(scope, id)
        if props.facts_source == "eks_api":
            cluster = DataAwsEksCluster(
                self,
                "cluster",
                name=props.cluster_name,
                # The issuer in the environment file is what every IRSA trust names; a cluster
                # that reports another would make those roles unassumable, so stop at plan time.
                lifecycle=TerraformResourceLifecycle(
                    postcondition=[
                        Postcondition(
                            condition=f'${{self.identity[0].oidc[0].issuer == "{props.oidc_issuer_url}"}}',
                            error_message=(
                                f"cluster {props.cluster_name} reports another OIDC issuer than the"
                                f" environment file's {props.oidc_issuer_url}"
                            ),
                        )
                    ]
                ),
            )
            endpoint = cluster.endpoint
            certificate_authority = cluster.certificate_authority.get(0).data
        else:
            state = cluster_state(
                self,
                "cluster-state",
                bucket=props.remote_state_bucket or "",
                key=props.remote_state_key or "",
                region=props.remote_state_region or props.region,
                assume_role=props.remote_state_assume_role,
            )
            endpoint = state.get_string(props.endpoint_output)
            certificate_authority = state.get_string(props.certificate_authority_output)

        token_args = [
            "eks",
            "get-token",
            "--cluster-name",
            props.cluster_name,
            "--region",
            props.region,
        ]
        if props.token_role_arn:
            token_args += ["--role-arn", props.token_role_arn]
        ca_certificate = Fn.base64decode(certificate_authority)

        if props.enable_kubernetes_provider:
            KubernetesProvider(
                self,
                "kubernetes",
                host=endpoint,
                cluster_ca_certificate=ca_certificate,
                exec=[
                    KubernetesProviderExec(
                        api_version=EXEC_API_VERSION, command="aws", args=token_args
                    )
                ],
            )
        if props.enable_helm_provider:
            HelmProvider(
                self,
                "helm",
                kubernetes=HelmProviderKubernetes(
                    host=endpoint,
                    cluster_ca_certificate=ca_certificate,
                    exec=HelmProviderKubernetesExec(
                        api_version=EXEC_API_VERSION, command="aws", args=token_args
                    ),
                ),
            )
        self.cluster_endpoint = endpoint
        self.cluster_certificate_authority = certificate_authority


def cluster_state(
    scope: Construct,
    id: str,
    *,
    bucket: str,
    key: str,
    region: str,
    assume_role: S3BackendAssumeRoleConfig | None,
) -> DataTerraformRemoteStateS3:
    """The cluster's own Terraform state (read-only), reached like the stack's own state."""
    return DataTerraformRemoteStateS3(
        scope, id, bucket=bucket, key=key, region=region, encrypt=True, assume_role=assume_role
    )
