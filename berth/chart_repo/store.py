"""The chart bucket as Berth uses it: S3 conditional writes, so no publisher ever loses a chart.

- Archives are immutable: `PutObject` with `If-None-Match: *` refuses an existing version.
  Each archive carries its Helm digest as `x-amz-meta-digest`, so a HEAD tells whether an
  index entry still matches its archive without downloading it.
- `index.yaml` changes only by read-modify-write with `If-Match: <etag>` (`If-None-Match: *`
  for the first index). A 412/409 means someone else wrote in between: re-read, re-apply the
  change, retry with bounded exponential backoff and full jitter.
- A corrupt or foreign `index.yaml` stops every writer with a clear error: it is never replaced.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from berth.chart_repo.errors import ChartRepoError
from berth.chart_repo.index import (
    INDEX_KEY,
    IndexFormatError,
    RepoIndex,
    parse_index,
    serialise_index,
)
from berth_core.config import Environment, normalise_prefix

DIGEST_METADATA_KEY = "digest"  # sent as x-amz-meta-digest
ARCHIVE_CONTENT_TYPE = "application/gzip"
INDEX_CONTENT_TYPE = "application/x-yaml"
# Helm clients must see a new index at once; archives never change, so they may be cached.
INDEX_CACHE_CONTROL = "no-cache"

# 412: the precondition failed. 409: S3 saw two conditional writes to one key at the same time.
# 404 on an If-Match write: the index was deleted since we read it.
_CONFLICT_STATUSES = frozenset({409, 412})
_HEAD_WORKERS = 16


class ArchiveExistsError(ChartRepoError):
    """The chart version is already in the bucket (archives are immutable without --force)."""


class IndexConflictError(ChartRepoError):
    """index.yaml changed since it was read (412/409): re-read and retry."""


@dataclass(frozen=True)
class IndexSnapshot:
    """index.yaml as read, with the ETag a conditional write must match (None: no index yet)."""

    index: RepoIndex
    etag: str | None


@dataclass(frozen=True)
class ListedArchive:
    """One `.tgz` object as ListObjectsV2 reports it."""

    key: str
    etag: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter for index write conflicts."""

    max_attempts: int = 15
    base_delay_s: float = 0.05
    max_delay_s: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th conflict (1-based): uniform in [0, cap]."""
        cap = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return random.uniform(0, cap)  # noqa: S311 - jitter, not cryptography


@dataclass(frozen=True)
class IndexUpdate:
    """The outcome of `update_index`: the index now stored and how many conflicts it took."""

    index: RepoIndex
    written: bool
    retries: int


def _status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _is_missing(error: ClientError) -> bool:
    return _status(error) == 404 or _code(error) in ("NoSuchKey", "404", "NotFound")


class ChartStore:
    """One Helm chart repository: a bucket and a key prefix ("" = the top of the bucket), with
    the archives next to `index.yaml`.

    Every key this class takes or returns is relative to the prefix (`index.yaml`,
    `demo-0.1.0.tgz`), as the index's relative URLs are, so a repository reads the same through
    `s3://BUCKET/PREFIX` (helm-s3), HTTPS or the S3 proxy serving that prefix.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = normalise_prefix(prefix)

    @property
    def location(self) -> str:
        """`s3://BUCKET` or `s3://BUCKET/PREFIX`: what `helm repo add` takes with helm-s3."""
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def object_key(self, key: str) -> str:
        """The bucket key of a repository key."""
        return f"{self.prefix}{key}"

    def _describe(self, key: str, error: ClientError) -> str:
        message = error.response.get("Error", {}).get("Message") or _code(error)
        return f"{self.location}/{key}: {_code(error) or _status(error)}: {message}"

    # --- index --------------------------------------------------------------------------------

    def read_index(self) -> IndexSnapshot:
        """The current index and its ETag; an empty index when the bucket has none yet."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(INDEX_KEY))
        except ClientError as error:
            if _is_missing(error) and _code(error) != "NoSuchBucket":
                return IndexSnapshot(index=RepoIndex(), etag=None)
            raise ChartRepoError(self._describe(INDEX_KEY, error)) from None
        data = response["Body"].read()
        try:
            index = parse_index(data)
        except IndexFormatError as error:
            raise ChartRepoError(
                f"{self.location}/{INDEX_KEY}: not a Helm repository index ({error});"
                " refusing to overwrite it (move it aside, then run `berth charts reindex`)"
            ) from None
        return IndexSnapshot(index=index, etag=str(response["ETag"]))

    def write_index(self, index: RepoIndex, expected_etag: str | None) -> str:
        """Store `index` only if index.yaml still has `expected_etag` (None: does not exist yet).

        Returns the new ETag; raises IndexConflictError when someone else wrote in between.
        """
        condition = (
            {"IfMatch": expected_etag} if expected_etag is not None else {"IfNoneMatch": "*"}
        )
        try:
            response = self._put_index(serialise_index(index), condition)
        except ClientError as error:
            if _status(error) in _CONFLICT_STATUSES or (
                expected_etag is not None and _is_missing(error)
            ):
                raise IndexConflictError(f"{self.location}/{INDEX_KEY} changed meanwhile") from None
            raise ChartRepoError(self._describe(INDEX_KEY, error)) from None
        return str(response["ETag"])

    def _put_index(self, body: bytes, condition: dict[str, str]) -> Any:
        return self.client.put_object(
            Bucket=self.bucket,
            Key=self.object_key(INDEX_KEY),
            Body=body,
            ContentType=INDEX_CONTENT_TYPE,
            CacheControl=INDEX_CACHE_CONTROL,
            **condition,
        )

    # --- archives -----------------------------------------------------------------------------

    def put_archive(self, key: str, body: bytes, digest_hex: str, *, overwrite: bool) -> None:
        """Upload an archive; without `overwrite` an existing key raises ArchiveExistsError.

        `digest_hex` is the archive's sha256 (Helm's digest); S3 checks the body against it
        (`x-amz-checksum-sha256`) and refuses bytes that differ, so what is stored is what was
        hashed.
        """
        condition = {} if overwrite else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.object_key(key),
                Body=body,
                ContentType=ARCHIVE_CONTENT_TYPE,
                Metadata={DIGEST_METADATA_KEY: digest_hex},
                # https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
                ChecksumSHA256=base64.b64encode(bytes.fromhex(digest_hex)).decode(),
                **condition,
            )
        except ClientError as error:
            if _status(error) in _CONFLICT_STATUSES:
                raise ArchiveExistsError(f"{self.location}/{key} already exists") from None
            raise ChartRepoError(self._describe(key, error)) from None

    def list_archives(self) -> dict[str, ListedArchive]:
        """Every `.tgz` below the prefix (Berth puts them next to the index; others may nest
        them), by repository key."""
        archives: dict[str, ListedArchive] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for item in page.get("Contents", []):
                    if item["Key"].endswith(".tgz"):
                        key = item["Key"].removeprefix(self.prefix)
                        archives[key] = ListedArchive(
                            key=key,
                            etag=str(item["ETag"]),
                            size=int(item["Size"]),
                            last_modified=item["LastModified"],
                        )
        except ClientError as error:
            raise ChartRepoError(self._describe("", error)) from None
        return archives

    def archive_digest(self, key: str) -> str | None:
        """The digest recorded at upload (HEAD, no download); None when the object has none."""
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as error:
            if _is_missing(error):
                return None
            raise ChartRepoError(self._describe(key, error)) from None
        digest = response.get("Metadata", {}).get(DIGEST_METADATA_KEY)
        return str(digest) if digest else None

    def archive_digests(self, keys: list[str]) -> dict[str, str | None]:
        """`archive_digest` for many keys, HEADs in parallel (boto3 clients are thread-safe)."""
        if not keys:
            return {}
        with ThreadPoolExecutor(max_workers=min(_HEAD_WORKERS, len(keys))) as pool:
            return dict(zip(keys, pool.map(self.archive_digest, keys), strict=True))

    def archive_exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as error:
            if _is_missing(error):
                return False
            raise ChartRepoError(self._describe(key, error)) from None
        return True

    def read_archive(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as error:
            raise ChartRepoError(self._describe(key, error)) from None
        body: bytes = response["Body"].read()
        return body

    def read_json(self, key: str) -> Any | None:
        """A small JSON object Berth keeps beside the charts; None when missing or unreadable."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))[
                "Body"
            ].read()
            return json.loads(body)
        except ClientError as error:
            if _is_missing(error):
                return None
            raise ChartRepoError(self._describe(key, error)) from None
        except ValueError:
            return None

    def put_json(self, key: str, document: Any) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.object_key(key),
                Body=json.dumps(document, sort_keys=True).encode(),
                ContentType="application/json",
            )
        except ClientError as error:
            raise ChartRepoError(self._describe(key, error)) from None

    def delete_archive(self, key: str) -> None:
        """Delete an archive (the versioned bucket keeps it as a noncurrent version)."""
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as error:
            raise ChartRepoError(self._describe(key, error)) from None


def s3_client(env: Environment, session: boto3.Session | None = None) -> Any:
    """An S3 client for the environment's region, from `session` (the `berth` command passes
    the environment's credentials) or the ambient ones; AWS_ENDPOINT_URL, when set, is honoured."""
    config = Config(retries={"mode": "standard"}, max_pool_connections=_HEAD_WORKERS * 2)
    return (session or boto3.Session()).client("s3", region_name=env.region, config=config)


def store_for(env: Environment, client: Any | None = None) -> ChartStore:
    """The chart store of an environment: its own repository (bucket and prefix), through
    `client` if given."""
    location = env.chart_repository
    if location is None:
        central = env.helm_repo.central
        source = f" it reads {central.location.url}" if central and central.bucket else ""
        raise ChartRepoError(
            f"{env.name} has no chart repository of its own;{source}"
            f" (helm_repo.create_repository in its environment file)"
        )
    return ChartStore(client or s3_client(env), location.bucket, location.prefix)


__all__ = ["ChartRepoError", "ChartStore", "RetryPolicy", "store_for", "update_index"]

IndexChange = Callable[[RepoIndex], RepoIndex | None]


def update_index(
    store: ChartStore,
    change: IndexChange,
    *,
    out: TextIO,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> IndexUpdate:
    """Read-modify-write index.yaml until the conditional write wins (or attempts run out).

    `change` gets the freshly read index and returns the new one, or None when nothing needs
    writing; it runs again on every retry, so it must be a pure function of its argument.
    """
    policy = policy or RetryPolicy()
    for attempt in range(1, policy.max_attempts + 1):
        snapshot = store.read_index()
        changed = change(snapshot.index)
        if changed is None:
            return IndexUpdate(index=snapshot.index, written=False, retries=attempt - 1)
        try:
            store.write_index(changed, snapshot.etag)
        except IndexConflictError:
            if attempt == policy.max_attempts:
                break
            delay = policy.delay(attempt)
            print(
                f"  {INDEX_KEY}: changed by someone else (conflict {attempt}),"
                f" re-reading in {delay:.2f} s",
                file=out,
            )
            sleep(delay)
            continue
        return IndexUpdate(index=changed, written=True, retries=attempt - 1)
    raise ChartRepoError(
        f"{store.location}/{INDEX_KEY}: still changing after {policy.max_attempts} attempts;"
        " uploaded archives are safe: run `berth charts reindex` once the other writers finish"
    )
