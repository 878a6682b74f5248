"""BERTH_AWS_3: no policy may grant the deprecated `appconfig:GetConfiguration`.

It is billed per call, cannot be scoped the way the AppConfigData session API can, and is
deprecated; pods need only `appconfig:StartConfigurationSession` and
`appconfig:GetLatestConfiguration`. Wildcards that include it (`appconfig:*`, `appconfig:Get*`)
fail too.
https://docs.aws.amazon.com/appconfig/2019-10-09/APIReference/API_GetConfiguration.html
"""

from __future__ import annotations

from typing import Any

from berth_policy_document import statements
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.data.base_check import BaseDataCheck

DEPRECATED_ACTION = "appconfig:GetConfiguration"


class AppConfigGetConfiguration(BaseDataCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure no policy grants the deprecated appconfig:GetConfiguration",
            id="BERTH_AWS_3",
            categories=[CheckCategories.IAM],
            supported_data=["aws_iam_policy_document"],
        )

    def scan_data_conf(self, conf: dict[str, Any]) -> CheckResult:
        for statement in statements(conf):
            if statement.allows and statement.grants(DEPRECATED_ACTION):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = AppConfigGetConfiguration()
