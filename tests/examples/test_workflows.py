"""The example GitHub Actions workflows: valid YAML with the security-relevant shape.

Each test names one property of `examples/github-actions/*.yaml` that the OIDC trust of the CI
roles (CiIdentities) or the deploy order of the stacks depends on, and fails if the workflow
loses it. Stack names, deploy steps, app images and repository names come from the project's
own code (`berth_core.naming`, `berth.preflight`, `berth_core.config`), so the workflows cannot drift from
them unnoticed.

The last tests run the jobs' shell steps here (`tests/support/actions_runner.py`) with stand-ins
for the tools that cannot run here (`tests/support/fake_tools.py`): Docker, yq, cdktf and the
deploy's `berth` calls; the image job's ECR questions and pushes go to the moto server.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from berth.local import EMULATOR_CREDENTIALS
from berth.preflight import STEPS
from berth_core.config import Environment, load_all_environments, load_environment
from berth_core.naming import APP_IMAGES, image_repository_name
from tests.support import fake_tools
from tests.support.actions_runner import JobResult, run_job

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLES = PROJECT / "examples" / "github-actions"
WORKFLOWS = ("publish-charts.yaml", "publish-images.yaml", "deploy.yaml")
CONFIGURE_AWS = "aws-actions/configure-aws-credentials@"
ECR_LOGIN = "aws-actions/amazon-ecr-login@"
# Stack outputs the account stack emits from CiIdentities; GitHub variables are their
# upper-case names.
PUBLISHER_OUTPUT = "ci_publisher_role_arn"
IMAGE_PUBLISHER_OUTPUT = "ci_image_publisher_role_arn"
DEPLOYER_OUTPUT = "ci_deployer_role_arn"
DEPLOY_JOBS = {"deploy-uat": "uat", "deploy-prod": "prod"}
IGNORE_MISSING_DEPENDENCIES = "--ignore-missing-stack-dependencies"
# Commands whose calls the static tests read from the scripts.
TOOLS = {"npx", "pipenv", "docker", "aws", "make", "gh"}
IMAGES_ENV = "uat"


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


def _resolve(value: str, context: dict[str, str]) -> str:
    """`${{ name }}` replaced from `context`; expressions it does not hold are kept as written."""
    return re.sub(
        r"\$\{\{\s*([\w.-]+)\s*\}\}",
        lambda match: context.get(match.group(1), match.group(0)),
        value,
    )


def _calls(
    workflow: dict[str, Any], job_name: str, context: dict[str, str] | None = None
) -> list[list[str]]:
    """The job's calls of TOOLS, in order, with the shell variables its `env:` sets expanded."""
    job = workflow["jobs"][job_name]
    known = dict(context or {})
    env: dict[str, str] = {}
    for scope in (workflow.get("env", {}), job.get("env", {})):
        for name, value in scope.items():
            env[name] = _resolve(str(value), known)
            known[f"env.{name}"] = env[name]
    calls: list[list[str]] = []
    for step in _steps(job):
        if "run" not in step:
            continue
        step_env = {**env, **{k: _resolve(str(v), known) for k, v in step.get("env", {}).items()}}
        script = str(step["run"]).replace("\\\n", " ")
        for line in script.splitlines():
            expanded = re.sub(
                r"\$\{?([A-Za-z_]\w*)\}?",
                lambda match, e=step_env: e.get(match.group(1), match.group(0)),
                line,
            )
            command = expanded.replace("2>&1", "").split(" | ")[0]
            try:
                argv = shlex.split(command)
            except ValueError:
                continue
            if argv and argv[0] in TOOLS:
                calls.append(argv)
    return calls


def _deploys(calls: list[list[str]]) -> list[list[str]]:
    return [c for c in calls if c[:3] == ["npx", "cdktf", "deploy"]]


def _stacks_of(deploy: list[str]) -> list[str]:
    return [arg for arg in deploy[3:] if not arg.startswith("-")]


def _preflights(calls: list[list[str]]) -> list[list[str]]:
    return [c for c in calls if c[:4] == ["pipenv", "run", "berth", "preflight"]]


def _diffed_stacks(calls: list[list[str]]) -> list[str]:
    return [c[3] for c in calls if c[:3] == ["npx", "cdktf", "diff"]]


def _real_environments() -> list[Environment]:
    return [e for e in load_all_environments() if not e.emulator]


@pytest.fixture(scope="module")
def publish() -> dict[str, Any]:
    return _load("publish-charts.yaml")


@pytest.fixture(scope="module")
def images() -> dict[str, Any]:
    return _load("publish-images.yaml")


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return _load("deploy.yaml")


# ---- every workflow ----


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_is_yaml_with_jobs_and_triggers(name: str) -> None:
    workflow = _load(name)
    assert workflow["name"]
    assert _triggers(workflow)
    assert workflow["jobs"]
    for job_name, job in workflow["jobs"].items():
        assert job["runs-on"], job_name
        assert job["timeout-minutes"], job_name
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


@pytest.mark.parametrize("name", WORKFLOWS)
def test_actions_pinning_is_explained(name: str) -> None:
    # Tags, not SHAs (could not be verified offline): the file says so and how to pin.
    assert "Pin each to a full commit SHA" in (EXAMPLES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", WORKFLOWS)
def test_expressions_never_reach_shell_scripts(name: str) -> None:
    for job in _load(name)["jobs"].values():
        for step in _steps(job):
            # Values reach scripts through `env:`, so a crafted branch or title cannot inject.
            assert "${{" not in str(step.get("run", "")), step.get("name")


# ---- publish-charts ----


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
    from berth_core.config import load_environment

    prod = load_environment("prod")
    assert prod.ci is not None
    promote = publish["jobs"]["promote-prod"]
    assert prod.ci.publisher_subject == f"environment:{promote['environment']}"
    # ... and uat's publisher the publish job, which runs on main without an environment.
    uat = load_environment("uat")
    assert uat.ci is not None and uat.ci.publisher_subject == "ref:refs/heads/main"


def test_publisher_runs_berth_as_itself_not_as_the_deploy_role(publish: dict[str, Any]) -> None:
    # berth assumes the deploy role by default; only the publisher may write the chart bucket.
    expected = {
        "publish": [["charts", "publish"], ["charts", "verify"]],
        "promote-prod": [["charts", "promote"], ["charts", "verify"]],
    }
    assert set(_role_jobs(publish)) == set(expected)
    for job_name, commands in expected.items():
        berth_calls = [c for c in _calls(publish, job_name) if c[:3] == ["pipenv", "run", "berth"]]
        assert [c[3:5] for c in berth_calls] == commands, job_name
        for call in berth_calls:
            assert "--ambient-credentials" in call, call
            assert "--role-arn" not in call, call


# ---- publish-images ----


def test_images_publisher_runs_on_main_app_and_tag_changes(images: dict[str, Any]) -> None:
    triggers = _triggers(images)
    assert triggers["push"]["branches"] == ["main"]
    assert set(triggers["push"]["paths"]) == {"apps/**", f"environments/{IMAGES_ENV}.yaml"}
    assert "workflow_dispatch" in triggers
    assert "pull_request" not in triggers
    assert images["concurrency"]["cancel-in-progress"] is False


def test_images_job_assumes_the_image_publisher_role_without_an_environment(
    images: dict[str, Any],
) -> None:
    (job,) = _role_jobs(images).values()
    (step,) = _aws_steps(job)
    assert _variable(step["with"]["role-to-assume"]) == IMAGE_PUBLISHER_OUTPUT.upper()
    # Trusted for the chart publisher's subject, `ref:refs/heads/main`: no environment.
    assert "environment" not in job
    assert job["if"] == "github.ref == 'refs/heads/main'"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert IMAGE_PUBLISHER_OUTPUT in (EXAMPLES / "publish-images.yaml").read_text(encoding="utf-8")


def test_images_job_builds_every_app_from_its_dockerfile(images: dict[str, Any]) -> None:
    (job,) = images["jobs"].values()
    include = job["strategy"]["matrix"]["include"]
    assert [entry["image"] for entry in include] == list(APP_IMAGES)
    for entry in include:
        assert entry["context"] == f"apps/{entry['image'].replace('-', '_')}"
        assert (PROJECT / entry["context"] / "Dockerfile").is_file(), entry


def test_images_job_logs_in_then_asks_ecr_before_building_and_pushing(
    images: dict[str, Any],
) -> None:
    (job,) = images["jobs"].values()
    steps = _steps(job)

    def index(predicate: Any) -> int:
        (found,) = [i for i, step in enumerate(steps) if predicate(step)]
        return found

    assume = index(lambda s: str(s.get("uses", "")).startswith(CONFIGURE_AWS))
    login = index(lambda s: str(s.get("uses", "")).startswith(ECR_LOGIN))
    check = index(lambda s: "aws ecr batch-get-image" in str(s.get("run", "")))
    build = index(lambda s: "docker build" in str(s.get("run", "")))
    push = index(lambda s: "docker push" in str(s.get("run", "")))
    assert assume < login < check < build < push
    # Build and push only when the tag is absent: ECR tags are immutable.
    existing = steps[check]["id"]
    for step in (steps[build], steps[push]):
        assert step["if"] == f"steps.{existing}.outputs.exists == 'false'"


def test_images_job_pushes_only_the_file_tag_never_latest(images: dict[str, Any]) -> None:
    (job_name,) = images["jobs"]
    text = (EXAMPLES / "publish-images.yaml").read_text(encoding="utf-8")
    assert ":latest" not in text
    docker = [c for c in _calls(images, job_name) if c[0] == "docker"]
    built = [c[c.index("--tag") + 1] for c in docker if c[1] == "build"]
    pushed = [c[2] for c in docker if c[1] == "push"]
    # One reference, built and pushed: the registry, the app's repository, the file's tag.
    tag = "${{ steps.release.outputs.tag }}"
    reference = (
        f"${{{{ steps.ecr.outputs.registry }}}}/${{{{ steps.release.outputs.repository }}}}:{tag}"
    )
    assert built == [reference]
    assert pushed == [reference]
    (release,) = [s for s in _steps(images["jobs"][job_name]) if s.get("id") == "release"]
    assert "yq -e '.images.tag' \"$ENV_FILE\"" in release["run"]
    assert images["jobs"][job_name]["env"]["ENV_FILE"] == f"environments/{IMAGES_ENV}.yaml"


def test_the_file_names_the_tag_the_stack_deploys() -> None:
    # The job reads the raw field (and fails without it); the stack deploys the loaded value.
    raw = yaml.safe_load((PROJECT / "environments" / f"{IMAGES_ENV}.yaml").read_text())
    environment = load_environment(IMAGES_ENV)
    assert environment.images is not None
    assert raw["images"]["tag"] == environment.images.tag
    assert raw["name_prefix"] == environment.name_prefix


# ---- deploy: roles and environments ----


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
    assert set(plan["strategy"]["matrix"]["environment"]) == {e.name for e in _real_environments()}
    assert plan["environment"] == "${{ matrix.environment }}"
    assert 'pipenv run berth review "$BERTH_ENV"' in _runs(plan)
    assert "gh pr comment" in _runs(plan)
    assert plan["permissions"]["pull-requests"] == "write"
    assert "cdktf deploy" not in _runs(plan)
    (upload,) = [
        s for s in _steps(plan) if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert "cdktf.out/review/${{ matrix.environment }}.md" in upload["with"]["path"]


@pytest.mark.parametrize("environment", [e.name for e in _real_environments()])
def test_pull_requests_plan_every_stack_of_the_environment(
    deploy: dict[str, Any], environment: str
) -> None:
    calls = _calls(deploy, "plan", {"matrix.environment": environment})
    assert _diffed_stacks(calls) == list(load_environment(environment).stack_names)


def test_prod_review_plans_every_stack_of_prod(deploy: dict[str, Any]) -> None:
    calls = _calls(deploy, "review-prod")
    assert _diffed_stacks(calls) == list(load_environment("prod").stack_names)


def test_uat_deploys_on_main_after_its_review(deploy: dict[str, Any]) -> None:
    job = deploy["jobs"]["deploy-uat"]
    assert job["if"] == "github.event_name == 'push'"
    assert job["environment"] == "uat"
    calls = _calls(deploy, "deploy-uat")
    review = calls.index(["pipenv", "run", "berth", "review", "uat"])
    first_deploy = calls.index(_deploys(calls)[0])
    assert review < first_deploy
    assert _triggers(deploy)["push"]["branches"] == ["main"]


def test_prod_deploys_only_behind_the_prod_environment_after_its_review(
    deploy: dict[str, Any],
) -> None:
    review = deploy["jobs"]["review-prod"]
    assert review["environment"] == "prod"
    assert review["needs"] == "deploy-uat"
    assert ["pipenv", "run", "berth", "review", "prod"] in _calls(deploy, "review-prod")
    (upload,) = [
        s for s in _steps(review) if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert "cdktf.out/review/prod.md" in upload["with"]["path"]
    assert "plan-prod*.txt" in upload["with"]["path"]
    assert "cdktf deploy" not in _runs(review)

    deploy_prod = deploy["jobs"]["deploy-prod"]
    assert deploy_prod["environment"] == "prod"
    assert deploy_prod["needs"] == "review-prod"
    assert _deploys(_calls(deploy, "deploy-prod"))


def test_only_environment_jobs_deploy_and_only_their_own_stacks(deploy: dict[str, Any]) -> None:
    for job_name, job in deploy["jobs"].items():
        deploys = _deploys(_calls(deploy, job_name))
        if job_name not in DEPLOY_JOBS:
            assert not deploys, job_name
            continue
        own = set(load_environment(job["environment"]).stack_names)
        for call in deploys:
            assert set(_stacks_of(call)) <= own, (job_name, call)


def test_every_job_on_one_environment_shares_its_concurrency_group(deploy: dict[str, Any]) -> None:
    for job_name, job in deploy["jobs"].items():
        group = job["concurrency"]["group"]
        assert group == f"terraform-{job['environment']}", job_name
        assert job["concurrency"]["cancel-in-progress"] is False, job_name


# ---- deploy: the order of the steps ----


@pytest.mark.parametrize(("job_name", "environment"), DEPLOY_JOBS.items())
def test_every_stack_is_deployed_after_its_preflight_in_order_workloads_last(
    deploy: dict[str, Any], job_name: str, environment: str
) -> None:
    stacks = load_environment(environment).stacks
    calls = _calls(deploy, job_name)
    sequence = [
        ("preflight", c[c.index("--step") + 1]) if c[1] == "run" else ("deploy", *_stacks_of(c))
        for c in calls
        if c in _preflights(calls) or c in _deploys(calls)
    ]
    # STEPS and StackNames.all are both in deploy order: account, cluster, workloads.
    expected: list[tuple[str, ...]] = []
    for step, stack in zip(STEPS, stacks.all, strict=True):
        expected += [("preflight", step), ("deploy", stack)]
    assert sequence == expected
    assert sequence[-1] == ("deploy", stacks.workloads)
    for call in _preflights(calls):
        assert call[4] == environment, call


@pytest.mark.parametrize(("job_name", "environment"), DEPLOY_JOBS.items())
def test_preflights_check_as_the_deploy_role(
    deploy: dict[str, Any], job_name: str, environment: str
) -> None:
    # The deployer may only assume the deploy role; berth's default is to assume it.
    for call in _preflights(_calls(deploy, job_name)):
        assert "--ambient-credentials" not in call, call
        assert "--role-arn" not in call, call


@pytest.mark.parametrize(("job_name", "environment"), DEPLOY_JOBS.items())
def test_a_stack_deployed_without_its_dependencies_follows_them(
    deploy: dict[str, Any], job_name: str, environment: str
) -> None:
    # cdktf refuses to deploy a stack whose dependencies are not in the same command unless told
    # to; the flag is only right where those dependencies were deployed earlier in the job.
    order = load_environment(environment).stacks.all
    deployed: list[str] = []
    for call in _deploys(_calls(deploy, job_name)):
        stacks = _stacks_of(call)
        missing = {d for s in stacks for d in order[: order.index(s)] if d not in stacks}
        if missing:
            assert IGNORE_MISSING_DEPENDENCIES in call, call
            assert missing <= set(deployed), call
        deployed += stacks
    assert deployed == list(order)


# ---- running the jobs' scripts ----


def _workspace(tmp_path: Path) -> Path:
    """A checkout: the environment files and the apps, as actions/checkout leaves them."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copytree(PROJECT / "environments", workspace / "environments")
    (workspace / "apps").symlink_to(PROJECT / "apps")
    return workspace


def _run_deploy(
    deploy: dict[str, Any], job_name: str, tmp_path: Path, failing: str = ""
) -> tuple[JobResult, list[list[str]]]:
    log = tmp_path / "calls.log"
    result = run_job(
        deploy,
        job_name,
        workspace=_workspace(tmp_path),
        context={"github.run_id": "1"},
        path_prefix=fake_tools.install(tmp_path / "bin"),
        extra_env={"FAKE_LOG": str(log), "FAKE_PREFLIGHT_FAILS": failing},
    )
    return result, fake_tools.read_log(log)


@pytest.mark.parametrize(("job_name", "environment"), DEPLOY_JOBS.items())
def test_a_failing_workloads_preflight_fails_the_job_before_that_deploy_with_its_lines(
    deploy: dict[str, Any], job_name: str, environment: str, tmp_path: Path
) -> None:
    stacks = load_environment(environment).stacks
    result, calls = _run_deploy(deploy, job_name, tmp_path, failing="workloads")
    assert result.failed
    deployed = [_stacks_of(c) for c in _deploys(calls)]
    assert deployed == [[stacks.account], [stacks.cluster]]
    assert calls[-1][:6] == ["pipenv", "run", "berth", "preflight", environment, "--step"]
    assert result.outcome(f"cdktf deploy {stacks.workloads}") == "skipped"
    # The preflight's lines, each naming what is missing, in the log and the job summary.
    failed_line = f"FAIL  workloads fake check of {environment}: missing: provide it"
    assert failed_line in result.output
    assert failed_line in result.summary
    assert f"berth preflight {environment} --step workloads" in result.summary


@pytest.mark.parametrize(("job_name", "environment"), DEPLOY_JOBS.items())
def test_a_deploy_with_every_precondition_met_deploys_all_stacks(
    deploy: dict[str, Any], job_name: str, environment: str, tmp_path: Path
) -> None:
    result, calls = _run_deploy(deploy, job_name, tmp_path)
    assert not result.failed, result.output
    deployed = [s for c in _deploys(calls) for s in _stacks_of(c)]
    assert deployed == list(load_environment(environment).stack_names)
    for step in STEPS:
        assert f"berth preflight {environment} --step {step}" in result.summary


REGISTRY = "111111111111.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.fixture
def ecr(aws_session: boto3.Session) -> Any:
    """moto's ECR with the environment's repositories, immutable as the stack creates them."""
    client = aws_session.client("ecr")
    environment = load_environment(IMAGES_ENV)
    for app in APP_IMAGES:
        name = image_repository_name(environment.name_prefix, app)
        with contextlib.suppress(client.exceptions.RepositoryNotFoundException):
            client.delete_repository(repositoryName=name, force=True)
        client.create_repository(repositoryName=name, imageTagMutability="IMMUTABLE")
    return client


def _run_images(
    images: dict[str, Any],
    tmp_path: Path,
    app: str,
    moto_endpoint: str,
    workspace: Path,
    **env: str,
) -> tuple[JobResult, list[list[str]]]:
    (job_name,) = images["jobs"]
    include = images["jobs"][job_name]["strategy"]["matrix"]["include"]
    (entry,) = [e for e in include if e["image"] == app]
    log = tmp_path / "calls.log"
    result = run_job(
        images,
        job_name,
        workspace=workspace,
        context={
            "matrix.image": entry["image"],
            "matrix.context": entry["context"],
        },
        path_prefix=fake_tools.install(tmp_path / "bin"),
        # What configure-aws-credentials and amazon-ecr-login leave for later steps.
        uses_outputs={"ecr": {"registry": REGISTRY}},
        extra_env={
            "FAKE_LOG": str(log),
            "AWS_ENDPOINT_URL": moto_endpoint,
            "AWS_REGION": "eu-west-1",
            "AWS_DEFAULT_REGION": "eu-west-1",
            **EMULATOR_CREDENTIALS,
            **env,
        },
    )
    return result, fake_tools.read_log(log)


def _set_images(workspace: Path, images_block: dict[str, str]) -> None:
    env_file = workspace / "environments" / f"{IMAGES_ENV}.yaml"
    document = yaml.safe_load(env_file.read_text())
    document["images"] = images_block
    env_file.write_text(yaml.safe_dump(document))


needs_jq = pytest.mark.skipif(
    shutil.which("jq") is None, reason="the image job's script uses jq (on GitHub's runners)"
)


@needs_jq
@pytest.mark.parametrize("app", APP_IMAGES)
def test_images_job_pushes_the_file_tag_once_then_skips_it(
    images: dict[str, Any], ecr: Any, moto_endpoint: str, tmp_path: Path, app: str
) -> None:
    environment = load_environment(IMAGES_ENV)
    repository = image_repository_name(environment.name_prefix, app)
    workspace = _workspace(tmp_path)
    # A release tag of the checkout's file, unlike any the project's files name.
    tag = "9.8.7-rc1"
    _set_images(workspace, {"tag": tag})

    first, calls = _run_images(images, tmp_path / "first", app, moto_endpoint, workspace)
    assert not first.failed, first.output
    pushes = [c for c in calls if c[:2] == ["docker", "push"]]
    assert pushes == [["docker", "push", f"{REGISTRY}/{repository}:{tag}"]]
    found = ecr.describe_images(repositoryName=repository)["imageDetails"]
    assert [d["imageTags"] for d in found] == [[tag]]

    second, calls = _run_images(images, tmp_path / "second", app, moto_endpoint, workspace)
    assert not second.failed, second.output
    assert not [c for c in calls if c[0] == "docker"]
    assert second.outcome("Build") == "skipped"
    assert second.outcome("Push") == "skipped"
    assert f"{repository}:{tag} is already in ECR" in second.output


@needs_jq
@pytest.mark.usefixtures("ecr")
@pytest.mark.parametrize(
    ("images_block", "message"),
    [
        ({"tag": "latest"}, "images.tag: 'latest' moves"),
        ({}, "images.tag: not set"),
    ],
)
def test_images_job_refuses_latest_and_a_missing_tag(
    images: dict[str, Any],
    moto_endpoint: str,
    tmp_path: Path,
    images_block: dict[str, str],
    message: str,
) -> None:
    workspace = _workspace(tmp_path)
    _set_images(workspace, images_block)

    result, calls = _run_images(images, tmp_path, "s3proxy", moto_endpoint, workspace)
    assert result.failed
    assert f"file=environments/{IMAGES_ENV}.yaml::{message}" in result.output
    assert not [c for c in calls if c[0] in ("aws", "docker")]


@needs_jq
def test_images_job_stops_when_ecr_cannot_answer(
    images: dict[str, Any], ecr: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    environment = load_environment(IMAGES_ENV)
    repository = image_repository_name(environment.name_prefix, "s3proxy")
    ecr.delete_repository(repositoryName=repository, force=True)

    result, calls = _run_images(images, tmp_path, "s3proxy", moto_endpoint, _workspace(tmp_path))
    assert result.failed
    assert "RepositoryNotFoundException" in result.output
    assert not [c for c in calls if c[0] == "docker"]


@needs_jq
def test_images_job_stops_on_any_ecr_failure_but_image_not_found(
    images: dict[str, Any], ecr: Any, moto_endpoint: str, tmp_path: Path
) -> None:
    # Only ImageNotFound means "absent"; KmsError (say) must not lead to a build and a push.
    result, calls = _run_images(
        images,
        tmp_path,
        "s3proxy",
        moto_endpoint,
        _workspace(tmp_path),
        FAKE_ECR_FAILURE="KmsError",
    )
    assert result.failed
    assert "ECR answered neither the image nor ImageNotFound (KmsError)" in result.output
    assert not [c for c in calls if c[0] == "docker"]
