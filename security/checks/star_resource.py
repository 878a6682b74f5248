"""BERTH_AWS_5: identity policies name their resources; `Resource "*"` only for unscopable actions.

Statements with principals are resource policies (bucket, key, trust policies): there the
resource is the policy's owner (a KMS key policy's "*" means "this key"), so they are left to
the other checks. Deny statements may be broad.
"""

from __future__ import annotations

from typing import Any

from berth_policy_document import statements
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.data.base_check import BaseDataCheck

# Actions AWS does not let a policy scope to a resource, each with the reason.
UNSCOPABLE_ACTIONS = {
    # The registry token is account-wide; AWS requires Resource "*".
    # https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html
    "ecr:getauthorizationtoken": "ECR registry tokens are account-wide",
    # Needs no permission and has no resource; listed for policies that name it anyway.
    # https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
    "sts:getcalleridentity": "STS caller identity has no resource",
}


class StarResource(BaseDataCheck):
    def __init__(self) -> None:
        super().__init__(
            name='Ensure identity policies use Resource "*" only for actions AWS cannot scope',
            id="BERTH_AWS_5",
            categories=[CheckCategories.IAM],
            supported_data=["aws_iam_policy_document"],
        )

    def scan_data_conf(self, conf: dict[str, Any]) -> CheckResult:
        for statement in statements(conf):
            if not statement.allows or statement.principals or "*" not in statement.resources:
                continue
            if any(action.lower() not in UNSCOPABLE_ACTIONS for action in statement.actions):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = StarResource()
