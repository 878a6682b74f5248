"""One way to write IAM policy statements: typed, structured, read by scanners and reviewers.

Policies are `DataAwsIamPolicyDocument`s built from `Statement`s, never `json.dumps` strings:
checkov and the review report read their structure; a JSON string is opaque to both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from constructs import Construct


@dataclass(frozen=True)
class Condition:
    """`test` is the operator (StringEquals, ArnNotLike, Bool, ...), `variable` the context key."""

    test: str
    variable: str
    values: Sequence[str]


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: Sequence[str]
    # Resource ARNs; `("*",)` only for actions AWS cannot scope (say which in a comment).
    resources: Sequence[str] = ()
    effect: Literal["Allow", "Deny"] = "Allow"
    # Principal type ("AWS", "Service", "Federated") -> identifiers; resource policies only.
    principals: Mapping[str, Sequence[str]] = field(default_factory=dict)
    conditions: Sequence[Condition] = ()

    @property
    def is_empty(self) -> bool:
        """A statement with nothing to grant, or granting to nobody, is left out."""
        return not self.actions or (bool(self.principals) and not any(self.principals.values()))


def policy_document(
    scope: Construct, id: str, statements: Sequence[Statement]
) -> DataAwsIamPolicyDocument:
    """A policy document holding every non-empty statement, in the order given."""
    kept = [statement for statement in statements if not statement.is_empty]
    if not kept:
        raise ValueError(f"{id}: a policy needs at least one statement with actions and principals")
    return DataAwsIamPolicyDocument(scope, id, statement=[_to_struct(s) for s in kept])


def _to_struct(statement: Statement) -> DataAwsIamPolicyDocumentStatement:
    principals = [
        DataAwsIamPolicyDocumentStatementPrincipals(type=kind, identifiers=list(identifiers))
        for kind, identifiers in statement.principals.items()
        if identifiers
    ]
    conditions = [
        DataAwsIamPolicyDocumentStatementCondition(
            test=condition.test, variable=condition.variable, values=list(condition.values)
        )
        for condition in statement.conditions
    ]
    return DataAwsIamPolicyDocumentStatement(
        sid=statement.sid,
        effect=statement.effect,
        actions=list(statement.actions),
        resources=list(statement.resources) or None,
        principals=principals or None,
        condition=conditions or None,
    )


def deny_insecure_transport(bucket_arn: str) -> Statement:
    """Refuse every request to the bucket that is not over TLS.

    https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html#transit
    """
    return Statement(
        sid="DenyInsecureTransport",
        effect="Deny",
        actions=["s3:*"],
        resources=[bucket_arn, f"{bucket_arn}/*"],
        principals={"AWS": ["*"]},
        conditions=[Condition("Bool", "aws:SecureTransport", ["false"])],
    )


def kms_via_s3(region: str) -> Condition:
    """Only S3 (in `region`) may use the key on the caller's behalf: no direct KMS calls.

    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
    """
    return Condition("StringEquals", "kms:ViaService", [f"s3.{region}.amazonaws.com"])


def listing_below(prefix: str) -> list[Condition]:
    """ListBucket only for listings below `prefix` (no condition for the whole bucket).

    https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html
    """
    return [Condition("StringLike", "s3:prefix", [f"{prefix}*"])] if prefix else []
