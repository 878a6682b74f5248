"""BERTH_AWS_6: every IAM, bucket, key and secret policy is a `data.aws_iam_policy_document`.

A policy written as a JSON string (`json.dumps`, heredoc) is opaque to checkov, to the Berth
checks above and to `berth review`: this check makes such a policy fail instead of passing
unseen. https://developer.hashicorp.com/terraform/tutorials/aws/aws-iam-policy
"""

from __future__ import annotations

import re
from typing import Any

from berth_policy_document import first_string
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

POLICY_ATTRIBUTES = {
    "aws_iam_role": "assume_role_policy",
    "aws_iam_policy": "policy",
    "aws_iam_role_policy": "policy",
    "aws_s3_bucket_policy": "policy",
    "aws_kms_key": "policy",
    "aws_ecr_repository_policy": "policy",
    "aws_ecr_registry_policy": "policy",
    "aws_secretsmanager_secret_policy": "policy",
}
_DOCUMENT_REFERENCE = re.compile(
    r"^\$\{data\.aws_iam_policy_document\.[^.}]+\.(json|minified_json)\}$"
)


class PolicyAsDocument(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure policies are aws_iam_policy_document data sources, not JSON strings",
            id="BERTH_AWS_6",
            categories=[CheckCategories.IAM],
            supported_resources=list(POLICY_ATTRIBUTES),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        attribute = POLICY_ATTRIBUTES[self.entity_type]
        policies = [first_string(conf.get(attribute))]
        # An aws_iam_role may also carry inline policies as nested blocks.
        for inline in conf.get("inline_policy") or []:
            if isinstance(inline, dict):
                policies.append(first_string(inline.get("policy")))
        for policy in policies:
            # A KMS key without a policy gets the default key policy: nothing hidden.
            if policy and not _DOCUMENT_REFERENCE.match(policy):
                self.evaluated_keys = [attribute]
                return CheckResult.FAILED
        return CheckResult.PASSED


check = PolicyAsDocument()
