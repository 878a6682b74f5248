"""HelmRepoBucket: a private S3 bucket that serves as a Helm chart repository.

Charts live below a key prefix ("" or `charts/`). The account (or the named readers) may read
them; only the publisher principals may write them. Versioned so an overwritten or deleted chart
is recoverable for N days, encrypted with a customer-managed KMS key, TLS only, no ACLs, never
public.

A central repository grants readers in other accounts or in an AWS Organization (path): the
bucket policy lets them get the charts and list the prefix, the key policy lets them decrypt,
through S3 only. Both halves are needed for a cross-account read of an SSE-KMS object, and the
reader's own account must allow it too (an IAM policy such as `ChartReaderPolicy`):
https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-walkthroughs-managing-access-example2.html
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktf import Token
from constructs import Construct

from berth_constructs.policies import Condition, Statement, kms_via_s3, listing_below
from berth_constructs.private_bucket import PrivateBucket, PrivateBucketProps
from berth_core.naming import account_root_arn
from berth_core.validation import (
    ACCOUNT_ID,
    ORGANIZATION_ID,
    ORGANIZATION_PATH,
    REGION,
    key_prefix_problem,
    retention_days_problem,
)

READ_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
LIST_BUCKET_ACTIONS = ("s3:ListBucket",)
LOCATE_BUCKET_ACTIONS = ("s3:GetBucketLocation",)
WRITE_OBJECT_ACTIONS = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
# S3 decrypts an SSE-KMS object for the reader with the reader's own permission on the key.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
DECRYPT_ACTIONS = ("kms:Decrypt",)


@dataclass(frozen=True, kw_only=True)
class HelmRepoBucketProps:
    # Globally unique S3 bucket name.
    bucket_name: str
    # The owning account: its root administers the key.
    account_id: str
    # The bucket's region: readers' decrypts must come through S3 there (kms:ViaService).
    region: str
    # Principals (CI roles) allowed to upload and delete charts; the only writers.
    publisher_principals: Sequence[str]
    # Principals allowed to read charts: this account's root (its IAM policies then decide who)
    # and other accounts' roots or roles, named literally. Other accounts' principals may also
    # decrypt (key policy, through S3 only).
    reader_principals: Sequence[str]
    # Every principal of this AWS Organization may read and decrypt (aws:PrincipalOrgID).
    reader_organization_id: str | None = None
    # Every principal of the accounts under these organization paths (aws:PrincipalOrgPaths).
    reader_organization_paths: Sequence[str] = ()
    # Charts live below this key prefix (e.g. `charts/`); grants reach below it only.
    prefix: str = ""
    # Days a replaced or deleted chart version stays recoverable.
    noncurrent_version_expiration_days: int = 30
    # Encrypt with this KMS key; None creates a dedicated key with rotation on.
    kms_key_arn: str | None = None
    # Let `terraform destroy` remove a bucket that still holds charts (emulator and tests only).
    allow_force_destroy: bool = False

    def __post_init__(self) -> None:
        if not ACCOUNT_ID.match(self.account_id):
            raise ValueError(f"account_id: {self.account_id!r} is not a 12-digit AWS account id")
        if not REGION.match(self.region):
            raise ValueError(f"region: {self.region!r} is not an AWS region")
        if not self.publisher_principals:
            raise ValueError("publisher_principals: at least one publisher is required")
        if not self.reader_principals:
            raise ValueError(
                "reader_principals: at least one reader is required (e.g. the account root)"
            )
        self._check_principals()
        problem = key_prefix_problem(self.prefix)
        if problem:
            raise ValueError(f"prefix: {problem}")
        problem = retention_days_problem(self.noncurrent_version_expiration_days)
        if problem:
            raise ValueError(f"noncurrent_version_expiration_days: {problem}")
        if self.kms_key_arn is not None and (self.decrypt_principals or self.has_organizations):
            raise ValueError(
                "kms_key_arn: readers outside the account need a decrypt grant in the key's"
                " policy, which only a key this construct creates gets"
            )

    def _check_principals(self) -> None:
        """IAM ARNs (or references), never "*"; organizations by id or path."""
        for principal in (*self.publisher_principals, *self.reader_principals):
            if Token.is_unresolved(principal):
                continue  # the ARN of a role the stack creates or looks up
            if principal == "*" or not principal.startswith("arn:"):
                raise ValueError(
                    f"principals: {principal!r} is not an IAM ARN; public access is not offered"
                )
        if self.reader_organization_id is not None:
            problem = ORGANIZATION_ID.problem(self.reader_organization_id)
            if problem:
                raise ValueError(f"reader_organization_id: {problem}")
        for path in self.reader_organization_paths:
            problem = ORGANIZATION_PATH.problem(path)
            if problem:
                raise ValueError(f"reader_organization_paths: {problem}")

    @property
    def account_root(self) -> str:
        return account_root_arn(self.account_id)

    @property
    def decrypt_principals(self) -> list[str]:
        """Readers the key policy names; the account's root administers the key already."""
        return [p for p in self.reader_principals if p != self.account_root]

    @property
    def has_organizations(self) -> bool:
        return self.reader_organization_id is not None or bool(self.reader_organization_paths)

    def organization_conditions(self) -> list[tuple[str, Condition]]:
        """(statement sid suffix, condition) per organization grant."""
        found = []
        if self.reader_organization_id is not None:
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgid
            found.append(
                (
                    "InOrganization",
                    Condition("StringEquals", "aws:PrincipalOrgID", [self.reader_organization_id]),
                )
            )
        if self.reader_organization_paths:
            # A multivalued key (one path per account's place in the tree): ForAnyValue.
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgpaths
            found.append(
                (
                    "InOrganizationPaths",
                    Condition(
                        "ForAnyValue:StringLike",
                        "aws:PrincipalOrgPaths",
                        list(self.reader_organization_paths),
                    ),
                )
            )
        return found


class HelmRepoBucket(Construct):
    """Outputs: `bucket_name`, `bucket_arn`, `bucket_region`, `repo_url`, `kms_key_arn`."""

    def __init__(self, scope: Construct, id: str, props: HelmRepoBucketProps) -> None:
        super().__init__(scope, id)
        bucket = PrivateBucket(
            self,
            "bucket",
            PrivateBucketProps(
                bucket_name=props.bucket_name,
                purpose="the Helm chart repository",
                account_id=props.account_id,
                key_policy_statements=self._key_statements(props),
                noncurrent_version_expiration_days=props.noncurrent_version_expiration_days,
                kms_key_arn=props.kms_key_arn,
                allow_force_destroy=props.allow_force_destroy,
            ),
        )
        objects = f"{bucket.bucket_arn}/*"
        charts = f"{bucket.bucket_arn}/{props.prefix}*"
        listing = listing_below(props.prefix)
        statements = [
            # Bucket-policy Allows do not stop same-account admins whose IAM policies allow
            # s3:PutObject; this Deny makes "only CI pushes" hold for everyone.
            # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
            Statement(
                sid="DenyChartWritesExceptPublishers",
                effect="Deny",
                actions=WRITE_OBJECT_ACTIONS,
                resources=[objects],
                principals={"AWS": ["*"]},
                conditions=[
                    Condition("ArnNotLike", "aws:PrincipalArn", props.publisher_principals)
                ],
            ),
            Statement(
                sid="ReadCharts",
                actions=READ_OBJECT_ACTIONS,
                resources=[charts],
                principals={"AWS": props.reader_principals},
            ),
            Statement(
                sid="ListCharts",
                actions=LIST_BUCKET_ACTIONS,
                resources=[bucket.bucket_arn],
                principals={"AWS": [*props.reader_principals, *props.publisher_principals]},
                conditions=listing,
            ),
            Statement(
                sid="LocateChartBucket",
                actions=LOCATE_BUCKET_ACTIONS,
                resources=[bucket.bucket_arn],
                principals={"AWS": [*props.reader_principals, *props.publisher_principals]},
            ),
        ]
        for suffix, member in props.organization_conditions():
            # Principal "*" narrowed to the organization by the condition: every principal of
            # its accounts, as their own IAM policies allow.
            statements += [
                Statement(
                    sid=f"ReadCharts{suffix}",
                    actions=READ_OBJECT_ACTIONS,
                    resources=[charts],
                    principals={"AWS": ["*"]},
                    conditions=[member],
                ),
                Statement(
                    sid=f"ListCharts{suffix}",
                    actions=LIST_BUCKET_ACTIONS,
                    resources=[bucket.bucket_arn],
                    principals={"AWS": ["*"]},
                    conditions=[member, *listing],
                ),
            ]
        statements.append(
            Statement(
                sid="PublishCharts",
                actions=(*WRITE_OBJECT_ACTIONS, *READ_OBJECT_ACTIONS),
                resources=[charts],
                principals={"AWS": props.publisher_principals},
            )
        )
        bucket.attach_policy(statements)
        self.bucket_name = bucket.bucket_name
        self.bucket_arn = bucket.bucket_arn
        self.bucket_region = bucket.bucket_region
        self.prefix = props.prefix
        self.repo_url = f"s3://{props.bucket_name}/{props.prefix}".rstrip("/")
        self.kms_key_arn = bucket.kms_key_arn

    @staticmethod
    def _key_statements(props: HelmRepoBucketProps) -> list[Statement]:
        """Decrypt for the readers outside the account, through S3 in the bucket's region only."""
        via = kms_via_s3(props.region)
        statements = [
            Statement(
                sid="DecryptChartsForReaders",
                actions=DECRYPT_ACTIONS,
                resources=["*"],  # in a key policy: this key
                principals={"AWS": props.decrypt_principals},
                conditions=[via],
            )
        ]
        statements += [
            Statement(
                sid=f"DecryptCharts{suffix}",
                actions=DECRYPT_ACTIONS,
                resources=["*"],
                principals={"AWS": ["*"]},
                conditions=[member, via],
            )
            for suffix, member in props.organization_conditions()
        ]
        return [s for s in statements if not s.is_empty]
