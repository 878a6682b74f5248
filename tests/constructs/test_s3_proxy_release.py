"""S3ProxyRelease security properties, asserted on the synthesized JSON of a minimal stack.

One stack, synthesized once: `files` (prefix `site/`, content uploaded from a folder, bcrypt
users hashed at test time, a certificate Secret, image from an EcrRegistry) and `charts` (whole
bucket, index document, existing htpasswd Secret, self-signed TLS, a given KMS key).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from cdktf import TerraformStack, Testing

from berth import helm_sdk
from berth_constructs.ecr_registry import ContainerImage, EcrRegistry, EcrRegistryProps
from berth_constructs.helm_chart import ChartSource
from berth_constructs.s3_proxy_release import S3ProxyRelease, S3ProxyReleaseProps
from tests.support.tfjson import policy_statements, principals, resources, statement

CHART_DIR = Path(__file__).resolve().parents[2] / "charts" / "s3proxy"
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
PROVIDER_ARN = f"arn:aws:iam::111111111111:oidc-provider/{ISSUER}"
GIVEN_KEY = "arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555"
IMAGE = ContainerImage(repository="berth/s3proxy", digest="sha256:" + "cd" * 32)
# Known plaintexts: hashed at test time; neither may appear anywhere in the synthesized JSON.
PASSWORDS = {"alice": "correct horse battery staple", "ci": "s3proxypass"}
CONTENT = {
    "1.jpg": b"\xff\xd8\xff\xe0 not really a jpeg",
    "docs/read me.txt": b"hello\n",
    "docs/index.html": b"<h1>hi</h1>",
    "data.unknownext": b"\x00\x01",
    ".hidden": b"skipped",
    ".git/config": b"skipped too",
}


def _hash(password: str, cost: int = 10) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {user: _hash(password) for user, password in PASSWORDS.items()}


@pytest.fixture(scope="module")
def content_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("content")
    for relative, data in CONTENT.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def synth(content_dir: Path, hashes: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The stack's JSON and each release's `example_url`."""
    from cdktf_cdktf_provider_aws.provider import AwsProvider
    from cdktf_cdktf_provider_helm.provider import HelmProvider, HelmProviderKubernetes

    app = Testing.app()
    stack = TerraformStack(app, "test")
    AwsProvider(stack, "aws", region="eu-west-1")
    HelmProvider(stack, "helm", kubernetes=HelmProviderKubernetes(config_path="/dev/null"))
    registry = EcrRegistry(
        stack,
        "registry",
        EcrRegistryProps(
            repository_name="berth/s3proxy", push_principals=["arn:aws:iam::111111111111:role/ci"]
        ),
    )
    files = S3ProxyRelease(
        stack,
        "files",
        S3ProxyReleaseProps(
            bucket_name="test-files",
            host="files.example.com",
            image=registry.image(tag="0.1.0"),
            chart=ChartSource(path=CHART_DIR),
            oidc_provider_arn=PROVIDER_ARN,
            role_name="test-files-s3proxy",
            htpasswd_users=hashes,
            tls_secret_name="files-example-com-tls",
            prefix="site/",
            content_dir=content_dir,
            namespace="files",
        ),
    )
    charts = S3ProxyRelease(
        stack,
        "charts",
        S3ProxyReleaseProps(
            bucket_name="test-charts",
            host="charts.uat.example.com",
            image=IMAGE,
            chart=ChartSource(
                name="s3proxy",
                repository="oci://111111111111.dkr.ecr.eu-west-1.amazonaws.com/charts",
                version="0.1.0",
            ),
            oidc_provider_arn=PROVIDER_ARN,
            role_name="test-charts-s3proxy",
            htpasswd_secret_name="charts-htpasswd",
            allow_self_signed_tls=True,
            index_document="index.yaml",
            kms_key_arn=GIVEN_KEY,
            release_name="charts",
            service_account_name="charts-proxy",
        ),
    )
    urls = {"files": files.example_url, "charts": charts.example_url}
    return dict(json.loads(Testing.synth(stack))), urls


@pytest.fixture(scope="module")
def stack(synth: tuple[dict[str, Any], dict[str, str]]) -> dict[str, Any]:
    return synth[0]


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


def _release(stack: dict[str, Any], name: str) -> dict[str, Any]:
    (release,) = [r for r in resources(stack, "helm_release") if r["name"] == name]
    return release


def _values(stack: dict[str, Any], name: str) -> dict[str, Any]:
    (document,) = _release(stack, name)["values"]
    return dict(yaml.safe_load(document))


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
        "kms_master_key_id": GIVEN_KEY,
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
    assert principals(trust, "Federated") == [PROVIDER_ARN]
    assert sorted(trust["condition"], key=lambda c: c["variable"]) == [
        {"test": "StringEquals", "variable": f"{ISSUER}:aud", "values": ["sts.amazonaws.com"]},
        {"test": "StringEquals", "variable": f"{ISSUER}:sub", "values": [subject]},
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
    assert decrypt["resources"] == [GIVEN_KEY]
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


def test_no_plaintext_password_anywhere_in_the_synthesized_json(stack: dict[str, Any]) -> None:
    text = json.dumps(stack)
    for password in PASSWORDS.values():
        assert password not in text
        assert json.dumps(password)[1:-1] not in text


def test_bcrypt_hashes_go_into_the_chart_htpasswd(
    stack: dict[str, Any], hashes: dict[str, str]
) -> None:
    auth = _values(stack, "s3proxy")["auth"]
    assert auth["enabled"] is True and auth["existingSecret"] == ""
    lines = auth["htpasswd"].splitlines()
    assert lines == [f"{user}:{hashes[user]}" for user in sorted(hashes)]
    for user, password in PASSWORDS.items():
        stored = dict(line.split(":", 1) for line in lines)[user]
        assert bcrypt.checkpw(password.encode(), stored.encode())


def test_existing_htpasswd_secret_keeps_hashes_out_of_the_values(stack: dict[str, Any]) -> None:
    auth = _values(stack, "charts")["auth"]
    assert auth == {"enabled": True, "htpasswd": "", "existingSecret": "charts-htpasswd"}


def test_tls_uses_the_referenced_secret_and_self_signed_only_when_allowed(
    stack: dict[str, Any],
) -> None:
    assert _values(stack, "s3proxy")["ingress"]["tls"] == {
        "secretName": "files-example-com-tls",
        "selfSigned": False,
    }
    assert _values(stack, "charts")["ingress"]["tls"] == {"secretName": "", "selfSigned": True}


def test_chart_service_account_carries_the_irsa_role(stack: dict[str, Any]) -> None:
    account = _values(stack, "s3proxy")["serviceAccount"]
    role_key = _key(stack, "aws_iam_role", name="test-files-s3proxy")
    assert account == {
        "create": True,
        "name": "s3proxy",
        "roleArn": f"${{aws_iam_role.{role_key}.arn}}",
    }


def test_image_comes_from_the_ecr_repository_reference(stack: dict[str, Any]) -> None:
    image = _values(stack, "s3proxy")["image"]
    repo_key = _key(stack, "aws_ecr_repository", name="berth/s3proxy")
    assert image["repository"] == f"${{aws_ecr_repository.{repo_key}.repository_url}}"
    assert image["tag"] == "0.1.0" and image["digest"] == ""


def _filled_in(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the Terraform references replaced by what apply substitutes."""
    text = json.dumps(values)
    text = re.sub(
        r"\$\{aws_iam_role\.[^}]+\.arn\}", "arn:aws:iam::111111111111:role/test-s3proxy", text
    )
    text = re.sub(r"\$\{aws_s3_bucket\.[^}]+\.region\}", "eu-west-1", text)
    text = re.sub(
        r"\$\{aws_ecr_repository\.[^}]+\.repository_url\}",
        "111111111111.dkr.ecr.eu-west-1.amazonaws.com/berth/s3proxy",
        text,
    )
    assert "${" not in text, text
    return dict(json.loads(text))


@pytest.mark.parametrize("release", ["s3proxy", "charts"])
def test_values_pass_the_chart_schema_and_render(stack: dict[str, Any], release: str) -> None:
    values = _filled_in(_values(stack, release))
    manifests = helm_sdk.render(
        CHART_DIR, copy.deepcopy(values), release_name=release, namespace="proxy"
    )
    (ingress,) = [m for m in manifests if m["kind"] == "Ingress"]
    assert ingress["spec"]["rules"][0]["host"] == values["ingress"]["host"]
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    assert (
        deployment["spec"]["template"]["spec"]["serviceAccountName"]
        == values["serviceAccount"]["name"]
    )


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


def test_release_waits_for_the_bucket_policy_and_the_content(stack: dict[str, Any]) -> None:
    depends_on = _release(stack, "s3proxy")["depends_on"]
    assert any(d.startswith("aws_s3_bucket_policy.") for d in depends_on)
    assert sum(d.startswith("aws_s3_object.") for d in depends_on) == 4


def test_example_url_names_the_first_key_or_the_index(
    synth: tuple[dict[str, Any], dict[str, str]],
) -> None:
    urls = synth[1]
    assert urls["files"] == "https://files.example.com/1.jpg"
    assert urls["charts"] == "https://charts.uat.example.com/"


def _valid_props(**changes: Any) -> S3ProxyReleaseProps:
    props: dict[str, Any] = {
        "bucket_name": "test-files",
        "host": "files.example.com",
        "image": IMAGE,
        "chart": ChartSource(path=CHART_DIR),
        "oidc_provider_arn": PROVIDER_ARN,
        "role_name": "test-s3proxy",
        "htpasswd_secret_name": "htpasswd",
        "tls_secret_name": "tls",
    }
    return S3ProxyReleaseProps(**{**props, **changes})


def test_plaintext_passwords_are_refused_without_echoing_them() -> None:
    with pytest.raises(
        ValueError, match="htpasswd_users: the value for 'ci' is not a bcrypt hash"
    ) as error:
        _valid_props(htpasswd_secret_name=None, htpasswd_users={"ci": "s3proxypass"})
    assert "s3proxypass" not in str(error.value)


def test_weak_bcrypt_cost_is_refused() -> None:
    with pytest.raises(ValueError, match="bcrypt cost 4; use at least 10"):
        _valid_props(htpasswd_secret_name=None, htpasswd_users={"ci": _hash("x", cost=4)})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"htpasswd_secret_name": None}, "htpasswd_users: give bcrypt hashes"),
        ({"allow_anonymous_access": True}, "htpasswd_users: give bcrypt hashes"),
        ({"htpasswd_users": {"bad:user": "x"}}, "htpasswd_users: give bcrypt hashes"),
        ({"tls_secret_name": None}, "tls_secret_name: give the certificate Secret"),
        ({"allow_self_signed_tls": True}, "tls_secret_name: give the certificate Secret"),
        ({"bucket_name": "Bad_Bucket"}, "bucket_name: 'Bad_Bucket' is not"),
        ({"host": "https://files.example.com"}, "host: .* is not a DNS host name"),
        ({"prefix": "site/*"}, "prefix: 'site/\\*' must be path segments"),
        ({"prefix": "site"}, "prefix: 'site' must be path segments ending in '/'"),
        ({"prefix": "/site/"}, "prefix: '/site/' must be"),
        ({"prefix": "a/../"}, "prefix: 'a/../' must not contain"),
        ({"index_document": "a/index.html"}, "index_document: 'a/index.html' must be"),
        ({"content_dir": Path("/nonexistent")}, "content_dir: /nonexistent is not a folder"),
        ({"namespace": "Files"}, "namespace: 'Files' is not a DNS label"),
        ({"replicas": 0}, "replicas: must be between"),
        ({"access_denied_status": 500}, "access_denied_status: must be 403 or 404"),
        ({"oidc_provider_arn": "arn:aws:iam::111111111111:root"}, "oidc_provider_arn: "),
    ],
)
def test_props_refuse_insecure_or_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _valid_props(**changes)


def test_an_empty_content_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".only-hidden").write_text("x")
    with pytest.raises(ValueError, match=r"content_dir: .* holds no files"):
        _valid_props(content_dir=tmp_path)
