"""The refresher chart's ValidatingAdmissionPolicy: rendered, bound, and its CEL evaluated.

RBAC cannot limit `create` on secrets by name, so the policy is what keeps the refresher from
creating any Secret but its own (a service-account token Secret, above all). No API server runs
here, so the rendered expressions are compiled and evaluated with cel-python (`celpy`, a pure
Python CEL implementation) against admission requests as the API server builds them: the
policy's `matchConditions` decide whether it applies, its `variables` are bound, then every
`validations` expression must be true. Kubernetes adds CEL libraries of its own (lists, regex,
URLs, quantities); the expressions here use only standard CEL (`in`, `has`, `==`, `&&`), so
celpy evaluates what the API server would.
https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

from berth import helm_sdk

CHART = Path(__file__).resolve().parents[2] / "charts" / "ecr-credential-refresher"
RELEASE, NAMESPACE = "ecr", "ecr-system"
REFRESHER = f"system:serviceaccount:{NAMESPACE}:ecr-ecr-credential-refresher"
SCENARIOS = sorted(
    p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml")
)
DOCKER = "kubernetes.io/dockerconfigjson"
BASIC_AUTH = "kubernetes.io/basic-auth"
TOKEN = "kubernetes.io/service-account-token"


def ci_values(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text()))


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    return helm_sdk.render(CHART, values, release_name=RELEASE, namespace=NAMESPACE)


def policy_of(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    [policy] = [m for m in manifests if m["kind"] == "ValidatingAdmissionPolicy"]
    return policy


class Policy:
    """A rendered policy, compiled with celpy, that answers admission requests."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.spec = manifest["spec"]
        self.env = celpy.Environment()

    def _evaluate(self, expression: str, activation: dict[str, Any]) -> Any:
        program = self.env.program(self.env.compile(expression))
        return program.evaluate(activation)

    def _holds(self, expression: str, activation: dict[str, Any]) -> bool:
        """True only for a boolean true: an evaluation error denies (failurePolicy Fail)."""
        result = self._evaluate(expression, activation)
        return isinstance(result, celpy.celtypes.BoolType) and bool(result)

    def admits(self, *, user: str, namespace: str, obj: dict[str, Any]) -> bool:
        """What the API server answers a CREATE of `obj` in `namespace` by `user`."""
        request = {
            "operation": "CREATE",
            "namespace": namespace,
            "userInfo": {"username": user},
            "resource": {"group": "", "version": "v1", "resource": "secrets"},
        }
        activation: dict[str, Any] = {
            "request": celpy.json_to_cel(request),
            "object": celpy.json_to_cel(obj),
        }
        for condition in self.spec.get("matchConditions", []):
            result = self._evaluate(condition["expression"], activation)
            if isinstance(result, celpy.CELEvalError):
                return False  # failurePolicy Fail
            if not bool(result):
                return True  # the policy does not apply to this request
        variables = {
            variable["name"]: self._evaluate(variable["expression"], activation)
            for variable in self.spec.get("variables", [])
        }
        activation["variables"] = celpy.celtypes.MapType(
            {celpy.celtypes.StringType(k): v for k, v in variables.items()}
        )
        return all(
            self._holds(validation["expression"], activation)
            for validation in self.spec["validations"]
        )


def secret(name: str | None, kind: str, namespace: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"namespace": namespace}
    if name is None:
        metadata["generateName"] = "tok-"
    else:
        metadata["name"] = name
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": kind, "data": {}}


@pytest.fixture(scope="module", params=SCENARIOS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(ci_values(request.param))


def test_on_by_default_and_bound_to_deny(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, manifests = rendered
    policy = policy_of(manifests)
    [binding] = [m for m in manifests if m["kind"] == "ValidatingAdmissionPolicyBinding"]
    assert policy["apiVersion"] == binding["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert binding["spec"] == {
        "policyName": policy["metadata"]["name"],
        "validationActions": ["Deny"],
    }
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["secrets"],
        }
    ]


def test_the_policy_and_binding_name_the_release_and_its_namespace() -> None:
    name = policy_of(render(ci_values("default")))["metadata"]["name"]
    assert name == f"ecr-ecr-credential-refresher.{NAMESPACE}.ecr-credential-refresher.berth.dev"


def test_it_can_be_turned_off() -> None:
    values = copy.deepcopy(ci_values("default"))
    values["admissionPolicy"] = {"enabled": False}
    kinds = {m["kind"] for m in render(values)}
    assert not {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} & kinds


def test_the_refresher_may_create_its_pull_secret_and_nothing_else() -> None:
    policy = Policy(policy_of(render(ci_values("selector"))))

    def admits(obj: dict[str, Any], user: str = REFRESHER) -> bool:
        return policy.admits(user=user, namespace=obj["metadata"]["namespace"], obj=obj)

    assert admits(secret("ecr-pull", DOCKER, "team-a"))
    # The hole RBAC leaves: a token Secret for any ServiceAccount, which it could then read.
    assert not admits(secret("ecr-pull-token", TOKEN, "team-a"))
    assert not admits(secret("ecr-pull", TOKEN, "team-a"))
    assert not admits(secret("ecr-pull", "Opaque", "team-a"))
    assert not admits(secret("other", DOCKER, "team-a"))
    assert not admits(secret(None, DOCKER, "team-a"))  # generateName: no name of its own
    # The builder secret is not its own in a release without the builder.
    assert not admits(secret("ecr-creds", BASIC_AUTH, "team-a"))
    # Anyone else (an operator, another controller) is not matched at all.
    assert admits(secret("anything", TOKEN, "team-a"), user="system:serviceaccount:x:y")
    assert admits(secret("anything", TOKEN, "team-a"), user="admin")


def test_with_the_builder_its_basic_auth_secret_is_allowed_with_its_type() -> None:
    policy = Policy(policy_of(render(ci_values("builder"))))

    def admits(name: str, kind: str, namespace: str = "builds") -> bool:
        return policy.admits(user=REFRESHER, namespace=namespace, obj=secret(name, kind, namespace))

    assert admits("ecr-pull", DOCKER)
    assert admits("ecr-creds", BASIC_AUTH)
    assert not admits("ecr-creds", DOCKER)
    assert not admits("ecr-pull", BASIC_AUTH)


def test_with_listed_namespaces_it_writes_only_there() -> None:
    policy = Policy(policy_of(render(ci_values("list"))))

    def admits(namespace: str) -> bool:
        obj = secret("ecr-pull", DOCKER, namespace)
        return policy.admits(user=REFRESHER, namespace=namespace, obj=obj)

    assert admits("team-a") and admits("team-b")
    assert not admits("kube-system")
    assert not admits(NAMESPACE)


def test_the_build_release_matches_its_own_service_account_and_names() -> None:
    policy = Policy(policy_of(render(ci_values("external"))))
    builder = f"system:serviceaccount:{NAMESPACE}:ecr-build-credentials"

    def admits(name: str, kind: str, user: str = builder) -> bool:
        return policy.admits(user=user, namespace="builds", obj=secret(name, kind, "builds"))

    assert admits("ecr-build-pull", DOCKER)
    assert admits("ecr-push", BASIC_AUTH)
    assert not admits("ecr-pull", DOCKER)
    assert not admits("builder-token", TOKEN)
    # Another release's refresher is not this policy's business.
    assert admits("builder-token", TOKEN, user=REFRESHER)


def test_a_refused_write_says_which_secrets_are_allowed() -> None:
    spec = policy_of(render(ci_values("builder")))["spec"]
    messages = [validation["message"] for validation in spec["validations"]]
    assert messages[0] == (
        "the ECR credential refresher may write only its own Secrets:"
        f" ecr-creds ({BASIC_AUTH}), ecr-pull ({DOCKER})"
    )
    assert all(validation["reason"] == "Forbidden" for validation in spec["validations"])
