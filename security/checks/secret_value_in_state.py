"""BERTH_AWS_2: a secret's value must not pass through Terraform state or plans.

`secret_string` (and `secret_binary`) are stored in clear in the state file and in saved plans.
`secret_string_wo` (write-only, aws provider >= 5.88) fed from an ephemeral variable is not.
https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/secretsmanager_secret_version
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

STATEFUL_VALUE_ATTRIBUTES = ("secret_string", "secret_binary")


class SecretValueInState(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure secret versions use secret_string_wo so the value never reaches state",
            id="BERTH_AWS_2",
            categories=[CheckCategories.SECRETS],
            supported_resources=["aws_secretsmanager_secret_version"],
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        for attribute in STATEFUL_VALUE_ATTRIBUTES:
            if conf.get(attribute) not in (None, [], [None], [""]):
                self.evaluated_keys = [attribute]
                return CheckResult.FAILED
        return CheckResult.PASSED


check = SecretValueInState()
