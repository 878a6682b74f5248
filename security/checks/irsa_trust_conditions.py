"""BERTH_AWS_1: an IRSA/OIDC trust statement must pin the service account and the audience.

Without `StringEquals <issuer>:sub = system:serviceaccount:NS:SA` every service account in the
cluster (or any identity of the OIDC provider) can assume the role; without `<issuer>:aud =
sts.amazonaws.com` tokens minted for another audience are accepted.
https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html
"""

from __future__ import annotations

from typing import Any

from berth_policy_document import Statement, statements
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.data.base_check import BaseDataCheck

WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
STS_AUDIENCE = "sts.amazonaws.com"


def _pinned(statement: Statement, suffix: str, expected: str | None = None) -> bool:
    """A StringEquals condition on `<issuer>:<suffix>` with literal values (no wildcards)."""
    for condition in statement.conditions:
        if condition.test != "StringEquals" or not condition.variable.endswith(f":{suffix}"):
            continue
        if not condition.values or any("*" in v or "?" in v for v in condition.values):
            continue
        if expected is None or set(condition.values) == {expected}:
            return True
    return False


class IrsaTrustConditions(BaseDataCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure OIDC (IRSA) trust policies pin :sub and :aud with StringEquals",
            id="BERTH_AWS_1",
            categories=[CheckCategories.IAM],
            supported_data=["aws_iam_policy_document"],
        )

    def scan_data_conf(self, conf: dict[str, Any]) -> CheckResult:
        for statement in statements(conf):
            federated = statement.principal_identifiers("Federated")
            if not (statement.allows and federated and statement.grants(WEB_IDENTITY_ACTION)):
                continue
            if not (_pinned(statement, "sub") and _pinned(statement, "aud", STS_AUDIENCE)):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = IrsaTrustConditions()
