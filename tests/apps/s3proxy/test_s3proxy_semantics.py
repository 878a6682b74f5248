"""The pure RFC 9110 decisions, table-driven (no server, no S3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from s3proxy.semantics import (
    Conditions,
    Decision,
    Representation,
    carries_content,
    decide,
    host_problem,
    representation_headers,
    resolve_range,
    response_headers,
)
from werkzeug.datastructures import Range
from werkzeug.http import parse_etags, parse_if_range_header, parse_range_header

MODIFIED = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
REP = Representation(size=1000, etag='"abc"', last_modified=MODIFIED)
EARLIER = MODIFIED - timedelta(days=1)
LATER = MODIFIED + timedelta(days=1)


def _range(header: str) -> Range:
    parsed = parse_range_header(header)
    assert parsed is not None, header
    return parsed


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-", 1000, Decision(206, (0, 1000))),  # not 200: the Safari bug
        ("bytes=0-0", 1000, Decision(206, (0, 1))),
        ("bytes=100-199", 1000, Decision(206, (100, 200))),
        ("bytes=900-5000", 1000, Decision(206, (900, 1000))),  # end clamped to the size
        ("bytes=-100", 1000, Decision(206, (900, 1000))),  # suffix
        ("bytes=-5000", 1000, Decision(206, (0, 1000))),  # suffix longer than the object
        ("bytes=1000-", 1000, Decision(416)),
        ("bytes=5000-6000", 1000, Decision(416)),
        ("bytes=0-", 0, Decision(416)),  # empty object: nothing is satisfiable
        ("bytes=-10", 0, Decision(416)),
        ("bytes=0-1,5-6", 1000, Decision(200)),  # multi-range: whole object, allowed by §14.2
    ],
)
def test_resolve_range(header: str, size: int, expected: Decision) -> None:
    assert resolve_range(_range(header), size) == expected


def test_content_range_for_206_and_416() -> None:
    assert Decision(206, (0, 10)).content_range(1000) == "bytes 0-9/1000"
    assert Decision(416).content_range(1000) == "bytes */1000"
    assert Decision(200).content_range(1000) is None


@pytest.mark.parametrize(
    ("method", "conditions", "status"),
    [
        ("GET", Conditions(), 200),
        ("HEAD", Conditions(), 200),
        ("POST", Conditions(), 405),
        ("DELETE", Conditions(if_match=parse_etags('"abc"')), 405),  # method first
        # If-Match: strong comparison
        ("GET", Conditions(if_match=parse_etags('"abc"')), 200),
        ("GET", Conditions(if_match=parse_etags('"zzz", "abc"')), 200),
        ("GET", Conditions(if_match=parse_etags("*")), 200),
        ("GET", Conditions(if_match=parse_etags('"zzz"')), 412),
        ("GET", Conditions(if_match=parse_etags('W/"abc"')), 412),  # weak never matches strongly
        # If-Unmodified-Since, only without If-Match
        ("GET", Conditions(if_unmodified_since=LATER), 200),
        ("GET", Conditions(if_unmodified_since=MODIFIED), 200),
        ("GET", Conditions(if_unmodified_since=EARLIER), 412),
        ("GET", Conditions(if_match=parse_etags('"abc"'), if_unmodified_since=EARLIER), 200),
        # If-None-Match: weak comparison
        ("GET", Conditions(if_none_match=parse_etags('"abc"')), 304),
        ("HEAD", Conditions(if_none_match=parse_etags('"abc"')), 304),
        ("GET", Conditions(if_none_match=parse_etags('W/"abc"')), 304),
        ("GET", Conditions(if_none_match=parse_etags("*")), 304),
        ("GET", Conditions(if_none_match=parse_etags('"zzz"')), 200),
        # If-Modified-Since, only without If-None-Match
        ("GET", Conditions(if_modified_since=MODIFIED), 304),
        ("GET", Conditions(if_modified_since=LATER), 304),
        ("GET", Conditions(if_modified_since=EARLIER), 200),
        ("GET", Conditions(if_none_match=parse_etags('"zzz"'), if_modified_since=LATER), 200),
        # precedence: 412 beats 304, 304 beats 206
        (
            "GET",
            Conditions(if_match=parse_etags('"zzz"'), if_none_match=parse_etags('"abc"')),
            412,
        ),
        ("GET", Conditions(if_none_match=parse_etags('"abc"'), range=_range("bytes=0-9")), 304),
        ("GET", Conditions(if_match=parse_etags('"zzz"'), range=_range("bytes=5000-")), 412),
        # ranges: GET only
        ("GET", Conditions(range=_range("bytes=0-9")), 206),
        ("HEAD", Conditions(range=_range("bytes=0-9")), 200),
        ("GET", Conditions(range=_range("bytes=5000-")), 416),
        # If-Range: strong etag or exact date, else the whole object
        (
            "GET",
            Conditions(range=_range("bytes=0-9"), if_range=parse_if_range_header('"abc"')),
            206,
        ),
        (
            "GET",
            Conditions(range=_range("bytes=0-9"), if_range=parse_if_range_header('"zzz"')),
            200,
        ),
        (
            "GET",
            Conditions(
                range=_range("bytes=0-9"),
                if_range=parse_if_range_header('W/"abc"'),
                if_range_is_weak=True,
            ),
            200,
        ),
        (
            "GET",
            Conditions(
                range=_range("bytes=0-9"),
                if_range=parse_if_range_header("Sun, 01 Nov 2026 12:00:00 GMT"),
            ),
            206,
        ),
        (
            "GET",
            Conditions(
                range=_range("bytes=0-9"),
                if_range=parse_if_range_header("Sat, 31 Oct 2026 12:00:00 GMT"),
            ),
            200,
        ),
    ],
)
def test_decide(method: str, conditions: Conditions, status: int) -> None:
    assert decide(method, REP, conditions).status == status


def test_conditions_any_ignores_a_lone_if_range() -> None:
    assert not Conditions(if_range=parse_if_range_header('"abc"')).any
    assert Conditions(range=_range("bytes=0-")).any


def test_representation_headers_are_an_allow_list() -> None:
    s3_response = {
        "ETag": '"abc"',
        "LastModified": MODIFIED,
        "ContentType": "text/yaml",
        "CacheControl": "no-cache",
        "ContentLength": 10,
        "ResponseMetadata": {
            "HTTPHeaders": {"connection": "close", "transfer-encoding": "chunked"}
        },
        "Metadata": {"connection": "upgrade"},
    }
    assert representation_headers(s3_response) == {
        "ETag": '"abc"',
        "Last-Modified": "Sun, 01 Nov 2026 12:00:00 GMT",
        "Content-Type": "text/yaml",
        "Cache-Control": "no-cache",
    }


def test_representation_headers_default_content_type() -> None:
    assert representation_headers({})["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (Decision(200), {"Content-Length": "1000", "Accept-Ranges": "bytes"}),
        (
            Decision(206, (10, 20)),
            {"Content-Length": "10", "Content-Range": "bytes 10-19/1000"},
        ),
        (Decision(416), {"Content-Range": "bytes */1000"}),
    ],
)
def test_response_headers(decision: Decision, expected: dict[str, str]) -> None:
    headers = response_headers(decision, REP, {"ETag": '"abc"', "Content-Type": "text/plain"})
    assert expected.items() <= headers.items()


def test_not_modified_keeps_only_validators_and_caching_headers() -> None:
    metadata = {"ETag": '"abc"', "Cache-Control": "max-age=5", "Content-Type": "text/plain"}
    headers = response_headers(Decision(304), REP, metadata)
    assert headers == {"ETag": '"abc"', "Cache-Control": "max-age=5"}


@pytest.mark.parametrize(
    ("version", "hosts", "problem"),
    [
        ("1.1", ["proxy.example.com"], None),
        ("1.1", ["127.0.0.1:8080"], None),
        ("1.1", ["[::1]:8080"], None),
        ("1.1", [], "HTTP/1.1 request without a Host header"),
        ("1.1", [""], "HTTP/1.1 request without a Host header"),
        ("1.0", [], None),
        ("1", [""], None),  # granian's name for HTTP/1.0
        ("1.1", ["a", "b"], "more than one Host header"),
        ("1.0", ["a", "a"], "more than one Host header"),
        ("1.1", ["a b"], "invalid Host header"),
        ("1.1", ["a/b"], "invalid Host header"),
        ("1.1", ["user@host"], "invalid Host header"),
        ("1.1", ["host\x7f"], "invalid Host header"),
    ],
)
def test_host_problem(version: str, hosts: list[str], problem: str | None) -> None:
    assert host_problem(version, hosts) == problem


@pytest.mark.parametrize(
    ("length", "encoding", "content"),
    [
        (None, None, False),
        ("0", None, False),
        ("", None, False),
        ("1", None, True),
        ("100000", None, True),
        (None, "chunked", True),
        ("0", "chunked", True),
    ],
)
def test_carries_content(length: str | None, encoding: str | None, content: bool) -> None:
    assert carries_content(length, encoding) is content
