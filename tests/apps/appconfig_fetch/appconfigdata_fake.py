"""A local AppConfigData server (moto has none) speaking the REST API that boto3 calls.

Shapes follow botocore's service model `appconfigdata/2021-11-11/service-2.json`:
- `POST /configurationsessions` (JSON body with the three identifiers and
  RequiredMinimumPollIntervalInSeconds) -> 201 `{"InitialConfigurationToken": ...}`;
- `GET /configuration?configuration_token=T` -> 200, body = the configuration or EMPTY when the
  session already received this version, headers `Next-Poll-Configuration-Token`,
  `Next-Poll-Interval-In-Seconds`, `Content-Type`, `Version-Label`;
- errors as rest-json: status + `x-amzn-ErrorType` + `{"Message": ...}` (+ modeled members).
Like the real service, every token is good for ONE call; expired tokens answer
BadRequestException with Details.InvalidParameters.ConfigurationToken.Problem = "Expired".
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from berth.local import LOOPBACK, free_loopback_port

# Test data shared by the fetcher tests: a value that must never appear in a log line or an
# error message, and the (application, environment, profile) it is deployed under.
CANARY = "cxtp_CANARY-0f5e2b7c9d1a4e63"
PROFILE_KEY = ("otel-config", "uat", "coralogix-private-key")


@dataclass
class Profile:
    """The deployed configuration of one (application, environment, profile)."""

    content: bytes
    version: str
    content_type: str = "application/octet-stream"


@dataclass
class _Session:
    key: tuple[str, str, str]
    min_interval_s: int
    delivered_version: str | None = None


@dataclass
class FakeAppConfigData:
    """The service state, plus knobs tests turn (failures, intervals, token expiry)."""

    profiles: dict[tuple[str, str, str], Profile] = field(default_factory=dict)
    # Scripted failures for the next GetLatestConfiguration calls: (status, error code).
    get_failures: list[tuple[int, str]] = field(default_factory=list)
    # Interval the service asks for; None = the session's RequiredMinimumPollIntervalInSeconds.
    poll_interval_s: int | None = None
    # Every call as (operation, parameters), for assertions on the contract.
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _live_tokens: dict[str, str] = field(default_factory=dict)
    _expired_tokens: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    endpoint_url: str = ""

    def deploy(self, key: tuple[str, str, str], content: bytes, version: str) -> None:
        """Deploy a new version of a profile (what an AppConfig deployment does)."""
        with self._lock:
            self.profiles[key] = Profile(content=content, version=version)

    def expire_tokens(self) -> None:
        """Every outstanding token expires (as after 24 h)."""
        with self._lock:
            self._expired_tokens.update(self._live_tokens)
            self._live_tokens.clear()

    @property
    def sessions_started(self) -> int:
        return len(self._sessions)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.method == "POST" and request.path == "/configurationsessions":
            response = self._start_session(request)
        elif request.method == "GET" and request.path == "/configuration":
            response = self._get_latest(request)
        else:
            response = _error(404, "UnknownOperationException", f"{request.method} {request.path}")
        return response(environ, start_response)

    def _issue_token(self, session_id: str) -> str:
        token = secrets.token_urlsafe(24)
        self._live_tokens[token] = session_id
        return token

    def _start_session(self, request: Request) -> Response:
        body = json.loads(request.get_data() or b"{}")
        self.calls.append(("StartConfigurationSession", body))
        key = (
            body.get("ApplicationIdentifier", ""),
            body.get("EnvironmentIdentifier", ""),
            body.get("ConfigurationProfileIdentifier", ""),
        )
        interval = body.get("RequiredMinimumPollIntervalInSeconds", 60)
        with self._lock:
            if key not in self.profiles:
                return _error(
                    404,
                    "ResourceNotFoundException",
                    "Deployment not found for the given application, environment and profile",
                    ResourceType="Deployment",
                )
            session_id = secrets.token_hex(8)
            self._sessions[session_id] = _Session(key=key, min_interval_s=int(interval))
            token = self._issue_token(session_id)
        return Response(
            json.dumps({"InitialConfigurationToken": token}),
            status=201,
            content_type="application/json",
        )

    def _get_latest(self, request: Request) -> Response:
        token = request.args.get("configuration_token", "")
        self.calls.append(("GetLatestConfiguration", {"ConfigurationToken": token}))
        with self._lock:
            if self.get_failures:
                status, code = self.get_failures.pop(0)
                return _error(status, code, "Rate exceeded" if status == 429 else "scripted")
            session_id = self._live_tokens.pop(token, None)  # one call per token
            if session_id is None:
                problem = "Expired" if token in self._expired_tokens else "Corrupted"
                return _error(
                    400,
                    "BadRequestException",
                    "Request contains an invalid or expired configuration token",
                    Reason="InvalidParameters",
                    Details={"InvalidParameters": {"ConfigurationToken": {"Problem": problem}}},
                )
            session = self._sessions[session_id]
            profile = self.profiles[session.key]
            changed = session.delivered_version != profile.version
            session.delivered_version = profile.version
            headers = {
                "Next-Poll-Configuration-Token": self._issue_token(session_id),
                "Next-Poll-Interval-In-Seconds": str(
                    self.poll_interval_s or session.min_interval_s
                ),
            }
            if changed:
                headers["Version-Label"] = profile.version
        return Response(
            profile.content if changed else b"",
            status=200,
            headers=headers,
            content_type=profile.content_type,
        )


def _error(status: int, code: str, message: str, **members: Any) -> Response:
    return Response(
        json.dumps({"Message": message, **members}),
        status=status,
        headers={"x-amzn-ErrorType": code},
        content_type="application/json",
    )


def running_fake() -> Iterator[FakeAppConfigData]:
    """Serve a fresh fake on a free loopback port (real HTTP) for the duration of a fixture."""
    fake = FakeAppConfigData()
    port = free_loopback_port()
    server = make_server(LOOPBACK, port, fake, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    fake.endpoint_url = f"http://{LOOPBACK}:{port}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
