"""CiIdentities: the CI system's roles, assumed through its OIDC provider instead of IAM user keys.

Each role is trusted by ONE repository and ONE branch or GitHub environment (`sub` matched with
StringEquals, `aud` checked) and allowed one job and nothing else:

- the chart publisher (optional: only where the environment has a repository of its own) writes
  charts to the Helm repository bucket (objects, listing, its KMS key), granted with
  `grant_chart_publish`;
- the image publisher (optional) pushes images to the environment's ECR repositories, granted
  with `grant_image_push`;
- the deployer (optional: only where the environment has a deploy role) may only assume that
  deploy role. Terraform's provider and its S3 backend assume the deploy role themselves, so
  state access, like every change, goes through that one role. (The account stack lets it, and
  a publisher that promotes from a central repository, read charts: `ChartReaderPolicy`.)

Optionally creates the account's OIDC provider for the issuer (one per issuer per account).

https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cdktf import Token
from cdktf_cdktf_provider_aws.data_aws_iam_openid_connect_provider import (
    DataAwsIamOpenidConnectProvider,
)
from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from berth_constructs.policies import (
    Condition,
    Statement,
    kms_via_s3,
    listing_below,
    policy_document,
)
from berth_core.naming import CI_ROLE_SUFFIXES, ci_role_names
from berth_core.validation import (
    BUCKET_ARN,
    GITHUB_REPOSITORY,
    IAM_NAME,
    KMS_KEY_ARN,
    OIDC_PROVIDER_ARN,
    REGION,
    ROLE_ARN,
    Rule,
    key_prefix_problem,
)

GITHUB_ACTIONS_ISSUER = "token.actions.githubusercontent.com"
# The audience aws-actions/configure-aws-credentials requests by default.
STS_AUDIENCE = "sts.amazonaws.com"

# Pushing an image: the registry login, then layer upload and the manifest (and the reads a
# push makes). No admin actions: repositories and their policies stay with Terraform.
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-push-iam.html
IMAGE_PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)

# The subject forms of GitHub's default `sub` claim that name a protected thing: a branch, a tag
# or a deployment environment. `pull_request` is left out on purpose: any PR branch matches it.
_SUBJECT = re.compile(r"^(ref:refs/heads/|ref:refs/tags/|environment:)[^\s]+$")
_WILDCARD = re.compile(r"[*?]")
# The longest name prefix whose role names are all IAM names (64 characters at most).
_MAX_NAME_PREFIX = 64 - max(len(suffix) for suffix in CI_ROLE_SUFFIXES)
_ISSUER = re.compile(r"^[a-z0-9.-]+(/[\w.-]+)*$")


@dataclass(frozen=True, kw_only=True)
class CiIdentitiesProps:
    # GitHub repository "owner/name" whose workflows may assume the roles (no wildcards).
    repository: str
    # Environment the deployer deploys (e.g. "uat"); names the default deploy subject.
    environment_name: str
    # Role names are `<name_prefix>-chart-publisher`, `-image-publisher` and `-deployer`.
    name_prefix: str
    # Region of the Helm repository bucket: the kms:ViaService condition names it.
    region: str
    # The environment's deploy role (assumed by the AWS provider and the state backend); the
    # deployer may assume only it. None: no deployer (an environment without a deploy role).
    deploy_role_arn: str | None = None
    # Create the chart publisher; its bucket comes with `grant_chart_publish`.
    create_chart_publisher: bool = True
    # Create the image publisher; its repositories come with `grant_image_push`.
    create_image_publisher: bool = False
    # Token subject (after `repo:OWNER/REPO:`) allowed to publish charts and push images.
    publisher_subject: str = "ref:refs/heads/main"
    # Token subject allowed to deploy; None means `environment:<environment_name>`.
    deploy_subject: str | None = None
    # Create the account's IAM OIDC provider for the issuer; else pass `oidc_provider_arn`,
    # which is looked up (planning stops when it does not exist).
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
    # Permissions boundary ARN for every role, when the account requires one.
    permissions_boundary_arn: str | None = None

    def __post_init__(self) -> None:
        if not GITHUB_REPOSITORY.match(self.repository) or self.repository.endswith(("/.", "/..")):
            raise ValueError(
                f"repository: {self.repository!r} is not a GitHub repository 'owner/name'"
                " (no wildcards)"
            )
        if not re.match(r"^[\w.-]{1,255}$", self.environment_name):
            raise ValueError(
                f"environment_name: {self.environment_name!r} is not an environment name"
            )
        roles = ci_role_names(self.name_prefix)
        if not all(
            IAM_NAME.match(name)
            for name in (roles.chart_publisher, roles.image_publisher, roles.deployer)
        ):
            raise ValueError(
                f"name_prefix: {self.name_prefix!r} must be 1-{_MAX_NAME_PREFIX} of [\\w+=,.@-]"
                " (role names)"
            )
        if not REGION.match(self.region):
            raise ValueError(f"region: {self.region!r} is not an AWS region")
        if not _ISSUER.match(self.oidc_issuer):
            raise ValueError(
                f"oidc_issuer: {self.oidc_issuer!r} must be a host[/path] without scheme"
            )
        if not self.audience or _WILDCARD.search(self.audience):
            raise ValueError(f"audience: {self.audience!r} must be a fixed, non-empty audience")
        self._check_subject("publisher_subject", self.publisher_subject)
        if self.deploy_role_arn is not None:
            self._check_subject("deploy_subject", self.effective_deploy_subject)
        elif self.deploy_subject is not None:
            raise ValueError("deploy_subject: there is no deployer without a deploy_role_arn")
        self._check_resources()
        self._check_oidc_provider()

    def _check_resources(self) -> None:
        """The ARNs the policies grant on: exact, never wildcards."""
        if self.deploy_role_arn is not None:
            _check_arn("deploy_role_arn", self.deploy_role_arn, ROLE_ARN)
        if (
            self.permissions_boundary_arn is not None
            and not self.permissions_boundary_arn.startswith("arn:")
        ):
            raise ValueError(
                f"permissions_boundary_arn: {self.permissions_boundary_arn!r} is not an ARN"
            )

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
        match = OIDC_PROVIDER_ARN.match(self.oidc_provider_arn)
        if match is None or match.group("issuer") != self.oidc_issuer:
            raise ValueError(
                f"oidc_provider_arn: {self.oidc_provider_arn!r} is not the IAM OIDC provider of"
                f" {self.oidc_issuer} (arn:aws:iam::ACCOUNT:oidc-provider/{self.oidc_issuer})"
            )

    @property
    def effective_deploy_subject(self) -> str:
        return self.deploy_subject or f"environment:{self.environment_name}"


def _check_arn(field: str, value: str, rule: Rule) -> None:
    """Literal ARNs must follow `rule`; tokens (resolved at apply) are taken as given."""
    if Token.is_unresolved(value):
        return
    if not rule.match(value):
        raise ValueError(f"{field}: {value!r} is not {rule.kind}")


class CiIdentities(Construct):
    """Outputs: `publisher_role_arn`, `publisher_role_name` (None without a chart publisher),
    `image_publisher_role_arn` (None without one), `deployer_role_arn` and `deployer_role_name` (None without a deployer),
    `oidc_provider_arn`."""

    def __init__(self, scope: Construct, id: str, props: CiIdentitiesProps) -> None:
        super().__init__(scope, id)
        self._props = props
        names = ci_role_names(props.name_prefix)

        if props.create_oidc_provider:
            # No thumbprint: AWS validates GitHub's (and other major IdPs') certificates against
            # its own library of trusted root CAs; aws provider >= 5.81 makes the list optional.
            # https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html
            provider_arn = IamOpenidConnectProvider(
                self,
                "oidc-provider",
                url=f"https://{props.oidc_issuer}",
                client_id_list=[props.audience],
            ).arn
        else:
            assert props.oidc_provider_arn is not None  # checked in __post_init__
            # Looked up, so planning stops (naming it) when the account has no such provider.
            provider_arn = DataAwsIamOpenidConnectProvider(
                self, "oidc-provider", arn=props.oidc_provider_arn
            ).arn
        self._provider_arn = provider_arn

        self._publisher: IamRole | None = None
        self.publisher_role_arn: str | None = None
        self.publisher_role_name: str | None = None
        if props.create_chart_publisher:
            # Its permissions name the chart bucket, whose policy names this role: granted later.
            self._publisher = self._trusted_role(
                "publisher",
                name=names.chart_publisher,
                description=f"CI ({props.repository}) publishes Helm charts to the chart repository",
                subject=props.publisher_subject,
            )
            self.publisher_role_arn = self._publisher.arn
            self.publisher_role_name = self._publisher.name

        self._image_publisher: IamRole | None = None
        self.image_publisher_role_arn: str | None = None
        if props.create_image_publisher:
            # Its permissions name the repositories, whose policies name this role: granted later.
            self._image_publisher = self._trusted_role(
                "image-publisher",
                name=names.image_publisher,
                description=f"CI ({props.repository}) pushes images to the environment's ECR",
                subject=props.publisher_subject,
            )
            self.image_publisher_role_arn = self._image_publisher.arn

        self.deployer_role_arn: str | None = None
        self.deployer_role_name: str | None = None
        if props.deploy_role_arn is not None:
            deployer = self._role(
                "deployer",
                name=names.deployer,
                description=f"CI ({props.repository}) deploys the {props.environment_name} environment",
                subject=props.effective_deploy_subject,
                statements=self._deployer_statements(props.deploy_role_arn),
            )
            self.deployer_role_arn = deployer.arn
            self.deployer_role_name = deployer.name
        self.oidc_provider_arn: str = provider_arn

    def grant_chart_publish(self, bucket_arn: str, kms_key_arn: str, prefix: str = "") -> None:
        """Let the chart publisher write charts below `prefix` of this bucket, encrypted with
        this key. Call once."""
        if self._publisher is None:
            raise ValueError("grant_chart_publish: created without create_chart_publisher=True")
        _check_arn("bucket_arn", bucket_arn, BUCKET_ARN)
        _check_arn("kms_key_arn", kms_key_arn, KMS_KEY_ARN)
        problem = key_prefix_problem(prefix)
        if problem:
            raise ValueError(f"prefix: {problem}")
        self._attach_policy(
            "publisher",
            self._publisher,
            self._publisher_statements(bucket_arn, kms_key_arn, prefix),
        )

    def grant_image_push(self, repository_arns: Sequence[str]) -> None:
        """Let the image publisher push to exactly these repositories. Call once."""
        if self._image_publisher is None:
            raise ValueError("grant_image_push: created without create_image_publisher=True")
        if not repository_arns:
            raise ValueError("grant_image_push: at least one repository ARN is required")
        self._attach_policy(
            "image-publisher",
            self._image_publisher,
            [
                # A registry-wide login: AWS cannot scope GetAuthorizationToken to a repository;
                # the repository policies and the statement below decide what it can push.
                # https://docs.aws.amazon.com/AmazonECR/latest/userguide/security_iam_id-based-policy-examples.html
                Statement(
                    sid="LogInToTheRegistry",
                    actions=["ecr:GetAuthorizationToken"],
                    resources=["*"],
                ),
                Statement(
                    sid="PushImages", actions=IMAGE_PUSH_ACTIONS, resources=list(repository_arns)
                ),
            ],
        )

    def _role(
        self,
        id_prefix: str,
        *,
        name: str,
        description: str,
        subject: str,
        statements: list[Statement],
    ) -> IamRole:
        role = self._trusted_role(id_prefix, name=name, description=description, subject=subject)
        self._attach_policy(id_prefix, role, statements)
        return role

    def _trusted_role(
        self, id_prefix: str, *, name: str, description: str, subject: str
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
                    principals={"Federated": [self._provider_arn]},
                    conditions=[
                        Condition(
                            subject_test, f"{issuer}:sub", [f"repo:{props.repository}:{subject}"]
                        ),
                        Condition("StringEquals", f"{issuer}:aud", [props.audience]),
                    ],
                )
            ],
        )
        return IamRole(
            self,
            f"{id_prefix}-role",
            name=name,
            description=description,
            assume_role_policy=trust.json,
            permissions_boundary=props.permissions_boundary_arn,
        )

    def _attach_policy(self, id_prefix: str, role: IamRole, statements: list[Statement]) -> None:
        if self.node.try_find_child(f"{id_prefix}-policy") is not None:
            raise ValueError(f"{id_prefix}: the role already has its policy")
        document = policy_document(self, f"{id_prefix}-policy-document", statements)
        IamRolePolicy(
            self, f"{id_prefix}-policy", role=role.id, name=id_prefix, policy=document.json
        )

    def _publisher_statements(self, bucket: str, kms_key_arn: str, prefix: str) -> list[Statement]:
        props = self._props
        return [
            Statement(
                sid="PublishCharts",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[f"{bucket}/{prefix}*"],
            ),
            Statement(
                sid="ListCharts",
                actions=["s3:ListBucket"],
                resources=[bucket],
                conditions=listing_below(prefix),
            ),
            # SSE-KMS: writing needs GenerateDataKey, reading Decrypt; only through S3.
            # https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms
            # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
            Statement(
                sid="UseChartKey",
                actions=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"],
                resources=[kms_key_arn],
                conditions=[kms_via_s3(props.region)],
            ),
        ]

    def _deployer_statements(self, deploy_role_arn: str) -> list[Statement]:
        assume_actions = ["sts:AssumeRole"]
        if self._props.enable_deploy_session_tags:
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_permissions-required
            assume_actions.append("sts:TagSession")
        # The provider and the S3 backend assume the environment's deploy role (their
        # `assume_role` blocks): every change and every state access goes through that role.
        return [
            Statement(sid="AssumeDeployRole", actions=assume_actions, resources=[deploy_role_arn])
        ]
