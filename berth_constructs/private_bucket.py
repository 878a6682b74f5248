"""PrivateBucket: the one way Berth makes an S3 bucket.

Versioned, encrypted with a customer-managed KMS key (rotation on, an explicit key policy), all
four public-access blocks, ACLs disabled (BucketOwnerEnforced), noncurrent versions and stale
multipart uploads expired, and a bucket policy that refuses every request without TLS. Owners
add their own bucket-policy statements with `attach_policy` and key-policy statements (e.g.
decrypt for readers in other accounts) with `key_policy_statements`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument
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
from berth_constructs.policies import Statement, deny_insecure_transport, policy_document
from berth_core.naming import account_root_arn
from berth_core.validation import ACCOUNT_ID, retention_days_problem

# Multipart uploads nobody completed within a week are abandoned: their parts cost storage.
ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7


@dataclass(frozen=True, kw_only=True)
class PrivateBucketProps:
    # Globally unique S3 bucket name.
    bucket_name: str
    # What the bucket holds, for the KMS key's description.
    purpose: str
    # The owning account: its root administers the key (AWS's default key-policy statement).
    account_id: str
    # More key-policy statements after the account's (only with a key this construct creates).
    key_policy_statements: Sequence[Statement] = ()
    # Days a replaced or deleted object version stays recoverable.
    noncurrent_version_expiration_days: int = 30
    # Encrypt with this KMS key; None creates a dedicated key with rotation on.
    kms_key_arn: str | None = None
    # Let `terraform destroy` remove a bucket that still holds objects (emulator and tests only).
    allow_force_destroy: bool = False

    def __post_init__(self) -> None:
        if not ACCOUNT_ID.match(self.account_id):
            raise ValueError(f"account_id: {self.account_id!r} is not a 12-digit AWS account id")
        problem = retention_days_problem(self.noncurrent_version_expiration_days)
        if problem:
            raise ValueError(f"noncurrent_version_expiration_days: {problem}")
        if self.kms_key_arn is not None and self.key_policy_statements:
            raise ValueError(
                "key_policy_statements: only for the key this construct creates (kms_key_arn"
                " names a key whose policy is managed elsewhere)"
            )


class PrivateBucket(Construct):
    """Outputs: `bucket_id`, `bucket_name`, `bucket_arn`, `bucket_region`, `kms_key_arn`,
    `encryption` and `policy` (for `depends_on`)."""

    def __init__(self, scope: Construct, id: str, props: PrivateBucketProps) -> None:
        super().__init__(scope, id)
        self._props = props
        if props.kms_key_arn is None:
            key = KmsKey(
                self,
                "kms-key",
                description=f"Encrypts {props.purpose} ({props.bucket_name})",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                policy=self._key_policy(props).json,
            )
            KmsAlias(
                self, "kms-alias", name=kms_alias_name(props.bucket_name), target_key_id=key.key_id
            )
            self.kms_key_arn: str = key.arn
        else:
            self.kms_key_arn = props.kms_key_arn

        bucket = S3Bucket(
            self, "bucket", bucket=props.bucket_name, force_destroy=props.allow_force_destroy
        )
        S3BucketVersioningA(
            self,
            "versioning",
            bucket=bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        self.encryption = S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="aws:kms", kms_master_key_id=self.kms_key_arn
                    ),
                    # One KMS data key per bucket instead of per object: fewer KMS calls, same key.
                    bucket_key_enabled=True,
                )
            ],
        )
        self._public_access_block = S3BucketPublicAccessBlock(
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
                            days_after_initiation=ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS
                        )
                    ],
                )
            ],
        )
        self.bucket_id: str = bucket.id
        self.bucket_name: str = bucket.bucket
        self.bucket_arn: str = bucket.arn
        self.bucket_region: str = bucket.region
        self.policy: S3BucketPolicy | None = None

    def _key_policy(self, props: PrivateBucketProps) -> DataAwsIamPolicyDocument:
        """The key's policy, written out instead of left to KMS's default."""
        root = account_root_arn(props.account_id)
        return policy_document(
            self,
            "kms-key-policy",
            [
                # AWS's default statement, kept: the account administers the key and its IAM
                # policies decide who of the account uses it (the chart publisher's, the
                # readers'). It grants nothing to other accounts; only the statements after it do.
                # https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
                Statement(
                    sid="AccountAdministersKey",
                    actions=["kms:*"],
                    resources=["*"],
                    principals={"AWS": [root]},
                ),
                *props.key_policy_statements,
            ],
        )

    def attach_policy(self, statements: Sequence[Statement] = ()) -> S3BucketPolicy:
        """The bucket policy: TLS only, then `statements`. Call once."""
        if self.policy is not None:
            raise ValueError("attach_policy: the bucket already has its policy")
        document = policy_document(
            self, "policy-document", [deny_insecure_transport(self.bucket_arn), *statements]
        )
        self.policy = S3BucketPolicy(
            self,
            "policy",
            bucket=self.bucket_id,
            policy=document.json,
            # S3 rejects a policy naming principals while the public-access block is mid-update.
            depends_on=[self._public_access_block],
        )
        return self.policy
