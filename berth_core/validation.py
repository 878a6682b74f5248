"""The formats Berth checks, each defined once: the environment files (`berth_core.config`) and
the constructs' props (`berth_constructs`) both check through these.

A `Rule` is one anchored regex and what a value of it is called; its `regex` also serves as a
pydantic `Field(pattern=...)` (no look-arounds: pydantic's default regex engine has none). A
format that a regex alone does not capture has a `*_problem(value) -> str | None` function,
which returns why the value is wrong (without the field's name) or None.

Light on purpose (the standard library only): `berth` commands import it at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rule:
    """One format: an anchored regex and what a value of it is (`an AWS region`)."""

    regex: str
    kind: str
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(self.regex))

    def match(self, value: str) -> re.Match[str] | None:
        return self.pattern.match(value)

    def problem(self, value: str) -> str | None:
        """`'VALUE' is not KIND`, or None when `value` has the format."""
        return None if self.match(value) else f"{value!r} is not {self.kind}"


# --- AWS -------------------------------------------------------------------------------------

# https://docs.aws.amazon.com/accounts/latest/reference/manage-acct-identifiers.html
ACCOUNT_ID = Rule(r"^\d{12}$", "a 12-digit AWS account id")
# Region codes: `eu-west-1`, `us-gov-west-1`, `us-isob-east-1`, `ap-southeast-7`.
# https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html
REGION = Rule(r"^[a-z]{2}(-[a-z]+)+-\d$", "an AWS region")

# IAM names: roles and users 1-64, policies 1-128 characters of [\w+=,.@-]; a role ARN may hold
# a path (`role/PATH/NAME`). Every partition (`aws`, `aws-cn`, `aws-us-gov`, ...).
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-names
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html
IAM_NAME = Rule(r"^[\w+=,.@-]{1,64}$", "an IAM name (1-64 of [\\w+=,.@-])")
IAM_POLICY_NAME = Rule(r"^[\w+=,.@-]{1,128}$", "an IAM policy name (1-128 of [\\w+=,.@-])")
ROLE_ARN = Rule(
    r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):role/(?:[\w+=,.@-]+/)*(?P<name>[\w+=,.@-]+)$",
    "an IAM role ARN",
)
# What resource policies may name literally: an account root or a role (ECR, the principal
# lists of the environment files add users).
ROLE_OR_ROOT_ARN = Rule(
    r"^arn:aws[a-z-]*:iam::\d{12}:(root|role/[\w+=,.@/-]+)$", "an IAM role or account-root ARN"
)
PRINCIPAL_ARN = Rule(
    r"^arn:aws[a-z-]*:iam::\d{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)$",
    "an IAM role, user or account-root ARN",
)
# `arn:aws:iam::ACCOUNT:oidc-provider/ISSUER` (issuer host and path, no scheme, no wildcard).
# https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc.html
OIDC_PROVIDER_ARN = Rule(
    r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/(?P<issuer>[^\s*?]+)$",
    "an IAM OIDC provider ARN (arn:aws:iam::ACCOUNT:oidc-provider/ISSUER)",
)
# A customer-managed key by ARN (IAM grants and key policies need the ARN, never an alias).
# https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#key-id-key-ARN
KMS_KEY_ARN = Rule(
    r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/[A-Za-z0-9-]+$",
    "a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)",
)

# S3 general purpose bucket names: 3-63 of [a-z0-9.-], starting and ending with a letter or
# digit, no two adjacent periods.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
BUCKET_NAME = Rule(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", "an S3 bucket name")
BUCKET_ARN = Rule(r"^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", "an S3 bucket ARN")


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not an S3 bucket name, or None."""
    if not BUCKET_NAME.match(name) or ".." in name:
        return f"{name!r} is not an S3 bucket name"
    return None


# Key prefixes (`charts/`): path segments ending in `/`, of characters that are safe in an IAM
# resource ARN (no `*`/`?` wildcards, no `${`) and in a URL path.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html
KEY_PREFIX = Rule(r"^([A-Za-z0-9!_.'()=+@,;-]+/)*$", "a key prefix")


def key_prefix_problem(prefix: str) -> str | None:
    """Why `prefix` is not a key prefix Berth can grant and serve below, or None."""
    if prefix and not KEY_PREFIX.match(prefix):
        return (
            f"{prefix!r} must be path segments ending in '/', without wildcards or a leading"
            " '/' (e.g. 'charts/')"
        )
    if any(segment in {".", ".."} for segment in prefix.split("/")):
        return f"{prefix!r} must not contain '.' or '..' segments"
    return None


# Days a replaced or deleted object (or an untagged image) is kept before it expires: at least a
# day (S3 and ECR lifecycle rules count whole days), at most ten years (Berth's own bound).
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_NoncurrentVersionExpiration.html
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html
MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650


def retention_days_problem(days: int) -> str | None:
    if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        return f"must be between {MIN_RETENTION_DAYS} and {MAX_RETENTION_DAYS}"
    return None


# AWS Organizations identifiers that resource policies grant to (aws:PrincipalOrgID, and an
# entity path as aws:PrincipalOrgPaths holds it: `o-ID/r-ROOT/ou-.../`, optionally ending in
# `*` for every OU below; no wildcard elsewhere).
# https://docs.aws.amazon.com/organizations/latest/APIReference/API_Organization.html
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgpaths
ORGANIZATION_ID = Rule(r"^o-[a-z0-9]{10,32}$", "an organization id (o-...)")
ORGANIZATION_PATH = Rule(
    r"^o-[a-z0-9]{10,32}/(r-[0-9a-z]{4,32}/(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}/)*)?\*?$",
    "an organization path (o-ORG/r-ROOT/ou-.../, optionally ending in *)",
)

# ECR repository names: lowercase path segments of [a-z0-9] separated by `.`, `_` or `-`.
# https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html
ECR_REPOSITORY_NAME = Rule(
    r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$",
    "an ECR repository name (lowercase segments of [a-z0-9._-] separated by '/')",
)


def ecr_repository_name_problem(name: str) -> str | None:
    """Why `name` is not an ECR repository name (2-256 characters), or None."""
    if not 2 <= len(name) <= 256 or not ECR_REPOSITORY_NAME.match(name):
        return f"{name!r} is not {ECR_REPOSITORY_NAME.kind}"
    return None


# --- Containers ------------------------------------------------------------------------------

# The Docker/OCI tag grammar, and a sha256 digest.
# https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests
IMAGE_TAG = Rule(r"^[\w][\w.-]{0,127}$", "a Docker image tag")
# Tags that move: they name whatever was pushed last, never one scanned image.
MOVING_TAGS = frozenset({"latest"})


def image_tag_problem(tag: str) -> str | None:
    """Why `tag` does not pin an image, or None."""
    if tag in MOVING_TAGS:
        return f"{tag!r} does not pin an image (it moves); use a version tag or a digest"
    return IMAGE_TAG.problem(tag)


IMAGE_DIGEST = Rule(r"^sha256:[a-f0-9]{64}$", "a sha256:<64 hex> digest")
# `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME` or any `[host[:port]/]path`, without tag or digest.
IMAGE_REPOSITORY = Rule(
    r"^[a-z0-9][a-z0-9.-]*(:\d+)?(/[a-z0-9][a-z0-9._-]*)*$",
    "an image repository (no tag or digest)",
)

# --- Kubernetes ------------------------------------------------------------------------------

# RFC 1123 label (namespaces, release names) and subdomain (most object names), as Kubernetes
# validates them.
# https://kubernetes.io/docs/concepts/overview/working-with-objects/names/
DNS_LABEL = Rule(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", "a Kubernetes namespace name")
DNS_SUBDOMAIN = Rule(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$", "a Kubernetes object name")

# --- The web ---------------------------------------------------------------------------------

# An https:// URL: an OIDC issuer (https only, per OpenID Connect Discovery 1.0 section 2) or a
# Kubernetes API server.
# https://openid.net/specs/openid-connect-discovery-1_0.html#IssuerDiscovery
HTTPS_URL = Rule(r"^https://[^\s/]+(/[^\s]*)?$", "an https:// URL")
# A DNS host name: lowercase labels of RFC 1123 (1-63 characters each), a top-level domain of
# letters, at most 253 characters in all (checked by `host_name_problem`).
# https://datatracker.ietf.org/doc/html/rfc1123#section-2.1
HOST_NAME = Rule(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", "a DNS host name")
MAX_HOST_NAME_LENGTH = 253


def host_name_problem(host: str) -> str | None:
    if len(host) > MAX_HOST_NAME_LENGTH or not HOST_NAME.match(host):
        return f"{host!r} is not a DNS host name"
    return None


# GitHub: owner 1-39 of [A-Za-z0-9-] (no leading dash), repository 1-100 of [A-Za-z0-9._-].
# https://docs.github.com/en/repositories/creating-and-managing-repositories/repository-limits
GITHUB_REPOSITORY = Rule(
    r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$", "a GitHub repository 'owner/name'"
)

# --- Berth's own names -----------------------------------------------------------------------

# Lowercase words joined by dashes: valid in Secrets Manager, AppConfig, IAM and Terraform names.
SECRET_NAME = Rule(
    r"^[a-z][a-z0-9-]{0,46}[a-z0-9]$", "lowercase words joined by dashes (2-48 characters)"
)
