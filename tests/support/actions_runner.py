"""Run the `run:` steps of one GitHub Actions job here, as the runner does, to test their scripts.

Only what the example workflows use, following GitHub's documented behaviour:
- `shell: bash` (the step's, the job's or the workflow's `defaults.run.shell`) runs
  `bash --noprofile --norc -eo pipefail {0}`; no shell at all runs `bash -e {0}` (no pipefail);
- env is the workflow's, then the job's, then the step's; `${{ ... }}` in an env value is
  resolved from the context the test gives (`matrix.*`, `vars.*`, `github.*`) and from the
  job so far (`env.*`, `steps.<id>.outputs.*`, `steps.<id>.outcome`); anything else is an error;
- `$GITHUB_OUTPUT` (name=value and name<<DELIMITER lines) becomes `steps.<id>.outputs`,
  `$GITHUB_STEP_SUMMARY` is collected;
- `if:` is `success()` unless given; terms joined by `&&`: `success()`, `failure()`,
  `always()`, `!cancelled()`, `<context> == '<value>'`;
- a failed step fails the job; later steps run only if their `if:` says so.

`uses:` steps are not run: they succeed with the outputs the test gives (by step id).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_COMPARISON = re.compile(r"^([\w.-]+)\s*==\s*'([^']*)'$")
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
DEFAULT_SHELL = ["bash", "-e"]


@dataclass
class StepResult:
    name: str
    outcome: str  # success | failure | skipped
    output: str = ""


@dataclass
class JobResult:
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""

    @property
    def failed(self) -> bool:
        return any(step.outcome == "failure" for step in self.steps)

    @property
    def output(self) -> str:
        return "".join(step.output for step in self.steps)

    def outcome(self, name: str) -> str:
        (step,) = [s for s in self.steps if s.name == name]
        return step.outcome


class _Job:
    def __init__(
        self,
        context: Mapping[str, str],
        uses_outputs: Mapping[str, Mapping[str, str]],
    ) -> None:
        self.context = dict(context)
        self.uses_outputs = uses_outputs
        self.outputs: dict[str, dict[str, str]] = {}
        self.outcomes: dict[str, str] = {}
        self.failed = False

    def lookup(self, name: str) -> str:
        if name in self.context:
            return self.context[name]
        parts = name.split(".")
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.outputs.get(parts[1], {}).get(parts[3], "")
        if parts[0] == "steps" and len(parts) == 3 and parts[2] == "outcome":
            return self.outcomes.get(parts[1], "")
        raise KeyError(f"the test gave no value for `{name}`")

    def resolve(self, text: str) -> str:
        return _EXPRESSION.sub(lambda match: self.lookup(match.group(1)), text)

    def should_run(self, condition: Any) -> bool:
        if condition is None:
            return not self.failed
        expression = str(condition).strip()
        inner = _EXPRESSION.fullmatch(expression)
        if inner:
            expression = inner.group(1)
        return all(self._term(term.strip()) for term in expression.split("&&"))

    def _term(self, term: str) -> bool:
        if term in ("always()", "!cancelled()"):
            return True
        if term == "success()":
            return not self.failed
        if term == "failure()":
            return self.failed
        match = _COMPARISON.match(term)
        if match is None:
            raise ValueError(f"if: {term!r} is not an expression this runner knows")
        return self.lookup(match.group(1)) == match.group(2)


def _read_outputs(path: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    index = 0
    while index < len(lines):
        line = lines[index]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, index + 1)
            outputs[name] = "\n".join(lines[index + 1 : end])
            index = end + 1
            continue
        name, _, value = line.partition("=")
        outputs[name] = value
        index += 1
    return outputs


def run_job(
    workflow: Mapping[str, Any],
    job_name: str,
    *,
    workspace: Path,
    context: Mapping[str, str],
    path_prefix: Path,
    uses_outputs: Mapping[str, Mapping[str, str]] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> JobResult:
    """Run `job_name`'s steps in `workspace` with the tools in `path_prefix` first on PATH."""
    workflow_job = workflow["jobs"][job_name]
    job = _Job(context, uses_outputs or {})
    runner_temp = workspace / ".runner"
    runner_temp.mkdir(exist_ok=True)
    summary = runner_temp / "step_summary.md"
    summary.touch()
    env: dict[str, str] = {
        "PATH": f"{path_prefix}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(runner_temp),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "GITHUB_WORKSPACE": str(workspace),
        **dict(extra_env or {}),
    }
    for scope in (workflow.get("env", {}), workflow_job.get("env", {})):
        for name, value in scope.items():
            env[name] = job.resolve(str(value))
            job.context[f"env.{name}"] = env[name]
    default_shell = workflow_job.get("defaults", workflow.get("defaults", {})).get("run", {})
    result = JobResult()
    for number, step in enumerate(workflow_job["steps"]):
        name = str(step.get("name") or step.get("uses") or f"step {number}")
        step_id = step.get("id")
        if not job.should_run(step.get("if")):
            outcome, output = "skipped", ""
        elif "uses" in step:
            outcome, output = "success", ""
            if step_id:
                job.outputs[step_id] = dict(job.uses_outputs.get(step_id, {}))
        else:
            outputs_file = runner_temp / f"output-{number}"
            step_env = {
                **env,
                **{key: job.resolve(str(value)) for key, value in step.get("env", {}).items()},
                "GITHUB_OUTPUT": str(outputs_file),
            }
            script = runner_temp / f"step-{number}.sh"
            script.write_text(str(step["run"]), encoding="utf-8")
            shell = step.get("shell", default_shell.get("shell"))
            if shell not in (None, "bash"):
                raise ValueError(f"{name}: shell {shell!r} is not one this runner knows")
            completed = subprocess.run(
                [*(BASH if shell == "bash" else DEFAULT_SHELL), str(script)],
                cwd=workspace,
                env=step_env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            outcome = "success" if completed.returncode == 0 else "failure"
            output = completed.stdout + completed.stderr
            if step_id:
                job.outputs[step_id] = _read_outputs(outputs_file)
        if step_id:
            job.outcomes[step_id] = outcome
        if outcome == "failure":
            job.failed = True
        result.steps.append(StepResult(name, outcome, output))
    result.summary = summary.read_text(encoding="utf-8")
    return result
