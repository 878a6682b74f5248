"""BERTH_AWS_4: an Allow to `Principal "*"` must be narrowed by a condition on who or where.

A resource policy allowing "*" is public unless a condition pins the caller (principal ARN,
account, organization) or the network path (VPC, VPC endpoint, source IP) or the calling
resource. Negated (`...Not...`) and `...IfExists` operators do not narrow, so they do not count;
nor does `ForAllValues:` (true when the key is absent), while `ForAnyValue:` does, as multivalued
keys such as aws:PrincipalOrgPaths need it.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
Deny statements with "*" (deny insecure transport, deny all but the publishers) are fine.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
"""

from __future__ import annotations

from typing import Any

from berth_policy_document import Condition, statements
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.data.base_check import BaseDataCheck

# Global condition keys that say who calls or from where.
RESTRICTING_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalServiceName",
        "aws:SourceArn",
        "aws:SourceAccount",
        "aws:SourceOrgID",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:SourceIp",
        "kms:CallerAccount",
    )
)
NARROWING_OPERATORS = frozenset(
    ("StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "IpAddress")
)


def _narrows(condition: Condition) -> bool:
    return (
        condition.test.removeprefix("ForAnyValue:") in NARROWING_OPERATORS
        and condition.variable.lower() in RESTRICTING_KEYS
        and bool(condition.values)
        and "*" not in condition.values
    )


class PublicPrincipalCondition(BaseDataCheck):
    def __init__(self) -> None:
        super().__init__(
            name='Ensure an Allow to Principal "*" is narrowed by a condition on caller or network',
            id="BERTH_AWS_4",
            categories=[CheckCategories.IAM],
            supported_data=["aws_iam_policy_document"],
        )

    def scan_data_conf(self, conf: dict[str, Any]) -> CheckResult:
        for statement in statements(conf):
            public = any(identifier == "*" for _, identifier in statement.principals)
            if statement.allows and public and not any(map(_narrows, statement.conditions)):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = PublicPrincipalCondition()
