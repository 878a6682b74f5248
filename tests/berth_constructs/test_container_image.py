"""ContainerImage: the one image type of every release (pinned by digest, by tag, or both)."""

from __future__ import annotations

from typing import Any

import pytest

from berth_constructs.container_image import ContainerImage

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repository": "r"}, "tag: give a tag or a digest"),
        ({"repository": "r", "tag": "latest"}, "tag: 'latest' does not pin"),
        ({"repository": "r", "tag": "1.0 beta"}, "tag: '1.0 beta' is not a Docker image tag"),
        ({"repository": "r", "digest": "sha256:abc"}, "digest: 'sha256:abc' is not"),
        ({"repository": "r:1.0", "tag": "1"}, "repository: 'r:1.0' is not"),
    ],
)
def test_container_image_must_be_pinned(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ContainerImage(**kwargs)


def test_digest_and_tag_together_pull_by_digest_and_keep_the_tag_in_the_values() -> None:
    image = ContainerImage(repository="berth/appconfig-fetch", tag="0.1.0", digest=DIGEST)
    assert image.reference == f"berth/appconfig-fetch@{DIGEST}"
    assert image.values() == {
        "repository": "berth/appconfig-fetch",
        "tag": "0.1.0",
        "digest": DIGEST,
    }


def test_a_tag_alone_pins_an_immutable_ecr_tag() -> None:
    image = ContainerImage(repository="berth/s3proxy", tag="0.1.0")
    assert image.reference == "berth/s3proxy:0.1.0"
    assert image.values()["digest"] == ""
