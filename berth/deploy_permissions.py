"""`berth deploy-role-policy ENV`: the permissions the deploy role needs, derived from the stacks.

The deploy role is made once, by an administrator, before Berth's first deploy (README,
bootstrap). What it needs follows from what the environment's synthesized stacks create and read,
plus the state backend and the `berth` commands that run as it. This module holds, per
Terraform type, the IAM actions the aws provider (5.100) calls to create, read, update, tag and
delete it, and turns the stacks into one policy document: explicit actions only (never `s3:*`),
and resources scoped to what the stacks name wherever AWS allows it (the few actions AWS cannot
scope get `"*"`, said next to them). The table is hand-written: no library maps Terraform types
to IAM actions. A type that is missing from it stops `berth deploy-role-policy` (and a test),
so a new resource cannot slip in without its permissions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth_core.config import Environment
from berth_core.errors import BerthError
from berth_core.naming import oidc_provider_arn
from berth_core.tfjson import TerraformJson

Json = dict[str, Any]

# IAM actions per Terraform resource type: create, read (refresh), update, tags, delete.
RESOURCE_ACTIONS: dict[str, tuple[str, ...]] = {
    "aws_s3_bucket": (
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:ListBucket",
        "s3:GetBucketAcl",
        "s3:GetBucketCORS",
        "s3:GetBucketWebsite",
        "s3:GetBucketVersioning",
        "s3:GetAccelerateConfiguration",
        "s3:GetBucketRequestPayment",
        "s3:GetBucketLogging",
        "s3:GetLifecycleConfiguration",
        "s3:GetReplicationConfiguration",
        "s3:GetEncryptionConfiguration",
        "s3:GetBucketObjectLockConfiguration",
        "s3:GetBucketPolicy",
        "s3:GetBucketTagging",
        "s3:PutBucketTagging",
    ),
    "aws_s3_bucket_versioning": ("s3:GetBucketVersioning", "s3:PutBucketVersioning"),
    "aws_s3_bucket_server_side_encryption_configuration": (
        "s3:GetEncryptionConfiguration",
        "s3:PutEncryptionConfiguration",
    ),
    "aws_s3_bucket_public_access_block": (
        "s3:GetBucketPublicAccessBlock",
        "s3:PutBucketPublicAccessBlock",
    ),
    "aws_s3_bucket_ownership_controls": (
        "s3:GetBucketOwnershipControls",
        "s3:PutBucketOwnershipControls",
    ),
    "aws_s3_bucket_lifecycle_configuration": (
        "s3:GetLifecycleConfiguration",
        "s3:PutLifecycleConfiguration",
    ),
    "aws_s3_bucket_policy": ("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"),
    "aws_s3_object": (
        "s3:PutObject",
        "s3:GetObject",
        "s3:GetObjectTagging",
        "s3:PutObjectTagging",
        "s3:DeleteObject",
        "s3:ListBucketVersions",
        "s3:DeleteObjectVersion",
        # The buckets are SSE-KMS: S3 asks for a data key on upload, decrypts on read.
        # https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
        "kms:GenerateDataKey",
        "kms:Decrypt",
    ),
    "aws_kms_key": (
        "kms:CreateKey",
        "kms:DescribeKey",
        "kms:GetKeyPolicy",
        "kms:GetKeyRotationStatus",
        "kms:EnableKeyRotation",
        "kms:ListResourceTags",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:UpdateKeyDescription",
        "kms:ScheduleKeyDeletion",
        # Keys carry an explicit key policy (written on create, replaced on change).
        # https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html
        "kms:PutKeyPolicy",
    ),
    "aws_kms_alias": ("kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias", "kms:ListAliases"),
    "aws_iam_role": (
        "iam:CreateRole",
        "iam:GetRole",
        "iam:UpdateRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:TagRole",
        "iam:UntagRole",
        "iam:ListRolePolicies",
        "iam:ListAttachedRolePolicies",
        "iam:ListInstanceProfilesForRole",
        "iam:DeleteRole",
    ),
    "aws_iam_role_policy": ("iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"),
    # A managed policy: a change is a new default version (the oldest deleted at five).
    "aws_iam_policy": (
        "iam:CreatePolicy",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:ListPolicyVersions",
        "iam:CreatePolicyVersion",
        "iam:DeletePolicyVersion",
        "iam:TagPolicy",
        "iam:UntagPolicy",
        "iam:DeletePolicy",
    ),
    "aws_iam_role_policy_attachment": (
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:ListAttachedRolePolicies",
    ),
    # The refresher's users outside AWS (created without keys). Delete first leaves the user's
    # groups (ListGroupsForUser); without force_destroy the provider touches no access key.
    "aws_iam_user": (
        "iam:CreateUser",
        "iam:GetUser",
        "iam:UpdateUser",
        "iam:TagUser",
        "iam:UntagUser",
        "iam:ListGroupsForUser",
        "iam:DeleteUser",
    ),
    "aws_iam_user_policy": ("iam:PutUserPolicy", "iam:GetUserPolicy", "iam:DeleteUserPolicy"),
    "aws_iam_openid_connect_provider": (
        "iam:CreateOpenIDConnectProvider",
        "iam:GetOpenIDConnectProvider",
        "iam:TagOpenIDConnectProvider",
        "iam:UntagOpenIDConnectProvider",
        "iam:AddClientIDToOpenIDConnectProvider",
        "iam:RemoveClientIDFromOpenIDConnectProvider",
        "iam:UpdateOpenIDConnectProviderThumbprint",
        "iam:DeleteOpenIDConnectProvider",
    ),
    "aws_ecr_repository": (
        "ecr:CreateRepository",
        "ecr:DescribeRepositories",
        "ecr:ListTagsForResource",
        "ecr:TagResource",
        "ecr:UntagResource",
        "ecr:PutImageScanningConfiguration",
        "ecr:PutImageTagMutability",
        "ecr:DeleteRepository",
        # KMS-encrypted repositories: ECR creates a grant on the key for the repository.
        # https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html
        "kms:CreateGrant",
        "kms:RetireGrant",
        "kms:DescribeKey",
    ),
    "aws_ecr_repository_policy": (
        "ecr:SetRepositoryPolicy",
        "ecr:GetRepositoryPolicy",
        "ecr:DeleteRepositoryPolicy",
    ),
    "aws_ecr_lifecycle_policy": (
        "ecr:PutLifecyclePolicy",
        "ecr:GetLifecyclePolicy",
        "ecr:DeleteLifecyclePolicy",
    ),
    "aws_secretsmanager_secret": (
        "secretsmanager:CreateSecret",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetResourcePolicy",
        "secretsmanager:UpdateSecret",
        "secretsmanager:TagResource",
        "secretsmanager:UntagResource",
        "secretsmanager:DeleteSecret",
    ),
    "aws_appconfig_application": (
        "appconfig:CreateApplication",
        "appconfig:GetApplication",
        "appconfig:UpdateApplication",
        "appconfig:DeleteApplication",
        "appconfig:ListTagsForResource",
        "appconfig:TagResource",
        "appconfig:UntagResource",
    ),
    "aws_appconfig_configuration_profile": (
        "appconfig:CreateConfigurationProfile",
        "appconfig:GetConfigurationProfile",
        "appconfig:UpdateConfigurationProfile",
        "appconfig:DeleteConfigurationProfile",
    ),
    "aws_appconfig_environment": (
        "appconfig:CreateEnvironment",
        "appconfig:GetEnvironment",
        "appconfig:UpdateEnvironment",
        "appconfig:DeleteEnvironment",
    ),
    "aws_appconfig_deployment_strategy": (
        "appconfig:CreateDeploymentStrategy",
        "appconfig:GetDeploymentStrategy",
        "appconfig:UpdateDeploymentStrategy",
        "appconfig:DeleteDeploymentStrategy",
    ),
    "aws_appconfig_deployment": (
        "appconfig:StartDeployment",
        "appconfig:GetDeployment",
        "appconfig:StopDeployment",
    ),
    "aws_secretsmanager_secret_version": (
        "secretsmanager:PutSecretValue",
        "secretsmanager:GetSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ),
    # In the cluster, through the deploy role's EKS access entry: no IAM action.
    "kubernetes_namespace_v1": (),
    "helm_release": (),
}

DATA_ACTIONS: dict[str, tuple[str, ...]] = {
    "aws_iam_policy_document": (),  # built locally, no API call
    "aws_iam_role": ("iam:GetRole",),
    "aws_iam_openid_connect_provider": (
        "iam:ListOpenIDConnectProviders",
        "iam:GetOpenIDConnectProvider",
    ),
    "aws_ecr_repository": ("ecr:DescribeRepositories", "ecr:ListTagsForResource"),
    "aws_ecr_image": ("ecr:DescribeImages",),
    "aws_eks_cluster": ("eks:DescribeCluster",),
    "terraform_remote_state": ("s3:GetObject",),
}

# What `berth secret put`, `berth preflight` and `berth charts verify` call as the deploy role.
COMMAND_ACTIONS: tuple[str, ...] = (
    "secretsmanager:DescribeSecret",
    "secretsmanager:PutSecretValue",
    # A new secret version under the secret's customer-managed key; AppConfig deploys it with
    # the same key (KmsKeyIdentifier).
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "kms:Encrypt",
    "appconfig:ListApplications",
    "appconfig:ListEnvironments",
    "appconfig:ListConfigurationProfiles",
    "appconfig:ListDeploymentStrategies",
    "appconfig:ListDeployments",
    "appconfig:StartDeployment",
    "ecr:DescribeImages",
    "iam:GetRole",
    "iam:ListOpenIDConnectProviders",
    "iam:GetOpenIDConnectProvider",
)

# What `berth refresher rotate-key` calls as the deploy role, for stacks with IAM users: the
# users' access keys are made and deleted there, never by Terraform.
USER_KEY_COMMAND_ACTIONS: tuple[str, ...] = (
    "iam:ListAccessKeys",
    "iam:CreateAccessKey",
    "iam:DeleteAccessKey",
)

# Actions AWS does not let a policy scope to a resource.
# https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html
UNSCOPABLE = frozenset(
    {
        "kms:CreateKey",
        "kms:ListAliases",
        "iam:ListOpenIDConnectProviders",
        "appconfig:ListApplications",
        "appconfig:ListDeploymentStrategies",
        "appconfig:CreateDeploymentStrategy",
    }
)


class UnknownTypeError(BerthError):
    """A stack uses a Terraform type whose permissions are not in the table."""


@dataclass
class _Statements:
    """Actions grouped by the resources they may act on."""

    by_resources: dict[tuple[str, ...], set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, actions: Iterable[str], resources: Sequence[str]) -> None:
        actions = list(actions)
        if actions:
            self.by_resources[tuple(sorted(set(resources)))].update(actions)


def _readers(stacks: Iterable[Mapping[str, Any]]) -> list[TerraformJson]:
    return [TerraformJson(stack) for stack in stacks]


def stack_types(stacks: Iterable[Mapping[str, Any]]) -> tuple[set[str], set[str]]:
    """(resource types, data source types) used by the stacks."""
    readers = _readers(stacks)
    resources = {block.type for tf in readers for block in tf.resources()}
    data = {block.type for tf in readers for block in tf.data_sources()}
    return resources, data


def _configs(stacks: Iterable[Mapping[str, Any]], section: str, kind: str) -> list[Json]:
    """Every block of type `kind` (a resource, or a data source with section "data")."""
    return [
        block.config
        for tf in _readers(stacks)
        for block in (tf.data_sources(kind) if section == "data" else tf.resources(kind))
    ]


def check_known(resources: Iterable[str], data: Iterable[str]) -> None:
    unknown = sorted(
        [f"resource {t}" for t in resources if t not in RESOURCE_ACTIONS]
        + [f"data {t}" for t in data if t not in DATA_ACTIONS]
    )
    if unknown:
        raise UnknownTypeError(
            f"no deploy-role permissions known for {', '.join(unknown)}: add them to"
            " berth/deploy_permissions.py"
        )


def _literals(
    stacks: Iterable[Mapping[str, Any]], section: str, kind: str, attribute: str
) -> list[str]:
    return sorted(
        {
            str(config[attribute])
            for config in _configs(stacks, section, kind)
            if isinstance(config.get(attribute), str) and "${" not in config[attribute]
        }
    )


def deploy_role_policy(environment: Environment, stacks: Sequence[Mapping[str, Any]]) -> Json:
    """The deploy role's policy document for `environment`, whose synthesized `stacks` are given."""
    resources, data = stack_types(stacks)
    check_known(resources, data)
    account, region = environment.account_id, environment.region
    arn = {
        "s3": "arn:aws:s3:::",
        "iam": f"arn:aws:iam::{account}:",
        "kms": f"arn:aws:kms:{region}:{account}:",
        "ecr": f"arn:aws:ecr:{region}:{account}:repository/",
        "secretsmanager": f"arn:aws:secretsmanager:{region}:{account}:secret:",
        "appconfig": f"arn:aws:appconfig:{region}:{account}:",
        "eks": f"arn:aws:eks:{region}:{account}:cluster/",
    }
    buckets = _literals(stacks, "resource", "aws_s3_bucket", "bucket")
    users = _literals(stacks, "resource", "aws_iam_user", "name")
    roles = _literals(stacks, "resource", "aws_iam_role", "name")
    roles += _literals(stacks, "data", "aws_iam_role", "name")
    repositories = _literals(stacks, "resource", "aws_ecr_repository", "name")
    repositories += _literals(stacks, "data", "aws_ecr_repository", "name")
    secrets = _literals(stacks, "resource", "aws_secretsmanager_secret", "name")
    aliases = _literals(stacks, "resource", "aws_kms_alias", "name")
    policies = _literals(stacks, "resource", "aws_iam_policy", "name")
    providers = _literals(stacks, "resource", "aws_iam_openid_connect_provider", "url")
    providers += _literals(stacks, "data", "aws_iam_openid_connect_provider", "url")

    actions: set[str] = set()
    for kind in resources:
        actions.update(RESOURCE_ACTIONS[kind])
    for kind in data:
        actions.update(DATA_ACTIONS[kind])
    actions.update(COMMAND_ACTIONS)
    if users:
        actions.update(USER_KEY_COMMAND_ACTIONS)

    scoped: dict[str, list[str]] = {
        "s3:object": [f"{arn['s3']}{bucket}/*" for bucket in buckets],
        "s3:bucket": [f"{arn['s3']}{bucket}" for bucket in buckets],
        "iam:role": [f"{arn['iam']}role/{name}" for name in sorted(set(roles))],
        "iam:policy": [f"{arn['iam']}policy/{name}" for name in policies],
        "iam:user": [f"{arn['iam']}user/{name}" for name in users],
        "iam:oidc-provider": [oidc_provider_arn(account, url) for url in sorted(set(providers))],
        "kms:key": [f"{arn['kms']}key/*"],
        "kms:alias": [f"{arn['kms']}{alias}" for alias in aliases],
        "ecr": [f"{arn['ecr']}{name}" for name in sorted(set(repositories))],
        "secretsmanager": [f"{arn['secretsmanager']}{name}-*" for name in secrets],
        "appconfig": [
            f"{arn['appconfig']}application/*",
            f"{arn['appconfig']}deploymentstrategy/*",
        ],
    }
    statements = _Statements()
    for action in sorted(actions):
        service, name = action.split(":", 1)
        if action in UNSCOPABLE:
            statements.add([action], ["*"])
        elif service == "s3":
            object_level = "Object" in name
            statements.add([action], scoped["s3:object" if object_level else "s3:bucket"])
        elif service == "iam":
            statements.add([action], scoped[_iam_resource_kind(name)])
        elif service == "kms":
            statements.add(
                [action], scoped["kms:key"] + (scoped["kms:alias"] if "Alias" in name else [])
            )
        elif service == "eks":
            assert environment.cluster is not None
            statements.add([action], [f"{arn['eks']}{environment.cluster.name}"])
        else:
            statements.add([action], scoped[service])

    documents = [
        {
            "Sid": _sid(actions_, resources_),
            "Effect": "Allow",
            "Action": sorted(actions_),
            "Resource": list(resources_) if len(resources_) != 1 else resources_[0],
        }
        for resources_, actions_ in sorted(
            statements.by_resources.items(), key=lambda kv: sorted(kv[1])[0]
        )
    ]
    documents += _state_statements(environment)
    documents += _pass_role_statements(environment, stacks, arn["iam"])
    return {"Version": "2012-10-17", "Statement": documents}


# IAM actions on a managed policy itself (attaching one acts on the role).
_POLICY_ACTIONS = frozenset(
    {
        "CreatePolicy",
        "GetPolicy",
        "GetPolicyVersion",
        "ListPolicyVersions",
        "CreatePolicyVersion",
        "DeletePolicyVersion",
        "TagPolicy",
        "UntagPolicy",
        "DeletePolicy",
    }
)


def _iam_resource_kind(action_name: str) -> str:
    """Which IAM resources an action of the table acts on (all of them name theirs)."""
    if "OpenIDConnect" in action_name:
        return "iam:oidc-provider"
    if action_name in _POLICY_ACTIONS:
        return "iam:policy"
    if "User" in action_name or "AccessKey" in action_name:
        return "iam:user"
    return "iam:role"


def _sid(actions: Iterable[str], resources: Sequence[str]) -> str:
    if list(resources) == ["*"]:
        return "ActionsAwsCannotScope"
    services = sorted({action.split(":", 1)[0] for action in actions})
    return "".join(service.capitalize() for service in services) + "Resources"


def _state_statements(environment: Environment) -> list[Json]:
    """The S3 backend with lock files, for every stack's state object; the cluster's state."""
    backend = environment.state_backend
    if backend is None:
        return []
    bucket = f"arn:aws:s3:::{backend.bucket}"
    keys = [environment.state_key(stack) for stack in environment.stack_names]
    statements: list[Json] = [
        # https://developer.hashicorp.com/terraform/language/backend/s3#permissions-required
        {
            "Sid": "ListStateKeys",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketVersioning"],
            "Resource": bucket,
        },
        {
            "Sid": "ReadWriteState",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"{bucket}/{key}" for key in keys],
        },
        {
            "Sid": "LockState",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [f"{bucket}/{key}.tflock" for key in keys],
        },
    ]
    cluster = environment.cluster
    if cluster is not None and cluster.remote_state is not None:
        state = cluster.remote_state
        statements.append(
            {
                "Sid": "ReadClusterState",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": f"arn:aws:s3:::{state.bucket}/{state.key}",
            }
        )
    if backend.kms_key_id and backend.kms_key_id.startswith("arn:"):
        statements.append(
            {
                "Sid": "UseStateKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": backend.kms_key_id,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"s3.{backend.region}.amazonaws.com"}
                },
            }
        )
    return statements


def _pass_role_statements(
    environment: Environment, stacks: Sequence[Mapping[str, Any]], iam_arn: str
) -> list[Json]:
    """AppConfig profiles name a retrieval role: creating one passes that role to AppConfig."""
    if not _configs(stacks, "resource", "aws_appconfig_configuration_profile"):
        return []
    names = sorted(
        str(config["name"])
        for config in _configs(stacks, "resource", "aws_iam_role")
        if str(config.get("name", "")).endswith("-appconfig")
    )
    return [
        {
            "Sid": "PassRetrievalRolesToAppConfig",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [f"{iam_arn}role/{name}" for name in names],
            "Condition": {"StringEquals": {"iam:PassedToService": "appconfig.amazonaws.com"}},
        }
    ]


def actions_by_service(policy: Mapping[str, Any]) -> dict[str, list[str]]:
    """Service -> its actions in the policy (for the README's table)."""
    found: dict[str, set[str]] = defaultdict(set)
    for statement in policy["Statement"]:
        for action in statement["Action"]:
            service, name = action.split(":", 1)
            found[service].add(name)
    return {service: sorted(names) for service, names in sorted(found.items())}


def markdown_table(policy: Mapping[str, Any]) -> str:
    lines = ["| service | actions |", "| --- | --- |"]
    for service, names in actions_by_service(policy).items():
        lines.append(f"| `{service}` | {', '.join(names)} |")
    return "\n".join(lines) + "\n"
