"""CiIdentities: the CI system's roles, assumed through its OIDC provider instead of IAM user keys.

Two roles, each trusted by ONE repository and ONE branch or GitHub environment (`sub` matched
with StringEquals, `aud` checked), each allowed one job and nothing else:

- the chart publisher writes charts to the Helm repository bucket (objects, listing, its KMS key);
- the deployer deploys ONE environment: it may assume that environment's deploy role (the role
  the AWS provider assumes) and read/write that environment's Terraform state and lock objects.

Optionally creates the account's OIDC provider for the issuer (one per issuer per account).

https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cdktf import Token
from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from berth_constructs.policies import Condition, Statement, policy_document

GITHUB_ACTIONS_ISSUER = "token.actions.githubusercontent.com"
# The audience aws-actions/configure-aws-credentials requests by default.
STS_AUDIENCE = "sts.amazonaws.com"
PUBLISHER_ROLE_SUFFIX = "-chart-publisher"
DEPLOYER_ROLE_SUFFIX = "-deployer"

# GitHub: owner 1-39 of [A-Za-z0-9-] (no leading dash), repository 1-100 of [A-Za-z0-9._-].
_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
# The subject forms of GitHub's default `sub` claim that name a protected thing: a branch, a tag
# or a deployment environment. `pull_request` is left out on purpose: any PR branch matches it.
_SUBJECT = re.compile(r"^(ref:refs/heads/|ref:refs/tags/|environment:)[^\s]+$")
_WILDCARD = re.compile(r"[*?]")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_OIDC_PROVIDER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/(?P<issuer>[^\s*?]+)$")
_BUCKET_ARN = re.compile(r"^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_OBJECT_ARN = re.compile(r"^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\s*?]+$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_PARTITION = re.compile(r"^aws(-cn|-us-gov)?$")
_NAME_PREFIX = re.compile(r"^[\w+=,.@-]{1,48}$")
_ISSUER = re.compile(r"^[a-z0-9.-]+(/[\w.-]+)*$")


@dataclass(frozen=True, kw_only=True)
class CiIdentitiesProps:
    # GitHub repository "owner/name" whose workflows may assume the roles (no wildcards).
    repository: str
    # Environment the deployer deploys (e.g. "uat"); names the default deploy subject.
    environment_name: str
    # Role names are `<name_prefix>-chart-publisher` and `<name_prefix>-deployer`.
    name_prefix: str
    # Region of the Helm repository and state buckets: the kms:ViaService condition names it.
    region: str
    # ARN of the Helm chart repository bucket (a token from HelmRepoBucket is fine).
    helm_repo_bucket_arn: str
    # ARN of the KMS key encrypting that bucket (a token from HelmRepoBucket is fine).
    helm_repo_kms_key_arn: str
    # The environment's deploy role (assumed by the AWS provider); the deployer may assume only it.
    deploy_role_arn: str
    # Bucket holding this environment's Terraform state.
    state_bucket: str
    # Key of this environment's state object, e.g. `berth/uat.tfstate`; its lock is `<key>.tflock`.
    state_key: str
    # KMS key ARN of the state bucket when it is SSE-KMS with a customer-managed key; else None.
    state_kms_key_arn: str | None = None
    # Region of the state bucket when it differs from `region`.
    state_region: str | None = None
    # Other Terraform states the deploy reads with the deployer's own credentials (the EKS
    # cluster's `terraform_remote_state`), as S3 object ARNs: read-only, whole keys only.
    readable_state_object_arns: Sequence[str] = ()
    # Token subject (after `repo:OWNER/REPO:`) allowed to publish charts.
    publisher_subject: str = "ref:refs/heads/main"
    # Token subject allowed to deploy; None means `environment:<environment_name>`.
    deploy_subject: str | None = None
    # Create the account's IAM OIDC provider for the issuer; else pass `oidc_provider_arn`.
    create_oidc_provider: bool = False
    # ARN of an existing IAM OIDC provider for the issuer (when `create_oidc_provider` is False).
    oidc_provider_arn: str | None = None
    # Issuer host (and path), no scheme; GitHub Enterprise with a custom issuer changes it.
    oidc_issuer: str = GITHUB_ACTIONS_ISSUER
    # Audience (`aud`) the tokens must carry.
    audience: str = STS_AUDIENCE
    # Let subjects contain `*`/`?` (matched with StringLike): any matching branch gets the role.
    allow_wildcard_subjects: bool = False
    # Also grant sts:TagSession on the deploy role (when the AWS provider passes session tags).
    enable_deploy_session_tags: bool = False
    # Partition of the state bucket ARN.
    partition: str = "aws"
    # Permissions boundary ARN for both roles, when the account requires one.
    permissions_boundary_arn: str | None = None

    def __post_init__(self) -> None:
        if not _REPOSITORY.match(self.repository) or self.repository.endswith(("/.", "/..")):
            raise ValueError(
                f"repository: {self.repository!r} is not a GitHub repository 'owner/name'"
                " (no wildcards)"
            )
        if not re.match(r"^[\w.-]{1,255}$", self.environment_name):
            raise ValueError(
                f"environment_name: {self.environment_name!r} is not an environment name"
            )
        if not _NAME_PREFIX.match(self.name_prefix):
            raise ValueError(
                f"name_prefix: {self.name_prefix!r} must be 1-48 of [\\w+=,.@-] (role names)"
            )
        for field, value in (("region", self.region), ("state_region", self.state_region)):
            if value is not None and not _REGION.match(value):
                raise ValueError(f"{field}: {value!r} is not an AWS region")
        if not _PARTITION.match(self.partition):
            raise ValueError(f"partition: {self.partition!r} is not an AWS partition")
        if not _ISSUER.match(self.oidc_issuer):
            raise ValueError(
                f"oidc_issuer: {self.oidc_issuer!r} must be a host[/path] without scheme"
            )
        if not self.audience or _WILDCARD.search(self.audience):
            raise ValueError(f"audience: {self.audience!r} must be a fixed, non-empty audience")
        self._check_subject("publisher_subject", self.publisher_subject)
        self._check_subject("deploy_subject", self.effective_deploy_subject)
        self._check_resources()
        self._check_oidc_provider()

    def _check_resources(self) -> None:
        """The ARNs and names the policies grant on: exact, never wildcards."""
        _check_arn(
            "helm_repo_bucket_arn", self.helm_repo_bucket_arn, _BUCKET_ARN, "an S3 bucket ARN"
        )
        _check_arn(
            "helm_repo_kms_key_arn", self.helm_repo_kms_key_arn, _KMS_KEY_ARN, "a KMS key ARN"
        )
        _check_arn("deploy_role_arn", self.deploy_role_arn, _ROLE_ARN, "an IAM role ARN")
        if self.state_kms_key_arn is not None:
            _check_arn("state_kms_key_arn", self.state_kms_key_arn, _KMS_KEY_ARN, "a KMS key ARN")
        if (
            self.permissions_boundary_arn is not None
            and not self.permissions_boundary_arn.startswith("arn:")
        ):
            raise ValueError(
                f"permissions_boundary_arn: {self.permissions_boundary_arn!r} is not an ARN"
            )
        for arn in self.readable_state_object_arns:
            if not _OBJECT_ARN.match(arn):
                raise ValueError(
                    f"readable_state_object_arns: {arn!r} is not an S3 object ARN (no wildcards)"
                )
        if not _BUCKET_NAME.match(self.state_bucket):
            raise ValueError(f"state_bucket: {self.state_bucket!r} is not an S3 bucket name")
        if not self.state_key or self.state_key.startswith("/") or _WILDCARD.search(self.state_key):
            raise ValueError(f"state_key: {self.state_key!r} must be one object key (no wildcards)")

    def _check_subject(self, field: str, subject: str) -> None:
        if not _SUBJECT.match(subject):
            raise ValueError(
                f"{field}: {subject!r} must be 'ref:refs/heads/BRANCH', 'ref:refs/tags/TAG'"
                " or 'environment:NAME'"
            )
        if _WILDCARD.search(subject) and not self.allow_wildcard_subjects:
            raise ValueError(
                f"{field}: {subject!r} has a wildcard; every matching ref could assume the role"
                " (set allow_wildcard_subjects=True to accept that)"
            )

    def _check_oidc_provider(self) -> None:
        if self.create_oidc_provider:
            if self.oidc_provider_arn is not None:
                raise ValueError(
                    "oidc_provider_arn: leave it unset when create_oidc_provider is True"
                )
            return
        if self.oidc_provider_arn is None:
            raise ValueError("oidc_provider_arn: required unless create_oidc_provider is True")
        if Token.is_unresolved(self.oidc_provider_arn):
            return
        match = _OIDC_PROVIDER_ARN.match(self.oidc_provider_arn)
        if match is None or match.group("issuer") != self.oidc_issuer:
            raise ValueError(
                f"oidc_provider_arn: {self.oidc_provider_arn!r} is not the IAM OIDC provider of"
                f" {self.oidc_issuer} (arn:aws:iam::ACCOUNT:oidc-provider/{self.oidc_issuer})"
            )

    @property
    def effective_deploy_subject(self) -> str:
        return self.deploy_subject or f"environment:{self.environment_name}"

    @property
    def publisher_role_name(self) -> str:
        return f"{self.name_prefix}{PUBLISHER_ROLE_SUFFIX}"

    @property
    def deployer_role_name(self) -> str:
        return f"{self.name_prefix}{DEPLOYER_ROLE_SUFFIX}"


def _check_arn(field: str, value: str, pattern: re.Pattern[str], kind: str) -> None:
    """Literal ARNs must match `pattern`; tokens (resolved at apply) are taken as given."""
    if Token.is_unresolved(value):
        return
    if not pattern.match(value):
        raise ValueError(f"{field}: {value!r} is not {kind}")


class CiIdentities(Construct):
    """Outputs: `publisher_role_arn`, `publisher_role_name`, `deployer_role_arn`,
    `deployer_role_name`, `oidc_provider_arn`."""

    def __init__(self, scope: Construct, id: str, props: CiIdentitiesProps) -> None:
        super().__init__(scope, id)
        self._props = props

        if props.create_oidc_provider:
            # No thumbprint: AWS validates GitHub's (and other major IdPs') certificates against
            # its own library of trusted root CAs; aws provider >= 5.81 makes the list optional.
            # https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html
            provider = IamOpenidConnectProvider(
                self,
                "oidc-provider",
                url=f"https://{props.oidc_issuer}",
                client_id_list=[props.audience],
            )
            provider_arn = provider.arn
        else:
            assert props.oidc_provider_arn is not None  # checked in __post_init__
            provider_arn = props.oidc_provider_arn

        publisher = self._role(
            "publisher",
            name=props.publisher_role_name,
            description=f"CI ({props.repository}) publishes Helm charts to the chart repository",
            provider_arn=provider_arn,
            subject=props.publisher_subject,
            statements=self._publisher_statements(),
        )
        deployer = self._role(
            "deployer",
            name=props.deployer_role_name,
            description=f"CI ({props.repository}) deploys the {props.environment_name} environment",
            provider_arn=provider_arn,
            subject=props.effective_deploy_subject,
            statements=self._deployer_statements(),
        )

        self.publisher_role_arn: str = publisher.arn
        self.publisher_role_name: str = publisher.name
        self.deployer_role_arn: str = deployer.arn
        self.deployer_role_name: str = deployer.name
        self.oidc_provider_arn: str = provider_arn

    def _role(
        self,
        id_prefix: str,
        *,
        name: str,
        description: str,
        provider_arn: str,
        subject: str,
        statements: list[Statement],
    ) -> IamRole:
        """A role only `repo:<repository>:<subject>` tokens for our audience may assume."""
        props = self._props
        issuer = props.oidc_issuer
        # A wildcard is matched only with StringLike, and only when the flag allowed it.
        subject_test = "StringLike" if _WILDCARD.search(subject) else "StringEquals"
        trust = policy_document(
            self,
            f"{id_prefix}-trust-document",
            [
                # Without the :sub condition every repository on GitHub could assume the role;
                # without :aud, tokens minted for other relying parties would do.
                # https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services#configuring-the-role-and-trust-policy
                Statement(
                    sid="AssumeFromCiWorkflow",
                    actions=["sts:AssumeRoleWithWebIdentity"],
                    principals={"Federated": [provider_arn]},
                    conditions=[
                        Condition(
                            subject_test, f"{issuer}:sub", [f"repo:{props.repository}:{subject}"]
                        ),
                        Condition("StringEquals", f"{issuer}:aud", [props.audience]),
                    ],
                )
            ],
        )
        role = IamRole(
            self,
            f"{id_prefix}-role",
            name=name,
            description=description,
            assume_role_policy=trust.json,
            permissions_boundary=props.permissions_boundary_arn,
        )
        document = policy_document(self, f"{id_prefix}-policy-document", statements)
        IamRolePolicy(
            self, f"{id_prefix}-policy", role=role.id, name=id_prefix, policy=document.json
        )
        return role

    def _publisher_statements(self) -> list[Statement]:
        props = self._props
        bucket = props.helm_repo_bucket_arn
        return [
            Statement(
                sid="PublishCharts",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[f"{bucket}/*"],
            ),
            Statement(sid="ListCharts", actions=["s3:ListBucket"], resources=[bucket]),
            # SSE-KMS: writing needs GenerateDataKey, reading Decrypt; only through S3.
            # https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms
            # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
            _kms_via_s3("UseChartKey", props.helm_repo_kms_key_arn, props.region),
        ]

    def _deployer_statements(self) -> list[Statement]:
        props = self._props
        bucket = f"arn:{props.partition}:s3:::{props.state_bucket}"
        state = f"{bucket}/{props.state_key}"
        lock = f"{state}.tflock"
        assume_actions = ["sts:AssumeRole"]
        if props.enable_deploy_session_tags:
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_permissions-required
            assume_actions.append("sts:TagSession")
        statements = [
            # The AWS provider assumes the environment's deploy role (its `assume_role` block);
            # every change to the environment goes through that one role.
            Statement(
                sid="AssumeDeployRole", actions=assume_actions, resources=[props.deploy_role_arn]
            ),
            # The S3 backend's permissions for one state object with lock files:
            # https://developer.hashicorp.com/terraform/language/backend/s3#permissions-required
            Statement(
                sid="ListStateKey",
                actions=["s3:ListBucket"],
                resources=[bucket],
                conditions=[Condition("StringEquals", "s3:prefix", [props.state_key])],
            ),
            Statement(
                sid="ReadWriteState", actions=["s3:GetObject", "s3:PutObject"], resources=[state]
            ),
            # Releasing the lock deletes the `.tflock` object; the state itself is never deleted.
            Statement(
                sid="LockState",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[lock],
            ),
        ]
        if props.readable_state_object_arns:
            # `terraform_remote_state` data sources read with these credentials, not the deploy
            # role's. (Only when given: a statement without resources must never be emitted.)
            statements.append(
                Statement(
                    sid="ReadOtherStates",
                    actions=["s3:GetObject"],
                    resources=list(props.readable_state_object_arns),
                )
            )
        if props.state_kms_key_arn is not None:
            region = props.state_region or props.region
            statements.append(_kms_via_s3("UseStateKey", props.state_kms_key_arn, region))
        return statements


def _kms_via_s3(sid: str, key_arn: str, region: str) -> Statement:
    """Use of one KMS key, only in requests S3 makes on the role's behalf in `region`."""
    return Statement(
        sid=sid,
        actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
        resources=[key_arn],
        conditions=[Condition("StringEquals", "kms:ViaService", [f"s3.{region}.amazonaws.com"])],
    )
