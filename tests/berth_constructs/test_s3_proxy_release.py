"""S3ProxyRelease: the s3proxy Helm release's values, asserted on a minimal stack and rendered.

One stack, synthesized once: `files` (bcrypt users hashed at test time, a certificate Secret, an
image pushed to ECR and looked up, a role looked up) and `charts` (index document, existing
htpasswd Secret, self-signed TLS, a repository chart, literal role and image).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import bcrypt
import pytest

from berth import helm_sdk
from berth_constructs.container_image import ContainerImage
from berth_constructs.helm_chart import ChartSource
from berth_constructs.lookups import existing_role_arn, pushed_image
from berth_constructs.s3_proxy_release import S3ProxyRelease, S3ProxyReleaseProps
from tests.support.constants import CHARTS_DIR, DIGEST, role_arn
from tests.support.releases import helm_release, values_of
from tests.support.stacks import new_stack, stack_json

CHART_DIR = CHARTS_DIR / "s3proxy"
ROLE_ARN = role_arn("test-charts-s3proxy")
IMAGE = ContainerImage(repository="berth/s3proxy", digest="sha256:" + "cd" * 32)
# Known plaintexts: hashed at test time; neither may appear anywhere in the synthesized JSON.
PASSWORDS = {"alice": "correct horse battery staple", "ci": "s3proxypass"}


def _hash(password: str, cost: int = 10) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    return {user: _hash(password) for user, password in PASSWORDS.items()}


@pytest.fixture(scope="module")
def synth(hashes: dict[str, str]) -> tuple[dict[str, Any], dict[str, str | None]]:
    """The stack's JSON and each release's `example_url`."""
    stack = new_stack(helm=True)
    files = S3ProxyRelease(
        stack,
        "files",
        S3ProxyReleaseProps(
            bucket_name="test-files",
            bucket_region="eu-west-1",
            role_arn=existing_role_arn(stack, "files-role", "test-files-s3proxy"),
            host="files.example.com",
            image=pushed_image(stack, "s3proxy-image", "berth/s3proxy", "0.1.0"),
            chart=ChartSource(path=CHART_DIR),
            htpasswd_users=hashes,
            tls_secret_name="files-example-com-tls",
            prefix="site/",
            example_path="docs/read me.txt",
            namespace="files",
        ),
    )
    charts = S3ProxyRelease(
        stack,
        "charts",
        S3ProxyReleaseProps(
            bucket_name="test-charts",
            bucket_region="eu-west-1",
            role_arn=ROLE_ARN,
            host="charts.uat.example.com",
            image=IMAGE,
            chart=ChartSource(
                name="s3proxy",
                repository="oci://111111111111.dkr.ecr.eu-west-1.amazonaws.com/charts",
                version="0.1.0",
            ),
            htpasswd_secret_name="charts-htpasswd",
            allow_self_signed_tls=True,
            index_document="index.yaml",
            example_path="",
            release_name="charts",
            service_account_name="charts-proxy",
        ),
    )
    urls = {"files": files.example_url, "charts": charts.example_url}
    return stack_json(stack), urls


@pytest.fixture(scope="module")
def stack(synth: tuple[dict[str, Any], dict[str, str | None]]) -> dict[str, Any]:
    return synth[0]


def test_no_plaintext_password_anywhere_in_the_synthesized_json(stack: dict[str, Any]) -> None:
    text = json.dumps(stack)
    for password in PASSWORDS.values():
        assert password not in text
        assert json.dumps(password)[1:-1] not in text


def test_bcrypt_hashes_go_into_the_chart_htpasswd(
    stack: dict[str, Any], hashes: dict[str, str]
) -> None:
    auth = values_of(stack, "s3proxy")["auth"]
    assert auth["enabled"] is True and auth["existingSecret"] == ""
    lines = auth["htpasswd"].splitlines()
    assert lines == [f"{user}:{hashes[user]}" for user in sorted(hashes)]
    for user, password in PASSWORDS.items():
        stored = dict(line.split(":", 1) for line in lines)[user]
        assert bcrypt.checkpw(password.encode(), stored.encode())


def test_existing_htpasswd_secret_keeps_hashes_out_of_the_values(stack: dict[str, Any]) -> None:
    auth = values_of(stack, "charts")["auth"]
    assert auth == {"enabled": True, "htpasswd": "", "existingSecret": "charts-htpasswd"}


def test_tls_uses_the_referenced_secret_and_self_signed_only_when_allowed(
    stack: dict[str, Any],
) -> None:
    assert values_of(stack, "s3proxy")["ingress"]["tls"] == {
        "secretName": "files-example-com-tls",
        "selfSigned": False,
    }
    assert values_of(stack, "charts")["ingress"]["tls"] == {"secretName": "", "selfSigned": True}


def test_chart_service_account_carries_the_looked_up_role(stack: dict[str, Any]) -> None:
    assert values_of(stack, "s3proxy")["serviceAccount"] == {
        "create": True,
        "name": "s3proxy",
        "roleArn": "${data.aws_iam_role.files-role.arn}",
    }
    assert values_of(stack, "charts")["serviceAccount"]["roleArn"] == ROLE_ARN


def test_image_is_the_pushed_one_pinned_by_digest(stack: dict[str, Any]) -> None:
    image = values_of(stack, "s3proxy")["image"]
    assert image["repository"] == (
        "${data.aws_ecr_repository.s3proxy-image-repository.repository_url}"
    )
    assert image["digest"] == "${data.aws_ecr_image.s3proxy-image.image_digest}"
    assert image["tag"] == ""
    (lookup,) = stack["data"]["aws_ecr_image"].values()
    assert (lookup["repository_name"], lookup["image_tag"]) == ("berth/s3proxy", "0.1.0")


def test_release_lands_in_an_existing_namespace(stack: dict[str, Any]) -> None:
    for name in ("s3proxy", "charts"):
        assert helm_release(stack, name)["create_namespace"] is False


def _filled_in(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with the Terraform references replaced by what apply substitutes."""
    text = json.dumps(values)
    text = re.sub(
        r"\$\{aws_iam_role\.[^}]+\.arn\}", "arn:aws:iam::111111111111:role/test-s3proxy", text
    )
    text = re.sub(
        r"\$\{data\.aws_iam_role\.[^}]+\.arn\}", "arn:aws:iam::111111111111:role/test-s3proxy", text
    )
    text = re.sub(
        r"\$\{data\.aws_ecr_repository\.[^}]+\.repository_url\}",
        "111111111111.dkr.ecr.eu-west-1.amazonaws.com/berth/s3proxy",
        text,
    )
    text = re.sub(r"\$\{data\.aws_ecr_image\.[^}]+\.image_digest\}", DIGEST, text)
    assert "${" not in text, text
    return dict(json.loads(text))


@pytest.mark.parametrize("release", ["s3proxy", "charts"])
def test_values_pass_the_chart_schema_and_render(stack: dict[str, Any], release: str) -> None:
    values = _filled_in(values_of(stack, release))
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


def test_example_url_is_the_given_path_quoted_or_none(
    synth: tuple[dict[str, Any], dict[str, str | None]],
) -> None:
    urls = synth[1]
    assert urls["files"] == "https://files.example.com/docs/read%20me.txt"
    assert urls["charts"] == "https://charts.uat.example.com/"
    assert _valid_props().example_path is None


def _valid_props(**changes: Any) -> S3ProxyReleaseProps:
    props: dict[str, Any] = {
        "bucket_name": "test-files",
        "bucket_region": "eu-west-1",
        "role_arn": ROLE_ARN,
        "host": "files.example.com",
        "image": IMAGE,
        "chart": ChartSource(path=CHART_DIR),
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
        ({"namespace": "Files"}, "namespace: 'Files' is not a DNS label"),
        ({"replicas": 0}, "replicas: must be between"),
        ({"access_denied_status": 500}, "access_denied_status: must be 403 or 404"),
        ({"role_arn": "arn:aws:iam::111111111111:root"}, "role_arn: .* is not an IAM role ARN"),
        ({"bucket_region": "europe"}, "bucket_region: 'europe' is not an AWS region"),
    ],
)
def test_props_refuse_insecure_or_invalid_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _valid_props(**changes)
