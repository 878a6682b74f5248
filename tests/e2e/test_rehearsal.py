"""Rehearsal of a first deploy of `uat`, `prod` and `edge`, each with its own synthesized
account stack.

For each environment, on a fresh emulator: seed what the README's bootstrap provides (berth.
rehearsal), let real Terraform apply the account stack as the deploy role (the emulator answers
in the environment's own account), check the result with boto3, show that a second plan has no
change, then take one prerequisite away at a time and watch the plan stop naming it; finally
check the workloads step's preconditions with `berth preflight`, against the emulator and the
project's fake Kubernetes API, adding and removing each one. For `edge` (a cluster outside EKS)
that includes `berth refresher rotate-key` as the deploy role: the IAM users Terraform made get
their keys in the cluster's Secrets, and a rotation deletes the old key once it is in use.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from berth import rehearsal
from berth.aws import environment_session, role_choice
from berth.chart_repo.index import parse_index
from berth.chart_repo.publish import package_chart, publish_packaged
from berth.chart_repo.store import ChartStore
from berth.local import EMULATOR_CREDENTIALS, MotoServer
from berth.preflight import Check, Preflight, kube_client_from_kubeconfig
from berth.synth import stack_dir
from berth.terraform import TerraformError
from berth_core.config import PROJECT_ROOT, Environment, load_environment
from tests.support.fake_kube_api import FakeKubeApi, serve, write_kubeconfig

pytestmark = pytest.mark.e2e


@dataclass
class Rehearsed:
    environment: Environment
    endpoint: str
    stack: rehearsal.RehearsedStack
    session: boto3.Session  # an administrator of the environment's account, on the emulator
    synth_outdir: Path


def _rehearsals(wanted: Callable[[Environment], bool]) -> list[Any]:
    """The environments a test applies to, each rehearsed once per worker (its xdist group)."""
    return [
        pytest.param(name, marks=pytest.mark.xdist_group(f"rehearsal-{name}"), id=name)
        for name in ("uat", "prod", "edge")
        if wanted(load_environment(name))
    ]


EVERY = _rehearsals(lambda environment: True)
# EKS environments: the S3 proxy, the agent's secret, the workloads step's preconditions.
EKS = _rehearsals(lambda environment: environment.cluster is not None)
# Clusters outside EKS: the refresher's users and their key rotation.
EXTERNAL = _rehearsals(lambda environment: environment.ecr_refresher is not None)
# Owners of a repository that other accounts read, and readers of such a central repository.
SHARED = _rehearsals(lambda environment: bool(environment.helm_repo.readers))
CENTRAL = _rehearsals(lambda environment: environment.helm_repo.central is not None)


def test_every_kind_of_rehearsal_has_an_environment() -> None:
    # An empty list would leave its tests uncollected, not failing.
    assert all([EKS, EXTERNAL, SHARED, CENTRAL])


@pytest.fixture(scope="module")
def rehearsed(
    request: pytest.FixtureRequest,
    synth_outdir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Rehearsed]:
    environment = load_environment(request.param)
    work = tmp_path_factory.mktemp(f"rehearsal-{environment.name}")
    with MotoServer(log_path=work / "emulator.log") as emulator:
        endpoint = emulator.endpoint_url
        rehearsal.seed_prerequisites(environment, endpoint)
        stack = rehearsal.prepare_stack(
            stack_dir(environment.stacks.account, synth_outdir),
            work / "stack",
            endpoint,
            environment.region,
        )
        stack.init()
        stack.apply()
        yield Rehearsed(
            environment,
            endpoint,
            stack,
            rehearsal.bootstrap_session(endpoint, environment.account_id, environment.region),
            synth_outdir,
        )
        # The emulator forgets everything when it stops: nothing to destroy.


def _client(rehearsed: Rehearsed, service: str) -> Any:
    return rehearsed.session.client(service, endpoint_url=rehearsed.endpoint)


@pytest.mark.parametrize("rehearsed", EVERY, indirect=True)
def test_the_stack_was_applied_in_the_environments_own_account(rehearsed: Rehearsed) -> None:
    outputs = rehearsed.stack.outputs()
    account = rehearsed.environment.account_id
    assert outputs["ci_deployer_role_arn"] == (
        f"arn:aws:iam::{account}:role/{rehearsed.environment.name_prefix}-deployer"
    )
    repositories = _client(rehearsed, "ecr").describe_repositories()["repositories"]
    assert {r["repositoryName"] for r in repositories} == {
        *rehearsed.environment.image_repositories.values(),
        *rehearsed.environment.build_repositories.values(),
    }


@pytest.mark.parametrize("rehearsed", EVERY, indirect=True)
def test_a_second_plan_has_no_change(rehearsed: Rehearsed) -> None:
    assert rehearsed.stack.plan_changes() is False


def _policy_principals(document: str | dict[str, Any]) -> list[tuple[str, str]]:
    policy = json.loads(document) if isinstance(document, str) else document
    found = []
    for statement in policy["Statement"]:
        principal = statement.get("Principal", {})
        if principal == "*":
            continue
        for kind, values in principal.items():
            for value in values if isinstance(values, list) else [values]:
                found.append((kind, value))
        for condition in statement.get("Condition", {}).values():
            for key, values in condition.items():
                if key == "aws:PrincipalArn":
                    found += [
                        ("AWS", v) for v in (values if isinstance(values, list) else [values])
                    ]
    return found


def _exists(rehearsed: Rehearsed, kind: str, principal: str) -> bool:
    iam = _client(rehearsed, "iam")
    if kind == "Service" or principal == "*" or principal.endswith(":root"):
        return True
    try:
        if kind == "Federated":
            iam.get_open_id_connect_provider(OpenIDConnectProviderArn=principal)
        elif ":user/" in principal:
            iam.get_user(UserName=principal.rsplit("/", 1)[-1])
        else:
            iam.get_role(RoleName=principal.rsplit("/", 1)[-1])
    except ClientError:
        return False
    return True


@pytest.mark.parametrize("rehearsed", EVERY, indirect=True)
def test_every_principal_of_every_policy_exists(rehearsed: Rehearsed) -> None:
    iam, ecr, s3 = (_client(rehearsed, s) for s in ("iam", "ecr", "s3"))
    named: list[tuple[str, str, str]] = []
    for role in iam.list_roles()["Roles"]:
        named += [
            (f"trust of {role['RoleName']}", kind, principal)
            for kind, principal in _policy_principals(role["AssumeRolePolicyDocument"])
        ]
    for repository in ecr.describe_repositories()["repositories"]:
        policy = ecr.get_repository_policy(repositoryName=repository["repositoryName"])
        named += [
            (f"ECR {repository['repositoryName']}", kind, principal)
            for kind, principal in _policy_principals(policy["policyText"])
        ]
    for bucket in s3.list_buckets()["Buckets"]:
        try:
            policy = s3.get_bucket_policy(Bucket=bucket["Name"])["Policy"]
        except ClientError:
            continue
        named += [
            (f"bucket {bucket['Name']}", kind, principal)
            for kind, principal in _policy_principals(policy)
        ]
    assert any(kind == "Federated" for _, kind, _ in named)
    dangling = [entry for entry in named if not _exists(rehearsed, entry[1], entry[2])]
    assert dangling == []


@pytest.mark.parametrize("rehearsed", EVERY, indirect=True)
def test_image_repositories_name_the_pushers_the_stack_made_or_found(rehearsed: Rehearsed) -> None:
    environment = rehearsed.environment
    policy = _client(rehearsed, "ecr").get_repository_policy(
        repositoryName=environment.image_repositories["s3proxy"]
    )["policyText"]
    (push,) = [s for s in json.loads(policy)["Statement"] if s["Sid"] == "PushImages"]
    pushers = push["Principal"]["AWS"]
    pushers = sorted(pushers if isinstance(pushers, list) else [pushers])
    expected = [
        f"arn:aws:iam::{environment.account_id}:role/{environment.name_prefix}-image-publisher",
        *(environment.images.push_principals if environment.images else []),
    ]
    assert pushers == sorted(expected)


@pytest.mark.parametrize("rehearsed", EKS, indirect=True)
def test_the_proxys_content_is_uploaded_and_the_example_url_names_an_object(
    rehearsed: Rehearsed,
) -> None:
    environment = rehearsed.environment
    keys = [
        item["Key"]
        for item in _client(rehearsed, "s3").list_objects_v2(
            Bucket=environment.s3_proxy_bucket_name
        )["Contents"]
    ]
    assert sorted(keys) == ["index.html", "release-notes.txt"]
    workloads = json.loads(
        (
            stack_dir(environment.stacks.workloads, rehearsed.synth_outdir) / "cdk.tf.json"
        ).read_text()
    )
    url = workloads["output"]["app_url_example"]["value"]
    assert environment.s3_proxy is not None
    path = url.removeprefix(f"https://{environment.s3_proxy.host}/")
    assert (path or environment.s3_proxy.index_document) in keys


@pytest.mark.parametrize("rehearsed", EKS, indirect=True)
def test_the_secret_and_its_appconfig_environment_exist_without_a_value(
    rehearsed: Rehearsed,
) -> None:
    environment = rehearsed.environment
    secret = f"{environment.name_prefix}/coralogix-private-key"
    described = _client(rehearsed, "secretsmanager").describe_secret(SecretId=secret)
    assert "AWSCURRENT" not in {
        s for v in described.get("VersionIdsToStages", {}).values() for s in v
    }
    appconfig = _client(rehearsed, "appconfig")
    (application,) = [
        a
        for a in appconfig.list_applications()["Items"]
        if a["Name"] == f"{environment.name_prefix}-coralogix-private-key"
    ]
    environments = appconfig.list_environments(ApplicationId=application["Id"])["Items"]
    assert [e["Name"] for e in environments] == [environment.name]


@pytest.mark.parametrize("rehearsed", SHARED, indirect=True)
def test_a_central_repository_grants_the_reader_account_and_its_key_decrypt_through_s3(
    rehearsed: Rehearsed,
) -> None:
    environment = rehearsed.environment
    readers = environment.helm_repo.readers
    location = environment.chart_repository
    assert location is not None
    policy = json.loads(
        _client(rehearsed, "s3").get_bucket_policy(Bucket=location.bucket)["Policy"]
    )
    read = next(s for s in policy["Statement"] if s["Sid"] == "ReadCharts")
    assert set(readers.principals) <= set(read["Principal"]["AWS"])
    assert read["Resource"] == f"arn:aws:s3:::{location.bucket}/{location.prefix}*"
    key_id = _client(rehearsed, "s3").get_bucket_encryption(Bucket=location.bucket)[
        "ServerSideEncryptionConfiguration"
    ]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    kms = _client(rehearsed, "kms")
    key_policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    decrypt = next(s for s in key_policy["Statement"] if s["Sid"] == "DecryptChartsForReaders")
    principal = decrypt["Principal"]["AWS"]
    assert sorted(principal if isinstance(principal, list) else [principal]) == sorted(
        readers.principals
    )
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{location.region}.amazonaws.com"}
    }


@pytest.mark.parametrize("rehearsed", CENTRAL, indirect=True)
def test_the_reader_of_a_central_repository_promotes_from_it_as_its_chart_publisher(
    rehearsed: Rehearsed, tmp_path: Path
) -> None:
    environment = rehearsed.environment
    central = environment.helm_repo.central
    assert central is not None
    source, target = central.location, environment.chart_repository
    assert target is not None and central.environment is not None
    iam = _client(rehearsed, "iam")
    publisher = f"{environment.name_prefix}-chart-publisher"
    # The deployer and the publisher carry the chart-reader policy, which names the central
    # repository below its prefix and its key.
    for role in (f"{environment.name_prefix}-deployer", publisher):
        attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        assert [a["PolicyName"] for a in attached] == [environment.chart_reader_policy_name]
    (policy_arn,) = {a["PolicyArn"] for a in attached}
    version = iam.get_policy(PolicyArn=policy_arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=policy_arn, VersionId=version)["PolicyVersion"]
    named = json.dumps(document["Document"])
    assert f"arn:aws:s3:::{source.bucket}/{source.prefix}*" in named
    assert central.kms_key_arn in named

    # The owner's stack made the central repository in its account, its CI published a chart ...
    assert rehearsal.seed_central_repository(environment, rehearsed.endpoint) == source.url
    owner = rehearsal.bootstrap_session(rehearsed.endpoint, central.account_id, source.region)
    packaged = package_chart(PROJECT_ROOT / "charts" / "s3proxy", tmp_path, out=io.StringIO())
    publish_packaged(
        ChartStore(
            owner.client("s3", endpoint_url=rehearsed.endpoint), source.bucket, source.prefix
        ),
        [packaged],
        out=io.StringIO(),
    )
    # ... and the promote job, as this environment's chart publisher (GitHub OIDC on AWS; the
    # emulator lets the role be assumed directly), copies it into this environment's own.
    credentials = rehearsed.session.client("sts", endpoint_url=rehearsed.endpoint).assume_role(
        RoleArn=f"arn:aws:iam::{environment.account_id}:role/{publisher}",
        RoleSessionName="promote-charts",
    )["Credentials"]
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_ENDPOINT_URL": rehearsed.endpoint,
    }
    command = [
        *(sys.executable, "-m", "berth", "charts", "promote", packaged.name, packaged.version),
        *("--from", central.environment, "--to", environment.name, "--ambient-credentials"),
    ]
    result = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"promoted {source.url} -> {target.url}" in result.stdout
    s3 = _client(rehearsed, "s3")
    index = parse_index(
        s3.get_object(Bucket=target.bucket, Key=f"{target.prefix}index.yaml")["Body"].read()
    )
    entry = index.find(packaged.name, packaged.version)
    assert entry is not None and entry["digest"] == packaged.digest
    archive = s3.get_object(Bucket=target.bucket, Key=f"{target.prefix}{packaged.key}")
    assert hashlib.sha256(archive["Body"].read()).hexdigest() == packaged.digest


# Each prerequisite, taken away, must stop the plan with a message naming it.
PLAN_STOPS = {
    rehearsal.DEPLOY_ROLE: "reading IAM Role (berth-{env}-deploy): couldn't find resource",
    rehearsal.CLUSTER_OIDC_PROVIDER: "finding IAM OIDC Provider by url (https://oidc.eks.eu-west-1.amazonaws.com/id/",
    rehearsal.CLUSTER_STATE: "Unable to find remote state",
    "role:berth-prod-release-engineering": "reading IAM Role (berth-prod-release-engineering)",
}


@pytest.mark.parametrize("rehearsed", EVERY, indirect=True)
def test_each_missing_prerequisite_stops_the_plan_naming_it(rehearsed: Rehearsed) -> None:
    environment = rehearsed.environment
    keys = [key for key in rehearsal.prerequisites(environment) if key in PLAN_STOPS]
    assert rehearsal.DEPLOY_ROLE in keys
    assert (rehearsal.CLUSTER_OIDC_PROVIDER in keys) == bool(environment.looked_up_oidc_issuer)
    everything_else = set(rehearsal.prerequisites(environment))
    for key in keys:
        rehearsal.remove_prerequisite(environment, rehearsed.endpoint, key)
        with pytest.raises(TerraformError) as stopped:
            rehearsed.stack.plan_changes(refresh=False)  # lookups are read all the same
        assert PLAN_STOPS[key].format(env=environment.name) in str(stopped.value), key
        rehearsal.seed_prerequisites(environment, rehearsed.endpoint, skip=everything_else - {key})
    assert rehearsed.stack.plan_changes(refresh=False) is False


# ---- the workloads step's preconditions ----


def _workloads_preflight(rehearsed: Rehearsed, kubeconfig: Path) -> dict[str, Check]:
    environment = rehearsed.environment
    checks = Preflight(
        environment,
        lambda: environment_session(environment, role_choice(environment)),
        lambda: kube_client_from_kubeconfig(kubeconfig, None),
    ).run(["workloads"])
    return {check.subject: check for check in checks}


def _failed(checks: dict[str, Check]) -> dict[str, str]:
    return {subject: check.detail for subject, check in checks.items() if not check.ok}


def _push_image(rehearsed: Rehearsed, repository: str, tag: str) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1,
            "digest": "sha256:" + "0" * 64,
        },
        "layers": [],
    }
    _client(rehearsed, "ecr").put_image(
        repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag
    )


def _berth_secret_put(rehearsed: Rehearsed, value: str) -> None:
    env = {**os.environ, **EMULATOR_CREDENTIALS, "AWS_ENDPOINT_URL": rehearsed.endpoint}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "berth",
            "secret",
            "put",
            rehearsed.environment.name,
            "coralogix-private-key",
        ],
        input=value,
        text=True,
        capture_output=True,
        cwd=PROJECT_ROOT,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "started AppConfig deployment" in result.stdout


@pytest.mark.parametrize("rehearsed", EKS, indirect=True)
def test_the_workloads_step_waits_for_each_of_its_preconditions(
    rehearsed: Rehearsed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = rehearsed.environment
    assert environment.images is not None and environment.s3_proxy is not None
    for key, value in EMULATOR_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", rehearsed.endpoint)
    api = FakeKubeApi()
    with serve(api) as url:
        kubeconfig = write_kubeconfig(url, tmp_path / "kubeconfig")

        # Right after the account stack: nothing the releases need is there yet.
        failed = _failed(_workloads_preflight(rehearsed, kubeconfig))
        assert set(failed) == {
            "namespace observability",
            "namespace s3proxy",
            f"image {environment.name_prefix}/appconfig-fetch",
            f"image {environment.name_prefix}/s3proxy",
            "secret value",
            "Secret s3proxy/s3proxy-htpasswd",
            *(
                [f"Secret s3proxy/{environment.s3_proxy.tls_secret_name}"]
                if environment.s3_proxy.tls_secret_name
                else []
            ),
        }
        assert f"deploy the {environment.name}-cluster stack first" in failed["namespace s3proxy"]
        assert "tag 0.1.0 is not in ECR" in failed[f"image {environment.name_prefix}/s3proxy"]
        assert "has no value yet" in failed["secret value"]

        # The cluster stack, the image publisher, the operator: one precondition each.
        restricted = {"pod-security.kubernetes.io/enforce": "restricted"}
        for namespace in environment.workload_namespaces:
            api.add_namespace(namespace, restricted)
        for app in ("s3proxy", "appconfig-fetch"):
            _push_image(rehearsed, environment.image_repositories[app], environment.images.tag)
        _berth_secret_put(rehearsed, "the-coralogix-key")
        api.put_secret(
            "s3proxy", "s3proxy-htpasswd", {"type": "Opaque", "data": {"htpasswd": "dXNlcjokMnkk"}}
        )
        if environment.s3_proxy.tls_secret_name:
            api.put_secret(
                "s3proxy",
                environment.s3_proxy.tls_secret_name,
                {"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
            )
        assert _failed(_workloads_preflight(rehearsed, kubeconfig)) == {}

        # A value stored but not deployed (someone bypassed `berth secret put`).
        _client(rehearsed, "secretsmanager").put_secret_value(
            SecretId=f"{environment.name_prefix}/coralogix-private-key", SecretString="rotated"
        )
        failed = _failed(_workloads_preflight(rehearsed, kubeconfig))
        assert list(failed) == ["secret value"]
        assert "is not deployed; AppConfig serves" in failed["secret value"]
        _berth_secret_put(rehearsed, "rotated")

        # An image tag deleted again.
        _client(rehearsed, "ecr").batch_delete_image(
            repositoryName=environment.image_repositories["s3proxy"],
            imageIds=[{"imageTag": environment.images.tag}],
        )
        assert list(_failed(_workloads_preflight(rehearsed, kubeconfig))) == [
            f"image {environment.name_prefix}/s3proxy"
        ]


# ---- a cluster outside EKS: the refresher's users and their keys ----


def _berth(rehearsed: Rehearsed, *args: str) -> subprocess.CompletedProcess[str]:
    """A `berth` command as an operator runs it: the emulator's identity, the deploy role."""
    env = {**os.environ, **EMULATOR_CREDENTIALS, "AWS_ENDPOINT_URL": rehearsed.endpoint}
    return subprocess.run(
        [sys.executable, "-m", "berth", *args],
        text=True,
        capture_output=True,
        cwd=PROJECT_ROOT,
        env=env,
        check=False,
        timeout=180,
    )


@pytest.mark.parametrize("rehearsed", EXTERNAL, indirect=True)
def test_the_refresher_users_have_no_key_and_may_only_use_the_registry(
    rehearsed: Rehearsed,
) -> None:
    iam = _client(rehearsed, "iam")
    for release in rehearsed.environment.credentials_releases:
        user = iam.get_user(UserName=release.iam_name)["User"]
        assert (
            user["Arn"]
            == f"arn:aws:iam::{rehearsed.environment.account_id}:user/{release.iam_name}"
        )
        # Terraform made the user without a key; `berth refresher rotate-key` makes it.
        assert iam.list_access_keys(UserName=release.iam_name)["AccessKeyMetadata"] == []
        document = iam.get_user_policy(UserName=release.iam_name, PolicyName="registry-access")
        policy = document["PolicyDocument"]
        policy = json.loads(policy) if isinstance(policy, str) else policy
        actions = {a for s in policy["Statement"] for a in _as_list(s["Action"])}
        assert actions <= {
            "ecr:GetAuthorizationToken",
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
            "ecr:BatchCheckLayerAvailability",
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
        }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class StandInRefresher(threading.Thread):
    """Reports, in each release's status ConfigMap, the key its Secret holds (what the refresher
    does once the kubelet updated its file; the real program does it in tests/berth)."""

    def __init__(self, api: FakeKubeApi, environment: Environment) -> None:
        super().__init__(daemon=True)
        self.api, self.environment, self.stop = api, environment, threading.Event()

    def run(self) -> None:
        from berth.refresher_keys import key_in_secret

        while not self.stop.wait(0.1):
            for release in self.environment.credentials_releases:
                secret = self.api.secrets.get((release.namespace, release.credentials_secret))
                status = self.api.config_maps.get((release.namespace, release.status_config_map))
                if secret and status is not None:
                    status["data"] = {"accessKeyId": str(key_in_secret(secret.get("data")))}


@pytest.mark.parametrize("rehearsed", EXTERNAL, indirect=True)
def test_the_workloads_step_of_a_cluster_outside_eks_and_the_key_rotation(
    rehearsed: Rehearsed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = rehearsed.environment
    refresher = environment.ecr_refresher
    assert refresher is not None and refresher.builds is not None and environment.images
    for key, value in EMULATOR_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", rehearsed.endpoint)
    namespace = refresher.namespace
    iam = _client(rehearsed, "iam")
    api = FakeKubeApi()
    with serve(api) as url:
        kubeconfig = write_kubeconfig(url, tmp_path / "kubeconfig")

        failed = _failed(_workloads_preflight(rehearsed, kubeconfig))
        assert set(failed) == {
            f"namespace {namespace}",
            f"image {environment.name_prefix}/ecr-refresher",
            f"Secret {namespace}/ecr-pull (the refresher image's pull secret)",
            f"Secret {namespace}/ecr-credential-refresher-aws",
            f"Secret {namespace}/ecr-build-credentials-aws",
            "namespace builds (refresher target)",
        }
        assert (
            f"berth refresher rotate-key {environment.name}"
            in (failed[f"Secret {namespace}/ecr-credential-refresher-aws"])
        )
        assert (
            "kubectl -n ecr-credential-refresher create secret docker-registry ecr-pull"
            in (failed[f"Secret {namespace}/ecr-pull (the refresher image's pull secret)"])
        )

        # The cluster stack, the image publisher, the operator's bootstrap pull secret.
        api.add_namespace(namespace, {"pod-security.kubernetes.io/enforce": "restricted"})
        api.add_namespace("builds")
        _push_image(
            rehearsed, environment.image_repositories["ecr-refresher"], environment.images.tag
        )
        api.put_secret(
            namespace, "ecr-pull", {"type": "kubernetes.io/dockerconfigjson", "data": {}}
        )
        assert set(_failed(_workloads_preflight(rehearsed, kubeconfig))) == {
            f"Secret {namespace}/ecr-credential-refresher-aws",
            f"Secret {namespace}/ecr-build-credentials-aws",
        }

        # The keys, as the deploy role, straight into the cluster: no refresher runs yet.
        first = _berth(
            rehearsed, "refresher", "rotate-key", environment.name, "--kubeconfig", str(kubeconfig)
        )
        assert first.returncode == 0, first.stderr
        assert "old keys deleted: none (it was the first key)" in first.stdout
        assert _failed(_workloads_preflight(rehearsed, kubeconfig)) == {}
        keys = {
            r.iam_name: [
                k["AccessKeyId"]
                for k in iam.list_access_keys(UserName=r.iam_name)["AccessKeyMetadata"]
            ]
            for r in environment.credentials_releases
        }
        assert all(len(found) == 1 for found in keys.values())

        # The releases are installed (their status ConfigMaps) and use what their Secret holds:
        # a rotation now waits for them, then deletes the old keys.
        for release in environment.credentials_releases:
            api.add_config_map(release.namespace, release.status_config_map)
        stand_in = StandInRefresher(api, environment)
        stand_in.start()
        try:
            second = _berth(
                rehearsed,
                "refresher",
                "rotate-key",
                environment.name,
                "--kubeconfig",
                str(kubeconfig),
                "--timeout",
                "60",
            )
        finally:
            stand_in.stop.set()
            stand_in.join(timeout=5)
        assert second.returncode == 0, second.stderr
        for release in environment.credentials_releases:
            now = [
                k["AccessKeyId"]
                for k in iam.list_access_keys(UserName=release.iam_name)["AccessKeyMetadata"]
            ]
            assert len(now) == 1 and now != keys[release.iam_name], release.release
            assert (
                f"{release.release}: now {now[0]}; old keys deleted: {keys[release.iam_name][0]}"
                in second.stdout
            )
        # No secret key was printed.
        assert "aws_secret_access_key" not in second.stdout + second.stderr
