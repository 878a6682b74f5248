"""The AWS credentials behind the ECR client: which ones, and whether they were rotated.

boto3 reads a shared-credentials file once per session. When the chart mounts the `credentials`
key of a Secret as that file (`AWS_SHARED_CREDENTIALS_FILE`) and someone rotates the key
(`berth refresher rotate-key`), the kubelet swaps the file in place within a minute or two; this
module notices the new content and builds a new session, so the next token comes from the new
key without a restart. What the token was fetched with (the access key id, never the secret) is
what the refresher reports in its status ConfigMap.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session

log = logging.getLogger("ecr_refresher")

CREDENTIALS_FILE_VARIABLE = "AWS_SHARED_CREDENTIALS_FILE"

SessionFactory = Callable[[str, "Path | None"], Any]


def _session(region: str, credentials_file: Path | None) -> Any:
    """A boto3 session with the default credential chain, reading `credentials_file` if given."""
    core = botocore.session.Session()
    if credentials_file is not None:
        core.set_config_variable("credentials_file", str(credentials_file))
    return boto3.session.Session(botocore_session=core, region_name=region)


@dataclass(frozen=True)
class Identity:
    """Which credentials a session holds: the access key id (not secret) and where it came from."""

    access_key_id: str
    # botocore's name for the source: `shared-credentials-file`, `assume-role-with-web-identity`, ...
    method: str


class CredentialsSource:
    """Makes the ECR client; `changed()` tells when the shared-credentials file was rotated."""

    def __init__(
        self,
        region: str,
        environ: Mapping[str, str],
        session_factory: SessionFactory = _session,
    ) -> None:
        self.region = region
        configured = environ.get(CREDENTIALS_FILE_VARIABLE)
        self.path = Path(configured) if configured else None
        self._session_factory = session_factory
        self._fingerprint = self._read_fingerprint()
        self._session = session_factory(region, self.path)
        self._client: Any = None

    @property
    def watches_file(self) -> bool:
        """Whether there is a file to watch (static keys); other sources renew themselves."""
        return self.path is not None

    def client(self) -> Any:
        """The ECR client of the current credentials."""
        if self._client is None:
            self._client = self._session.client("ecr")
        return self._client

    def identity(self) -> Identity | None:
        """The current credentials' access key id and source (None when there are none)."""
        credentials = self._session.get_credentials()
        if credentials is None:
            return None
        frozen = credentials.get_frozen_credentials()
        return Identity(access_key_id=str(frozen.access_key), method=str(credentials.method))

    def changed(self) -> bool:
        """True once after the credentials file got other content; the client then uses it.

        A file that is missing for a moment (the kubelet swapping it) is not a change.
        """
        if self.path is None:
            return False
        current = self._read_fingerprint()
        if current is None or current == self._fingerprint:
            return False
        self._fingerprint = current
        self._session = self._session_factory(self.region, self.path)
        self._client = None
        log.info(
            "credentials file changed; using the new credentials", extra={"file": str(self.path)}
        )
        return True

    def _read_fingerprint(self) -> str | None:
        if self.path is None:
            return None
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return None
