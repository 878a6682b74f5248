"""S3ProxyRelease: `charts/s3proxy` on the cluster, serving a private bucket over HTTPS.

The Kubernetes half of the proxy; the bucket, its content and the IRSA role the pods run as are
`S3ProxyBucket`'s, in the account stack. The chart creates the ServiceAccount that role trusts,
from the same identity, annotated with the role's ARN. Basic-auth users are given as bcrypt
hashes only: a plaintext password is refused, so none can reach the Terraform state or plan.
TLS comes from a referenced Secret; the chart's self-signed certificate only with the loudly
named `allow_self_signed_tls`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from cdktf import TerraformProvider, Token
from constructs import Construct

from berth_constructs.container_image import ContainerImage
from berth_constructs.helm_chart import ChartSource, install_chart
from berth_constructs.s3_proxy_bucket import check_index_document, check_prefix
from berth_constructs.s3_proxy_values import S3ProxyValues
from berth_core.validation import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    REGION,
    ROLE_ARN,
    bucket_name_problem,
    host_name_problem,
)

# bcrypt as htpasswd -B and the bcrypt library write it: $2a$/$2b$/$2y$, cost, 53 characters.
_BCRYPT_HASH = re.compile(r"^\$2[aby]\$(?P<cost>\d{2})\$[./A-Za-z0-9]{53}$")
# OWASP password storage cheat sheet: bcrypt work factor 10 or more.
MIN_BCRYPT_COST = 10
_HTPASSWD_USER = re.compile(r"^[^:\s]{1,255}$")


@dataclass(frozen=True, kw_only=True)
class S3ProxyReleaseProps:
    # Name of the content bucket (`S3ProxyBucket.bucket_name`).
    bucket_name: str
    # Region of the content bucket.
    bucket_region: str
    # ARN of the IRSA role the pods run as (`S3ProxyBucket.role_arn`, or its lookup).
    role_arn: str
    # Host name the Ingress serves, e.g. `files.uat.example.com`.
    host: str
    # The s3proxy image, e.g. a pushed image pinned by digest.
    image: ContainerImage
    # Where the s3proxy chart comes from.
    chart: ChartSource
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
    # A path (below the prefix) the content answers, for `example_url`; None: no example.
    example_path: str | None = None
    # Namespace of the release (must exist: see WorkloadNamespace) and of the role's trust.
    namespace: str = "s3proxy"
    # ServiceAccount of the proxy pods (created by the chart, trusted by the role).
    service_account_name: str = "s3proxy"
    # Helm release name.
    release_name: str = "s3proxy"
    # IngressClass of the cluster's ingress controller ("" = the cluster default).
    ingress_class_name: str = ""
    # Extra Ingress annotations (e.g. cert-manager's); authentication never lives here.
    ingress_annotations: Mapping[str, str] = field(default_factory=dict)
    # Proxy pods.
    replicas: int = 2
    # Status for keys S3 refuses: 404 hides which keys exist (the role may not list the bucket).
    access_denied_status: int = 404
    # Helm provider of the cluster; None uses the stack's default helm provider.
    provider: TerraformProvider | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        problem = bucket_name_problem(self.bucket_name)
        if problem:
            raise ValueError(f"bucket_name: {problem}")
        if not Token.is_unresolved(self.bucket_region) and not REGION.match(self.bucket_region):
            raise ValueError(f"bucket_region: {self.bucket_region!r} is not an AWS region")
        if not Token.is_unresolved(self.role_arn) and not ROLE_ARN.match(self.role_arn):
            raise ValueError(f"role_arn: {self.role_arn!r} is not an IAM role ARN")
        problem = host_name_problem(self.host)
        if problem:
            raise ValueError(f"host: {problem}")
        self._check_auth()
        if bool(self.tls_secret_name) == self.allow_self_signed_tls:
            raise ValueError(
                "tls_secret_name: give the certificate Secret, or set allow_self_signed_tls=True"
                " (non-production) - exactly one"
            )
        for name_field in ("tls_secret_name", "htpasswd_secret_name", "service_account_name"):
            value = getattr(self, name_field)
            if value is not None and not DNS_SUBDOMAIN.match(value):
                raise ValueError(f"{name_field}: {value!r} is not a Kubernetes object name")
        for label_field in ("namespace", "release_name"):
            if not DNS_LABEL.match(getattr(self, label_field)):
                raise ValueError(
                    f"{label_field}: {getattr(self, label_field)!r} is not a DNS label"
                )
        check_prefix(self.prefix)
        check_index_document(self.index_document)
        if not 1 <= self.replicas <= 50:
            raise ValueError("replicas: must be between 1 and 50")
        if self.access_denied_status not in (403, 404):
            raise ValueError("access_denied_status: must be 403 or 404")

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


def htpasswd(users: Mapping[str, str]) -> str:
    """htpasswd file text: one `user:hash` line per user, sorted so the values are stable."""
    return "".join(f"{user}:{users[user]}\n" for user in sorted(users))


class S3ProxyRelease(Construct):
    """Outputs: `release_name`, `example_url` (None without `example_path`), `values`."""

    def __init__(self, scope: Construct, id: str, props: S3ProxyReleaseProps) -> None:
        super().__init__(scope, id)
        self.values: S3ProxyValues = {
            "image": {
                "repository": props.image.repository,
                "tag": props.image.tag,
                "digest": props.image.digest,
                "pullPolicy": "IfNotPresent",
            },
            "s3": {
                "bucket": props.bucket_name,
                "region": props.bucket_region,
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
                "name": props.service_account_name,
                "roleArn": props.role_arn,
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
            provider=props.provider,
        )
        self.release_name: str = release.name
        # As in the design's `app_url_example`: a URL that answers once the release is up.
        self.example_url: str | None = (
            f"https://{props.host}/{quote(props.example_path)}"
            if props.example_path is not None
            else None
        )
