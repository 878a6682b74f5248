"""ChartReaderPolicy: the IAM policy that lets an environment's roles read Helm chart repositories.

One managed policy per environment, attached to every role that reads charts (the CI deployer,
the CI chart publisher when it promotes from a central repository, in-cluster roles the
environment file lists). Per repository it allows exactly what a Helm client (helm-s3, the S3
proxy, `berth charts`) needs to read it:

- `s3:GetObject` on the objects below the repository's prefix;
- `s3:ListBucket` on the bucket, for listings below the prefix only;
- `kms:Decrypt` on the repository's key, only when S3 (in the bucket's region) asks for it.

For a repository in another account this is the reader's half: the owner's bucket policy and
key policy must grant the reader's account too (`HelmRepoBucket` readers). Neither half alone
lets a cross-account principal read an SSE-KMS object.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-walkthroughs-managing-access-example2.html
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cdktf import Token
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from berth_constructs.helm_repo_bucket import DECRYPT_ACTIONS, LIST_BUCKET_ACTIONS
from berth_constructs.policies import Statement, kms_via_s3, listing_below, policy_document
from berth_core.validation import (
    BUCKET_ARN,
    IAM_POLICY_NAME,
    KMS_KEY_ARN,
    REGION,
    key_prefix_problem,
)

_LABEL = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
# Reading a chart is GetObject (HeadObject is authorized by it too).
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
READ_CHART_ACTIONS = ("s3:GetObject",)


@dataclass(frozen=True, kw_only=True)
class ChartRepositoryGrant:
    """One repository to read: its bucket, key prefix, key and region."""

    # Short name for the statements' sids (e.g. "Own", "Central").
    name: str
    # ARN of the bucket (a reference for a bucket of this stack, literal for another account's).
    bucket_arn: str
    # Key prefix the charts live below ("" = the whole bucket).
    prefix: str
    # ARN of the KMS key the bucket encrypts with.
    kms_key_arn: str
    # The bucket's region: decrypts must come through S3 there.
    region: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Z][A-Za-z0-9]{0,30}", self.name):
            raise ValueError(f"name: {self.name!r} must be a short CamelCase word")
        for field, value, rule in (
            ("bucket_arn", self.bucket_arn, BUCKET_ARN),
            ("kms_key_arn", self.kms_key_arn, KMS_KEY_ARN),
        ):
            if not Token.is_unresolved(value) and not rule.match(value):
                raise ValueError(f"{field}: {value!r} is not {rule.kind}")
        problem = key_prefix_problem(self.prefix)
        if problem:
            raise ValueError(f"prefix: {problem}")
        if not REGION.match(self.region):
            raise ValueError(f"region: {self.region!r} is not an AWS region")

    def statements(self) -> list[Statement]:
        return [
            Statement(
                sid=f"ReadCharts{self.name}",
                actions=READ_CHART_ACTIONS,
                resources=[f"{self.bucket_arn}/{self.prefix}*"],
            ),
            Statement(
                sid=f"ListCharts{self.name}",
                actions=LIST_BUCKET_ACTIONS,
                resources=[self.bucket_arn],
                conditions=listing_below(self.prefix),
            ),
            Statement(
                sid=f"DecryptCharts{self.name}",
                actions=DECRYPT_ACTIONS,
                resources=[self.kms_key_arn],
                conditions=[kms_via_s3(self.region)],
            ),
        ]


@dataclass(frozen=True, kw_only=True)
class ChartReaderPolicyProps:
    # IAM policy name, e.g. `berth-prod-chart-reader` (berth_core.naming.chart_reader_policy_name).
    policy_name: str
    # The repositories the roles read.
    repositories: Sequence[ChartRepositoryGrant]
    # Label (the attachment's construct id) -> name of a role to attach the policy to.
    roles: Mapping[str, str]

    def __post_init__(self) -> None:
        if not IAM_POLICY_NAME.match(self.policy_name):
            raise ValueError(f"policy_name: {self.policy_name!r} is not an IAM policy name")
        if not self.repositories:
            raise ValueError("repositories: at least one repository is required")
        names = [repository.name for repository in self.repositories]
        if len(set(names)) != len(names):
            raise ValueError(f"repositories: names must differ, got {names}")
        if not self.roles:
            raise ValueError("roles: at least one role must read the charts")
        for label in self.roles:
            if not _LABEL.match(label):
                raise ValueError(f"roles: {label!r} is not a short kebab-case label")


class ChartReaderPolicy(Construct):
    """Outputs: `policy_arn`, `policy_name`."""

    def __init__(self, scope: Construct, id: str, props: ChartReaderPolicyProps) -> None:
        super().__init__(scope, id)
        document = policy_document(
            self,
            "policy-document",
            [statement for grant in props.repositories for statement in grant.statements()],
        )
        policy = IamPolicy(
            self,
            "policy",
            name=props.policy_name,
            description="Reads the Helm chart repositories this environment uses",
            policy=document.json,
        )
        for label, role_name in props.roles.items():
            IamRolePolicyAttachment(self, f"attach-{label}", role=role_name, policy_arn=policy.arn)
        self.policy_arn: str = policy.arn
        self.policy_name: str = policy.name
