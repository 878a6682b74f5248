"""The few moto internals the emulator relies on: resolved and checked once, at start.

The rest of `berth.emulator` reaches moto only through the `MotoInternals` that
`load_moto_internals()` returns, by the names defined here. A moto release that moves or drops
one of them stops the emulator before it serves a request, with a message naming the internal
and what the emulator needs it for. Attributes that only exist on instances are checked on a
throwaway instance that no request ever reaches.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

# Serving, exactly as `python -m moto.server` does.
DISPATCHER = "moto.moto_server.werkzeug_app.DomainDispatcherApplication"
CREATE_BACKEND_APP = "moto.moto_server.werkzeug_app.create_backend_app"
REQUEST_HANDLER = "moto.moto_server.werkzeug_app.MotoRequestHandler"
# Account and region of a request, derived as moto derives them.
BASE_RESPONSE = "moto.core.responses.BaseResponse"
# moto's error type for "not found" and similar answers of its backends.
JSON_REST_ERROR = "moto.core.exceptions.JsonRESTError"
APPCONFIG_BACKENDS = "moto.appconfig.models.appconfig_backends"
SECRETSMANAGER_BACKENDS = "moto.secretsmanager.models.secretsmanager_backends"
KMS_BACKENDS = "moto.kms.models.kms_backends"
FAKE_BUCKET = "moto.s3.models.FakeBucket"
IAM_POLICY = "moto.iam.access_control.IAMPolicy"
PERMISSION_RESULT = "moto.iam.access_control.PermissionResult"

# Every internal in use: (dotted path, what the emulator needs it for). Objects the emulator
# holds are fetched by the constants above; the other entries are methods it calls on them.
INTERNALS: tuple[tuple[str, str], ...] = (
    (DISPATCHER, "to serve every request it does not answer itself"),
    (CREATE_BACKEND_APP, "to build moto's per-service apps"),
    (REQUEST_HANDLER, "to keep moto's handling of header names"),
    (BASE_RESPONSE, "to place a request in the account and region moto would"),
    (
        f"{BASE_RESPONSE}.get_current_account",
        "to place a request in the account moto would (access key, sts:AssumeRole credentials)",
    ),
    (f"{BASE_RESPONSE}.get_region_from_url", "to place a request in the region moto would"),
    (JSON_REST_ERROR, "to read moto's 'not found' answers (applications, profiles, secrets)"),
    (APPCONFIG_BACKENDS, "to read the AppConfig applications and profiles moto holds"),
    (
        "moto.appconfig.models.AppConfigBackend.get_application",
        "to create environments only under an application that exists",
    ),
    (
        "moto.appconfig.models.AppConfigBackend.get_configuration_profile",
        "to check a deployment's configuration profile",
    ),
    (
        "moto.appconfig.models.AppConfigBackend.get_hosted_configuration_version",
        "to check the version of a deployment of a hosted configuration",
    ),
    ("moto.appconfig.models.Application.to_json", "to list applications (ListApplications)"),
    (
        "moto.appconfig.models.ConfigurationProfile.to_json",
        "to read a configuration profile's name and location",
    ),
    (SECRETSMANAGER_BACKENDS, "to check the secret a secretsmanager:// deployment names"),
    (
        "moto.secretsmanager.models.SecretsManagerBackend.get_secret_value",
        "to check that the deployed version (VersionId) of that secret exists",
    ),
    (KMS_BACKENDS, "to resolve a deployment's KmsKeyIdentifier"),
    ("moto.kms.models.KmsBackend.describe_key", "to resolve a deployment's KmsKeyIdentifier"),
    ("moto.kms.models.Key.to_dict", "to read a key's ARN and whether it is customer managed"),
    (FAKE_BUCKET, "to replace its bucket-policy evaluation"),
    (f"{FAKE_BUCKET}.get_permission", "to replace moto's bucket-policy evaluation"),
    (IAM_POLICY, "to evaluate the statements of a bucket policy as moto does"),
    (f"{IAM_POLICY}.is_action_permitted", "to evaluate a bucket policy as moto does"),
    (PERMISSION_RESULT, "to answer a bucket-policy evaluation"),
)

# Attributes set in __init__ (invisible on the class): (class, constructor keywords, attribute,
# what for). Checked on a throwaway instance.
INSTANCE_ATTRIBUTES: tuple[tuple[str, dict[str, str], str, str], ...] = (
    (
        "moto.appconfig.models.AppConfigBackend",
        {"region_name": "us-east-1", "account_id": "000000000000"},
        "applications",
        "to list the applications moto holds (ListApplications)",
    ),
    (
        FAKE_BUCKET,
        {"name": "berth-probe", "region_name": "us-east-1", "account_id": "000000000000"},
        "policy",
        "to read the bucket policy moto stores",
    ),
    (
        JSON_REST_ERROR,
        {"error_type": "ProbeError", "message": "probe"},
        "error_type",
        "to name moto's error when a lookup fails",
    ),
    (
        JSON_REST_ERROR,
        {"error_type": "ProbeError", "message": "probe"},
        "message",
        "to quote moto's error when a lookup fails",
    ),
)


class MotoInternalsError(RuntimeError):
    """The installed moto lacks an internal the emulator relies on."""


@dataclass(frozen=True)
class MotoInternals:
    """The moto objects the emulator uses, by dotted path (the constants of this module)."""

    moto_version: str
    objects: dict[str, Any]

    def __getitem__(self, path: str) -> Any:
        return self.objects[path]


def moto_version() -> str:
    try:
        return version("moto")
    except PackageNotFoundError:
        return "(not installed)"


def _resolve(path: str) -> Any:
    """The object at a dotted path: the longest importable module, then its attributes."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            value = getattr(value, attribute)
        return value
    raise ImportError(path)


def _missing(path: str, why: str, installed: str) -> MotoInternalsError:
    return MotoInternalsError(
        f"moto {installed} has no {path}, which the Berth emulator needs {why}; install the"
        " moto version pinned in Pipfile.lock, or adapt berth/emulator to this one"
    )


def load_moto_internals() -> MotoInternals:
    """Resolve every internal in `INTERNALS`; raise `MotoInternalsError` naming the first gap."""
    installed = moto_version()
    objects: dict[str, Any] = {}
    for path, why in INTERNALS:
        try:
            objects[path] = _resolve(path)
        except (ImportError, AttributeError):
            raise _missing(path, why, installed) from None
    for class_path, keywords, attribute, why in INSTANCE_ATTRIBUTES:
        try:
            getattr(_resolve(class_path)(**keywords), attribute)
        except (ImportError, AttributeError, TypeError):
            raise _missing(f"{class_path}.{attribute}", why, installed) from None
    return MotoInternals(moto_version=installed, objects=objects)
