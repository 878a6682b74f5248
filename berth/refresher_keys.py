"""`berth refresher rotate-key ENV`: the access key of the refresher's IAM user, made and rotated
without passing through Terraform.

An environment whose cluster's issuer AWS cannot reach (`ecr_refresher.identity: iam_user`) gets
IAM users without keys from Terraform (a key made there would be in the state). This command
makes each user's key and writes it straight into the Kubernetes Secret the refresher chart
mounts (key `credentials`, AWS shared-credentials format), as the deploy role:

1. list the user's keys and read the Secret (which key the cluster holds now);
2. create a new key, check that it gets a registry login (IAM takes a few seconds to know a new
   key), and replace the Secret's `credentials` with it; if either fails the new key is deleted
   again and nothing has changed;
3. wait until the refresher reports, in its status ConfigMap, a token fetched with the new key
   (the kubelet updates the mounted file within a minute or two; the refresher watches it);
4. only then delete the old key.

Interrupted after step 2 (a timeout, Ctrl-C), the user keeps both keys and the Secret holds the
new one: running the command again finishes that rotation first (waits, deletes the old key)
and then rotates. Before the release is installed (no status ConfigMap) nothing can be using
the old key, so it is deleted without waiting. The secret key is never printed or logged.
"""

from __future__ import annotations

import base64
import configparser
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from berth_core.config import Environment
from berth_core.errors import BerthError
from berth_core.naming import CredentialsRelease

if TYPE_CHECKING:
    pass

CREDENTIALS_KEY = "credentials"
# How long IAM may take before a new key is accepted everywhere.
KEY_PROPAGATION_S = 60.0
# Error codes of a key AWS does not know yet.
_UNKNOWN_KEY = {"InvalidClientTokenId", "UnrecognizedClientException", "InvalidSignatureException"}


class RotationError(BerthError):
    """A rotation stopped; the message says what state it left and what to do."""


@dataclass(frozen=True)
class NewKey:
    """A key just made. The secret stays out of repr, logs and messages."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    def credentials_file(self) -> str:
        """The shared-credentials file the chart mounts (`AWS_SHARED_CREDENTIALS_FILE`)."""
        return (
            "[default]\n"
            f"aws_access_key_id = {self.access_key_id}\n"
            f"aws_secret_access_key = {self.secret_access_key}\n"
        )


@dataclass
class Rotation:
    """What one rotation did, for the command's summary."""

    release: str
    user: str
    new_key_id: str = ""
    finished_earlier: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    waited_s: float | None = None


def key_in_secret(data: dict[str, str] | None) -> str | None:
    """The access key id in a Secret's base64 `credentials` (None when there is none)."""
    encoded = (data or {}).get(CREDENTIALS_KEY)
    if not encoded:
        return None
    parser = configparser.ConfigParser()
    try:
        parser.read_string(base64.b64decode(encoded).decode("utf-8"))
        return parser.get("default", "aws_access_key_id").strip() or None
    except (configparser.Error, ValueError, UnicodeDecodeError):
        return None


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(error).__name__))


class KeyRotation:
    """Rotates the keys of one release's IAM user (see the module doc for the steps)."""

    def __init__(
        self,
        release: CredentialsRelease,
        *,
        iam: Any,
        core_v1: Any,
        login: Callable[[NewKey], None],
        timeout_s: float = 600.0,
        poll_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] = print,
    ) -> None:
        self.release = release
        self.iam = iam
        self.core_v1 = core_v1
        self.login = login
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.sleep = sleep
        self.monotonic = monotonic
        self.say = say

    # ---- steps ----

    def run(self) -> Rotation:
        release = self.release
        result = Rotation(release=release.release, user=release.iam_name)
        keys = self._keys()
        current = self._key_in_cluster()
        others = [key for key in keys if key != current]
        if len(keys) >= 2:
            if current not in keys:
                raise RotationError(
                    f"IAM user {release.iam_name} has two keys ({', '.join(sorted(keys))}) and Secret"
                    f" {release.namespace}/{release.credentials_secret} holds neither: delete the"
                    f" one no one uses (aws iam delete-access-key --user-name {release.iam_name}"
                    " --access-key-id ID), then run this again"
                )
            self.say(
                f"{release.iam_name}: finishing an earlier rotation to {current}"
                f" (old: {', '.join(others)})"
            )
            self._wait_for(str(current))
            self._delete(others, result.finished_earlier)
            keys, others = [str(current)], []
        new = self._create_and_store()
        result.new_key_id = new.access_key_id
        old = [key for key in keys if key != new.access_key_id]
        if old:
            result.waited_s = self._wait_for(new.access_key_id)
            self._delete(old, result.deleted)
        return result

    def _keys(self) -> list[str]:
        try:
            listed = self.iam.list_access_keys(UserName=self.release.iam_name)
        except Exception as error:
            code = _error_code(error)
            if code == "NoSuchEntity":
                raise RotationError(
                    f"no IAM user {self.release.iam_name}: deploy the account stack first"
                ) from None
            raise RotationError(
                f"cannot list the keys of {self.release.iam_name}: {code}"
            ) from None
        return [str(key["AccessKeyId"]) for key in listed.get("AccessKeyMetadata", [])]

    def _secret(self) -> Any:
        """The credentials Secret, or None when it does not exist yet."""
        release = self.release
        try:
            return self.core_v1.read_namespaced_secret(
                release.credentials_secret, release.namespace
            )
        except Exception as error:
            if getattr(error, "status", None) == 404:
                return None
            raise RotationError(
                f"cannot read Secret {release.namespace}/{release.credentials_secret}:"
                f" {_kube_reason(error)}"
            ) from None

    def _key_in_cluster(self) -> str | None:
        secret = self._secret()
        return key_in_secret(secret.data) if secret is not None else None

    def _create_and_store(self) -> NewKey:
        release = self.release
        try:
            made = self.iam.create_access_key(UserName=release.iam_name)["AccessKey"]
        except Exception as error:
            raise RotationError(
                f"cannot create a key for {release.iam_name}: {_error_code(error)}"
            ) from None
        new = NewKey(str(made["AccessKeyId"]), str(made["SecretAccessKey"]))
        self.say(f"{release.iam_name}: created key {new.access_key_id}")
        try:
            self.login(new)
            self._write_secret(new)
        except BaseException as error:
            # Nothing holds the new key yet: take it back, so nothing has changed.
            self.iam.delete_access_key(UserName=release.iam_name, AccessKeyId=new.access_key_id)
            if isinstance(error, RotationError):
                raise RotationError(f"{error}; the new key was deleted again") from None
            raise
        self.say(
            f"{release.iam_name}: wrote it to Secret"
            f" {release.namespace}/{release.credentials_secret} (key {CREDENTIALS_KEY!r})"
        )
        return new

    def _write_secret(self, new: NewKey) -> None:
        from kubernetes import client

        release = self.release
        data: dict[str, bytes | str] = {
            CREDENTIALS_KEY: base64.b64encode(new.credentials_file().encode()).decode()
        }
        labels = {"app.kubernetes.io/managed-by": "berth"}
        current = self._secret()
        try:
            if current is None:
                body = client.V1Secret(
                    metadata=client.V1ObjectMeta(
                        name=release.credentials_secret,
                        namespace=release.namespace,
                        labels=labels,
                    ),
                    type="Opaque",
                    data=data,
                )
                self.core_v1.create_namespaced_secret(release.namespace, body)
                return
            # Replace, guarded by the resourceVersion read: a concurrent writer gets a 409.
            current.data = {**(current.data or {}), **data}
            current.metadata.labels = {**(current.metadata.labels or {}), **labels}
            self.core_v1.replace_namespaced_secret(
                release.credentials_secret, release.namespace, current
            )
        except Exception as error:
            raise RotationError(
                f"cannot write Secret {release.namespace}/{release.credentials_secret}:"
                f" {_kube_reason(error)}"
            ) from None

    def _reported_key(self) -> str | None:
        """The key id in the refresher's status, or None when the release is not installed."""
        release = self.release
        try:
            found = self.core_v1.read_namespaced_config_map(
                release.status_config_map, release.namespace
            )
        except Exception as error:
            if getattr(error, "status", None) == 404:
                return None
            raise RotationError(
                f"cannot read ConfigMap {release.namespace}/{release.status_config_map}:"
                f" {_kube_reason(error)}"
            ) from None
        return str((found.data or {}).get("accessKeyId", ""))

    def _wait_for(self, key_id: str) -> float | None:
        """Until the refresher reports a token from `key_id`; seconds waited (None: not
        installed, so nothing uses the old key)."""
        release = self.release
        started = self.monotonic()
        while True:
            reported = self._reported_key()
            if reported is None:
                self.say(
                    f"{release.iam_name}: release {release.release} is not installed (no ConfigMap"
                    f" {release.namespace}/{release.status_config_map}): no refresher uses the"
                    " old key"
                )
                return None
            if reported == key_id:
                waited = self.monotonic() - started
                self.say(f"{release.iam_name}: the refresher used {key_id} ({waited:.0f} s)")
                return waited
            if self.monotonic() - started >= self.timeout_s:
                raise RotationError(
                    f"the refresher has not used {key_id} within {self.timeout_s:.0f} s (it"
                    f" reports {reported or 'nothing yet'}): both keys are kept and the Secret"
                    " holds the new one; check the refresher's logs, then run this again to"
                    " finish"
                )
            self.sleep(self.poll_s)

    def _delete(self, keys: Sequence[str], into: list[str]) -> None:
        for key in keys:
            self.iam.delete_access_key(UserName=self.release.iam_name, AccessKeyId=key)
            into.append(key)
            self.say(f"{self.release.iam_name}: deleted the old key {key}")


def registry_login(region: str, deadline_s: float = KEY_PROPAGATION_S) -> Callable[[NewKey], None]:
    """A check that a new key gets an ECR login, retried while IAM does not know it yet."""

    def check(key: NewKey) -> None:
        import boto3

        ecr = boto3.Session(
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            region_name=region,
        ).client("ecr")
        started = time.monotonic()
        while True:
            try:
                ecr.get_authorization_token()
                return
            except Exception as error:
                code = _error_code(error)
                if code not in _UNKNOWN_KEY or time.monotonic() - started > deadline_s:
                    raise RotationError(
                        f"the new key {key.access_key_id} gets no registry login: {code}"
                    ) from None
                time.sleep(2)

    return check


def _kube_reason(error: Exception) -> str:
    status = getattr(error, "status", None)
    if status is not None:
        return f"{status} {getattr(error, 'reason', '') or ''}".strip()
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def releases_to_rotate(environment: Environment, which: str) -> list[CredentialsRelease]:
    refresher = environment.ecr_refresher
    if refresher is None:
        raise BerthError(f"{environment.name} has no ecr_refresher (no cluster outside EKS)")
    if refresher.identity != "iam_user":
        raise BerthError(
            f"{environment.name}'s refresher uses web identity: there is no key to rotate"
        )
    releases = [r for r in environment.credentials_releases if which in ("all", r.release)]
    if not releases:
        raise BerthError(f"{environment.name} has no {which} release (ecr_refresher.builds)")
    return releases
