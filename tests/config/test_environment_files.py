"""Environment files are validated before any Terraform is written; errors name file and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from berth.config import PROJECT_ROOT, ConfigError, load_all_environments, load_environment_file

VALID = {
    "account_id": "111111111111",
    "region": "eu-west-1",
    "name_prefix": "berth-uat",
    "state_backend": {"bucket": "state-bucket", "region": "eu-west-1"},
    "deploy_role": {"role_arn": "arn:aws:iam::111111111111:role/deploy"},
    "helm_repo": {"publisher_principals": ["arn:aws:iam::111111111111:role/ci"]},
}


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
    assert names == ["local", "prod", "uat"]


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
    assert [line.split()[1] for line in result.stdout.splitlines()] == ["local", "prod", "uat"]
