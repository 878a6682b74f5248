"""The review as Markdown: one section per question a reviewer asks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from berth.review.releases import STATIC_KEYS
from berth_core.tfjson import Json


def _statement_lines(statement: Mapping[str, Any], indent: str = "  ") -> list[str]:
    who = f" to {', '.join(statement['principals'])}" if statement["principals"] else ""
    where = f" on {', '.join(statement['resources'])}" if statement["resources"] else ""
    sid = f" ({statement['sid']})" if statement["sid"] else ""
    lines = [
        f"{indent}- **{statement['effect']}**{sid}{who}: `{'`, `'.join(statement['actions'])}`{where}"
    ]
    lines += [f"{indent}  - when {condition}" for condition in statement["conditions"]]
    if statement.get("note"):
        lines.append(f"{indent}  - NOTE: {statement['note']}")
    return lines


def _roles_markdown(roles: Sequence[Json]) -> list[str]:
    out = ["## IAM roles", ""]
    if not roles:
        out += ["No IAM roles.", ""]
    for role in roles:
        out += [f"### {role['role']}", "", "Who may assume it:", ""]
        for statement in role["trust"]:
            out += _statement_lines(statement, "")
        out += ["", "What it may do:", ""]
        if not role["permissions"]:
            out.append("- nothing (no policies attached)")
        for permission in role["permissions"]:
            out.append(f"- {permission['policy']}")
            for statement in permission["statements"]:
                out += _statement_lines(statement)
        out.append("")
    return out


def _users_markdown(users: Sequence[Json]) -> list[str]:
    out = ["## IAM users", ""]
    for user in users:
        out += [f"### {user['user']}", "", f"Access keys: {user['access_keys']}", ""]
        out += ["What it may do:", ""]
        if not user["permissions"]:
            out.append("- nothing (no policies attached)")
        for permission in user["permissions"]:
            out.append(f"- {permission['policy']}")
            for statement in permission["statements"]:
                out += _statement_lines(statement)
        out.append("")
    return out


def _buckets_markdown(buckets: Sequence[Json]) -> list[str]:
    out = ["## S3 buckets", ""]
    if not buckets:
        out += ["No buckets.", ""]
    for bucket in buckets:
        out += [
            f"### {bucket['bucket']}",
            "",
            f"- encryption: {'; '.join(bucket['encryption'])}",
            f"- public access block: {bucket['public_access_block']}",
            f"- versioning: {bucket['versioning']}",
            "",
            "Who can read or write it:",
            "",
        ]
        out += [
            f"- {g['principal']}: **{g['access']}** `{'`, `'.join(g['actions'])}`"
            + (f" on {', '.join(g['resources'])}" if g["resources"] else "")
            + f" ({g['source']})"
            + "".join(f"; when {c}" for c in g["conditions"])
            for g in bucket["access"]
        ] or ["- nobody is granted access"]
        out += ["", "Who can decrypt its objects (the bucket's KMS key):", ""]
        out += [
            f"- {g['principal']}: `{'`, `'.join(g['actions'])}` ({g['source']})"
            + "".join(f"; when {c}" for c in g["conditions"])
            for g in bucket["decrypt"]
        ] or ["- no key of this stack (S3-managed or external key)"]
        out += ["", "Denied:", ""]
        out += [
            f"- {', '.join(d['principals'])}: `{'`, `'.join(d['actions'])}` ({d['sid']})"
            + "".join(f"; when {c}" for c in d["conditions"])
            for d in bucket["denies"]
        ] or ["- no deny statements"]
        out.append("")
    return out


def _elsewhere_markdown(elsewhere: Mapping[str, Any]) -> list[str]:
    out = ["## Buckets and keys of other stacks or accounts", ""]
    if not elsewhere["buckets"] and not elsewhere["kms_keys"]:
        return [*out, "None: every bucket and key this environment uses is its own.", ""]
    out += [
        "This environment's half of a cross-account grant: the owner's bucket policy and key"
        " policy must allow these principals too (see the owner's review).",
        "",
    ]
    for kind, title in (("buckets", "bucket"), ("kms_keys", "KMS key")):
        for target in elsewhere[kind]:
            out += [f"### {title} {target['name']}", ""]
            out += [
                f"- {g['principal']}: `{'`, `'.join(g['actions'])}` on"
                f" {', '.join(g['resources'])} ({g['source']})"
                + "".join(f"; when {c}" for c in g["conditions"])
                for g in target["grants"]
            ]
            out.append("")
    return out


def _secrets_markdown(secrets: Sequence[Json]) -> list[str]:
    out = ["## Secrets", ""]
    if not secrets:
        out += ["No Secrets Manager secrets.", ""]
    for secret in secrets:
        out += [
            f"### {secret['secret']}",
            "",
            f"- encrypted with: {secret['kms_key']}",
            f"- value: {secret['value']}",
            "",
            "Reached by:",
            "",
        ]
        out += [
            f"- {r['role']} via {r['via']}: `{'`, `'.join(r['actions'])}`"
            for r in secret["reached_by"]
        ] or ["- no role in this stack"]
        for statement in secret["resource_policy"]:
            out += _statement_lines(statement, "")
        out.append("")
    return out


def _identity_label(identity: str) -> str:
    return "AWS identity" if identity.startswith(STATIC_KEYS) else "AWS role (IRSA)"


def _releases_markdown(releases: Sequence[Json]) -> list[str]:
    out = ["## Network entry points (Helm releases)", ""]
    if not releases:
        out += ["No Helm releases.", ""]
    for release in releases:
        out += [
            f"### {release['release']} ({release['chart']}, namespace {release['namespace']})",
            "",
            f"- {_identity_label(release['aws_role'])}: {release['aws_role']}",
            f"- auth: {release['auth']}",
        ]
        out += [
            f"- {e['kind']} ({e['class']}): hosts {', '.join(e['hosts']) or 'any'}; TLS {e['tls']}"
            for e in release["entry_points"]
        ] or ["- no ingress, route or external service: cluster-internal only"]
        out.append("")
    return out


def _checkov_markdown(scan: Json) -> list[str]:
    out = ["## checkov", ""]
    if not scan["ran"]:
        return [*out, "checkov was not run for this report.", ""]
    out += ["| framework | resources | passed | failed | suppressed |", "|---|---|---|---|---|"]
    out += [
        f"| {name} | {f['resources']} | {f['passed']} | {f['failed']} | {f['suppressed']} |"
        for name, f in scan["frameworks"].items()
    ]
    out += ["", "Problems (the gate fails on each):", ""]
    out += [f"- {problem}" for problem in scan["problems"]] or ["- none"]
    out += ["", "Suppressions (security/checkov.yaml):", ""]
    for suppression in scan["suppressions"]:
        out += [f"- **{suppression['check']}**: {suppression['reason']}"]
        out += [f"  - {finding}" for finding in suppression["findings"]]
    if not scan["suppressions"]:
        out.append("- none")
    out.append("")
    return out


def render_markdown(review: Mapping[str, Any]) -> str:
    """The review as Markdown, one section per question a reviewer asks."""
    out = [f"# Security review: {review['environment']}", ""]
    out += ["Generated by `berth review` from the synthesized Terraform JSON.", ""]
    out += _roles_markdown(review["roles"])
    if review.get("users"):
        out += _users_markdown(review["users"])
    out += _buckets_markdown(review["buckets"])
    out += _elsewhere_markdown(review["elsewhere"])
    out += _secrets_markdown(review["secrets"])
    out += _releases_markdown(review["helm_releases"])
    out += _checkov_markdown(review["checkov"])
    return "\n".join(out)
