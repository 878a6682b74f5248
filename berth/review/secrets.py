"""Secrets Manager secrets: where the value comes from and which roles reach it, directly or
through an AppConfig retrieval role."""

from __future__ import annotations

from berth.review.statements import covers, grants, readable_statements
from berth_core.tfjson import Json, TerraformJson

_SECRET_READ = "secretsmanager:GetSecretValue"  # noqa: S105 - an IAM action, not a secret
_APPCONFIG_READ = ("appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration")


def secrets(stack: TerraformJson, roles: list[Json]) -> list[Json]:
    secrets: list[Json] = []
    for _, logical_id, config in stack.resources("aws_secretsmanager_secret"):
        name = stack.name_of("aws_secretsmanager_secret", logical_id)
        versions = [
            c
            for _, _, c in stack.resources("aws_secretsmanager_secret_version")
            if stack.referenced(c.get("secret_id"), "aws_secretsmanager_secret") == logical_id
        ]
        value = (
            "none set by Terraform"
            if not versions
            else "secret_string: IN STATE AND PLAN"
            if any(v.get("secret_string") or v.get("secret_binary") for v in versions)
            else "secret_string_wo (write-only: not in state or plan)"
        )
        reached: list[Json] = [
            {"role": role["role"], "actions": s["actions"], "via": "own identity policy"}
            for role in roles
            for permission in role["permissions"]
            for s in permission["statements"]
            if s["effect"] == "Allow"
            and grants(s["actions"], _SECRET_READ)
            and covers(s["resources"], name)
        ]
        # Second hop: an AppConfig profile reading this secret with a retrieval role, and the
        # roles allowed to fetch that profile's configuration.
        secret_name = str(config.get("name", ""))
        for _, profile_id, profile in stack.resources("aws_appconfig_configuration_profile"):
            location = str(profile.get("location_uri", ""))
            if (
                location not in (f"secretsmanager://{secret_name}",)
                and f"aws_secretsmanager_secret.{logical_id}." not in location
            ):
                continue
            profile_name = stack.name_of("aws_appconfig_configuration_profile", profile_id)
            retrieval = stack.readable(profile.get("retrieval_role_arn", "")) or "no retrieval role"
            reached.extend(
                {
                    "role": role["role"],
                    "actions": s["actions"],
                    "via": f"{profile_name} (AppConfig reads the secret as {retrieval})",
                }
                for role in roles
                for permission in role["permissions"]
                for s in permission["statements"]
                if s["effect"] == "Allow"
                and any(grants(s["actions"], action) for action in _APPCONFIG_READ)
                and covers(s["resources"], profile_name)
            )
        policy = [
            s
            for _, _, c in stack.resources("aws_secretsmanager_secret_policy")
            if stack.referenced(c.get("secret_arn"), "aws_secretsmanager_secret") == logical_id
            for s in readable_statements(stack, c.get("policy"))
        ]
        secrets.append(
            {
                "secret": name,
                "kms_key": stack.readable(config.get("kms_key_id", ""))
                or "aws/secretsmanager (AWS managed)",
                "value": value,
                "reached_by": sorted(reached, key=lambda r: (r["role"], r["via"])),
                "resource_policy": policy,
            }
        )
    return secrets
