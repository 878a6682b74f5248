"""EcrRegistry: a private ECR repository that only CI pushes to and named principals pull from.

Immutable tags (a tag always names the image that was scanned and deployed), scan on push,
encryption with a customer-managed KMS key, a lifecycle policy that expires untagged images and
keeps the last N tagged ones, and a repository policy without `Principal "*"` or admin actions.

Optionally an IAM role for the ECR credential refresher (`charts/ecr-credential-refresher`) on a
cluster outside AWS, trusted through that cluster's OIDC issuer (IRSA-style web identity): no IAM
user and no access keys are created, since Terraform would keep the secret key in its state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cdktf import Token
from cdktf_cdktf_provider_aws.ecr_lifecycle_policy import EcrLifecyclePolicy
from cdktf_cdktf_provider_aws.ecr_repository import (
    EcrRepository,
    EcrRepositoryEncryptionConfiguration,
    EcrRepositoryImageScanningConfiguration,
)
from cdktf_cdktf_provider_aws.ecr_repository_policy import EcrRepositoryPolicy
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from berth_constructs.container_image import ContainerImage
from berth_constructs.irsa_service_account import IrsaServiceAccount, IrsaServiceAccountProps
from berth_constructs.kms import kms_alias_name
from berth_constructs.policies import Statement, policy_document
from berth_core.validation import (
    ROLE_OR_ROOT_ARN,
    ecr_repository_name_problem,
    retention_days_problem,
)

# Reading an image: manifest, layer URLs, layer existence.
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-policy-examples.html
PULL_ACTIONS = (
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
)
# Writing an image: layer upload and the manifest. Deliberately no admin actions
# (DeleteRepository, SetRepositoryPolicy, BatchDeleteImage, ...): those stay with Terraform.
PUSH_ACTIONS = (
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
)


def registry_access_statements(
    pull_repository_arns: Sequence[str], push_repository_arns: Sequence[str] = ()
) -> list[Statement]:
    """What a docker client of this account's ECR needs: a login, then pull (and push) rights.

    AWS cannot scope GetAuthorizationToken to a repository: it returns a registry-wide login,
    and the pull/push grants (and the repositories' policies) decide what it can read or write.
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/security_iam_id-based-policy-examples.html
    """
    pull = list(dict.fromkeys([*pull_repository_arns, *push_repository_arns]))
    return [
        Statement(
            sid="GetAuthorizationToken", actions=["ecr:GetAuthorizationToken"], resources=["*"]
        ),
        Statement(sid="PullImages", actions=PULL_ACTIONS, resources=pull),
        Statement(
            sid="PushImages",
            actions=PUSH_ACTIONS if push_repository_arns else (),
            resources=list(push_repository_arns),
        ),
    ]


def _check_principals(field: str, principals: Sequence[str]) -> None:
    for principal in principals:
        if Token.is_unresolved(principal):
            continue  # an ARN from another resource of the stack: known to be an ARN
        if not ROLE_OR_ROOT_ARN.match(principal):
            raise ValueError(
                f"{field}: {principal!r} is not an IAM role or account-root ARN;"
                " public or wildcard access is not offered"
            )


@dataclass(frozen=True, kw_only=True)
class RefresherTrust:
    """Who may assume the refresher's role: one ServiceAccount of a cluster's OIDC issuer."""

    # ARN of the IAM OIDC provider registered for the cluster's service-account token issuer.
    oidc_provider_arn: str
    # IAM role name of the refresher, e.g. `<name_prefix>-ecr-refresher`.
    role_name: str
    # Namespace the refresher chart is installed in.
    namespace: str = "ecr-credential-refresher"
    # ServiceAccount the refresher chart creates (its `serviceAccount.name`).
    service_account_name: str = "ecr-credential-refresher"
    # The issuer URL; required when `oidc_provider_arn` is a reference (a looked-up or created
    # provider), derived from a literal ARN otherwise.
    oidc_issuer_url: str | None = None

    def __post_init__(self) -> None:
        # The IRSA construct owns the rules for these fields; reuse its validation.
        self.irsa_props()

    def irsa_props(self) -> IrsaServiceAccountProps:
        """The role half of an IRSA pair; the chart creates the ServiceAccount in its cluster."""
        return IrsaServiceAccountProps(
            namespace=self.namespace,
            name=self.service_account_name,
            role_name=self.role_name,
            oidc_provider_arn=self.oidc_provider_arn,
            oidc_issuer_url=self.oidc_issuer_url,
            create_service_account=False,
        )


@dataclass(frozen=True, kw_only=True)
class EcrRegistryProps:
    # Repository name, e.g. `berth/s3proxy`.
    repository_name: str
    # Principals (CI roles) allowed to push images; the only writers.
    push_principals: Sequence[str]
    # Principals (roles, account roots) allowed to pull images; pushers may always pull.
    pull_principals: Sequence[str] = ()
    # Untagged images (superseded builds, failed pushes) expire this many days after push.
    untagged_image_expiry_days: int = 7
    # Tagged images beyond the newest N are expired.
    tagged_images_to_keep: int = 50
    # Encrypt with this KMS key; None creates a dedicated key with rotation on.
    kms_key_arn: str | None = None
    # An IAM role for the credential refresher on a cluster outside AWS; None creates none.
    refresher: RefresherTrust | None = None
    # Let a pushed tag be overwritten (breaks "a tag names one scanned image"); avoid.
    allow_mutable_tags: bool = False
    # Let `terraform destroy` delete a repository that still holds images (emulator/tests only).
    allow_force_delete: bool = False

    def __post_init__(self) -> None:
        problem = ecr_repository_name_problem(self.repository_name)
        if problem:
            raise ValueError(f"repository_name: {problem}")
        if not self.push_principals:
            raise ValueError("push_principals: at least one pusher (the CI role) is required")
        _check_principals("push_principals", self.push_principals)
        _check_principals("pull_principals", self.pull_principals)
        problem = retention_days_problem(self.untagged_image_expiry_days)
        if problem:
            raise ValueError(f"untagged_image_expiry_days: {problem}")
        if not 1 <= self.tagged_images_to_keep <= 10000:
            raise ValueError("tagged_images_to_keep: must be between 1 and 10000")


def lifecycle_policy(props: EcrRegistryProps) -> dict[str, Any]:
    """The ECR lifecycle policy: expire untagged images after N days, keep the last N tagged.

    https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html
    """
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire untagged images {props.untagged_image_expiry_days} days"
                " after push",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": props.untagged_image_expiry_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the newest {props.tagged_images_to_keep} tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": props.tagged_images_to_keep,
                },
                "action": {"type": "expire"},
            },
        ]
    }


class EcrRegistry(Construct):
    """Outputs: `repository_url`, `repository_arn`, `repository_name`, `registry_id`,
    `kms_key_arn`, `refresher_role_arn` (None without `refresher`)."""

    def __init__(self, scope: Construct, id: str, props: EcrRegistryProps) -> None:
        super().__init__(scope, id)

        if props.kms_key_arn is None:
            key = KmsKey(
                self,
                "kms-key",
                description=f"Encrypts the ECR repository {props.repository_name}",
                enable_key_rotation=True,
                deletion_window_in_days=30,
            )
            KmsAlias(
                self,
                "kms-alias",
                name=kms_alias_name(f"ecr/{props.repository_name}"),
                target_key_id=key.key_id,
            )
            kms_key_arn = key.arn
        else:
            kms_key_arn = props.kms_key_arn

        repository = EcrRepository(
            self,
            "repository",
            name=props.repository_name,
            image_tag_mutability="MUTABLE" if props.allow_mutable_tags else "IMMUTABLE",
            image_scanning_configuration=EcrRepositoryImageScanningConfiguration(scan_on_push=True),
            # A typed struct: a plain dict in this list is dropped silently by cdktf.
            encryption_configuration=[
                EcrRepositoryEncryptionConfiguration(encryption_type="KMS", kms_key=kms_key_arn)
            ],
            force_delete=props.allow_force_delete,
        )

        # The one JSON string in our constructs: AWS defines the lifecycle policy as a JSON
        # document of its own grammar (not IAM), and the provider has no data source that
        # builds it, so it is built from a dict here. IAM policies never are.
        EcrLifecyclePolicy(
            self,
            "lifecycle-policy",
            repository=repository.name,
            policy=json.dumps(lifecycle_policy(props), sort_keys=True),
        )

        document = policy_document(
            self,
            "policy-document",
            [
                # https://docs.aws.amazon.com/AmazonECR/latest/userguide/repository-policy-examples.html
                Statement(
                    sid="PullImages",
                    actions=PULL_ACTIONS,
                    principals={
                        "AWS": list(dict.fromkeys([*props.pull_principals, *props.push_principals]))
                    },
                ),
                Statement(
                    sid="PushImages",
                    actions=(*PUSH_ACTIONS, *PULL_ACTIONS),
                    principals={"AWS": list(props.push_principals)},
                ),
            ],
        )
        EcrRepositoryPolicy(self, "policy", repository=repository.name, policy=document.json)

        self.repository_url: str = repository.repository_url
        self.repository_arn: str = repository.arn
        self.repository_name: str = repository.name
        self.registry_id: str = repository.registry_id
        self.kms_key_arn: str = kms_key_arn
        self.refresher_role_arn: str | None = None
        if props.refresher is not None:
            self.refresher_role_arn = self._refresher_role(props.refresher, repository.arn)

    def image(self, *, tag: str = "", digest: str = "") -> ContainerImage:
        """An image of this repository, pinned by `tag` or `digest`."""
        return ContainerImage(repository=self.repository_url, tag=tag, digest=digest)

    def _refresher_role(self, trust: RefresherTrust, repository_arn: str) -> str:
        refresher = IrsaServiceAccount(self, "refresher", trust.irsa_props())
        for statement in registry_access_statements([repository_arn]):
            if not statement.is_empty:
                refresher.grant(statement)
        return refresher.role_arn
