"""ClusterOidcProvider: the cluster's IAM OIDC provider, which every IRSA trust names.

EKS gives each cluster an OIDC issuer but does not register it in IAM; until someone creates
the provider, every `AssumeRoleWithWebIdentity` from the cluster's pods fails, after a deploy
that looked green. So the provider is either looked up by the issuer URL (the default: planning
stops, naming the issuer, when it is missing) or created here when the environment file says so.

https://docs.aws.amazon.com/eks/latest/userguide/enable-iam-roles-for-service-accounts.html
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import Postcondition, Precondition, TerraformResourceLifecycle
from cdktf_cdktf_provider_aws.data_aws_iam_openid_connect_provider import (
    DataAwsIamOpenidConnectProvider,
)
from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from constructs import Construct

from berth_constructs.irsa_service_account import STS_AUDIENCE
from berth_core.naming import issuer_host_path
from berth_core.validation import HTTPS_URL


@dataclass(frozen=True, kw_only=True)
class ClusterOidcProviderProps:
    # The cluster's OIDC issuer, `https://oidc.eks.REGION.amazonaws.com/id/ID`.
    issuer_url: str
    # Create the IAM OIDC provider; False looks up the existing one by `issuer_url`.
    create_provider: bool = False
    # The issuer the cluster itself reports (e.g. an output of its Terraform state); planning
    # stops when it is not `issuer_url`, since every IRSA trust names `issuer_url`.
    reported_issuer_url: str | None = None
    # Where `reported_issuer_url` comes from, for the error message.
    reported_by: str = "the cluster"

    def __post_init__(self) -> None:
        if not HTTPS_URL.match(self.issuer_url):
            raise ValueError(f"issuer_url: {self.issuer_url!r} is not an https:// issuer URL")

    @property
    def issuer_host_path(self) -> str:
        """The issuer without its scheme: the prefix of IRSA condition keys."""
        return issuer_host_path(self.issuer_url)


class ClusterOidcProvider(Construct):
    """Outputs: `arn` (the Federated principal of IRSA trusts), `issuer_url`, `issuer_host_path`."""

    def __init__(self, scope: Construct, id: str, props: ClusterOidcProviderProps) -> None:
        super().__init__(scope, id)
        issuer_check = []
        if props.reported_issuer_url is not None:
            issuer_check = [
                Precondition(
                    condition=(
                        f'${{trimsuffix({props.reported_issuer_url}, "/") =='
                        f' "{props.issuer_url.rstrip("/")}"}}'
                    ),
                    error_message=(
                        f"{props.reported_by} reports another OIDC issuer than the environment"
                        f" file's {props.issuer_url}; every IRSA trust names the file's issuer"
                    ),
                )
            ]
        if props.create_provider:
            # No thumbprint: IAM validates EKS's issuer certificate against its own trusted root
            # CAs; aws provider >= 5.81 makes the list optional.
            # https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html
            provider = IamOpenidConnectProvider(
                self,
                "provider",
                url=props.issuer_url,
                client_id_list=[STS_AUDIENCE],
                lifecycle=TerraformResourceLifecycle(precondition=issuer_check or None),
            )
            self.arn: str = provider.arn
        else:
            found = DataAwsIamOpenidConnectProvider(
                self,
                "provider",
                url=props.issuer_url,
                lifecycle=TerraformResourceLifecycle(
                    precondition=issuer_check or None,
                    # IRSA tokens carry `aud = sts.amazonaws.com`; a provider without that
                    # client id rejects every one of them.
                    postcondition=[
                        Postcondition(
                            condition=f'${{contains(self.client_id_list, "{STS_AUDIENCE}")}}',
                            error_message=(
                                f"the IAM OIDC provider of {props.issuer_url} does not list the"
                                f" client id {STS_AUDIENCE}, so IRSA tokens are refused"
                            ),
                        )
                    ],
                ),
            )
            self.arn = found.arn
        self.issuer_url: str = props.issuer_url
        self.issuer_host_path: str = props.issuer_host_path
