"""Environment files are validated before any Terraform is written; errors name file and field."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from berth_core.config import (
    PROJECT_ROOT,
    ConfigError,
    load_all_environments,
    load_environment_file,
)

VALID = {
    "account_id": "111111111111",
    "region": "eu-west-1",
    "name_prefix": "berth-uat",
    "state_backend": {"bucket": "state-bucket", "region": "eu-west-1"},
    "deploy_role": {"role_arn": "arn:aws:iam::111111111111:role/deploy"},
    "helm_repo": {"publisher_principals": ["arn:aws:iam::111111111111:role/ci"]},
}
CENTRAL_KEY = "arn:aws:kms:eu-west-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def write(directory: Path, name: str, document: object) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document) if not isinstance(document, str) else document)
    return path


def with_changes(**changes: object) -> dict[str, object]:
    document = {**VALID, **changes}
    return {key: value for key, value in document.items() if value is not None}


def test_the_projects_environment_files_are_valid() -> None:
    names = [
        environment.name for environment in load_all_environments(PROJECT_ROOT / "environments")
    ]
    assert names == ["edge", "local", "prod", "uat"]


def test_a_valid_file_loads_with_derived_names(tmp_path: Path) -> None:
    environment = load_environment_file(write(tmp_path, "uat", VALID))
    assert environment.name == "uat"
    assert environment.helm_repo_bucket_name == "berth-uat-helm-charts"
    assert environment.state_key("uat-cluster") == "berth/uat-cluster.tfstate"
    assert environment.default_tags["Environment"] == "uat"
    # Without a cluster the environment is one stack; with one, three.
    assert environment.stack_names == ("uat",)
    cluster = {"name": "c", "oidc_issuer_url": "https://oidc.eks.eu-west-1.amazonaws.com/id/A"}
    with_cluster = load_environment_file(write(tmp_path, "uat", with_changes(cluster=cluster)))
    assert with_cluster.stack_names == ("uat", "uat-cluster", "uat-workloads")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (with_changes(acount_id="1"), "acount_id: unknown field"),
        (with_changes(account_id=111111111111), "account_id: Input should be a valid string"),
        (with_changes(account_id="12345"), "account_id: String should match pattern"),
        (with_changes(region="Ireland"), "region: String should match pattern"),
        (with_changes(helm_repo=None), "helm_repo: Field required"),
        (
            with_changes(helm_repo={"publisher_principals": []}),
            "helm_repo.publisher_principals: name at least one publisher, or add a `ci` block",
        ),
        (
            with_changes(
                ci={"repository": "acme/berth"},
                helm_repo={
                    "publisher_principals": [
                        "arn:aws:iam::111111111111:role/berth-uat-chart-publisher"
                    ]
                },
            ),
            "helm_repo.publisher_principals: arn:aws:iam::111111111111:role/berth-uat-chart"
            "-publisher is the CI role this environment's stack creates (ci); remove it",
        ),
        (
            with_changes(images={}),
            "images.push_principals: name at least one pusher, or add a `ci` block",
        ),
        (
            with_changes(
                state_backend={"bucket": "state-bucket", "region": "eu-west-1", "key": "x"}
            ),
            "state_backend.key: unknown field",
        ),
        (
            with_changes(
                observability={"coralogix_domain": "coralogix.com", "namespace": "kube-system"}
            ),
            "observability.namespace: 'kube-system' belongs to Kubernetes",
        ),
        (
            with_changes(helm_repo={"publisher_principals": ["*"]}),
            "helm_repo.publisher_principals: '*' is not an IAM role",
        ),
        (
            with_changes(
                helm_repo={"publisher_principals": ["arn:aws:iam::1:role/x"], "colour": 1}
            ),
            "helm_repo.colour: unknown field",
        ),
        (with_changes(state_backend=None), "state_backend: required for a real AWS account"),
        (with_changes(deploy_role=None), "deploy_role: required for a real AWS account"),
        (
            with_changes(deploy_role={"role_arn": "arn:aws:iam::111111111111:user/bob"}),
            "deploy_role.role_arn: String should match pattern",
        ),
        (
            with_changes(
                cluster={
                    "name": "c",
                    "oidc_issuer_url": "https://oidc.example/id/1",
                    "facts_source": "remote_state",
                }
            ),
            "cluster: remote_state: required when facts_source is remote_state",
        ),
        (
            with_changes(
                cluster={
                    "name": "c",
                    "oidc_issuer_url": "https://oidc.example/id/1",
                    "facts_source": "kubeconfig",
                }
            ),
            "cluster.facts_source: Input should be 'eks_api' or 'remote_state'",
        ),
        (with_changes(tags={"Owner": 3}), "tags.Owner: Input should be a valid string"),
        (
            with_changes(cluster={"name": "c", "oidc_issuer_url": "http://insecure"}),
            "cluster.oidc_issuer_url: String should match pattern",
        ),
        (with_changes(name="prod"), "name: 'prod' must match the file name 'uat'"),
        (
            with_changes(helm_repo={**VALID["helm_repo"], "prefix": "charts/*"}),
            "helm_repo.prefix: 'charts/*/' must be path segments ending in '/'",
        ),
        (
            with_changes(helm_repo={**VALID["helm_repo"], "prefix": "a/../b"}),
            "helm_repo.prefix: 'a/../b/' must not contain '.' or '..' segments",
        ),
        (
            with_changes(helm_repo={**VALID["helm_repo"], "readers": {"accounts": ["1"]}}),
            "helm_repo.readers.accounts.0: String should match pattern",
        ),
        (
            with_changes(
                helm_repo={**VALID["helm_repo"], "readers": {"accounts": ["111111111111"]}}
            ),
            "helm_repo.readers.accounts: 111111111111 is this environment's own account; its"
            " roles read through IAM: list them in helm_repo.reader_roles",
        ),
        (
            with_changes(
                helm_repo={
                    **VALID["helm_repo"],
                    "readers": {"roles": ["arn:aws:iam::111111111111:role/argocd"]},
                }
            ),
            "helm_repo.readers.roles: arn:aws:iam::111111111111:role/argocd is a role of this"
            " account; list it in helm_repo.reader_roles",
        ),
        (
            with_changes(
                helm_repo={**VALID["helm_repo"], "readers": {"roles": ["arn:aws:iam::2:root"]}}
            ),
            "helm_repo.readers.roles.0: String should match pattern",
        ),
        (
            with_changes(helm_repo={**VALID["helm_repo"], "readers": {"organization_id": "acme"}}),
            "helm_repo.readers.organization_id: String should match pattern",
        ),
        (
            with_changes(
                helm_repo={
                    **VALID["helm_repo"],
                    "readers": {"organization_paths": ["o-a1b2c3d4e5/*/ou-ab12-11111111/"]},
                }
            ),
            "helm_repo.readers.organization_paths: 'o-a1b2c3d4e5/*/ou-ab12-11111111/' is not an"
            " organization path",
        ),
        (
            with_changes(
                helm_repo={
                    **VALID["helm_repo"],
                    "reader_roles": ["arn:aws:iam::222222222222:role/argocd"],
                }
            ),
            "helm_repo.reader_roles: arn:aws:iam::222222222222:role/argocd is not a role of this"
            " account (111111111111)",
        ),
        (
            with_changes(
                ci={"repository": "acme/berth"},
                helm_repo={"reader_roles": ["arn:aws:iam::111111111111:role/berth-uat-deployer"]},
            ),
            "helm_repo.reader_roles: arn:aws:iam::111111111111:role/berth-uat-deployer is a role"
            " this environment's stack creates",
        ),
        (
            with_changes(helm_repo={**VALID["helm_repo"], "create_repository": False}),
            "helm_repo: create_repository: an environment without a central repository needs",
        ),
        (
            with_changes(helm_repo={**VALID["helm_repo"], "central": {"bucket": "shared-charts"}}),
            "helm_repo.central.kms_key_arn: Field required",
        ),
        (
            with_changes(helm_repo={"central": {"kms_key_arn": "arn:aws:kms:eu-west-1:1:alias/x"}}),
            "helm_repo.central.kms_key_arn: 'arn:aws:kms:eu-west-1:1:alias/x' is not a KMS key ARN",
        ),
        (
            with_changes(
                helm_repo={"central": {"kms_key_arn": CENTRAL_KEY}},
            ),
            "helm_repo.central: environment: name the owning environment, or give bucket",
        ),
        (
            with_changes(
                helm_repo={
                    "central": {
                        "bucket": "shared-charts",
                        "region": "eu-central-1",
                        "kms_key_arn": CENTRAL_KEY,
                    }
                },
            ),
            "helm_repo.central: region: eu-central-1 differs from the key's region eu-west-1",
        ),
        (
            with_changes(
                helm_repo={
                    "central": {"bucket": "shared-charts", "kms_key_arn": CENTRAL_KEY},
                    "publisher_principals": ["arn:aws:iam::111111111111:role/ci"],
                },
            ),
            "helm_repo: publisher_principals: only for a repository of its own; this environment"
            " reads the central repository (set create_repository: true to keep one)",
        ),
        (
            with_changes(helm_repo={"central": {"environment": "uat", "kms_key_arn": CENTRAL_KEY}}),
            "helm_repo.central.environment: names this environment",
        ),
        ("- just\n- a list\n", "expected a mapping of fields, got list"),
        ("account_id: [unclosed\n", "not valid YAML (line"),
    ],
)
def test_an_invalid_file_names_the_file_and_the_field(
    tmp_path: Path, document: object, expected: str
) -> None:
    path = write(tmp_path, "uat", document)
    with pytest.raises(ConfigError) as raised:
        load_environment_file(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert expected in str(raised.value)


# ---- a cluster outside EKS ----

CA_DATA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
KUBECONFIG = {"name": "edge", "kubeconfig": {"context": "edge-admin"}}
EXEC = {
    "host": "https://k8s.example.com:6443",
    "certificate_authority_data": CA_DATA.decode(),
    "command": "kubelogin",
}
REFRESHER = {"identity": "iam_user", "pull_secret_namespaces": {"namespaces": ["shop"]}}


def external(access: object = None, refresher: object = None, **changes: object) -> object:
    """A valid file with an external cluster, changed by `changes` (None removes a field)."""
    document = {
        "images": {"push_principals": ["arn:aws:iam::111111111111:role/ci"]},
        "external_cluster": KUBECONFIG if access is None else access,
        "ecr_refresher": REFRESHER if refresher is None else refresher,
        **changes,
    }
    return with_changes(**document)


def test_an_external_cluster_gets_three_stacks_and_the_refresher_names(tmp_path: Path) -> None:
    refresher = {
        **REFRESHER,
        "builds": {"namespaces": ["ci"], "repositories": ["web", "team/api"]},
    }
    environment = load_environment_file(write(tmp_path, "uat", external(refresher=refresher)))
    assert environment.stack_names == ("uat", "uat-cluster", "uat-workloads")
    assert environment.workload_namespaces == ("ecr-credential-refresher",)
    pull, build = environment.credentials_releases
    assert (pull.release, pull.iam_name, pull.credentials_secret) == (
        "ecr-credential-refresher",
        "berth-uat-ecr-refresher",
        "ecr-credential-refresher-aws",
    )
    assert (build.release, build.iam_name, build.builder_secret) == (
        "ecr-build-credentials",
        "berth-uat-ecr-builder",
        "ecr-push",
    )
    assert environment.build_repositories == {
        "web": "berth-uat/web",
        "team/api": "berth-uat/team/api",
    }
    assert environment.ecr_refresher is not None
    # The refresher's own namespace is a target too: its image is pulled with that secret.
    assert environment.ecr_refresher.target_namespaces == ["ecr-credential-refresher", "shop"]
    assert environment.external_cluster is not None
    assert environment.external_cluster.kubeconfig is not None
    assert environment.external_cluster.kubeconfig.path == "~/.kube/config"


def test_a_selector_gives_its_labels_to_the_refresher_namespace(tmp_path: Path) -> None:
    refresher = {"identity": "iam_user", "pull_secret_namespaces": {"selector": "a=b, x.io/y=z"}}
    environment = load_environment_file(write(tmp_path, "uat", external(refresher=refresher)))
    assert environment.ecr_refresher is not None
    targets = environment.ecr_refresher.pull_secret_namespaces
    assert targets.selector_labels == {"a": "b", "x.io/y": "z"}
    assert environment.ecr_refresher.target_namespaces == []


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            external(access={"name": "edge"}),
            "external_cluster: kubeconfig: say how the cluster is reached",
        ),
        (
            external(access={**KUBECONFIG, "exec": EXEC}),
            "external_cluster: kubeconfig: say how the cluster is reached",
        ),
        (
            external(access={"name": "edge", "kubeconfig": {"path": "~/.kube/config"}}),
            "external_cluster.kubeconfig.context: Field required",
        ),
        (
            external(access={"name": "edge", "kubeconfig": {"context": "c", "token": "x"}}),
            "external_cluster.kubeconfig.token: unknown field",
        ),
        (
            external(
                access={"name": "edge", "exec": {**EXEC, "args": ["get-token", "--token=abc"]}}
            ),
            "external_cluster.exec.args: --token=...: a secret value never goes in this file",
        ),
        (
            external(access={"name": "edge", "exec": {**EXEC, "env": ["SECRET=abc"]}}),
            "external_cluster.exec.env: 'SECRET=abc' is not an environment variable name",
        ),
        (
            external(
                access={"name": "edge", "exec": {**EXEC, "certificate_authority_data": "abc"}}
            ),
            "external_cluster.exec.certificate_authority_data: not base64",
        ),
        (
            external(refresher={**REFRESHER, "identity": "web_identity"}),
            "ecr_refresher.identity: web_identity needs external_cluster.oidc_issuer_url",
        ),
        (
            external(access={**KUBECONFIG, "oidc_issuer_url": "https://k8s.example.com"}),
            "ecr_refresher.identity: iam_user leaves external_cluster.oidc_issuer_url unused",
        ),
        (
            with_changes(external_cluster=KUBECONFIG),
            "ecr_refresher: an external_cluster needs an ecr_refresher section",
        ),
        (
            external(images=None),
            "images: the refresher runs from this account's ECR",
        ),
        (
            external(cluster={"name": "c", "oidc_issuer_url": "https://oidc.example/id/1"}),
            "external_cluster: an environment has one cluster",
        ),
        (
            external(refresher={"identity": "iam_user", "pull_secret_namespaces": {}}),
            "ecr_refresher.pull_secret_namespaces: namespaces: choose exactly one",
        ),
        (
            external(
                refresher={
                    "identity": "iam_user",
                    "pull_secret_namespaces": {"selector": "tier in (a,b)"},
                }
            ),
            "'tier in (a': write the selector as key=value terms",
        ),
        (
            external(
                refresher={
                    "identity": "iam_user",
                    "pull_secret_namespaces": {"namespaces": ["kube-system"]},
                }
            ),
            "'kube-system' belongs to Kubernetes; no registry login is written there",
        ),
        (
            external(refresher={**REFRESHER, "namespace": "default"}),
            "ecr_refresher.namespace: 'default' belongs to Kubernetes",
        ),
        (
            external(
                refresher={
                    **REFRESHER,
                    "builds": {"namespaces": ["ci"], "repositories": ["s3proxy"]},
                }
            ),
            "'s3proxy' is the repository of Berth's own s3proxy image",
        ),
        (
            external(refresher={**REFRESHER, "builds": {"namespaces": ["ci"], "repositories": []}}),
            "ecr_refresher.builds.repositories: List should have at least 1 item",
        ),
    ],
)
def test_an_invalid_external_cluster_is_named(
    tmp_path: Path, document: object, expected: str
) -> None:
    path = write(tmp_path, "uat", document)
    with pytest.raises(ConfigError) as raised:
        load_environment_file(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert expected in str(raised.value)


def test_the_oidc_issuer_prefix_is_derived_once_from_the_issuer(tmp_path: Path) -> None:
    cluster = {"name": "c", "oidc_issuer_url": "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC/"}
    environment = load_environment_file(write(tmp_path, "uat", with_changes(cluster=cluster)))
    assert environment.cluster is not None
    assert environment.cluster.oidc_issuer_host_path == "oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    assert environment.cluster.oidc_provider == "lookup"


def test_proxy_content_is_found_relative_to_the_file_and_must_hold_the_index(
    tmp_path: Path,
) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "index.html").write_text("<h1>hi</h1>")
    proxy = {
        "host": "files.example.com",
        "htpasswd_secret_name": "htpasswd",
        "allow_self_signed_tls": True,
        "index_document": "index.html",
        "content_dir": "content",
    }
    cluster = {"name": "c", "oidc_issuer_url": "https://oidc.eks.eu-west-1.amazonaws.com/id/A"}
    images = {"push_principals": ["arn:aws:iam::111111111111:role/ci"]}
    document = with_changes(cluster=cluster, images=images, s3_proxy=proxy)
    environment = load_environment_file(write(tmp_path, "uat", document))
    assert environment.s3_proxy is not None
    assert environment.s3_proxy.content_dir == (tmp_path / "content").resolve()

    missing = write(tmp_path, "uat", {**document, "s3_proxy": {**proxy, "content_dir": "nope"}})
    with pytest.raises(
        ConfigError, match=r"uat\.yaml: s3_proxy\.content_dir: .*nope is not a folder"
    ):
        load_environment_file(missing)
    no_index = {**proxy, "index_document": "start.html"}
    with pytest.raises(
        ConfigError, match=r"index_document: 'start\.html' is not a file of content_dir"
    ):
        load_environment_file(write(tmp_path, "uat", {**document, "s3_proxy": no_index}))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"uat\.yaml: no such environment file"):
        load_environment_file(tmp_path / "uat.yaml")


def test_every_broken_file_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, "uat", with_changes(region="nowhere"))
    write(tmp_path, "prod", with_changes(name_prefix="Bad Prefix"))
    with pytest.raises(ConfigError) as raised:
        load_all_environments(tmp_path)
    assert "prod.yaml: name_prefix" in str(raised.value)
    assert "uat.yaml: region" in str(raised.value)


@pytest.mark.parametrize("command", [["-m", "berth", "validate"], ["main.py"]])
def test_the_command_line_fails_with_one_clear_line_and_no_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    write(tmp_path, "uat", with_changes(acount_id="1"))
    result = subprocess.run(
        [sys.executable, *command],
        cwd=PROJECT_ROOT,
        env={"BERTH_ENVIRONMENTS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.startswith("berth: ")
        and "uat.yaml: acount_id: unknown field" in result.stderr
    )
    assert not (tmp_path / "cdktf.out").exists()


def test_validate_lists_the_projects_environments() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "berth", "validate"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["edge", "local", "prod", "uat"]
    assert lines[0].endswith("edge-k3s (outside EKS)")


# ---- a central repository named by environment: resolved from the owner's file ----

SHARED_KEY = "arn:aws:kms:eu-west-1:999999999999:key/abc-123"


def _shared(tmp_path: Path, **helm_repo: object) -> Path:
    """`shared` (account 999999999999) owns a repository below charts/."""
    document = {
        **VALID,
        "account_id": "999999999999",
        "name_prefix": "acme-shared",
        "deploy_role": {"role_arn": "arn:aws:iam::999999999999:role/deploy"},
        "helm_repo": {
            "publisher_principals": ["arn:aws:iam::999999999999:role/ci"],
            "prefix": "charts",
            **helm_repo,
        },
    }
    return write(tmp_path, "shared", document)


def _reader(tmp_path: Path, **central: object) -> Path:
    return write(
        tmp_path,
        "uat",
        with_changes(
            helm_repo={"central": {"environment": "shared", "kms_key_arn": SHARED_KEY, **central}}
        ),
    )


def test_a_central_repository_named_by_environment_takes_the_owners_bucket_and_prefix(
    tmp_path: Path,
) -> None:
    _shared(tmp_path, readers={"accounts": ["111111111111"]})
    environment = load_environment_file(_reader(tmp_path))
    central = environment.helm_repo.central
    assert central is not None
    assert central.location.url == "s3://acme-shared-helm-charts/charts"
    assert central.location.region == "eu-west-1"
    assert central.account_id == "999999999999"
    # It reads the central repository only: no repository (bucket) of its own.
    assert environment.chart_repository is None
    assert environment.helm_repo.owns_repository is False


@pytest.mark.parametrize(
    ("readers", "admitted"),
    [
        ({"roles": ["arn:aws:iam::111111111111:role/berth-uat-deployer"]}, True),
        # Organization membership cannot be read from the files: it is accepted.
        ({"organization_id": "o-a1b2c3d4e5"}, True),
        ({"organization_paths": ["o-a1b2c3d4e5/r-ab12/*"]}, True),
        ({"accounts": ["222222222222"]}, False),
        ({}, False),
    ],
)
def test_the_owners_readers_must_admit_the_readers_account(
    tmp_path: Path, readers: dict[str, object], admitted: bool
) -> None:
    owner = _shared(tmp_path, readers=readers)
    if admitted:
        assert load_environment_file(_reader(tmp_path)).helm_repo.central is not None
        return
    with pytest.raises(ConfigError) as raised:
        load_environment_file(_reader(tmp_path))
    assert str(raised.value) == (
        f"{tmp_path / 'uat.yaml'}: helm_repo.central.environment: shared's helm_repo.readers do"
        " not include account 111111111111 (add it to readers.accounts, or one of its roles to"
        f" readers.roles, in {owner})"
    )


@pytest.mark.parametrize(
    ("central", "expected"),
    [
        (
            {"bucket": "other-charts"},
            "bucket other-charts is not shared's (acme-shared-helm-charts)",
        ),
        ({"prefix": "helm"}, "prefix 'helm/' is not shared's ('charts/')"),
        (
            {"kms_key_arn": "arn:aws:kms:eu-west-1:888888888888:key/abc"},
            "kms_key_arn names account 888888888888 in eu-west-1; shared's key is in account"
            " 999999999999 in eu-west-1 (its stack's output helm_repo_kms_key_arn)",
        ),
    ],
)
def test_what_the_reader_says_must_agree_with_the_owner(
    tmp_path: Path, central: dict[str, object], expected: str
) -> None:
    _shared(tmp_path, readers={"accounts": ["111111111111"]})
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_environment_file(_reader(tmp_path, **central))


def test_the_owner_must_exist_own_a_repository_and_not_read_back(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"uat\.yaml: helm_repo\.central\.environment: .*shared\.yaml: no such environment",
    ):
        load_environment_file(_reader(tmp_path))
    # shared reads uat's repository in turn: a loop, named.
    write(
        tmp_path,
        "shared",
        {
            **VALID,
            "account_id": "999999999999",
            "deploy_role": {"role_arn": "arn:aws:iam::999999999999:role/deploy"},
            "helm_repo": {
                "central": {
                    "environment": "uat",
                    "kms_key_arn": "arn:aws:kms:eu-west-1:111111111111:key/k",
                }
            },
        },
    )
    with pytest.raises(ConfigError, match=r"'shared' reads its charts from 'uat' in turn"):
        load_environment_file(tmp_path / "shared.yaml")


def test_a_reader_may_keep_a_repository_of_its_own_to_promote_into(tmp_path: Path) -> None:
    _shared(tmp_path, readers={"accounts": ["111111111111"]})
    path = write(
        tmp_path,
        "uat",
        with_changes(
            helm_repo={
                **VALID["helm_repo"],
                "prefix": "/charts/",
                "create_repository": True,
                "central": {"environment": "shared", "kms_key_arn": SHARED_KEY},
            }
        ),
    )
    environment = load_environment_file(path)
    assert environment.chart_repository is not None
    assert environment.chart_repository.url == "s3://berth-uat-helm-charts/charts"
    assert environment.helm_repo.central is not None


def test_the_projects_prod_reads_uats_central_repository() -> None:
    environments = {e.name: e for e in load_all_environments(PROJECT_ROOT / "environments")}
    central = environments["prod"].helm_repo.central
    assert central is not None and central.environment == "uat"
    assert central.location == environments["uat"].chart_repository
    assert environments["uat"].helm_repo.readers.accounts == [environments["prod"].account_id]
