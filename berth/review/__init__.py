"""`berth review ENV`: what a security reviewer asks, answered from the synthesized Terraform JSON.

An environment's stacks (account, cluster, workloads) are read together, so a release's role
is matched with the role the account stack creates. Writes `cdktf.out/review/ENV.md` and
`ENV.json`: every IAM role (who may assume it, under which conditions, what it may do on which
resources), every bucket (who may read or write it, who may decrypt it), the buckets and keys of
other accounts its roles reach (a central chart repository), every secret (which roles reach it,
directly or through an AppConfig retrieval role), every network entry point (Helm releases'
ingress hosts, TLS, auth) and the checkov result with each suppression and its reason. References such as `${aws_iam_role.X.arn}` are shown as readable
names (`role:berth-uat-s3proxy`), never as hashed logical ids. The report is deterministic:
the same JSON gives the same bytes.

The stacks are read with `berth_core.tfjson`; each section has its module (`iam`, `buckets`,
`secrets`, `releases`, `scan`), `markdown` renders the report. The command lives in
`berth.commands.review`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from berth import checkov
from berth.review import buckets, iam, releases, secrets
from berth.review.markdown import render_markdown
from berth.review.scan import checkov_section
from berth_core.tfjson import Json, TerraformJson

__all__ = ["REVIEW_DIR", "build_review", "render_markdown", "write_review"]

REVIEW_DIR = "review"


def build_review(
    environment: str,
    tf: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    scan: checkov.ScanResult | None,
) -> Json:
    """The review of one stack, or of an environment's stacks together, as plain data (what
    ENV.json holds)."""
    stack = TerraformJson.merge(tf) if isinstance(tf, Sequence) else TerraformJson(tf)
    roles = iam.roles(stack)
    users = iam.users(stack)
    identities = iam.identities(stack, roles)
    return {
        "environment": environment,
        "roles": roles,
        # Only where there are any: most environments have none, and say so by its absence.
        **({"users": users} if users else {}),
        "buckets": buckets.buckets(stack, identities),
        "elsewhere": iam.elsewhere(stack, identities),
        "secrets": secrets.secrets(stack, roles),
        "helm_releases": releases.entry_points(stack),
        "checkov": checkov_section(scan),
    }


def write_review(review: Mapping[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write ENV.md and ENV.json into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    markdown = directory / f"{review['environment']}.md"
    data = directory / f"{review['environment']}.json"
    markdown.write_text(render_markdown(review))
    data.write_text(json.dumps(review, indent=2, sort_keys=True) + "\n")
    return markdown, data
