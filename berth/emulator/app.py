"""The emulator's WSGI app: Berth's additions in front of moto's `DomainDispatcherApplication`.

A request is recognised as moto recognises it: the service from the credential scope of its
SigV4 `Authorization` header, the account and region as moto's own request handling derives
them. AppConfig requests for an operation `berth.emulator.appconfig` serves are answered there;
everything else reaches moto unchanged (its body unread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Request

from berth.emulator import moto_internals as names
from berth.emulator.appconfig import SERVICE as APPCONFIG
from berth.emulator.appconfig import AppConfigEmulator
from berth.emulator.moto_internals import MotoInternals

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

# moto's reset endpoint (`POST /moto-api/reset`) forgets our state too.
RESET_PATH = "/moto-api/reset"


def signing_service(authorization: str) -> str | None:
    """The service of a SigV4 credential scope: `AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
    SERVICE/aws4_request, ...` -> SERVICE (lowercase); None for anything else."""
    parts = authorization.split(",", maxsplit=1)[0].split()
    if len(parts) != 2 or not parts[1].startswith("Credential="):
        return None
    scope = parts[1].removeprefix("Credential=").split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return None
    return scope[3].lower()


class EmulatorApp:
    """WSGI middleware: Berth's AppConfig operations, then moto for everything else."""

    def __init__(self, internals: MotoInternals, moto_app: WsgiApp | None = None) -> None:
        self._base_response = internals[names.BASE_RESPONSE]
        self.moto_app: WsgiApp = moto_app or internals[names.DISPATCHER](
            internals[names.CREATE_BACKEND_APP]
        )
        self.appconfig = AppConfigEmulator(internals)

    def account_and_region(self, request: Request) -> tuple[str, str]:
        """The account and region moto would place this request in (same code, moto's)."""
        probe = self._base_response(service_name=APPCONFIG)
        probe.headers = request.headers
        probe.querystring = parse_qs(request.query_string.decode("latin-1"))
        return str(probe.get_current_account()), str(
            probe.get_region_from_url(request, request.url)
        )

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if signing_service(authorization) == APPCONFIG:
            request = Request(environ)
            account, region = self.account_and_region(request)
            response = self.appconfig.handle(request, account, region)
            if response is not None:
                return response(environ, start_response)
        elif environ.get("PATH_INFO") == RESET_PATH and environ.get("REQUEST_METHOD") == "POST":
            self.appconfig.reset()
        return self.moto_app(environ, start_response)
