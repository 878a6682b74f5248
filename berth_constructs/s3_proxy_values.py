"""The values of `charts/s3proxy` that Berth sets, defined once.

`S3ProxyRelease` builds its release values as an `S3ProxyValues` (mypy checks every key), a test
checks each key against the chart's `values.schema.json`, and a reader of synthesized releases
(the review) reads an s3proxy release's values typed by the same shape; `typing.get_type_hints`
lists its keys. Light on purpose (the standard library only, no provider bindings). (pydantic's
`TypeAdapter` would need `typing_extensions.TypedDict` on Python 3.11.)
"""

from __future__ import annotations

from typing import TypedDict


class S3ProxyImage(TypedDict):
    # Repository without tag or digest; the digest, when set, wins over the tag.
    repository: str
    tag: str
    digest: str
    pullPolicy: str


class S3ProxyS3(TypedDict):
    bucket: str
    region: str
    # Serve only keys below this prefix ("" = the whole bucket).
    prefix: str
    # Object served for `/` and paths ending in `/` ("" = none).
    indexDocument: str
    # Status for keys S3 refuses (403 or 404).
    accessDeniedStatus: int


class S3ProxyAuth(TypedDict):
    # Basic auth on (False: anonymous).
    enabled: bool
    # Inline htpasswd lines (bcrypt); "" with `existingSecret`.
    htpasswd: str
    # Secret holding an `htpasswd` key ("" = the inline lines).
    existingSecret: str


class S3ProxyServiceAccount(TypedDict):
    create: bool
    name: str
    # The IRSA role the chart annotates the ServiceAccount with.
    roleArn: str


class S3ProxyTls(TypedDict):
    # Secret with the Ingress certificate ("" with `selfSigned`).
    secretName: str
    selfSigned: bool


class S3ProxyIngress(TypedDict):
    enabled: bool
    # IngressClass ("" = the cluster default).
    className: str
    annotations: dict[str, str]
    host: str
    tls: S3ProxyTls


class S3ProxyValues(TypedDict):
    """The values of `charts/s3proxy` that `S3ProxyRelease` sets (the rest keep the chart's
    defaults)."""

    image: S3ProxyImage
    s3: S3ProxyS3
    auth: S3ProxyAuth
    serviceAccount: S3ProxyServiceAccount
    ingress: S3ProxyIngress
    replicaCount: int
