"""Bucket policies on the emulator: statements with a Condition neither allow nor deny.

What moto does: on object requests (GetObject, HeadObject, PutObject, DeleteObject, ...) it
evaluates the bucket policy without the request's context. It does not compare principals (a
statement whose Principal is `*` or a map such as `{"AWS": [...]}` applies to every caller; a
bare string other than `*` is skipped) and it has no condition keys to test: an operator it does
not know (Bool, ArnNotLike, ...) counts as met, and even StringEquals is met because the key has
no value. So "Deny s3:* when aws:SecureTransport is false" or "Deny writes when ArnNotLike
aws:PrincipalArn <publishers>" deny *every* request, and Terraform cannot even upload an
`aws_s3_object` into such a bucket.

What the emulator does instead: it leaves every statement that carries a Condition out of the
evaluation, so such a statement neither allows nor denies; statements without a Condition are
evaluated exactly as moto evaluates them (an unconditional Deny still denies).

Why that is the faithful choice here: the emulator is reached over plain HTTP with one set of
fake credentials, so no request carries the context those conditions test. For a request over
TLS from an allowed principal, S3 would not match those Denies either: leaving them out gives
the answer S3 gives the requests the emulator exists to serve. What the conditions themselves
do (TLS only, publishers only) is proven on the synthesized JSON by the construct tests, never
by the emulator.

Differences from S3 that remain (moto's, unchanged here): principals are not compared (see
above); only object requests are checked, by HTTP method (GET as s3:GetObject, PUT as
s3:PutObject, DELETE as s3:DeleteObject, and HEAD as "s3:HeadObject", where S3 checks
s3:GetObject); bucket-level requests (ListBucket, ...) are not checked against the policy; and a
signed request that no statement allows or denies is allowed, because moto does not evaluate
IAM identity policies by default.
"""

from __future__ import annotations

import json
from typing import Any

from berth.emulator import moto_internals as names
from berth.emulator.moto_internals import MotoInternals


def unconditional_statements(policy: dict[str, Any]) -> dict[str, Any]:
    """The policy document without the statements that carry a Condition."""
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return {**policy, "Statement": [s for s in statements if not s.get("Condition")]}


def install(internals: MotoInternals) -> None:
    """Replace moto's bucket-policy evaluation (`FakeBucket.get_permission`) in this process."""
    bucket_class = internals[names.FAKE_BUCKET]
    iam_policy = internals[names.IAM_POLICY]
    neutral = internals[names.PERMISSION_RESULT].NEUTRAL

    def get_permission(bucket: Any, action: str, resource: str) -> Any:
        if bucket.policy is None:
            return neutral
        kept = unconditional_statements(json.loads(bucket.policy))
        return iam_policy(json.dumps(kept)).is_action_permitted(action, resource)

    bucket_class.get_permission = get_permission
