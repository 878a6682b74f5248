"""The example GitHub Actions workflows: valid YAML with the security-relevant shape.

Each test names one property of `examples/github-actions/*.yaml` that the OIDC trust of the CI
roles (CiIdentities) depends on, and fails if the workflow loses it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "github-actions"
WORKFLOWS = ("publish-charts.yaml", "deploy.yaml")
CONFIGURE_AWS = "aws-actions/configure-aws-credentials@"
# Stack outputs the lead wires from CiIdentities; GitHub variables are their upper-case names.
PUBLISHER_OUTPUT = "ci_publisher_role_arn"
DEPLOYER_OUTPUT = "ci_deployer_role_arn"


def _load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{name}: not a mapping"
    return document


def _triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    triggers = workflow.get("on", workflow.get(True))
    assert isinstance(triggers, dict)
    return triggers


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def _aws_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in _steps(job) if str(s.get("uses", "")).startswith(CONFIGURE_AWS)]


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in _steps(job))


def _role_jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: job for name, job in workflow["jobs"].items() if _aws_steps(job)}


def _variable(expression: str) -> str:
    match = re.fullmatch(r"\$\{\{\s*vars\.([A-Z0-9_]+)\s*\}\}", expression)
    assert match, f"role-to-assume should be a GitHub variable, got {expression!r}"
    return match.group(1)


@pytest.fixture(scope="module")
def publish() -> dict[str, Any]:
    return _load("publish-charts.yaml")


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return _load("deploy.yaml")


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_is_yaml_with_jobs_and_triggers(name: str) -> None:
    workflow = _load(name)
    assert workflow["name"]
    assert _triggers(workflow)
    assert workflow["jobs"]
    for job_name, job in workflow["jobs"].items():
        assert job["runs-on"], job_name
        assert all(("uses" in s) != ("run" in s) for s in _steps(job)), job_name


@pytest.mark.parametrize("name", WORKFLOWS)
def test_no_default_token_permissions(name: str) -> None:
    assert _load(name)["permissions"] == {}


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_job_assuming_a_role_may_request_the_oidc_token(name: str) -> None:
    jobs = _role_jobs(_load(name))
    assert jobs
    for job_name, job in jobs.items():
        assert job["permissions"]["id-token"] == "write", job_name


@pytest.mark.parametrize("name", WORKFLOWS)
def test_no_long_lived_aws_keys(name: str) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    for forbidden in (
        "aws-access-key-id",
        "aws-secret-access-key",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET",
    ):
        assert forbidden not in text, forbidden
    for job in _load(name)["jobs"].values():
        for step in _aws_steps(job):
            assert set(step["with"]) <= {"role-to-assume", "role-session-name", "aws-region"}


def test_publisher_runs_on_main_chart_changes(publish: dict[str, Any]) -> None:
    push = _triggers(publish)["push"]
    assert push["branches"] == ["main"]
    assert push["paths"] == ["charts/**"]
    assert "pull_request" not in _triggers(publish)


def test_publisher_assumes_the_publisher_output_role_without_an_environment(
    publish: dict[str, Any],
) -> None:
    job = publish["jobs"]["publish"]
    (step,) = _aws_steps(job)
    assert _variable(step["with"]["role-to-assume"]) == PUBLISHER_OUTPUT.upper()
    # An environment would turn the token's sub into `environment:NAME`, which the publisher
    # role (trusting `ref:refs/heads/main`) refuses.
    assert "environment" not in job
    assert job["if"] == "github.ref == 'refs/heads/main'"
    assert PUBLISHER_OUTPUT in (EXAMPLES / "publish-charts.yaml").read_text(encoding="utf-8")


def test_publisher_sets_up_then_publishes_to_uat(publish: dict[str, Any]) -> None:
    job = publish["jobs"]["publish"]
    runs = _runs(job)
    assert runs.index("make setup") < runs.index("pipenv run berth charts publish --env uat")
    assert job["permissions"] == {"contents": "read", "id-token": "write"}


def test_charts_are_published_once_and_promoted_to_prod_behind_its_approval(
    publish: dict[str, Any],
) -> None:
    assert set(_role_jobs(publish)) == {"publish", "promote-prod"}
    promote = publish["jobs"]["promote-prod"]
    assert promote["needs"] == "publish"
    # The prod environment: its reviewers approve the job, and its token's sub is the one
    # prod's chart publisher trusts.
    assert promote["environment"] == "prod"
    (step,) = _aws_steps(promote)
    assert _variable(step["with"]["role-to-assume"]) == PUBLISHER_OUTPUT.upper()
    assert promote["permissions"] == {"contents": "read", "id-token": "write"}
    runs = _runs(promote)
    assert "berth charts publish" not in runs
    assert runs.index("make setup") < runs.index("berth charts promote")
    # Shell continuations and indentation aside:
    command = " ".join(runs.replace("\\\n", " ").split())
    assert (
        'berth charts promote "$name" "$version" --from uat --to prod --ambient-credentials'
        in command
    )
    assert "pipenv run berth charts verify --env prod --ambient-credentials" in runs


def test_prods_publisher_trusts_the_job_that_promotes_to_prod(publish: dict[str, Any]) -> None:
    from berth.config import load_environment

    prod = load_environment("prod")
    assert prod.ci is not None
    promote = publish["jobs"]["promote-prod"]
    assert prod.ci.publisher_subject == f"environment:{promote['environment']}"
    # ... and uat's publisher the publish job, which runs on main without an environment.
    uat = load_environment("uat")
    assert uat.ci is not None and uat.ci.publisher_subject == "ref:refs/heads/main"


def test_every_deploy_job_assumes_its_environment_deployer_role(deploy: dict[str, Any]) -> None:
    jobs = _role_jobs(deploy)
    assert set(jobs) == {"plan", "deploy-uat", "review-prod", "deploy-prod"}
    for job_name, job in jobs.items():
        (step,) = _aws_steps(job)
        assert _variable(step["with"]["role-to-assume"]) == DEPLOYER_OUTPUT.upper(), job_name
        # The environment selects the variable's value AND the token's sub.
        assert job["environment"], job_name
    assert DEPLOYER_OUTPUT in (EXAMPLES / "deploy.yaml").read_text(encoding="utf-8")


def test_pull_requests_plan_every_environment_and_post_it(deploy: dict[str, Any]) -> None:
    plan = deploy["jobs"]["plan"]
    assert "github.event_name == 'pull_request'" in plan["if"]
    # Fork PRs get no OIDC token; the job says so instead of failing.
    assert "head.repo.full_name == github.repository" in plan["if"]
    assert plan["strategy"]["matrix"]["environment"] == ["uat", "prod"]
    assert plan["environment"] == "${{ matrix.environment }}"
    runs = _runs(plan)
    assert 'npx cdktf diff "$STACK"' in runs
    assert 'pipenv run berth review "$STACK"' in runs
    assert "gh pr comment" in runs
    assert plan["permissions"]["pull-requests"] == "write"
    assert "cdktf deploy" not in runs


def test_uat_deploys_on_main_after_a_reviewed_plan(deploy: dict[str, Any]) -> None:
    job = deploy["jobs"]["deploy-uat"]
    assert job["if"] == "github.event_name == 'push'"
    assert job["environment"] == "uat"
    runs = _runs(job)
    assert runs.index("cdktf diff uat") < runs.index("berth review uat")
    assert runs.index("berth review uat") < runs.index("npx cdktf deploy uat --auto-approve")
    assert _triggers(deploy)["push"]["branches"] == ["main"]


def test_prod_deploys_only_behind_the_prod_environment_after_its_review(
    deploy: dict[str, Any],
) -> None:
    review = deploy["jobs"]["review-prod"]
    assert review["environment"] == "prod"
    assert review["needs"] == "deploy-uat"
    assert "pipenv run berth review prod" in _runs(review)
    (upload,) = [
        s for s in _steps(review) if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert "review-prod.md" in upload["with"]["path"]
    assert "cdktf deploy" not in _runs(review)

    deploy_prod = deploy["jobs"]["deploy-prod"]
    assert deploy_prod["environment"] == "prod"
    assert deploy_prod["needs"] == "review-prod"
    assert "npx cdktf deploy prod --auto-approve" in _runs(deploy_prod)


def test_only_environment_jobs_deploy(deploy: dict[str, Any]) -> None:
    for job_name, job in deploy["jobs"].items():
        for match in re.finditer(r"cdktf deploy (\S+)", _runs(job)):
            assert job["environment"] == match.group(1), job_name


@pytest.mark.parametrize("name", WORKFLOWS)
def test_expressions_never_reach_shell_scripts(name: str) -> None:
    for job in _load(name)["jobs"].values():
        for step in _steps(job):
            # Values reach scripts through `env:`, so a crafted branch or title cannot inject.
            assert "${{" not in str(step.get("run", "")), step.get("name")
