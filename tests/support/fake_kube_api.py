"""A small, real HTTP stand-in for the Kubernetes API server (the paths the refresher uses).

There is no cluster here, so the real `kubernetes` client talks to this threaded Werkzeug
server on a free loopback port. It keeps objects in memory with resourceVersions, answers
409 on stale writes, streams `watch=true` namespace events (410 Gone for expired history),
and can be told to fail given requests.

Speaks: GET/LIST/WATCH namespaces (labelSelector), GET/POST/PUT/PATCH secrets,
GET/PATCH serviceaccounts and configmaps (JSON merge patch only). Shared by the tests, the
`berth` command tests and bench/.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from berth.local import LOOPBACK, free_loopback_port

Key = tuple[str, str]
MERGE_PATCH = "application/merge-patch+json"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (hand-written: eight lines, no library in the venv)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _selector_terms(selector: str) -> list[str]:
    # Split on commas that are not inside `in (a,b)` parentheses.
    return [term.strip() for term in re.split(r",(?![^(]*\))", selector) if term.strip()]


def matches_selector(labels: dict[str, str], selector: str | None) -> bool:
    """The label-selector subset the tests use: =, ==, !=, in, notin, exists, !exists."""
    for term in _selector_terms(selector or ""):
        if match := re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", term):
            key, op, values = match.groups()
            wanted = {value.strip() for value in values.split(",")}
            if (labels.get(key) in wanted) != (op == "in"):
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = re.split(r"==?", term, maxsplit=1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def status(code: int, reason: str, message: str) -> Response:
    """A Kubernetes `Status` error response."""
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return Response(json.dumps(body), status=code, mimetype="application/json")


def ok(obj: dict[str, Any], code: int = 200) -> Response:
    return Response(json.dumps(obj), status=code, mimetype="application/json")


@dataclass
class Fault:
    """Answer `status` to requests whose method and path match, `times` times (None: always)."""

    method: str
    path: re.Pattern[str]
    status: int
    times: int | None = None
    hits: int = 0


@dataclass
class _NamespaceEvent:
    rv: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass
class FakeKubeApi:
    """In-memory API state plus the WSGI app serving it."""

    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[Key, dict[str, Any]] = field(default_factory=dict)
    service_accounts: dict[Key, dict[str, Any]] = field(default_factory=dict)
    config_maps: dict[Key, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    # (kind, namespace, name) -> how many upcoming writes race with a concurrent writer.
    races: dict[tuple[str, str, str], int] = field(default_factory=dict)
    watch_requests: int = 0
    _rv: int = 0
    _events: list[_NamespaceEvent] = field(default_factory=list)
    _history_floor: int = 0
    _closing: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    # ---- state helpers used by tests -------------------------------------------------
    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def add_namespace(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        *,
        default_sa: bool = True,
        event: bool = True,
    ) -> None:
        """Create a namespace (and, like the controller does, its `default` account).

        `event=False` leaves no watch event, as if compacted away: only a relist finds it.
        """
        with self._cond:
            obj = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": dict(labels or {}), "resourceVersion": ""},
                "status": {"phase": "Active"},
            }
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self.namespaces[name] = obj
            if event:
                self._events.append(_NamespaceEvent(self._rv, None, copy.deepcopy(obj)))
            if default_sa:
                self._put_service_account(name, "default")
            self._cond.notify_all()

    def label_namespace(self, name: str, labels: dict[str, str]) -> None:
        """Replace a namespace's labels (a watch with a selector may now see it ADDED)."""
        with self._cond:
            before = copy.deepcopy(self.namespaces[name])
            self.namespaces[name]["metadata"]["labels"] = dict(labels)
            self.namespaces[name]["metadata"]["resourceVersion"] = self._next_rv()
            after = copy.deepcopy(self.namespaces[name])
            self._events.append(_NamespaceEvent(self._rv, before, after))
            self._cond.notify_all()

    def delete_namespace(self, name: str) -> None:
        with self._cond:
            before = self.namespaces.pop(name)
            for key in [k for k in self.secrets if k[0] == name]:
                del self.secrets[key]
            for key in [k for k in self.service_accounts if k[0] == name]:
                del self.service_accounts[key]
            for key in [k for k in self.config_maps if k[0] == name]:
                del self.config_maps[key]
            self._next_rv()
            self._events.append(_NamespaceEvent(self._rv, copy.deepcopy(before), None))
            self._cond.notify_all()

    def _put_service_account(self, namespace: str, name: str, **lists: Any) -> None:
        self.service_accounts[(namespace, name)] = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": self._next_rv()},
            **{key: value for key, value in lists.items() if value is not None},
        }

    def add_service_account(
        self,
        namespace: str,
        name: str,
        *,
        imagePullSecrets: list[dict[str, str]] | None = None,
        secrets: list[dict[str, str]] | None = None,
    ) -> None:
        with self._cond:
            self._put_service_account(
                namespace, name, imagePullSecrets=imagePullSecrets, secrets=secrets
            )

    def add_config_map(self, namespace: str, name: str, data: dict[str, str] | None = None) -> None:
        """Create a ConfigMap (as a chart would)."""
        with self._cond:
            self.config_maps[(namespace, name)] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "resourceVersion": self._next_rv(),
                },
                **({"data": dict(data)} if data is not None else {}),
            }

    def put_secret(self, namespace: str, name: str, obj: dict[str, Any]) -> None:
        """Store a secret as if someone else had created it."""
        with self._cond:
            stored = copy.deepcopy(obj)
            stored.setdefault("metadata", {}).update(
                {"name": name, "namespace": namespace, "resourceVersion": self._next_rv()}
            )
            self.secrets[(namespace, name)] = stored

    def fail(self, method: str, path: str, status_code: int, times: int | None = None) -> Fault:
        """Make matching requests fail with `status_code` (path is a regex, fully matched)."""
        fault = Fault(method, re.compile(path), status_code, times)
        self.faults.append(fault)
        return fault

    def race_next_write(self, kind: str, namespace: str, name: str, times: int = 1) -> None:
        """Before the next `times` writes, bump the resourceVersion (a concurrent writer)."""
        self.races[(kind, namespace, name)] = times

    def expire_history(self) -> None:
        """Forget old events: watches from an older resourceVersion get 410 Gone."""
        with self._cond:
            self._history_floor = self._rv
            self._events.clear()
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def count(self, method: str, path_regex: str) -> int:
        pattern = re.compile(path_regex)
        return sum(1 for m, p in self.requests if m == method and pattern.fullmatch(p))

    # ---- HTTP --------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._dispatch(request)
        return response(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        path, method = request.path, request.method
        with self._cond:
            self.requests.append((method, path))
            for fault in self.faults:
                matched = fault.method == method and fault.path.fullmatch(path)
                if matched and (fault.times is None or fault.hits < fault.times):
                    fault.hits += 1
                    return status(fault.status, "InternalError", "injected fault")
        routes = [
            (r"/api/v1/namespaces", self._namespaces),
            (r"/api/v1/namespaces/([^/]+)", self._namespace),
            (r"/api/v1/namespaces/([^/]+)/secrets", self._secrets),
            (r"/api/v1/namespaces/([^/]+)/secrets/([^/]+)", self._secret),
            (r"/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)", self._service_account),
            (r"/api/v1/namespaces/([^/]+)/configmaps/([^/]+)", self._config_map),
        ]
        for pattern, handler in routes:
            if match := re.fullmatch(pattern, path):
                return handler(request, *match.groups())
        return status(404, "NotFound", f"no route {path}")

    def _namespaces(self, request: Request) -> Response:
        if request.method != "GET":
            return status(405, "MethodNotAllowed", request.method)
        selector = request.args.get("labelSelector")
        if request.args.get("watch") in {"true", "1"}:
            return self._watch(request, selector)
        with self._cond:
            items = [
                copy.deepcopy(ns)
                for ns in self.namespaces.values()
                if matches_selector(ns["metadata"]["labels"], selector)
            ]
            body = {
                "apiVersion": "v1",
                "kind": "NamespaceList",
                "metadata": {"resourceVersion": str(self._rv)},
                "items": items,
            }
        return ok(body)

    def _namespace(self, request: Request, name: str) -> Response:
        with self._cond:
            if name not in self.namespaces:
                return status(404, "NotFound", f'namespaces "{name}" not found')
            return ok(copy.deepcopy(self.namespaces[name]))

    def _watch(self, request: Request, selector: str | None) -> Response:
        start = int(request.args.get("resourceVersion") or 0)
        timeout = float(request.args.get("timeoutSeconds") or 30)
        with self._cond:
            self.watch_requests += 1
            gone = start < self._history_floor

        def events() -> Iterator[bytes]:
            if gone:
                error = json.loads(status(410, "Expired", "too old resource version").data)
                yield (json.dumps({"type": "ERROR", "object": error}) + "\n").encode()
                return
            position = start
            deadline = time.monotonic() + timeout
            while True:
                with self._cond:
                    pending = [e for e in self._events if e.rv > position]
                    if not pending:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or self._closing:
                            return
                        self._cond.wait(min(remaining, 0.5))
                        continue
                for event in pending:
                    position = event.rv
                    line = _watch_line(event, selector)
                    if line is not None:
                        yield line

        return Response(events(), mimetype="application/json", direct_passthrough=True)

    def _check_namespace(self, namespace: str) -> Response | None:
        if namespace not in self.namespaces:
            return status(404, "NotFound", f'namespaces "{namespace}" not found')
        return None

    def _race(self, kind: str, namespace: str, name: str, store: dict[Key, Any]) -> None:
        key = (kind, namespace, name)
        if self.races.get(key, 0) > 0 and (namespace, name) in store:
            self.races[key] -= 1
            store[(namespace, name)]["metadata"]["resourceVersion"] = self._next_rv()

    def _secrets(self, request: Request, namespace: str) -> Response:
        if request.method != "POST":
            return status(405, "MethodNotAllowed", request.method)
        body = request.get_json(force=True)
        name = body["metadata"]["name"]
        with self._cond:
            if missing := self._check_namespace(namespace):
                return missing
            if (namespace, name) in self.secrets:
                return status(409, "AlreadyExists", f'secrets "{name}" already exists')
            body["metadata"]["namespace"] = namespace
            body["metadata"]["resourceVersion"] = self._next_rv()
            self.secrets[(namespace, name)] = body
            return ok(copy.deepcopy(body), 201)

    def _secret(  # noqa: PLR0911 - one return per API answer reads best here
        self, request: Request, namespace: str, name: str
    ) -> Response:
        with self._cond:
            if missing := self._check_namespace(namespace):
                return missing
            current = self.secrets.get((namespace, name))
            if request.method == "GET":
                if current is None:
                    return status(404, "NotFound", f'secrets "{name}" not found')
                return ok(copy.deepcopy(current))
            if current is None:
                return status(404, "NotFound", f'secrets "{name}" not found')
            self._race("secret", namespace, name, self.secrets)
            if request.method == "PUT":
                body = request.get_json(force=True)
            elif request.method == "PATCH":
                if request.mimetype != MERGE_PATCH:
                    return status(415, "UnsupportedMediaType", request.mimetype)
                body = merge_patch(current, request.get_json(force=True))
            else:
                return status(405, "MethodNotAllowed", request.method)
            return self._store(self.secrets, namespace, name, body)

    def _service_account(self, request: Request, namespace: str, name: str) -> Response:
        return self._patchable(request, namespace, name, "serviceaccount", self.service_accounts)

    def _config_map(self, request: Request, namespace: str, name: str) -> Response:
        return self._patchable(request, namespace, name, "configmap", self.config_maps)

    def _patchable(
        self,
        request: Request,
        namespace: str,
        name: str,
        kind: str,
        store: dict[Key, dict[str, Any]],
    ) -> Response:
        """GET and JSON-merge-PATCH of an existing object (what the refresher may do)."""
        with self._cond:
            current = store.get((namespace, name))
            if current is None:
                return status(404, "NotFound", f'{kind}s "{name}" not found')
            if request.method == "GET":
                return ok(copy.deepcopy(current))
            if request.method != "PATCH":
                return status(405, "MethodNotAllowed", request.method)
            if request.mimetype != MERGE_PATCH:
                return status(415, "UnsupportedMediaType", request.mimetype)
            self._race(kind, namespace, name, store)
            body = merge_patch(current, request.get_json(force=True))
            return self._store(store, namespace, name, body)

    def _store(
        self, store: dict[Key, Any], namespace: str, name: str, body: dict[str, Any]
    ) -> Response:
        """Optimistic concurrency as the API server does it: a stale resourceVersion is 409."""
        current = store[(namespace, name)]
        sent = body.get("metadata", {}).get("resourceVersion")
        if sent and sent != current["metadata"]["resourceVersion"]:
            return status(409, "Conflict", "the object has been modified; please apply again")
        if current.get("type") and body.get("type") != current["type"]:
            return status(422, "Invalid", "field is immutable: type")
        body["metadata"].update(
            {"name": name, "namespace": namespace, "resourceVersion": self._next_rv()}
        )
        store[(namespace, name)] = body
        return ok(copy.deepcopy(body))


def _watch_line(event: _NamespaceEvent, selector: str | None) -> bytes | None:
    """The event as a selector-filtered watch sees it (ADDED when an object starts matching)."""

    def matched(obj: dict[str, Any] | None) -> bool:
        return obj is not None and matches_selector(obj["metadata"]["labels"], selector)

    was, now = matched(event.before), matched(event.after)
    if now:
        kind, obj = ("MODIFIED" if was else "ADDED"), event.after
    elif was:
        kind, obj = "DELETED", event.before
    else:
        return None
    assert obj is not None
    obj = copy.deepcopy(obj)
    obj["metadata"]["resourceVersion"] = str(event.rv)
    return (json.dumps({"type": kind, "object": obj}) + "\n").encode()


@contextlib.contextmanager
def serve(api: FakeKubeApi) -> Iterator[str]:
    """Serve `api` on a free loopback port from a thread; yields the base URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log per request
    server: BaseWSGIServer = make_server(LOOPBACK, free_loopback_port(), api, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.port}"
    finally:
        api.close()
        server.shutdown()
        thread.join(timeout=10)


def write_kubeconfig(url: str, path: Path, user: str = "test") -> Path:
    """A kubeconfig whose one context reaches the fake API at `url` (any token is accepted)."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": url}}],
                "users": [{"name": user, "user": {"token": "not-checked"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": user}}],
                "current-context": "fake",
            }
        )
    )
    return path
