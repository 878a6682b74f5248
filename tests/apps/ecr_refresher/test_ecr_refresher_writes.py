"""Secrets and service accounts written through the real kubernetes client to the fake API."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from ecr_refresher.refresher import Refresher

from tests.support.constants import MOTO_ACCOUNT
from tests.support.fake_kube_api import FakeKubeApi

HOST = f"{MOTO_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"


def docker_config(secret: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_creates_pull_secret_with_auths_for_registry_host(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("team-a")
    refresher = make_refresher(ECR_REFRESHER_NAMESPACES="team-a")

    report = refresher.full_refresh()

    assert report.ok
    secret = fake_kube.secrets[("team-a", "ecr-pull")]
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    auth = docker_config(secret)["auths"][HOST]
    assert (auth["username"], auth["password"]) == ("AWS", f"{MOTO_ACCOUNT}-auth-token")
    assert base64.b64decode(auth["auth"]).decode() == f"AWS:{MOTO_ACCOUNT}-auth-token"
    assert fake_kube.count("POST", r"/api/v1/namespaces/team-a/secrets") == 1


def test_registry_ids_give_one_auths_entry_each(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("team-a")
    refresher = make_refresher(
        ECR_REFRESHER_NAMESPACES="team-a", ECR_REFRESHER_REGISTRY_IDS="111111111111,222222222222"
    )

    assert refresher.full_refresh().ok

    auths = docker_config(fake_kube.secrets[("team-a", "ecr-pull")])["auths"]
    assert set(auths) == {
        "111111111111.dkr.ecr.eu-west-1.amazonaws.com",
        "222222222222.dkr.ecr.eu-west-1.amazonaws.com",
    }


def test_updates_existing_secret_in_place_with_its_resource_version(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("team-a")
    fake_kube.put_secret(
        "team-a",
        "ecr-pull",
        {
            "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"labels": {"owner": "platform"}, "annotations": {"keep": "me"}},
            "data": {".dockerconfigjson": b64('{"auths": {}}')},
        },
    )
    old_version = fake_kube.secrets[("team-a", "ecr-pull")]["metadata"]["resourceVersion"]
    refresher = make_refresher(ECR_REFRESHER_NAMESPACES="team-a")

    assert refresher.full_refresh().ok

    secret = fake_kube.secrets[("team-a", "ecr-pull")]
    assert HOST in docker_config(secret)["auths"]
    assert int(secret["metadata"]["resourceVersion"]) > int(old_version)
    assert secret["metadata"]["labels"]["owner"] == "platform"
    assert secret["metadata"]["annotations"]["keep"] == "me"
    assert fake_kube.count("PUT", r"/api/v1/namespaces/team-a/secrets/ecr-pull") == 1
    assert fake_kube.count("POST", r"/api/v1/namespaces/team-a/secrets") == 0


def test_conflict_on_update_is_reread_and_retried(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("team-a")
    fake_kube.put_secret(
        "team-a", "ecr-pull", {"type": "kubernetes.io/dockerconfigjson", "data": {}}
    )
    fake_kube.race_next_write("secret", "team-a", "ecr-pull", times=2)
    refresher = make_refresher(ECR_REFRESHER_NAMESPACES="team-a")

    report = refresher.full_refresh()

    assert report.ok
    assert report.results[0].attempts == 1  # conflicts are handled inside the attempt
    assert fake_kube.count("PUT", r"/api/v1/namespaces/team-a/secrets/ecr-pull") == 3
    assert fake_kube.count("GET", r"/api/v1/namespaces/team-a/secrets/ecr-pull") == 3
    assert HOST in docker_config(fake_kube.secrets[("team-a", "ecr-pull")])["auths"]


def test_server_error_in_one_namespace_blocks_no_other_and_deletes_nothing(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    for name in ("team-a", "team-b", "team-c"):
        fake_kube.add_namespace(name)
    old = {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64("{}")}}
    fake_kube.put_secret("team-b", "ecr-pull", old)
    fake_kube.fail("PUT", r"/api/v1/namespaces/team-b/secrets/ecr-pull", 500)
    refresher = make_refresher(ECR_REFRESHER_NAMESPACES="team-a team-b team-c")

    report = refresher.full_refresh()

    assert not report.ok
    assert report.failed == ["team-b"]
    assert [r.attempts for r in report.results if r.namespace == "team-b"] == [3]
    assert ("team-a", "ecr-pull") in fake_kube.secrets
    assert ("team-c", "ecr-pull") in fake_kube.secrets
    assert fake_kube.secrets[("team-b", "ecr-pull")]["data"] == old["data"]
    assert fake_kube.count("DELETE", r".*") == 0
    assert refresher.failed == {"team-b"}


def test_transient_error_succeeds_on_retry(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("team-a")
    fake_kube.fail("POST", r"/api/v1/namespaces/team-a/secrets", 503, times=1)
    refresher = make_refresher(ECR_REFRESHER_NAMESPACES="team-a")

    report = refresher.full_refresh()

    assert report.ok
    assert report.results[0].attempts == 2


def test_foreign_secret_of_another_type_is_left_alone(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("team-a")
    fake_kube.put_secret("team-a", "ecr-pull", {"type": "Opaque", "data": {"x": b64("y")}})
    refresher = make_refresher(ECR_REFRESHER_NAMESPACES="team-a")

    report = refresher.full_refresh()

    assert report.failed == ["team-a"]
    assert report.results[0].attempts == 1  # not retryable
    assert fake_kube.secrets[("team-a", "ecr-pull")]["type"] == "Opaque"


def test_service_accounts_patched_idempotently_keeping_existing_entries(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("team-a")
    fake_kube.add_service_account("team-a", "deployer", imagePullSecrets=[{"name": "dockerhub"}])
    refresher = make_refresher(
        ECR_REFRESHER_NAMESPACES="team-a", ECR_REFRESHER_SERVICE_ACCOUNTS="default,deployer"
    )

    assert refresher.full_refresh().ok
    assert refresher.full_refresh().ok

    assert fake_kube.service_accounts[("team-a", "default")]["imagePullSecrets"] == [
        {"name": "ecr-pull"}
    ]
    assert fake_kube.service_accounts[("team-a", "deployer")]["imagePullSecrets"] == [
        {"name": "dockerhub"},
        {"name": "ecr-pull"},
    ]
    # The second refresh found both accounts up to date: no further patches.
    assert fake_kube.count("PATCH", r"/api/v1/namespaces/team-a/serviceaccounts/.*") == 2


def test_service_account_patch_conflict_is_retried(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("team-a")
    fake_kube.race_next_write("serviceaccount", "team-a", "default")
    refresher = make_refresher(
        ECR_REFRESHER_NAMESPACES="team-a", ECR_REFRESHER_SERVICE_ACCOUNTS="default"
    )

    assert refresher.full_refresh().ok

    assert fake_kube.count("PATCH", r"/api/v1/namespaces/team-a/serviceaccounts/default") == 2
    assert fake_kube.service_accounts[("team-a", "default")]["imagePullSecrets"] == [
        {"name": "ecr-pull"}
    ]


def test_missing_service_account_fails_only_that_namespace(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("team-a")
    fake_kube.add_namespace("team-b", default_sa=False)
    refresher = make_refresher(
        ECR_REFRESHER_NAMESPACES="team-a,team-b", ECR_REFRESHER_SERVICE_ACCOUNTS="default"
    )

    report = refresher.full_refresh()

    assert report.failed == ["team-b"]
    assert ("team-b", "ecr-pull") in fake_kube.secrets  # the pull secret itself was written


def test_builder_basic_auth_secret_annotated_and_attached(
    fake_kube: FakeKubeApi, kube_url: str, make_refresher: Callable[..., Refresher]
) -> None:
    fake_kube.add_namespace("builds")
    fake_kube.add_service_account("builds", "builder", secrets=[{"name": "git-ssh"}])
    refresher = make_refresher(
        ECR_REFRESHER_NAMESPACES="builds",
        ECR_REFRESHER_BUILDER_SECRET_NAME="ecr-creds",
        ECR_REFRESHER_BUILDER_SERVICE_ACCOUNT="builder",
    )

    assert refresher.full_refresh().ok
    assert refresher.full_refresh().ok

    secret = fake_kube.secrets[("builds", "ecr-creds")]
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert base64.b64decode(secret["data"]["username"]).decode() == "AWS"
    assert base64.b64decode(secret["data"]["password"]).decode() == f"{MOTO_ACCOUNT}-auth-token"
    annotations = secret["metadata"]["annotations"]
    assert annotations["tekton.dev/docker-0"] == f"https://{HOST}"
    assert annotations["build.knative.dev/docker-0"] == f"https://{HOST}"
    builder = fake_kube.service_accounts[("builds", "builder")]
    assert builder["secrets"] == [{"name": "git-ssh"}, {"name": "ecr-creds"}]
    assert builder["imagePullSecrets"] == [{"name": "ecr-pull"}]
    assert fake_kube.count("PATCH", r"/api/v1/namespaces/builds/serviceaccounts/builder") == 1
