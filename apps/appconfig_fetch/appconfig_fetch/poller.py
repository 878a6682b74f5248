"""The AppConfigData session contract: one session, chained tokens, a new session when one expires.

AppConfigData (2021-11-11) works like this: `StartConfigurationSession` returns an initial
token; every `GetLatestConfiguration` consumes a token and returns the next one, the interval
to wait before using it, and a body that is EMPTY when the caller already has the latest
version. A token is valid for one call and for at most 24 hours; a stale or reused one is
answered with `BadRequestException` (Details.InvalidParameters.ConfigurationToken.Problem =
Expired | Corrupted | PollIntervalNotSatisfied).
https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-retrieving-the-configuration.html
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Poll:
    """One answer of GetLatestConfiguration; `content == b""` means "unchanged since last time"."""

    content: bytes
    version_label: str
    content_type: str
    next_interval_s: int


def error_code(error: ClientError) -> str:
    """The AWS error code of a client error ("" when the response has none)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def _token_problem(error: ClientError) -> str:
    details = error.response.get("Details") or {}
    parameters = details.get("InvalidParameters") or {}
    problem = (parameters.get("ConfigurationToken") or {}).get("Problem")
    return str(problem or "unknown")


class ConfigurationPoller:
    """Polls one configuration profile through a boto3 `appconfigdata` client.

    Not thread-safe: one poller per loop. The token lives only in memory; a restarted process
    simply starts a new session, which returns the full configuration again.
    """

    def __init__(
        self,
        client: Any,
        *,
        application: str,
        environment: str,
        profile: str,
        min_interval_s: int,
    ) -> None:
        self._client = client
        self._application = application
        self._environment = environment
        self._profile = profile
        self._min_interval_s = min_interval_s
        self._token: str | None = None
        self.sessions_started = 0

    def _start_session(self) -> str:
        response = self._client.start_configuration_session(
            ApplicationIdentifier=self._application,
            EnvironmentIdentifier=self._environment,
            ConfigurationProfileIdentifier=self._profile,
            RequiredMinimumPollIntervalInSeconds=self._min_interval_s,
        )
        self.sessions_started += 1
        log.info(
            "started AppConfig session %d for %s/%s/%s",
            self.sessions_started,
            self._application,
            self._environment,
            self._profile,
        )
        return str(response["InitialConfigurationToken"])

    def poll(self) -> Poll:
        """Fetch the latest configuration, starting (or restarting) the session as needed.

        Raises `botocore` errors unchanged except a rejected token of an old session, which is
        answered by one new session (a rejection on a brand-new token is a real error).
        """
        fresh_session = self._token is None
        if self._token is None:
            self._token = self._start_session()
        try:
            response = self._client.get_latest_configuration(ConfigurationToken=self._token)
        except ClientError as error:
            if error_code(error) != "BadRequestException":
                raise  # throttling, 5xx: the token was not consumed; the caller backs off
            self._token = None
            if fresh_session:
                raise
            log.info(
                "configuration token rejected (%s); starting a new session", _token_problem(error)
            )
            return self.poll()
        self._token = str(response["NextPollConfigurationToken"])
        content = response["Configuration"].read()
        return Poll(
            content=content,
            version_label=str(response.get("VersionLabel") or ""),
            content_type=str(response.get("ContentType") or ""),
            next_interval_s=int(response.get("NextPollIntervalInSeconds") or self._min_interval_s),
        )
