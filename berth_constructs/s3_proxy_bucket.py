"""S3ProxyBucket: the private bucket the S3 proxy serves, its content, and the proxy's IAM role.

The AWS half of the proxy (the Helm release is `S3ProxyRelease`, in the workloads stack). The
bucket is private (all public-access blocks, ACLs disabled, TLS only, KMS, versioned). The
proxy's pods run as an IRSA role that can only read that bucket below the configured prefix;
the role trusts one ServiceAccount, which the release creates from the same identity.

Optionally the bucket is filled from a local folder (one `aws_s3_object` per file, re-uploaded
only when that file changes): the "provisioner to populate the S3 bucket" of the design.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cdktf import AssetType, TerraformAsset
from cdktf_cdktf_provider_aws.s3_object import S3Object
from constructs import Construct

from berth_constructs.irsa_service_account import IrsaServiceAccount, IrsaServiceAccountProps
from berth_constructs.policies import Condition, Statement
from berth_constructs.private_bucket import PrivateBucket, PrivateBucketProps
from berth_core.validation import bucket_name_problem, key_prefix_problem

# What the proxy calls: HeadObject/GetObject (s3:GetObject) and, for 404 instead of 403 on a
# missing key and for its readiness probe, s3:ListBucket.
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_Permissions
READ_OBJECT_ACTIONS = ("s3:GetObject",)
LIST_BUCKET_ACTIONS = ("s3:ListBucket",)

# A state address per file keeps Terraform plans small; thousands of files belong to `aws s3 sync`.
MAX_CONTENT_FILES = 500


def check_prefix(prefix: str) -> None:
    """A key prefix the proxy may serve below: path segments ending in `/`, nothing to escape."""
    problem = key_prefix_problem(prefix)
    if problem:
        raise ValueError(f"prefix: {problem}")


def check_index_document(index_document: str) -> None:
    if "/" in index_document or index_document in {".", ".."}:
        raise ValueError(f"index_document: {index_document!r} must be a plain file name")


@dataclass(frozen=True, kw_only=True)
class S3ProxyBucketProps:
    # Globally unique name of the content bucket.
    bucket_name: str
    # The owning account: its root administers the bucket's key.
    account_id: str
    # The proxy's IRSA role and the one ServiceAccount it trusts (namespace and name).
    reader: IrsaServiceAccountProps
    # Serve only keys below this prefix (`charts/`); the role can read nothing else.
    prefix: str = ""
    # Object served for `/`; when content is uploaded it must be one of its top-level files.
    index_document: str = ""
    # Upload every file of this folder to `prefix` (hidden files skipped); None uploads nothing.
    content_dir: Path | None = None
    # Encrypt with this KMS key; None creates a dedicated key with rotation on.
    kms_key_arn: str | None = None
    # Let `terraform destroy` remove a bucket that still holds objects (emulator/tests only).
    allow_force_destroy: bool = False

    def __post_init__(self) -> None:
        problem = bucket_name_problem(self.bucket_name)
        if problem:
            raise ValueError(f"bucket_name: {problem}")
        if self.reader.create_service_account:
            raise ValueError(
                "reader: create_service_account must be False (the proxy's chart creates it)"
            )
        check_prefix(self.prefix)
        check_index_document(self.index_document)
        if self.content_dir is not None:
            example_path(self.content_dir, self.index_document)  # raises naming content_dir


def content_files(content_dir: Path) -> list[tuple[str, Path]]:
    """`(relative POSIX path, file)` for every non-hidden file below `content_dir`, sorted."""
    if not content_dir.is_dir():
        raise ValueError(f"content_dir: {content_dir} is not a folder")
    found = []
    for path in sorted(content_dir.rglob("*")):
        relative = path.relative_to(content_dir)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        found.append((relative.as_posix(), path))
    if not found:
        raise ValueError(f"content_dir: {content_dir} holds no files to upload")
    if len(found) > MAX_CONTENT_FILES:
        raise ValueError(
            f"content_dir: {len(found)} files; at most {MAX_CONTENT_FILES} (sync larger trees"
            " with `aws s3 sync` instead of one Terraform resource per file)"
        )
    return found


def example_path(content_dir: Path, index_document: str = "") -> str:
    """A URL path (below the prefix) that the uploaded content answers: `""` for the index
    document, else the first file."""
    files = content_files(content_dir)
    if index_document:
        if index_document not in {relative for relative, _ in files}:
            raise ValueError(
                f"content_dir: {content_dir} has no top-level {index_document!r}"
                " (the index_document)"
            )
        return ""
    return files[0][0]


class S3ProxyBucket(Construct):
    """Outputs: `bucket_name`, `bucket_arn`, `bucket_region`, `kms_key_arn`, `role_arn`,
    `role_name`, `object_keys` (uploaded keys, sorted)."""

    def __init__(self, scope: Construct, id: str, props: S3ProxyBucketProps) -> None:
        super().__init__(scope, id)
        self._props = props
        bucket = PrivateBucket(
            self,
            "content",
            PrivateBucketProps(
                bucket_name=props.bucket_name,
                purpose="the S3 proxy's content",
                account_id=props.account_id,
                kms_key_arn=props.kms_key_arn,
                allow_force_destroy=props.allow_force_destroy,
            ),
        )
        bucket.attach_policy()
        irsa = IrsaServiceAccount(self, "irsa", props.reader)
        for statement in reader_statements(
            bucket.bucket_arn, props.prefix, bucket.kms_key_arn, bucket.bucket_region
        ):
            irsa.grant(statement)
        objects = self._upload_content(bucket) if props.content_dir else {}

        self.bucket_name: str = bucket.bucket_name
        self.bucket_arn: str = bucket.bucket_arn
        self.bucket_region: str = bucket.bucket_region
        self.kms_key_arn: str = bucket.kms_key_arn
        self.role_arn: str = irsa.role_arn
        self.role_name: str = irsa.role_name
        self.object_keys: list[str] = sorted(objects)

    def _upload_content(self, bucket: PrivateBucket) -> dict[str, S3Object]:
        """Key -> object, one per file, in key order; an object changes only with its file."""
        props = self._props
        assert props.content_dir is not None
        objects: dict[str, S3Object] = {}
        ids: set[str] = set()
        for relative, path in content_files(props.content_dir):
            key = props.prefix + relative
            object_id = relative.replace("/", "__")
            if object_id in ids:
                raise ValueError(f"content_dir: {relative!r} collides with another file's id")
            ids.add(object_id)
            asset = TerraformAsset(
                self, f"asset-{object_id}", path=str(path.resolve()), type=AssetType.FILE
            )
            content_type, _ = mimetypes.guess_type(path.name)
            objects[key] = S3Object(
                self,
                f"object-{object_id}",
                bucket=bucket.bucket_id,
                key=key,
                source=asset.path,
                # `etag` never matches a KMS-encrypted object's ETag (not an MD5): this does.
                source_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
                content_type=content_type or "application/octet-stream",
                # Uploaded after default encryption is set, so every object uses the KMS key.
                depends_on=[bucket.encryption],
            )
        return objects


def reader_statements(
    bucket_arn: str, prefix: str, kms_key_arn: str, bucket_region: str
) -> Sequence[Statement]:
    """Read-only access to `bucket/prefix*`, and decryption through S3 only."""
    listing_conditions = (
        # Listing is limited to the prefix. HeadBucket sends no prefix, so with a prefix set it
        # is denied: the proxy's readiness probe lists the prefix instead.
        # https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html
        [Condition("StringLike", "s3:prefix", [f"{prefix}*"])] if prefix else []
    )
    return [
        Statement(
            sid="ReadObjects", actions=READ_OBJECT_ACTIONS, resources=[f"{bucket_arn}/{prefix}*"]
        ),
        Statement(
            sid="ListObjects",
            actions=LIST_BUCKET_ACTIONS,
            resources=[bucket_arn],
            conditions=listing_conditions,
        ),
        # SSE-KMS objects need kms:Decrypt; only when S3 asks on the role's behalf.
        # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
        Statement(
            sid="DecryptObjects",
            actions=["kms:Decrypt"],
            resources=[kms_key_arn],
            conditions=[
                Condition("StringEquals", "kms:ViaService", [f"s3.{bucket_region}.amazonaws.com"])
            ],
        ),
    ]
