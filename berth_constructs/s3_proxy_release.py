"""S3ProxyRelease: a private content bucket served over HTTPS by `charts/s3proxy` on EKS.

The bucket is private (all public-access blocks, ACLs disabled, TLS only, KMS, versioned). The
proxy's pods run as an IRSA role that can only read that bucket below the configured prefix.
Basic-auth users are given as bcrypt hashes only: a plaintext password is refused, so none can
reach the Terraform state or plan. TLS comes from a referenced Secret; the chart's self-signed
certificate only with the loudly named `allow_self_signed_tls`.

Optionally the bucket is filled from a local folder (one `aws_s3_object` per file, re-uploaded
only when that file changes).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict
from urllib.parse import quote

from cdktf import AssetType, TerraformAsset, TerraformProvider
from cdktf_cdktf_provider_aws.s3_object import S3Object
from constructs import Construct

from berth_constructs.ecr_registry import ContainerImage
from berth_constructs.helm_chart import ChartSource, install_chart
from berth_constructs.irsa_service_account import IrsaServiceAccount, IrsaServiceAccountProps
from berth_constructs.policies import Condition, Statement
from berth_constructs.private_bucket import PrivateBucket, PrivateBucketProps

# What the proxy calls: HeadObject/GetObject (s3:GetObject) and, for 404 instead of 403 on a
# missing key and for HeadBucket, s3:ListBucket.
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html#API_GetObject_Permissions
READ_OBJECT_ACTIONS = ("s3:GetObject",)
LIST_BUCKET_ACTIONS = ("s3:ListBucket",)

# bcrypt as htpasswd -B and the bcrypt library write it: $2a$/$2b$/$2y$, cost, 53 characters.
_BCRYPT_HASH = re.compile(r"^\$2[aby]\$(?P<cost>\d{2})\$[./A-Za-z0-9]{53}$")
# OWASP password storage cheat sheet: bcrypt work factor 10 or more.
MIN_BCRYPT_COST = 10
_HTPASSWD_USER = re.compile(r"^[^:\s]{1,255}$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# Prefix characters that are safe in an IAM resource ARN: no `*`/`?` wildcards, no `${`.
_PREFIX = re.compile(r"^([A-Za-z0-9!_.'()=+@,;-]+/)*$")
# A state address per file keeps Terraform plans small; thousands of files belong to `aws s3 sync`.
MAX_CONTENT_FILES = 500


@dataclass(frozen=True, kw_only=True)
class S3ProxyReleaseProps:
    # Globally unique name of the content bucket.
    bucket_name: str
    # Host name the Ingress serves, e.g. `files.uat.example.com`.
    host: str
    # The s3proxy image, e.g. `EcrRegistry.image(digest=...)`.
    image: ContainerImage
    # Where the s3proxy chart comes from.
    chart: ChartSource
    # ARN of the EKS cluster's IAM OIDC provider (IRSA trust).
    oidc_provider_arn: str
    # IAM role name of the proxy's pods, e.g. `<name_prefix>-s3proxy`.
    role_name: str
    # Basic-auth users: user name -> bcrypt hash (`htpasswd -nB -C 10 USER`); never plaintext.
    htpasswd_users: Mapping[str, str] = field(default_factory=dict)
    # Or the name of an existing Secret holding an `htpasswd` key (hashes kept out of state).
    htpasswd_secret_name: str | None = None
    # Serve without authentication (in-cluster only, e.g. behind a service mesh); avoid.
    allow_anonymous_access: bool = False
    # Secret with the Ingress certificate for `host` (yours or cert-manager's).
    tls_secret_name: str | None = None
    # Let the chart generate a self-signed certificate instead (non-production only).
    allow_self_signed_tls: bool = False
    # Serve only keys below this prefix (`charts/`); the role can read nothing else.
    prefix: str = ""
    # Object served for `/` and paths ending in `/` (`index.html`, `index.yaml`).
    index_document: str = ""
    # Upload every file of this folder to `prefix` (hidden files skipped); None uploads nothing.
    content_dir: Path | None = None
    # Namespace of the release and of the IRSA trust condition.
    namespace: str = "s3proxy"
    # ServiceAccount of the proxy pods (created by the chart, trusted by the role).
    service_account_name: str = "s3proxy"
    # Helm release name.
    release_name: str = "s3proxy"
    # Let Helm create `namespace` if it does not exist.
    create_namespace: bool = True
    # IngressClass of the cluster's ingress controller ("" = the cluster default).
    ingress_class_name: str = ""
    # Extra Ingress annotations (e.g. cert-manager's); authentication never lives here.
    ingress_annotations: Mapping[str, str] = field(default_factory=dict)
    # Proxy pods.
    replicas: int = 2
    # Status for keys S3 refuses: 404 hides which keys exist (the role may not list the bucket).
    access_denied_status: int = 404
    # Encrypt with this KMS key; None creates a dedicated key with rotation on.
    kms_key_arn: str | None = None
    # Let `terraform destroy` remove a bucket that still holds objects (emulator/tests only).
    allow_force_destroy: bool = False
    # Helm provider of the cluster; None uses the stack's default helm provider.
    provider: TerraformProvider | None = field(default=None, compare=False)

    def __post_init__(self) -> None:  # noqa: PLR0912 - one check per field, in field order
        if not _BUCKET_NAME.match(self.bucket_name) or ".." in self.bucket_name:
            raise ValueError(f"bucket_name: {self.bucket_name!r} is not an S3 bucket name")
        if not _HOST.match(self.host):
            raise ValueError(f"host: {self.host!r} is not a DNS host name")
        self._check_auth()
        if bool(self.tls_secret_name) == self.allow_self_signed_tls:
            raise ValueError(
                "tls_secret_name: give the certificate Secret, or set allow_self_signed_tls=True"
                " (non-production) - exactly one"
            )
        for name_field in ("tls_secret_name", "htpasswd_secret_name", "service_account_name"):
            value = getattr(self, name_field)
            if value is not None and not _DNS_SUBDOMAIN.match(value):
                raise ValueError(f"{name_field}: {value!r} is not a Kubernetes object name")
        for label_field in ("namespace", "release_name"):
            if not _DNS_LABEL.match(getattr(self, label_field)):
                raise ValueError(
                    f"{label_field}: {getattr(self, label_field)!r} is not a DNS label"
                )
        if self.prefix and not _PREFIX.match(self.prefix):
            raise ValueError(
                f"prefix: {self.prefix!r} must be path segments ending in '/', without"
                " wildcards or a leading '/' (e.g. 'charts/')"
            )
        if any(segment in {".", ".."} for segment in self.prefix.split("/")):
            raise ValueError(f"prefix: {self.prefix!r} must not contain '.' or '..' segments")
        if "/" in self.index_document or self.index_document in {".", ".."}:
            raise ValueError(f"index_document: {self.index_document!r} must be a plain file name")
        if self.content_dir is not None:
            content_files(self.content_dir)  # raises ValueError naming content_dir
        self.irsa_props()  # the IRSA construct's own checks: namespace, names, provider ARN
        if not 1 <= self.replicas <= 50:
            raise ValueError("replicas: must be between 1 and 50")
        if self.access_denied_status not in (403, 404):
            raise ValueError("access_denied_status: must be 403 or 404")

    def irsa_props(self) -> IrsaServiceAccountProps:
        """The proxy's role; the chart creates the ServiceAccount, named from the same props."""
        return IrsaServiceAccountProps(
            namespace=self.namespace,
            name=self.service_account_name,
            role_name=self.role_name,
            oidc_provider_arn=self.oidc_provider_arn,
            create_service_account=False,
        )

    def _check_auth(self) -> None:
        modes = [bool(self.htpasswd_users), bool(self.htpasswd_secret_name)]
        if sum([*modes, self.allow_anonymous_access]) != 1:
            raise ValueError(
                "htpasswd_users: give bcrypt hashes, or htpasswd_secret_name, or set"
                " allow_anonymous_access=True - exactly one"
            )
        for user, hashed in self.htpasswd_users.items():
            if not _HTPASSWD_USER.match(user):
                raise ValueError(f"htpasswd_users: {user!r} is not an htpasswd user name")
            match = _BCRYPT_HASH.match(hashed)
            # The value is never echoed: if it is not a hash it may be a password.
            if match is None:
                raise ValueError(
                    f"htpasswd_users: the value for {user!r} is not a bcrypt hash ($2y$...);"
                    " plaintext passwords are refused (htpasswd -nB -C 10 USER)"
                )
            if int(match.group("cost")) < MIN_BCRYPT_COST:
                raise ValueError(
                    f"htpasswd_users: the hash for {user!r} has bcrypt cost"
                    f" {int(match.group('cost'))}; use at least {MIN_BCRYPT_COST}"
                )


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


def htpasswd(users: Mapping[str, str]) -> str:
    """htpasswd file text: one `user:hash` line per user, sorted so the values are stable."""
    return "".join(f"{user}:{users[user]}\n" for user in sorted(users))


class _Image(TypedDict):
    repository: str
    tag: str
    digest: str
    pullPolicy: str


class _S3(TypedDict):
    bucket: str
    region: str
    prefix: str
    indexDocument: str
    accessDeniedStatus: int


class _Auth(TypedDict):
    enabled: bool
    htpasswd: str
    existingSecret: str


class _ServiceAccount(TypedDict):
    create: bool
    name: str
    roleArn: str


class _Tls(TypedDict):
    secretName: str
    selfSigned: bool


class _Ingress(TypedDict):
    enabled: bool
    className: str
    annotations: dict[str, str]
    host: str
    tls: _Tls


class S3ProxyValues(TypedDict):
    """The values of `charts/s3proxy` this construct sets (schema-checked in tests)."""

    image: _Image
    s3: _S3
    auth: _Auth
    serviceAccount: _ServiceAccount
    ingress: _Ingress
    replicaCount: int


class S3ProxyRelease(Construct):
    """Outputs: `bucket_name`, `bucket_arn`, `kms_key_arn`, `role_arn`, `release_name`,
    `example_url`, `values`."""

    def __init__(self, scope: Construct, id: str, props: S3ProxyReleaseProps) -> None:
        super().__init__(scope, id)
        self._props = props

        bucket = PrivateBucket(
            self,
            "content",
            PrivateBucketProps(
                bucket_name=props.bucket_name,
                purpose="the S3 proxy's content",
                kms_key_arn=props.kms_key_arn,
                allow_force_destroy=props.allow_force_destroy,
            ),
        )
        bucket_policy = bucket.attach_policy()
        kms_key_arn = bucket.kms_key_arn
        irsa = IrsaServiceAccount(self, "irsa", props.irsa_props())
        for statement in reader_statements(
            bucket.bucket_arn, props.prefix, kms_key_arn, bucket.bucket_region
        ):
            irsa.grant(statement)

        objects = self._upload_content(bucket) if props.content_dir else {}

        self.values: S3ProxyValues = {
            "image": {
                "repository": props.image.repository,
                "tag": props.image.tag,
                "digest": props.image.digest,
                "pullPolicy": "IfNotPresent",
            },
            "s3": {
                "bucket": props.bucket_name,
                "region": bucket.bucket_region,
                "prefix": props.prefix,
                "indexDocument": props.index_document,
                "accessDeniedStatus": props.access_denied_status,
            },
            "auth": {
                "enabled": not props.allow_anonymous_access,
                "htpasswd": htpasswd(props.htpasswd_users),
                "existingSecret": props.htpasswd_secret_name or "",
            },
            "serviceAccount": {
                "create": True,
                "name": irsa.service_account_name,
                "roleArn": irsa.role_arn,
            },
            "ingress": {
                "enabled": True,
                "className": props.ingress_class_name,
                "annotations": dict(props.ingress_annotations),
                "host": props.host,
                "tls": {
                    "secretName": props.tls_secret_name or "",
                    "selfSigned": props.allow_self_signed_tls,
                },
            },
            "replicaCount": props.replicas,
        }
        release = install_chart(
            self,
            "release",
            chart=props.chart,
            release_name=props.release_name,
            namespace=props.namespace,
            values=self.values,
            create_namespace=props.create_namespace,
            provider=props.provider,
            # Pods start once the bucket is locked down and its content is in place.
            depends_on=[bucket_policy, *objects.values()],
        )

        self.bucket_name: str = bucket.bucket_name
        self.bucket_arn: str = bucket.bucket_arn
        self.kms_key_arn: str = kms_key_arn
        self.role_arn: str = irsa.role_arn
        self.release_name: str = release.name
        first = next(iter(objects), "").removeprefix(props.prefix)
        if props.index_document:
            first = ""  # `/` serves the index document
        # As in the seed's `app_url_example`: a URL that answers once the release is up.
        self.example_url: str = f"https://{props.host}/{quote(first)}"

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
            s3_object = S3Object(
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
            objects[key] = s3_object
        return objects


def reader_statements(
    bucket_arn: str, prefix: str, kms_key_arn: str, bucket_region: str
) -> Sequence[Statement]:
    """Read-only access to `bucket/prefix*`, and decryption through S3 only."""
    listing_conditions = (
        # Listing is limited to the prefix. HeadBucket (used by readiness probes) sends no
        # prefix, so with a prefix set it is denied: probes must list the prefix instead.
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
