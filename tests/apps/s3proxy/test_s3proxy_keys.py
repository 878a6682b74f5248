"""Request target -> S3 key, table-driven (pure)."""

from __future__ import annotations

import pytest
from s3proxy.keys import KeyResult, key_for_path, request_path


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/plain.txt", "plain.txt"),
        ("/a+b.txt", "a+b.txt"),  # a plus is a plus, never a space
        ("/a%2Bb.txt", "a+b.txt"),
        ("/with%20space.txt", "with space.txt"),
        ("/file%20(1).txt", "file (1).txt"),
        ("/file(1).txt", "file(1).txt"),
        ("/k=v@host.txt", "k=v@host.txt"),
        ("/caf%C3%A9/na%C3%AFve.txt", "café/naïve.txt"),
        ("/a%2Fb.txt", "a/b.txt"),  # %2F is a slash inside the key
        ("/a%252Fb.txt", "a%2Fb.txt"),  # decoded once only
        ("/dir//double.txt", "dir//double.txt"),
        ("//leading.txt", "/leading.txt"),  # only one leading slash is removed
        ("/...txt", "...txt"),
    ],
)
def test_keys_are_decoded_once(path: str, key: str) -> None:
    assert key_for_path(path) == KeyResult(key)


@pytest.mark.parametrize(
    ("path", "index", "key"),
    [
        ("/", "index.yaml", "charts/index.yaml"),
        ("", "index.yaml", "charts/index.yaml"),
        ("/sub/", "index.yaml", "charts/sub/index.yaml"),
        ("/sub%2F", "index.yaml", "charts/sub/index.yaml"),
        ("/x.tgz", "index.yaml", "charts/x.tgz"),
    ],
)
def test_prefix_and_index_document(path: str, index: str, key: str) -> None:
    assert key_for_path(path, prefix="charts/", index_document=index).key == key


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 404),  # no index document configured
        ("/sub/", 404),
        ("/../secret", 400),
        ("/a/../../secret", 400),
        ("/%2E%2E/secret", 400),
        ("/%2e%2e%2fsecret", 400),
        ("/..%2Fsecret", 400),
        ("/./x", 400),
        ("/bad%FF", 400),  # not UTF-8
        ("/nul%00", 400),
        ("/" + "k" * 1100, 400),
    ],
)
def test_rejected_paths(path: str, status: int) -> None:
    result = key_for_path(path, prefix="charts/")
    assert result.key is None
    assert result.status == status


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("/a?x=1", "/a"),
        ("/a%3Fb?x", "/a%3Fb"),
        ("http://host:8080/a%2Fb?q", "/a%2Fb"),
        ("/", "/"),
    ],
)
def test_request_path(raw: str, path: str) -> None:
    assert request_path(raw) == path
