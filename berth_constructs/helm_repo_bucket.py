"""HelmRepoBucket: a private S3 bucket that serves as a Helm chart repository.

The account (or the named readers) may read charts; only the publisher principals may write
them. Versioned so an overwritten or deleted chart is recoverable for N days, encrypted with a
customer-managed KMS key, TLS only, no ACLs, never public.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from constructs import Construct

from berth_constructs.kms import kms_alias_name
from berth_constructs.policies import Condition, Statement, deny_insecure_transport, policy_document

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
    # Leave out the conditional Deny statements (TLS only, publisher-only writes). Only for the
    # emulator: moto ignores conditions, so a conditional Deny there denies every request.
    omit_conditional_denies_for_emulator: bool = False

    def __post_init__(self) -> None:
        if not self.publisher_principals:
            raise ValueError("publisher_principals: at least one publisher is required")
        if not self.reader_principals:
            raise ValueError(
                "reader_principals: at least one reader is required (e.g. the account root)"
            )
        for principal in (*self.publisher_principals, *self.reader_principals):
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

        if props.kms_key_arn is None:
            key = KmsKey(
                self,
                "kms-key",
                description=f"Encrypts the Helm chart repository {props.bucket_name}",
                enable_key_rotation=True,
                deletion_window_in_days=30,
            )
            KmsAlias(
                self, "kms-alias", name=kms_alias_name(props.bucket_name), target_key_id=key.key_id
            )
            kms_key_arn = key.arn
        else:
            kms_key_arn = props.kms_key_arn

        bucket = S3Bucket(
            self, "bucket", bucket=props.bucket_name, force_destroy=props.allow_force_destroy
        )
        S3BucketVersioningA(
            self,
            "versioning",
            bucket=bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn
                    ),
                    # One KMS data key per bucket instead of per object: fewer KMS calls, same key.
                    bucket_key_enabled=True,
                )
            ],
        )
        public_access_block = S3BucketPublicAccessBlock(
            self,
            "public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketOwnershipControls(
            self,
            "ownership",
            bucket=bucket.id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=bucket.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=props.noncurrent_version_expiration_days
                        )
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                            days_after_initiation=7
                        )
                    ],
                )
            ],
        )

        objects = f"{bucket.arn}/*"
        denies = [
            deny_insecure_transport(bucket.arn),
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
        ]
        document = policy_document(
            self,
            "policy-document",
            [
                *([] if props.omit_conditional_denies_for_emulator else denies),
                Statement(
                    sid="ReadCharts",
                    actions=READ_OBJECT_ACTIONS,
                    resources=[objects],
                    principals={"AWS": props.reader_principals},
                ),
                Statement(
                    sid="ListCharts",
                    actions=READ_BUCKET_ACTIONS,
                    resources=[bucket.arn],
                    principals={"AWS": [*props.reader_principals, *props.publisher_principals]},
                ),
                Statement(
                    sid="PublishCharts",
                    actions=(*WRITE_OBJECT_ACTIONS, *READ_OBJECT_ACTIONS),
                    resources=[objects],
                    principals={"AWS": props.publisher_principals},
                ),
            ],
        )
        S3BucketPolicy(
            self,
            "policy",
            bucket=bucket.id,
            policy=document.json,
            # S3 rejects a policy naming principals while the public-access block is mid-update.
            depends_on=[public_access_block],
        )

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.bucket_region = bucket.region
        self.repo_url = f"s3://{props.bucket_name}"
        self.kms_key_arn = kms_key_arn
