"""`berth preflight`: each deploy step's preconditions, checked on the emulator as the deploy role.

The emulator is seeded as a bare account would be after the README's bootstrap
(berth.rehearsal); then one prerequisite at a time is left out and the check that names it must
fail, and only that one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from berth import rehearsal
from berth.aws import environment_session, role_choice
from berth.local import EMULATOR_CREDENTIALS, MotoServer
from berth.preflight import Check, Preflight
from berth_core.config import Environment, load_environment


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with MotoServer(log_path=tmp_path_factory.mktemp("moto-preflight") / "moto.log") as server:
        yield server


@pytest.fixture
def endpoint(emulator: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh emulator state for each test; boto3 in this process talks to it."""
    requests.post(f"{emulator.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
    for key, value in EMULATOR_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", emulator.endpoint_url)
    return emulator.endpoint_url


def _preflight(environment: Environment, step: str) -> dict[str, Check]:
    checks = Preflight(
        environment,
        lambda: environment_session(environment, role_choice(environment)),
        lambda: pytest.fail("the account step never reaches Kubernetes"),
    ).run([step])
    return {check.subject: check for check in checks}


@pytest.mark.parametrize("env", ["uat", "prod", "edge"])
def test_the_account_step_passes_once_the_bootstrap_is_done(endpoint: str, env: str) -> None:
    environment = load_environment(env)
    rehearsal.seed_prerequisites(environment, endpoint)
    checks = _preflight(environment, "account")
    assert [c.subject for c in checks.values() if not c.ok] == []
    assert len(checks) == len(rehearsal.prerequisites(environment))


PREREQUISITE_CHECKS = {
    rehearsal.STATE_BUCKET: ("state bucket", "create it"),
    rehearsal.DEPLOY_ROLE: ("deploy role", "no role berth-prod-deploy"),
    rehearsal.CLUSTER_OIDC_PROVIDER: (
        "IAM OIDC provider of https://oidc.eks",
        "missing: create it",
    ),
    rehearsal.CLUSTER_STATE: (
        "cluster state s3://platform-eks-state-222222222222",
        "it does not exist; cluster.remote_state in environments/prod.yaml",
    ),
    "role:berth-prod-release-engineering": (
        "role arn:aws:iam::222222222222:role/berth-prod-release-engineering",
        "no role",
    ),
}


@pytest.mark.parametrize("missing", sorted(PREREQUISITE_CHECKS))
def test_each_missing_prerequisite_fails_the_check_that_names_it(
    endpoint: str, missing: str
) -> None:
    environment = load_environment("prod")
    assert missing in rehearsal.prerequisites(environment)
    rehearsal.seed_prerequisites(environment, endpoint, skip=[missing])
    checks = _preflight(environment, "account")
    failed = [c for c in checks.values() if not c.ok]
    subject, detail = PREREQUISITE_CHECKS[missing]
    assert len(failed) == 1, [c.line() for c in failed]
    assert failed[0].subject.startswith(subject), failed[0].line()
    assert detail in failed[0].detail, failed[0].line()


def test_a_cluster_state_with_another_issuer_fails(endpoint: str) -> None:
    environment = load_environment("prod")
    rehearsal.seed_prerequisites(environment, endpoint)
    assert environment.cluster is not None and environment.cluster.remote_state is not None
    state = environment.cluster.remote_state
    s3 = rehearsal.bootstrap_session(endpoint, environment.account_id, environment.region).client(
        "s3", endpoint_url=endpoint
    )
    document = json.loads(s3.get_object(Bucket=state.bucket, Key=state.key)["Body"].read())
    document["outputs"]["cluster_oidc_issuer_url"]["value"] = (
        "https://oidc.eks.eu-west-1.amazonaws.com/id/OTHER"
    )
    s3.put_object(Bucket=state.bucket, Key=state.key, Body=json.dumps(document).encode())
    (check,) = [c for c in _preflight(environment, "account").values() if not c.ok]
    assert (
        "output cluster_oidc_issuer_url is 'https://oidc.eks.eu-west-1.amazonaws.com/id/OTHER'"
        in check.detail
    )


def test_the_command_prints_one_line_per_check_and_fails(
    endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from berth.cli import main

    environment = load_environment("uat")
    rehearsal.seed_prerequisites(environment, endpoint, skip=[rehearsal.STATE_BUCKET])
    assert main(["preflight", "uat", "--step", "account"]) == 1
    out = capsys.readouterr().out
    assert "preflight of uat as role arn:aws:iam::111111111111:role/berth-uat-deploy" in out
    assert "FAIL  account   state bucket berth-terraform-state-111111111111" in out
    assert (
        "ok    account   deploy role arn:aws:iam::111111111111:role/berth-uat-deploy: assumed"
        in out
    )
    assert "1 of 3 checks failed" in out


def test_an_environment_without_a_cluster_has_only_the_account_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from berth.cli import main

    assert main(["preflight", "local", "--step", "workloads"]) == 1
    assert "local has no cluster: only the account step exists" in capsys.readouterr().err


def _stubbed_eks(issuer: str) -> Any:
    """EKS's documented DescribeCluster answer, recorded (moto draws a random issuer)."""
    import boto3
    from botocore.stub import Stubber

    eks = boto3.client("eks", region_name="eu-west-1")
    stubber = Stubber(eks)
    stubber.add_response(
        "describe_cluster",
        {
            "cluster": {
                "name": "uat-eks",
                "status": "ACTIVE",
                "endpoint": "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
                "identity": {"oidc": {"issuer": issuer}},
            }
        },
        {"name": "uat-eks"},
    )
    stubber.activate()
    return eks


@pytest.mark.parametrize(
    ("issuer", "ok"),
    [
        ("https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE", True),
        ("https://oidc.eks.eu-west-1.amazonaws.com/id/SOMETHINGELSE", False),
    ],
)
def test_the_eks_cluster_must_report_the_files_issuer(issuer: str, ok: bool) -> None:
    environment = load_environment("uat")
    preflight = Preflight(environment, lambda: pytest.fail("no session"), lambda: None)
    preflight.client = lambda service: _stubbed_eks(issuer)  # type: ignore[method-assign]
    (check,) = [c for c in preflight.run(["cluster"]) if c.subject == "EKS cluster uat-eks"]
    assert check.ok is ok, check.line()
    if not ok:
        assert "reports OIDC issuer" in check.detail and "every IRSA trust" in check.detail


def test_moto_eks_reports_another_issuer_than_the_file(endpoint: str) -> None:
    # On the emulator the check fails as it would against a cluster with another issuer.
    environment = load_environment("uat")
    rehearsal.seed_prerequisites(environment, endpoint)
    session = rehearsal.bootstrap_session(endpoint, environment.account_id, environment.region)
    eks = session.client("eks", endpoint_url=endpoint)
    eks.create_cluster(
        name="uat-eks",
        roleArn="arn:aws:iam::111111111111:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-1"]},
    )
    preflight = Preflight(
        environment,
        lambda: environment_session(environment, role_choice(environment)),
        lambda: None,
    )
    (check,) = [c for c in preflight.run(["cluster"]) if c.subject == "EKS cluster uat-eks"]
    assert (
        not check.ok
        and "reports OIDC issuer 'https://oidc.eks.eu-west-1.amazonaws.com/id/" in check.detail
    )


# ---- a cluster outside EKS ----


def _edge_variant(tmp_path: Any, **changes: Any) -> Environment:
    """`edge` with web identity (an issuer whose provider is looked up) and an exec plugin."""
    import base64

    import yaml

    from berth_core.config import PROJECT_ROOT, load_environment_file

    document = yaml.safe_load((PROJECT_ROOT / "environments" / "edge.yaml").read_text())
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    document["external_cluster"] = {
        "name": "edge-k3s",
        "exec": {
            "host": "https://k3s.edge.example.com:6443",
            "certificate_authority_data": base64.b64encode(pem).decode(),
            "command": "kubelogin",
            "env": ["BERTH_TEST_PLUGIN_SECRET"],
        },
        "oidc_issuer_url": "https://k3s.edge.example.com/oidc",
    }
    document["ecr_refresher"]["identity"] = "web_identity"
    document.update(changes)
    path = tmp_path / "edgeoidc.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_environment_file(path)


def test_a_looked_up_issuer_of_a_cluster_outside_eks_is_a_bootstrap_prerequisite(
    endpoint: str, tmp_path: Any
) -> None:
    environment = _edge_variant(tmp_path)
    assert rehearsal.CLUSTER_OIDC_PROVIDER in rehearsal.prerequisites(environment)
    rehearsal.seed_prerequisites(environment, endpoint, skip=[rehearsal.CLUSTER_OIDC_PROVIDER])
    checks = _preflight(environment, "account")
    (failed,) = [c for c in checks.values() if not c.ok]
    assert failed.subject == "IAM OIDC provider of https://k3s.edge.example.com/oidc"
    assert "aws iam create-open-id-connect-provider --url https://k3s.edge.example.com/oidc" in (
        failed.detail
    )
    rehearsal.seed_prerequisites(
        environment,
        endpoint,
        skip=set(rehearsal.prerequisites(environment)) - {rehearsal.CLUSTER_OIDC_PROVIDER},
    )
    assert all(c.ok for c in _preflight(environment, "account").values())


def test_the_cluster_step_outside_eks_checks_identities_plugin_variables_and_the_api(
    endpoint: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.fake_kube_api import FakeKubeApi, serve

    environment = _edge_variant(tmp_path)
    rehearsal.seed_prerequisites(environment, endpoint)
    monkeypatch.delenv("BERTH_TEST_PLUGIN_SECRET", raising=False)
    with serve(FakeKubeApi()) as url:

        def kube() -> Any:
            from kubernetes import client

            configuration = client.Configuration()
            configuration.host = url
            return client.ApiClient(configuration)

        def run() -> dict[str, Check]:
            checks = Preflight(
                environment,
                lambda: environment_session(environment, role_choice(environment)),
                kube,
            ).run(["cluster"])
            return {check.subject: check for check in checks}

        checks = run()
        assert {s: c.ok for s, c in checks.items()} == {
            "role berth-edge-ecr-refresher": False,
            "role berth-edge-ecr-builder": False,
            "exec plugin variable BERTH_TEST_PLUGIN_SECRET": False,
            "Kubernetes API": True,
        }
        assert "never in the environment file" in (
            checks["exec plugin variable BERTH_TEST_PLUGIN_SECRET"].detail
        )
        # The account stack's roles, and the plugin's variable in the operator's shell.
        session = rehearsal.bootstrap_session(endpoint, environment.account_id, environment.region)
        iam = session.client("iam", endpoint_url=endpoint)
        for name in ("berth-edge-ecr-refresher", "berth-edge-ecr-builder"):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
        monkeypatch.setenv("BERTH_TEST_PLUGIN_SECRET", "set-by-the-operator")
        assert all(check.ok for check in run().values())


def test_iam_users_are_checked_in_the_cluster_step_of_edge(endpoint: str) -> None:
    environment = load_environment("edge")
    rehearsal.seed_prerequisites(environment, endpoint)
    checks = Preflight(
        environment,
        lambda: environment_session(environment, role_choice(environment)),
        lambda: None,  # the Kubernetes API check is not the subject here
    ).run(["cluster"])
    users = {c.subject: c for c in checks if c.subject.startswith("IAM user")}
    assert set(users) == {"IAM user berth-edge-ecr-refresher", "IAM user berth-edge-ecr-builder"}
    assert all("deploy the edge stack first" in c.detail for c in users.values())
