"""Helpers shared by the constructs that create KMS keys."""

from __future__ import annotations

import re


def kms_alias_name(name: str) -> str:
    """`alias/<name>` with the characters KMS aliases refuse (such as `.`) replaced by `-`.

    https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html
    """
    return "alias/" + re.sub(r"[^A-Za-z0-9/_-]", "-", name)
