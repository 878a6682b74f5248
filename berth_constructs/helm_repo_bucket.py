"""HelmRepoBucket: a private S3 bucket that serves as a Helm chart repository.

The account (or the named readers) may read charts; only the publisher principals may write
them. Versioned so an overwritten or deleted chart is recoverable for N days, encrypted with a
customer-managed KMS key, TLS only, no ACLs, never public.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktf import Token
from constructs import Construct

from berth_constructs.policies import Condition, Statement
from berth_constructs.private_bucket import PrivateBucket, PrivateBucketProps

READ_OBJECT_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
READ_BUCKET_ACTIONS = ("s3:ListBucket", "s3:GetBucketLocation")
WRITE_OBJECT_ACTIONS = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")


@dataclass(frozen=True, kw_only=True)
class HelmRepoBucketProps:
    # Globally unique S3 bucket name.
    bucket_name: str
    # Principals (CI roles) allowed to upload and delete charts; the only writers.
    publisher_principals: Sequence[str]
    # Principals allowed to read charts, typically the account root ARN.
    reader_principals: Sequence[str]
    # Days a replaced or deleted chart version stays recoverable.
    noncurrent_version_expiration_days: int = 30
    # Encrypt with this KMS key; None creates a dedicated key with rotation on.
    kms_key_arn: str | None = None
    # Let `terraform destroy` remove a bucket that still holds charts (emulator and tests only).
    allow_force_destroy: bool = False

    def __post_init__(self) -> None:
        if not self.publisher_principals:
            raise ValueError("publisher_principals: at least one publisher is required")
        if not self.reader_principals:
            raise ValueError(
                "reader_principals: at least one reader is required (e.g. the account root)"
            )
        for principal in (*self.publisher_principals, *self.reader_principals):
            if Token.is_unresolved(principal):
                continue  # the ARN of a role the stack creates or looks up
            if principal == "*" or not principal.startswith("arn:"):
                raise ValueError(
                    f"principals: {principal!r} is not an IAM ARN; public access is not offered"
                )
        if not 1 <= self.noncurrent_version_expiration_days <= 3650:
            raise ValueError("noncurrent_version_expiration_days: must be between 1 and 3650")


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
                noncurrent_version_expiration_days=props.noncurrent_version_expiration_days,
                kms_key_arn=props.kms_key_arn,
                allow_force_destroy=props.allow_force_destroy,
            ),
        )
        objects = f"{bucket.bucket_arn}/*"
        bucket.attach_policy(
            [
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
                    resources=[objects],
                    principals={"AWS": props.reader_principals},
                ),
                Statement(
                    sid="ListCharts",
                    actions=READ_BUCKET_ACTIONS,
                    resources=[bucket.bucket_arn],
                    principals={"AWS": [*props.reader_principals, *props.publisher_principals]},
                ),
                Statement(
                    sid="PublishCharts",
                    actions=(*WRITE_OBJECT_ACTIONS, *READ_OBJECT_ACTIONS),
                    resources=[objects],
                    principals={"AWS": props.publisher_principals},
                ),
            ]
        )
        self.bucket_name = bucket.bucket_name
        self.bucket_arn = bucket.bucket_arn
        self.bucket_region = bucket.bucket_region
        self.repo_url = f"s3://{props.bucket_name}"
        self.kms_key_arn = bucket.kms_key_arn
