"""ContainerImage: the one type for an image a release runs, pinned by digest or by a tag.

Light on purpose (no provider bindings): the release constructs and the stacks import it, and
every chart of this repository takes it as the same `image` block (`repository`, `tag`,
`digest`; the digest wins over the tag).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import Token

from berth_core.validation import IMAGE_DIGEST, IMAGE_REPOSITORY, image_tag_problem


@dataclass(frozen=True, kw_only=True)
class ContainerImage:
    """An image in a repository, pinned by digest (preferred) or by an immutable tag; with both,
    the digest pins it and the tag says which release it is."""

    # Repository URL without tag or digest, e.g. `EcrRegistry.repository_url`.
    repository: str
    # Image tag; ECR tags are immutable here, so a tag names one image.
    tag: str = ""
    # Image digest `sha256:...`; wins over the tag in every chart.
    digest: str = ""

    def __post_init__(self) -> None:
        if not Token.is_unresolved(self.repository):
            problem = IMAGE_REPOSITORY.problem(self.repository)
            if problem:
                raise ValueError(f"repository: {problem}")
        if not (self.tag or self.digest):
            raise ValueError("tag: give a tag or a digest (or both), so the image is pinned")
        if self.tag:
            problem = image_tag_problem(self.tag)
            if problem:
                raise ValueError(f"tag: {problem}")
        # A digest from a lookup (`${data.aws_ecr_image...}`) is checked by ECR at plan time.
        if self.digest and not Token.is_unresolved(self.digest):
            problem = IMAGE_DIGEST.problem(self.digest)
            if problem:
                raise ValueError(f"digest: {problem}")

    @property
    def reference(self) -> str:
        """`repository@digest` or `repository:tag`, as a container runtime pulls it."""
        return (
            f"{self.repository}@{self.digest}" if self.digest else f"{self.repository}:{self.tag}"
        )

    def values(self) -> dict[str, str]:
        """The charts' `image` block (without `pullPolicy`, which is each chart's own)."""
        return {"repository": self.repository, "tag": self.tag, "digest": self.digest}
