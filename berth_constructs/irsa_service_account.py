"""IrsaServiceAccount: an IAM role that exactly one Kubernetes ServiceAccount may assume (IRSA).

The role's trust policy and the ServiceAccount are built from the same `(namespace, name)` pair,
so the `:sub` condition and the account that pods run as cannot drift apart. Permissions are
added with `grant(statement)` and land in ONE inline policy; a role without grants has none.

https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktf import ITerraformDependable, Token
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_kubernetes.service_account_v1 import (
    ServiceAccountV1,
    ServiceAccountV1Metadata,
)
from constructs import Construct

from berth_constructs.policies import Condition, Statement, policy_document
from berth_core.naming import issuer_host_path
from berth_core.validation import DNS_LABEL, DNS_SUBDOMAIN, IAM_NAME, OIDC_PROVIDER_ARN

# The audience EKS's pod identity webhook requests for IRSA tokens.
STS_AUDIENCE = "sts.amazonaws.com"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"


@dataclass(frozen=True, kw_only=True)
class IrsaServiceAccountProps:
    # Kubernetes namespace of the ServiceAccount (and of the trust condition).
    namespace: str
    # Kubernetes ServiceAccount name (and of the trust condition).
    name: str
    # IAM role name (at most 64 characters), e.g. `<name_prefix>-otel-agent`.
    role_name: str
    # ARN of the cluster's IAM OIDC provider (e.g. `ClusterOidcProvider.arn`).
    oidc_provider_arn: str
    # The provider's issuer URL; its host and path prefix the trust condition keys. Required
    # when `oidc_provider_arn` is a reference; derived from a literal ARN otherwise.
    oidc_issuer_url: str | None = None
    # Create the ServiceAccount here; False when a Helm chart creates it (pass it `name`).
    create_service_account: bool = True
    # Mount a Kubernetes API token into pods (IRSA does not need one; only API clients do).
    enable_service_account_token_automount: bool = False
    # Extra annotations of the ServiceAccount (the role ARN annotation is always set).
    service_account_annotations: dict[str, str] | None = None
    # Permissions boundary ARN for the role, when the account requires one.
    permissions_boundary_arn: str | None = None

    def __post_init__(self) -> None:
        if not DNS_LABEL.match(self.namespace):
            raise ValueError(f"namespace: {self.namespace!r} is not a Kubernetes namespace name")
        if not DNS_SUBDOMAIN.match(self.name):
            raise ValueError(f"name: {self.name!r} is not a Kubernetes ServiceAccount name")
        if not IAM_NAME.match(self.role_name):
            raise ValueError(
                f"role_name: {self.role_name!r} is not an IAM role name (1-64 of [\\w+=,.@-])"
            )
        self._check_oidc_provider()
        if ROLE_ARN_ANNOTATION in (self.service_account_annotations or {}):
            raise ValueError(
                f"service_account_annotations: {ROLE_ARN_ANNOTATION} is set by the construct"
            )

    def _check_oidc_provider(self) -> None:
        if self.oidc_issuer_url is not None and not self.oidc_issuer_url.startswith("https://"):
            raise ValueError(f"oidc_issuer_url: {self.oidc_issuer_url!r} is not an https:// URL")
        if Token.is_unresolved(self.oidc_provider_arn):
            if self.oidc_issuer_url is None:
                raise ValueError("oidc_issuer_url: required when oidc_provider_arn is a reference")
            return
        match = OIDC_PROVIDER_ARN.match(self.oidc_provider_arn)
        if match is None:
            raise ValueError(
                f"oidc_provider_arn: {self.oidc_provider_arn!r} is not an IAM OIDC provider ARN"
                " (arn:aws:iam::ACCOUNT:oidc-provider/ISSUER)"
            )
        if self.oidc_issuer_url is not None and match.group("issuer") != self.oidc_issuer:
            raise ValueError(
                f"oidc_issuer_url: {self.oidc_issuer_url!r} is not the issuer of"
                f" {self.oidc_provider_arn!r}"
            )

    @property
    def oidc_issuer(self) -> str:
        """Issuer host and path (no scheme): the prefix of the `:sub` and `:aud` condition keys."""
        if self.oidc_issuer_url is not None:
            return issuer_host_path(self.oidc_issuer_url)
        match = OIDC_PROVIDER_ARN.match(self.oidc_provider_arn)
        assert match is not None  # checked in __post_init__
        return match.group("issuer")

    @property
    def subject(self) -> str:
        """The token subject Kubernetes issues for this ServiceAccount."""
        return f"system:serviceaccount:{self.namespace}:{self.name}"


class IrsaServiceAccount(Construct):
    """Outputs: `role_arn`, `role_name`, `service_account_name`, `service_account_namespace`."""

    def __init__(self, scope: Construct, id: str, props: IrsaServiceAccountProps) -> None:
        super().__init__(scope, id)
        self._props = props
        self._statements: list[Statement] = []
        self._policy: IamRolePolicy | None = None
        self._service_account: ServiceAccountV1 | None = None

        trust = policy_document(
            self,
            "trust-document",
            [
                # Only tokens for this one ServiceAccount, minted for STS, may assume the role;
                # without the :sub condition every pod in the cluster could.
                # https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html
                Statement(
                    sid="AssumeFromServiceAccount",
                    actions=["sts:AssumeRoleWithWebIdentity"],
                    principals={"Federated": [props.oidc_provider_arn]},
                    conditions=[
                        Condition("StringEquals", f"{props.oidc_issuer}:sub", [props.subject]),
                        Condition("StringEquals", f"{props.oidc_issuer}:aud", [STS_AUDIENCE]),
                    ],
                )
            ],
        )
        self._role = IamRole(
            self,
            "role",
            name=props.role_name,
            description=f"IRSA role of the ServiceAccount {props.namespace}/{props.name}",
            assume_role_policy=trust.json,
            permissions_boundary=props.permissions_boundary_arn,
        )

        if props.create_service_account:
            self._service_account = ServiceAccountV1(
                self,
                "service-account",
                metadata=ServiceAccountV1Metadata(
                    name=props.name,
                    namespace=props.namespace,
                    annotations={
                        **(props.service_account_annotations or {}),
                        ROLE_ARN_ANNOTATION: self._role.arn,
                    },
                ),
                automount_service_account_token=props.enable_service_account_token_automount,
            )

        self.role_arn: str = self._role.arn
        self.role_name: str = self._role.name
        # Plain strings, not tokens: a chart that creates the account itself needs the name.
        self.service_account_name: str = props.name
        self.service_account_namespace: str = props.namespace

    @property
    def statements(self) -> Sequence[Statement]:
        """The statements granted so far, in order."""
        return tuple(self._statements)

    def grant(self, statement: Statement) -> None:
        """Add `statement` to the role's one inline policy (rebuilt with every statement so far)."""
        if statement.is_empty:
            raise ValueError(f"grant: statement {statement.sid!r} has no actions")
        if statement.principals:
            raise ValueError(
                f"grant: statement {statement.sid!r} names principals; identity policies cannot"
            )
        if any(existing.sid == statement.sid for existing in self._statements):
            # IAM rejects a policy whose statements share a Sid.
            raise ValueError(f"grant: a statement with sid {statement.sid!r} was already granted")
        self._statements.append(statement)
        # Rebuild the document and the inline policy so both always hold every grant; a role
        # with no grants never gets an (invalid) empty policy.
        self.node.try_remove_child("policy")
        self.node.try_remove_child("policy-document")
        document = policy_document(self, "policy-document", self._statements)
        self._policy = IamRolePolicy(
            self, "policy", role=self._role.id, name="grants", policy=document.json
        )

    def dependables(self) -> list[ITerraformDependable]:
        """What a workload's release should `depends_on`: role, grants so far, ServiceAccount."""
        found: list[ITerraformDependable] = [self._role]
        if self._policy is not None:
            found.append(self._policy)
        if self._service_account is not None:
            found.append(self._service_account)
        return found
