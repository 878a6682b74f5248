"""S3ProxyBucket security properties, asserted on the synthesized JSON of a minimal stack.

One stack, synthesized once: `files` (prefix `site/`, content uploaded from a folder) and
`charts` (whole bucket, a given KMS key, another namespace and ServiceAccount).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from berth_constructs.irsa_service_account import IrsaServiceAccountProps
from berth_constructs.s3_proxy_bucket import S3ProxyBucket, S3ProxyBucketProps, example_path
from tests.support.constants import ACCOUNT, EKS_ISSUER, EKS_PROVIDER_ARN, KMS_KEY_ARN
from tests.support.stacks import new_stack, stack_json
from tests.support.tfjson import policy_statements, principals, resources, statement

CONTENT = {
    "1.jpg": b"\xff\xd8\xff\xe0 not really a jpeg",
    "docs/read me.txt": b"hello\n",
    "docs/index.html": b"<h1>hi</h1>",
    "data.unknownext": b"\x00\x01",
    ".hidden": b"skipped",
    ".git/config": b"skipped too",
}


def _reader(role_name: str, namespace: str, name: str) -> IrsaServiceAccountProps:
    return IrsaServiceAccountProps(
        namespace=namespace,
        name=name,
        role_name=role_name,
        oidc_provider_arn=EKS_PROVIDER_ARN,
        create_service_account=False,
    )


@pytest.fixture(scope="module")
def content_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("content")
    for relative, data in CONTENT.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def stack(content_dir: Path) -> dict[str, Any]:
    stack = new_stack()
    S3ProxyBucket(
        stack,
        "files",
        S3ProxyBucketProps(
            bucket_name="test-files",
            account_id=ACCOUNT,
            reader=_reader("test-files-s3proxy", "files", "s3proxy"),
            prefix="site/",
            content_dir=content_dir,
        ),
    )
    S3ProxyBucket(
        stack,
        "charts",
        S3ProxyBucketProps(
            bucket_name="test-charts",
            account_id=ACCOUNT,
            reader=_reader("test-charts-s3proxy", "s3proxy", "charts-proxy"),
            index_document="index.yaml",
            kms_key_arn=KMS_KEY_ARN,
        ),
    )
    return stack_json(stack)


def _key(stack: dict[str, Any], resource_type: str, **attributes: str) -> str:
    """The logical id (as found in the JSON) of the one resource with these attributes."""
    (key,) = [
        key
        for key, resource in stack["resource"][resource_type].items()
        if all(resource.get(name) == value for name, value in attributes.items())
    ]
    return key


def _bucket_ref(stack: dict[str, Any], bucket: str, attribute: str = "id") -> str:
    return f"${{aws_s3_bucket.{_key(stack, 'aws_s3_bucket', bucket=bucket)}.{attribute}}}"


def _for_bucket(stack: dict[str, Any], resource_type: str, bucket: str) -> dict[str, Any]:
    (found,) = [
        r for r in resources(stack, resource_type) if r["bucket"] == _bucket_ref(stack, bucket)
    ]
    return found


def _role_policy(stack: dict[str, Any], role_name: str) -> list[dict[str, Any]]:
    role_key = _key(stack, "aws_iam_role", name=role_name)
    (policy,) = [
        p
        for p in resources(stack, "aws_iam_role_policy")
        if p["role"] == f"${{aws_iam_role.{role_key}.id}}"
    ]
    return policy_statements(stack, policy["policy"])


BUCKETS = ["test-files", "test-charts"]


@pytest.mark.parametrize("bucket", BUCKETS)
def test_all_four_public_access_blocks_are_on(stack: dict[str, Any], bucket: str) -> None:
    block = _for_bucket(stack, "aws_s3_bucket_public_access_block", bucket)
    for setting in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[setting] is True, setting


@pytest.mark.parametrize("bucket", BUCKETS)
def test_acls_are_disabled(stack: dict[str, Any], bucket: str) -> None:
    ownership = _for_bucket(stack, "aws_s3_bucket_ownership_controls", bucket)
    assert ownership["rule"]["object_ownership"] == "BucketOwnerEnforced"
    assert resources(stack, "aws_s3_bucket_acl") == []
    assert all("acl" not in obj for obj in resources(stack, "aws_s3_object"))


@pytest.mark.parametrize("bucket", BUCKETS)
def test_versioning_is_enabled(stack: dict[str, Any], bucket: str) -> None:
    versioning = _for_bucket(stack, "aws_s3_bucket_versioning", bucket)
    assert versioning["versioning_configuration"]["status"] == "Enabled"


def test_objects_are_kms_encrypted_with_a_rotated_key_or_the_given_one(
    stack: dict[str, Any],
) -> None:
    def default_encryption(bucket: str) -> dict[str, Any]:
        (rule,) = _for_bucket(stack, "aws_s3_bucket_server_side_encryption_configuration", bucket)[
            "rule"
        ]
        return dict(rule["apply_server_side_encryption_by_default"])

    files = default_encryption("test-files")
    assert files["sse_algorithm"] == "aws:kms" and files["kms_master_key_id"].startswith(
        "${aws_kms_key."
    )
    assert default_encryption("test-charts") == {
        "sse_algorithm": "aws:kms",
        "kms_master_key_id": KMS_KEY_ARN,
    }
    keys = [k for k in resources(stack, "aws_kms_key") if "S3 proxy" in k["description"]]
    (key,) = keys  # only `files` created one
    assert key["enable_key_rotation"] is True
    assert (
        files["kms_master_key_id"]
        == f"${{aws_kms_key.{_key(stack, 'aws_kms_key', description=key['description'])}.arn}}"
    )


@pytest.mark.parametrize("bucket", BUCKETS)
def test_requests_without_tls_are_denied(stack: dict[str, Any], bucket: str) -> None:
    statements = policy_statements(
        stack, _for_bucket(stack, "aws_s3_bucket_policy", bucket)["policy"]
    )
    deny = statement(statements, "DenyInsecureTransport")
    assert deny["effect"] == "Deny"
    assert deny["condition"] == [
        {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
    ]
    # The bucket policy grants nothing: reading goes through the role's own policy only.
    assert [s for s in statements if s["effect"] == "Allow"] == []


@pytest.mark.parametrize(
    ("role_name", "subject"),
    [
        ("test-files-s3proxy", "system:serviceaccount:files:s3proxy"),
        ("test-charts-s3proxy", "system:serviceaccount:s3proxy:charts-proxy"),
    ],
)
def test_role_trusts_exactly_the_release_service_account(
    stack: dict[str, Any], role_name: str, subject: str
) -> None:
    role = stack["resource"]["aws_iam_role"][_key(stack, "aws_iam_role", name=role_name)]
    (trust,) = policy_statements(stack, role["assume_role_policy"])
    assert principals(trust, "Federated") == [EKS_PROVIDER_ARN]
    assert sorted(trust["condition"], key=lambda c: c["variable"]) == [
        {"test": "StringEquals", "variable": f"{EKS_ISSUER}:aud", "values": ["sts.amazonaws.com"]},
        {"test": "StringEquals", "variable": f"{EKS_ISSUER}:sub", "values": [subject]},
    ]


def test_role_reads_only_objects_below_the_prefix_of_its_bucket(stack: dict[str, Any]) -> None:
    statements = _role_policy(stack, "test-files-s3proxy")
    read = statement(statements, "ReadObjects")
    assert read["actions"] == ["s3:GetObject"]
    assert read["resources"] == [_bucket_ref(stack, "test-files", "arn") + "/site/*"]


def test_role_lists_only_the_prefix(stack: dict[str, Any]) -> None:
    listing = statement(_role_policy(stack, "test-files-s3proxy"), "ListObjects")
    assert listing["actions"] == ["s3:ListBucket"]
    assert listing["resources"] == [_bucket_ref(stack, "test-files", "arn")]
    assert listing["condition"] == [
        {"test": "StringLike", "variable": "s3:prefix", "values": ["site/*"]}
    ]


def test_role_decrypts_only_through_s3_with_its_bucket_key(stack: dict[str, Any]) -> None:
    decrypt = statement(_role_policy(stack, "test-charts-s3proxy"), "DecryptObjects")
    assert decrypt["actions"] == ["kms:Decrypt"]
    assert decrypt["resources"] == [KMS_KEY_ARN]
    assert decrypt["condition"] == [
        {
            "test": "StringEquals",
            "variable": "kms:ViaService",
            "values": [f"s3.{_bucket_ref(stack, 'test-charts', 'region')}.amazonaws.com"],
        }
    ]


@pytest.mark.parametrize("role_name", ["test-files-s3proxy", "test-charts-s3proxy"])
def test_role_has_read_actions_only_and_no_wildcard_resource(
    stack: dict[str, Any], role_name: str
) -> None:
    statements = _role_policy(stack, role_name)
    actions = {action for s in statements for action in s["actions"]}
    assert actions == {"s3:GetObject", "s3:ListBucket", "kms:Decrypt"}
    assert all(s["effect"] == "Allow" for s in statements)
    for stmt in statements:
        assert "*" not in stmt["resources"], stmt["sid"]
    bucket = "test-files" if "files" in role_name else "test-charts"
    other = "test-charts" if bucket == "test-files" else "test-files"
    text = json.dumps(statements)
    assert _bucket_ref(stack, bucket, "arn") in text
    assert _bucket_ref(stack, other, "arn") not in text


def test_content_is_uploaded_below_the_prefix_with_guessed_types(
    stack: dict[str, Any], content_dir: Path
) -> None:
    objects = {o["key"]: o for o in resources(stack, "aws_s3_object")}
    assert sorted(objects) == [
        "site/1.jpg",
        "site/data.unknownext",
        "site/docs/index.html",
        "site/docs/read me.txt",
    ]
    assert objects["site/1.jpg"]["content_type"] == "image/jpeg"
    assert objects["site/docs/index.html"]["content_type"] == "text/html"
    assert objects["site/docs/read me.txt"]["content_type"] == "text/plain"
    assert objects["site/data.unknownext"]["content_type"] == "application/octet-stream"
    for key, obj in objects.items():
        data = (content_dir / key.removeprefix("site/")).read_bytes()
        assert obj["source_hash"] == hashlib.sha256(data).hexdigest()
        # Relative to the stack's output folder: the synth output is portable.
        assert obj["source"].startswith("assets/") and obj["source"].endswith(Path(key).name)
        assert obj["bucket"] == _bucket_ref(stack, "test-files")


def test_the_bucket_creates_no_service_account_and_no_release(stack: dict[str, Any]) -> None:
    # The release (and the ServiceAccount its chart creates) belong to the workloads stack.
    assert resources(stack, "kubernetes_service_account_v1") == []
    assert resources(stack, "helm_release") == []


def test_example_path_is_the_index_document_or_the_first_file(content_dir: Path) -> None:
    assert example_path(content_dir) == "1.jpg"
    assert example_path(content_dir / "docs", "index.html") == ""
    with pytest.raises(ValueError, match=r"content_dir: .* has no top-level 'index.html'"):
        example_path(content_dir, "index.html")


def _valid_props(**changes: Any) -> S3ProxyBucketProps:
    props: dict[str, Any] = {
        "bucket_name": "test-files",
        "account_id": ACCOUNT,
        "reader": _reader("test-s3proxy", "s3proxy", "s3proxy"),
    }
    return S3ProxyBucketProps(**{**props, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bucket_name": "Bad_Bucket"}, "bucket_name: 'Bad_Bucket' is not"),
        ({"prefix": "site/*"}, "prefix: 'site/\\*' must be path segments"),
        ({"prefix": "site"}, "prefix: 'site' must be path segments ending in '/'"),
        ({"prefix": "/site/"}, "prefix: '/site/' must be"),
        ({"prefix": "a/../"}, "prefix: 'a/../' must not contain"),
        ({"index_document": "a/index.html"}, "index_document: 'a/index.html' must be"),
        ({"content_dir": Path("/nonexistent")}, "content_dir: /nonexistent is not a folder"),
        (
            {
                "reader": IrsaServiceAccountProps(
                    namespace="s3proxy",
                    name="s3proxy",
                    role_name="r",
                    oidc_provider_arn=EKS_PROVIDER_ARN,
                )
            },
            "reader: create_service_account must be False",
        ),
    ],
)
def test_props_refuse_insecure_or_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _valid_props(**changes)


def test_an_empty_content_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".only-hidden").write_text("x")
    with pytest.raises(ValueError, match=r"content_dir: .* holds no files"):
        _valid_props(content_dir=tmp_path)
