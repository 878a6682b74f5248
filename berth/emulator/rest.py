"""REST-JSON operations served from botocore's service model: routes, input, errors, output.

Everything a client can observe of an operation we add (method, path, status code, input
members and their constraints, error codes and statuses) is read from the same model boto3
and the AWS SDKs are generated from, never written down twice. Hand-written because no
maintained library parses REST-JSON *requests* on the server side (botocore only builds them).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from botocore.model import OperationModel, ServiceModel, Shape, StructureShape
from werkzeug.wrappers import Response

_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


class ApiError(Exception):
    """An error answer: its code is the name of an error shape of the service model."""

    def __init__(self, code: str, message: str, **members: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.members = members


@dataclass(frozen=True)
class Route:
    """One operation's HTTP method and path pattern, from the model's `http` trait."""

    operation: OperationModel
    method: str
    pattern: re.Pattern[str]

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        """The path labels (percent-decoded) when `method` and the raw path are this route's."""
        if method != self.method:
            return None
        found = self.pattern.fullmatch(raw_path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}


def route_for(operation: OperationModel) -> Route:
    """The route of an operation; labels match one raw (still percent-encoded) path segment."""
    uri = operation.http["requestUri"].split("?")[0]
    pattern, last = "", 0
    for label in _LABEL.finditer(uri):
        pattern += re.escape(uri[last : label.start()])
        greedy = label.group(2) == "+"
        pattern += f"(?P<{label.group(1)}>{'.+' if greedy else '[^/]+'})"
        last = label.end()
    pattern += re.escape(uri[last:])
    return Route(operation, operation.http["method"], re.compile(pattern))


def routes(model: ServiceModel, names: Iterable[str]) -> tuple[Route, ...]:
    return tuple(route_for(model.operation_model(name)) for name in names)


def find_route(
    candidates: Iterable[Route], method: str, raw_path: str
) -> tuple[Route, dict[str, str]] | None:
    for route in candidates:
        labels = route.match(method, raw_path)
        if labels is not None:
            return route, labels
    return None


# --- input ----------------------------------------------------------------------------------


def _scalar(shape: Shape, raw: str, name: str) -> Any:
    """A URI label, query or header value converted to the member's type."""
    if shape.type_name in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise ApiError("BadRequestException", f"{name}: {raw!r} is not an integer") from None
    if shape.type_name == "boolean":
        if raw.lower() not in ("true", "false"):
            raise ApiError("BadRequestException", f"{name}: {raw!r} is not a boolean")
        return raw.lower() == "true"
    return raw


def _from_request(
    member: Shape,
    name: str,
    labels: Mapping[str, str],
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
) -> tuple[bool, Any]:
    """(found, value) of a member bound to the URI, the query string or a header (`headers`
    keyed by lowercase name)."""
    location = member.serialization.get("location")
    wire_name = member.serialization.get("name", name)
    if location == "uri" and wire_name in labels:
        return True, _scalar(member, labels[wire_name], name)
    if location == "querystring" and wire_name in query:
        values = query[wire_name]
        return True, values if member.type_name == "list" else _scalar(member, values[-1], name)
    if location == "header" and wire_name.lower() in headers:
        return True, _scalar(member, headers[wire_name.lower()], name)
    return False, None


def _json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except ValueError:
        raise ApiError("BadRequestException", "the request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise ApiError("BadRequestException", "the request body is not a JSON object")
    return document


def parse_input(
    operation: OperationModel,
    labels: Mapping[str, str],
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
) -> dict[str, Any]:
    """The operation's input members from the URI, query string, headers (keyed by lowercase
    name) and JSON body,
    validated against the model (required members, lengths, ranges, enums, patterns)."""
    shape = operation.input_shape
    if shape is None:
        return {}
    query = parse_qs(query_string, keep_blank_values=True)
    located = {
        name: _from_request(member, name, labels, query, headers)
        for name, member in shape.members.items()
        if "location" in member.serialization
    }
    params = {name: value for name, (found, value) in located.items() if found}
    if len(located) < len(shape.members):
        document = _json_body(body)
        params.update(
            (name, document[name])
            for name in shape.members
            if name not in located and name in document
        )
    validate(shape, params, "")
    return params


def _check_length(shape: Shape, size: int, where: str, unit: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        raise ApiError("BadRequestException", f"{where}: must have at least {low} {unit}")
    if high is not None and size > high:
        raise ApiError("BadRequestException", f"{where}: must have at most {high} {unit}")


def validate(shape: Shape, value: Any, where: str) -> None:  # noqa: PLR0912
    """Raise BadRequestException when `value` breaks a constraint of `shape` in the model."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise ApiError("BadRequestException", f"{where or 'input'}: must be an object")
        assert isinstance(shape, StructureShape)
        for required in shape.required_members:
            if value.get(required) is None:
                raise ApiError("BadRequestException", f"{where}{required}: a value is required")
        for name, member in shape.members.items():
            if value.get(name) is not None:
                validate(member, value[name], f"{where}{name}")
    elif kind == "list":
        if not isinstance(value, list):
            raise ApiError("BadRequestException", f"{where}: must be a list")
        _check_length(shape, len(value), where, "items")
        for index, item in enumerate(value):
            validate(shape.member, item, f"{where}[{index}].")
    elif kind == "map":
        if not isinstance(value, dict):
            raise ApiError("BadRequestException", f"{where}: must be an object")
        _check_length(shape, len(value), where, "entries")
        for key, item in value.items():
            validate(shape.key, key, f"{where} key")
            validate(shape.value, item, f"{where}[{key}]")
    elif kind == "string":
        if not isinstance(value, str):
            raise ApiError("BadRequestException", f"{where}: must be a string")
        _check_length(shape, len(value), where, "characters")
        if shape.enum and value not in shape.enum:
            allowed = ", ".join(shape.enum)
            raise ApiError("BadRequestException", f"{where}: {value!r} is not one of {allowed}")
        pattern = shape.metadata.get("pattern")
        # Smithy patterns are not implicitly anchored: search, as the service does.
        if pattern and not re.search(pattern, value):
            raise ApiError("BadRequestException", f"{where}: {value!r} does not match {pattern}")
    elif kind in ("integer", "long", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ApiError("BadRequestException", f"{where}: must be a number")
        if kind in ("integer", "long") and value != int(value):
            raise ApiError("BadRequestException", f"{where}: must be an integer")
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            raise ApiError("BadRequestException", f"{where}: must be at least {low}")
        if high is not None and value > high:
            raise ApiError("BadRequestException", f"{where}: must be at most {high}")
    elif kind == "boolean" and not isinstance(value, bool):
        raise ApiError("BadRequestException", f"{where}: must be a boolean")


# --- output ---------------------------------------------------------------------------------


def timestamp(moment: datetime.datetime) -> str:
    """An ISO 8601 timestamp in UTC with milliseconds, as the model's `iso8601` format asks."""
    utc = moment.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def json_response(operation: OperationModel, body: Mapping[str, Any] | None) -> Response:
    """The success answer with the status code the model gives the operation."""
    status = int(operation.http.get("responseCode", 200))
    if body is None or status == 204:
        return Response(status=status)
    return Response(json.dumps(body), status=status, content_type="application/json")


def error_response(model: ServiceModel, error: ApiError) -> Response:
    """The error answer as REST-JSON services send it: type header, status from the model."""
    shape = model.shape_for(error.code)
    status = int(shape.metadata.get("error", {}).get("httpStatusCode", 400))
    body = {"Message": error.message, **error.members}
    return Response(
        json.dumps(body),
        status=status,
        content_type="application/json",
        headers={"x-amzn-ErrorType": error.code},
    )
