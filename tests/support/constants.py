"""Identifiers the tests share: accounts, the region, OIDC issuers and the ARNs built from them.

Made-up but well-formed values (AWS's own formats). The accounts are the ones the files in
`environments/` name, written out here so that a test notices when a file changes.
"""

from __future__ import annotations

from berth_core.config import PROJECT_ROOT

# The account a construct test deploys into: uat's.
ACCOUNT = "111111111111"
# A second account (prod's): a reader of another account's repository, a cross-account role.
OTHER_ACCOUNT = "222222222222"
# A third account: edge's (a cluster outside EKS).
EDGE_ACCOUNT = "333333333333"
# moto's default account, where the emulator's fixed credentials act: local's.
MOTO_ACCOUNT = "123456789012"
# The account each environment file names.
ENVIRONMENT_ACCOUNTS = {
    "local": MOTO_ACCOUNT,
    "uat": ACCOUNT,
    "prod": OTHER_ACCOUNT,
    "edge": EDGE_ACCOUNT,
}
REGION = "eu-west-1"

# An EKS cluster's OIDC issuer (host and path, as IAM condition keys use it).
EKS_ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
# The issuer of a cluster outside EKS.
EXTERNAL_ISSUER = "oidc.example.com/clusters/on-prem"

# An image digest of the right shape.
DIGEST = "sha256:" + "ab" * 32

# This repository's charts (charts/<name>/Chart.yaml).
CHARTS_DIR = PROJECT_ROOT / "charts"


def oidc_provider_arn(issuer: str, account: str = ACCOUNT) -> str:
    """The ARN IAM gives the OIDC provider of `issuer` in `account`."""
    return f"arn:aws:iam::{account}:oidc-provider/{issuer}"


def role_arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


# The OIDC provider of an EKS cluster in ACCOUNT, and of a cluster outside EKS.
EKS_PROVIDER_ARN = oidc_provider_arn(EKS_ISSUER)
EXTERNAL_PROVIDER_ARN = oidc_provider_arn(EXTERNAL_ISSUER)
# A customer managed KMS key given to a construct instead of the one it would create.
KMS_KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
