"""`berth preflight ENV`: is everything a deploy step waits for in place? Checked before the step.

A first deploy of an environment with a cluster is three steps (`stacks/__init__.py`); each
waits for things that Terraform does not create. Planning stops on some of them by itself (the
looked-up roles, images and OIDC provider); the others only fail after minutes, as a Helm
timeout and a rollback. This command checks all of them, as the deploy role (or `--role-arn`),
and names what is missing and how to provide it:

- account (`cdktf deploy ENV`): the deploy role can be assumed; the state bucket exists and is
  versioned; the cluster's IAM OIDC provider exists (unless the stack creates it); the GitHub
  OIDC provider the file names; this account's roles the file names; the cluster's state (when
  the file reads cluster facts from it) with the file's OIDC issuer.
- cluster (`cdktf deploy ENV-cluster`): the account stack's workload roles (or, for a cluster
  outside EKS, the refresher's roles or IAM users) exist; the cluster reports the file's OIDC
  issuer; the exec plugin's variables are set; its Kubernetes API answers.
- workloads (`cdktf deploy ENV-workloads`): the namespaces exist; the images are in ECR with
  the file's tag; the secret has a value and AppConfig serves that value; the htpasswd and TLS
  Secrets the file names exist; outside EKS, each refresher user's key is in its Secret (`berth
  refresher rotate-key`), the refresher image's own pull secret exists, and the namespaces the
  refresher writes into exist.

Exit status 1 when any check fails. The Kubernetes API is reached as the providers reach it (the
cluster's endpoint and CA, a token from `aws eks get-token` as the deploy role; outside EKS the
file's kubeconfig context or exec plugin) unless `--kubeconfig` names another way.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.aws import CredentialsError
from berth_core.config import Environment
from berth_core.naming import ECR_PULL_SECRET, image_repository_name, secret_app_config_names

if TYPE_CHECKING:
    import boto3

STEPS = ("account", "cluster", "workloads")
# The key the s3proxy chart reads from an existing htpasswd Secret.
HTPASSWD_KEY = "htpasswd"
# The key the refresher chart mounts from its credentials Secret (berth.refresher_keys).
CREDENTIALS_KEY = "credentials"
POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"


@dataclass(frozen=True)
class Check:
    """One precondition: what it is, whether it holds, and what was found or must be done."""

    step: str
    subject: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.step:<9} {self.subject}: {self.detail}"


class _Failed(Exception):
    """A check's precondition does not hold; the message says what to do."""


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(error).__name__))


class Preflight:
    """The checks of one environment, sharing one AWS session and one Kubernetes client."""

    def __init__(
        self,
        environment: Environment,
        session: Callable[[], boto3.Session],
        kube: Callable[[], Any],
    ) -> None:
        self.environment = environment
        self._session_factory = session
        self._session: boto3.Session | None = None
        self._kube_factory = kube
        self._kube: Any = None

    # ---- access ----

    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = self._session_factory()
        return self._session

    def client(self, service: str) -> Any:
        return self.session().client(service)

    def core_v1(self) -> Any:
        from kubernetes import client

        if self._kube is None:
            self._kube = self._kube_factory()
        return client.CoreV1Api(self._kube)

    # ---- running ----

    def run(self, steps: Sequence[str]) -> list[Check]:
        checks: list[Check] = []
        for step in steps:
            for subject, check in self._checks(step):
                try:
                    detail = check()
                    checks.append(Check(step, subject, True, detail))
                except _Failed as failure:
                    checks.append(Check(step, subject, False, str(failure)))
                except CredentialsError as error:
                    checks.append(Check(step, subject, False, str(error)))
        return checks

    def _checks(self, step: str) -> Iterator[tuple[str, Callable[[], str]]]:
        steps = {
            "account": self._account_checks,
            "cluster": self._cluster_checks,
            "workloads": self._workload_checks,
        }
        if step not in steps:
            raise ValueError(f"step: {step!r} must be one of {', '.join(STEPS)}")
        return steps[step]()

    def _account_checks(self) -> Iterator[tuple[str, Callable[[], str]]]:
        environment = self.environment
        if environment.deploy_role is not None:
            yield f"deploy role {environment.deploy_role.role_arn}", self._deploy_role
        if environment.state_backend is not None:
            yield f"state bucket {environment.state_backend.bucket}", self._state_bucket
        cluster = environment.cluster
        if cluster is not None and cluster.oidc_provider == "lookup":
            yield f"IAM OIDC provider of {cluster.oidc_issuer_url}", self._cluster_oidc_provider
        external = environment.external_cluster
        if external is not None and external.oidc_issuer_url and external.oidc_provider == "lookup":
            yield f"IAM OIDC provider of {external.oidc_issuer_url}", self._cluster_oidc_provider
        if environment.ci is not None and environment.ci.oidc_provider_arn:
            arn = environment.ci.oidc_provider_arn
            yield f"GitHub OIDC provider {arn}", partial(self._oidc_provider, arn)
        for role in environment.named_roles:
            yield f"role {role}", partial(self._role, role)
        if cluster is not None and cluster.remote_state is not None:
            state = cluster.remote_state
            yield f"cluster state s3://{state.bucket}/{state.key}", self._cluster_state

    def _cluster_checks(self) -> Iterator[tuple[str, Callable[[], str]]]:
        environment = self.environment
        for identity in (environment.otel_agent_identity, environment.s3_proxy_identity):
            if identity is not None:
                yield (
                    f"role {identity.role_name}",
                    partial(self._role_named, identity.role_name),
                )
        refresher = environment.ecr_refresher
        for release in environment.credentials_releases:
            assert refresher is not None
            if refresher.identity == "web_identity":
                yield f"role {release.iam_name}", partial(self._role_named, release.iam_name)
            else:
                yield f"IAM user {release.iam_name}", partial(self._user_named, release.iam_name)
        if environment.cluster is not None and environment.cluster.facts_source == "eks_api":
            yield f"EKS cluster {environment.cluster.name}", self._eks_cluster
        external = environment.external_cluster
        if external is not None and external.exec is not None:
            for name in external.exec.env:
                yield f"exec plugin variable {name}", partial(self._variable_set, name)
        if environment.has_cluster:
            yield "Kubernetes API", self._kubernetes_api

    def _workload_checks(self) -> Iterator[tuple[str, Callable[[], str]]]:
        environment = self.environment
        for namespace in environment.workload_namespaces:
            yield f"namespace {namespace}", partial(self._namespace, namespace)
        for app in self._workload_images():
            repository = image_repository_name(environment.name_prefix, app)
            yield f"image {repository}", partial(self._image, app)
        if environment.otel_agent_identity is not None:
            yield "secret value", self._secret_rollout
        proxy = environment.s3_proxy
        if proxy is not None:
            yield (
                f"Secret {proxy.namespace}/{proxy.htpasswd_secret_name}",
                self._htpasswd_secret,
            )
            if proxy.tls_secret_name:
                yield (
                    f"Secret {proxy.namespace}/{proxy.tls_secret_name}",
                    partial(self._tls_secret, proxy.tls_secret_name),
                )
        yield from self._refresher_checks()

    def _refresher_checks(self) -> Iterator[tuple[str, Callable[[], str]]]:
        environment = self.environment
        refresher = environment.ecr_refresher
        if refresher is None:
            return
        namespace = refresher.namespace
        yield (
            f"Secret {namespace}/{ECR_PULL_SECRET} (the refresher image's pull secret)",
            self._bootstrap_pull_secret,
        )
        if refresher.identity == "iam_user":
            for release in environment.credentials_releases:
                yield (
                    f"Secret {namespace}/{release.credentials_secret}",
                    partial(self._credentials_secret, release.credentials_secret),
                )
        listed = [n for n in refresher.pull_secret_namespaces.namespaces if n != namespace]
        if refresher.builds is not None:
            listed += [n for n in refresher.builds.namespaces if n not in listed]
        for target in listed:
            yield f"namespace {target} (refresher target)", partial(self._target_namespace, target)

    # ---- account ----

    def _deploy_role(self) -> str:
        self.session()  # assumes the role: fails with CredentialsError naming it
        name = self.environment.deploy_role_name
        assert name is not None
        self._role_named(name)
        return "assumed"

    def _state_bucket(self) -> str:
        backend = self.environment.state_backend
        assert backend is not None
        s3 = self.session().client("s3", region_name=backend.region)
        try:
            s3.head_bucket(Bucket=backend.bucket)
            status = s3.get_bucket_versioning(Bucket=backend.bucket).get("Status")
        except Exception as error:
            raise _Failed(
                f"{_error_code(error)}: create it (README, bootstrap step 1) and let the deploy"
                " role read and write it"
            ) from None
        if status != "Enabled":
            raise _Failed(
                "versioning is off: enable it, so a bad apply never loses the state"
                " (README, bootstrap step 1)"
            )
        return "exists, versioned"

    def _cluster_oidc_provider(self) -> str:
        environment = self.environment
        cluster, external = environment.cluster, environment.external_cluster
        if cluster is not None:
            wanted = cluster.oidc_issuer_host_path
            how = (
                f"`eksctl utils associate-iam-oidc-provider --cluster {cluster.name} --approve`,"
                " or set cluster.oidc_provider: create"
            )
        else:
            assert external is not None and external.oidc_issuer_url is not None
            wanted = str(external.oidc_issuer_host_path)
            how = (
                f"`aws iam create-open-id-connect-provider --url {external.oidc_issuer_url}"
                " --client-id-list sts.amazonaws.com`, or set external_cluster.oidc_provider:"
                " create"
            )
        iam = self.client("iam")
        for provider in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
            arn = str(provider["Arn"])
            if arn.split(":oidc-provider/", 1)[-1].rstrip("/") == wanted:
                return self._oidc_provider(arn, audience="sts.amazonaws.com")
        raise _Failed(
            f"missing: create it ({how} in environments/{environment.name}.yaml); without it no"
            " web-identity role can be assumed"
        )

    def _oidc_provider(self, arn: str, audience: str | None = None) -> str:
        try:
            found = self.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        except Exception as error:
            raise _Failed(f"{_error_code(error)}: it does not exist in this account") from None
        if audience is not None and audience not in found.get("ClientIDList", []):
            raise _Failed(f"its client ids lack {audience}, so IRSA tokens are refused")
        return "exists"

    def _role(self, arn: str) -> str:
        return self._role_named(arn.rsplit("/", 1)[-1])

    def _role_named(self, name: str) -> str:
        try:
            self.client("iam").get_role(RoleName=name)
        except Exception as error:
            raise _Failed(
                f"{_error_code(error)}: no role {name} in account {self.environment.account_id}"
            ) from None
        return "exists"

    def _user_named(self, name: str) -> str:
        try:
            self.client("iam").get_user(UserName=name)
        except Exception as error:
            raise _Failed(
                f"{_error_code(error)}: no IAM user {name}: deploy the"
                f" {self.environment.stacks.account} stack first"
            ) from None
        return "exists"

    def _cluster_state(self) -> str:
        outputs = self._cluster_state_outputs()
        cluster = self.environment.cluster
        assert cluster is not None and cluster.remote_state is not None
        state = cluster.remote_state
        missing = [
            name
            for name in (state.endpoint_output, state.certificate_authority_output)
            if name not in outputs
        ]
        if missing:
            raise _Failed(f"outputs missing: {', '.join(missing)}")
        issuer = str(outputs.get(state.oidc_issuer_output, {}).get("value", "")).rstrip("/")
        if issuer != cluster.oidc_issuer_url.rstrip("/"):
            raise _Failed(
                f"output {state.oidc_issuer_output} is {issuer or 'missing'!r}, not the file's"
                f" {cluster.oidc_issuer_url}"
            )
        return "readable, with endpoint, CA and the file's OIDC issuer"

    def _cluster_state_outputs(self) -> dict[str, Any]:
        cluster = self.environment.cluster
        assert cluster is not None and cluster.remote_state is not None
        state = cluster.remote_state
        s3 = self.session().client("s3", region_name=state.region or self.environment.region)
        try:
            body = s3.get_object(Bucket=state.bucket, Key=state.key)["Body"].read()
        except Exception as error:
            code = _error_code(error)
            if code in ("NoSuchBucket", "NoSuchKey"):
                raise _Failed(
                    f"{code}: it does not exist; cluster.remote_state in"
                    f" environments/{self.environment.name}.yaml names the cluster's state"
                ) from None
            raise _Failed(f"{code}: the deploy role may not read it") from None
        try:
            return dict(json.loads(body).get("outputs", {}))
        except ValueError:
            raise _Failed("not a Terraform state (JSON)") from None

    # ---- cluster ----

    def _eks_cluster(self) -> str:
        cluster = self.environment.cluster
        assert cluster is not None
        try:
            described = self.client("eks").describe_cluster(name=cluster.name)["cluster"]
        except Exception as error:
            raise _Failed(f"{_error_code(error)}: the deploy role cannot describe it") from None
        issuer = str(described.get("identity", {}).get("oidc", {}).get("issuer", "")).rstrip("/")
        if issuer != cluster.oidc_issuer_url.rstrip("/"):
            raise _Failed(
                f"reports OIDC issuer {issuer!r}, not the file's {cluster.oidc_issuer_url}:"
                " every IRSA trust names the file's"
            )
        return f"{described.get('status', 'unknown')}, OIDC issuer as in the file"

    def _variable_set(self, name: str) -> str:
        if not os.environ.get(name):
            raise _Failed(
                "not set: the exec credential plugin reads it (external_cluster.exec.env); set"
                " it in this shell, never in the environment file"
            )
        return "set"

    def _kubernetes_api(self) -> str:
        how = "as the deploy role" if self.environment.cluster is not None else "as the file says"
        try:
            self.core_v1().list_namespace(limit=1)
        except _Failed:
            raise
        except Exception as error:
            raise _Failed(f"does not answer {how}: {_kube_reason(error)}") from None
        return "answers"

    # ---- workloads ----

    def _namespace(self, name: str) -> str:
        try:
            found = self.core_v1().read_namespace(name)
        except _Failed:
            raise
        except Exception as error:
            raise _Failed(
                f"{_kube_reason(error)}: deploy the {self.environment.stacks.cluster} stack first"
            ) from None
        level = (found.metadata.labels or {}).get(POD_SECURITY_ENFORCE)
        return f"exists (Pod Security enforce: {level or 'not set'})"

    def _workload_images(self) -> list[str]:
        environment = self.environment
        if environment.images is None:
            return []
        apps = []
        if environment.otel_agent_identity is not None:
            apps.append("appconfig-fetch")
        if environment.s3_proxy is not None:
            apps.append("s3proxy")
        if environment.ecr_refresher is not None:
            apps.append("ecr-refresher")
        return apps

    def _image(self, app: str) -> str:
        environment = self.environment
        assert environment.images is not None
        tag = environment.images.tag
        repository = image_repository_name(environment.name_prefix, app)
        try:
            found = self.client("ecr").describe_images(
                repositoryName=repository, imageIds=[{"imageTag": tag}]
            )["imageDetails"]
        except Exception as error:
            raise _Failed(
                f"{_error_code(error)}: tag {tag} is not in ECR; push it (CI: the images workflow,"
                " as the image publisher role)"
            ) from None
        return f"tag {tag} = {found[0]['imageDigest']}"

    def _secret_rollout(self) -> str:
        from berth import appconfig

        environment = self.environment
        observability = environment.observability
        assert observability is not None
        names = secret_app_config_names(
            environment.name_prefix, environment.name, observability.secret_name
        )
        put = f"printf '%s' \"$VALUE\" | berth secret put {environment.name} {names.profile}"
        try:
            rollout = appconfig.rollout(
                self.client("appconfig"), self.client("secretsmanager"), names
            )
        except appconfig.NotFoundError as error:
            raise _Failed(f"{error}: deploy the {environment.stacks.account} stack first") from None
        except Exception as error:
            raise _Failed(f"{_error_code(error)}: {names.secret} cannot be read") from None
        if rollout.current_version is None:
            raise _Failed(f"{names.secret} has no value yet: {put}")
        if rollout.deployed:
            return f"{names.secret} version {rollout.current_version} is deployed through AppConfig"
        if rollout.latest_deployment is None:
            raise _Failed(f"{names.secret} is stored but was never deployed: {put}")
        number, version, state = rollout.latest_deployment
        if version == rollout.current_version:
            raise _Failed(f"AppConfig deployment #{number} of the current value is {state}: wait")
        raise _Failed(
            f"the current value ({rollout.current_version}) is not deployed; AppConfig serves"
            f" {version} (deployment #{number}, {state}): {put}"
        )

    def _secret(self, name: str, namespace: str | None = None, how: str = "") -> Any:
        if namespace is None:
            proxy = self.environment.s3_proxy
            assert proxy is not None
            namespace = proxy.namespace
        try:
            return self.core_v1().read_namespaced_secret(name, namespace)
        except _Failed:
            raise
        except Exception as error:
            raise _Failed(f"{_kube_reason(error)}: {how or f'create it in {namespace}'}") from None

    def _bootstrap_pull_secret(self) -> str:
        environment = self.environment
        refresher = environment.ecr_refresher
        assert refresher is not None
        namespace = refresher.namespace
        server = f"{environment.account_id}.dkr.ecr.{environment.region}.amazonaws.com"
        secret = self._secret(
            ECR_PULL_SECRET,
            namespace,
            "the refresher's own image is pulled with it before the refresher can write it;"
            f" make the first one (12 h) with `kubectl -n {namespace} create secret"
            f" docker-registry {ECR_PULL_SECRET} --docker-server={server} --docker-username=AWS"
            f' --docker-password="$(aws ecr get-login-password --region {environment.region})"`',
        )
        if secret.type != "kubernetes.io/dockerconfigjson":
            raise _Failed(f"is of type {secret.type}, not kubernetes.io/dockerconfigjson")
        return "exists (the refresher keeps it fresh once it runs)"

    def _credentials_secret(self, name: str) -> str:
        from berth.refresher_keys import key_in_secret

        environment = self.environment
        refresher = environment.ecr_refresher
        assert refresher is not None
        rotate = f"berth refresher rotate-key {environment.name}"
        secret = self._secret(name, refresher.namespace, f"make the IAM user's key with `{rotate}`")
        key_id = key_in_secret(secret.data)
        if key_id is None:
            raise _Failed(f"has no key {CREDENTIALS_KEY!r} with an access key: `{rotate}`")
        return f"holds access key {key_id}"

    def _target_namespace(self, name: str) -> str:
        try:
            self.core_v1().read_namespace(name)
        except _Failed:
            raise
        except Exception as error:
            raise _Failed(
                f"{_kube_reason(error)}: the refresher writes its secrets there but does not"
                " create it; create it (its workloads run there)"
            ) from None
        return "exists"

    def _htpasswd_secret(self) -> str:
        proxy = self.environment.s3_proxy
        assert proxy is not None
        secret = self._secret(proxy.htpasswd_secret_name)
        if HTPASSWD_KEY not in (secret.data or {}):
            raise _Failed(
                f"has no key {HTPASSWD_KEY!r} (kubectl -n {proxy.namespace} create secret generic"
                f" {proxy.htpasswd_secret_name} --from-file={HTPASSWD_KEY}=FILE, bcrypt lines)"
            )
        return f"exists with key {HTPASSWD_KEY!r}"

    def _tls_secret(self, name: str) -> str:
        secret = self._secret(name)
        if secret.type != "kubernetes.io/tls":
            raise _Failed(f"is of type {secret.type}, not kubernetes.io/tls")
        return "exists (kubernetes.io/tls)"


def _kube_reason(error: Exception) -> str:
    status = getattr(error, "status", None)
    reason = getattr(error, "reason", None)
    if status is not None:
        return f"{status} {reason or ''}".strip()
    return str(error).splitlines()[0] if str(error) else type(error).__name__


# ---- Kubernetes access ----


def kube_client_from_kubeconfig(path: Path, context: str | None) -> Any:
    from kubernetes import config

    return config.new_client_from_config(config_file=str(path), context=context)  # type: ignore[no-untyped-call]


def external_kube_client(environment: Environment) -> Any:
    """A client for a cluster outside EKS, reached as its environment file says: the
    kubeconfig context, or the API server with a token from the exec credential plugin."""
    from kubernetes import config

    external = environment.external_cluster
    assert external is not None
    if external.kubeconfig is not None:
        return config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=os.path.expanduser(external.kubeconfig.path),
            context=external.kubeconfig.context,
        )
    access = external.exec
    assert access is not None
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": external.name,
                "cluster": {
                    "server": access.host,
                    "certificate-authority-data": access.certificate_authority_data,
                },
            }
        ],
        "users": [
            {
                "name": "berth",
                "user": {
                    "exec": {
                        "apiVersion": access.api_version,
                        "command": access.command,
                        "args": list(access.args),
                    }
                },
            }
        ],
        "contexts": [
            {"name": external.name, "context": {"cluster": external.name, "user": "berth"}}
        ],
        "current-context": external.name,
    }
    return config.new_client_from_config_dict(document)  # type: ignore[no-untyped-call]


def eks_kube_client(environment: Environment, session: boto3.Session) -> Any:
    """A client for the cluster as the providers reach it: endpoint and CA from EKS (or the
    cluster's state), a short-lived token from `aws eks get-token` as the deploy role."""
    from kubernetes import client

    cluster = environment.cluster
    assert cluster is not None
    if cluster.facts_source == "eks_api":
        described = session.client("eks").describe_cluster(name=cluster.name)["cluster"]
        endpoint, ca = described["endpoint"], described["certificateAuthority"]["data"]
    else:
        assert cluster.remote_state is not None
        state = cluster.remote_state
        s3 = session.client("s3", region_name=state.region or environment.region)
        outputs = json.loads(s3.get_object(Bucket=state.bucket, Key=state.key)["Body"].read())
        endpoint = outputs["outputs"][state.endpoint_output]["value"]
        ca = outputs["outputs"][state.certificate_authority_output]["value"]
    if shutil.which("aws") is None:
        raise _Failed(
            "the aws CLI is not on PATH; it makes the token, as for the providers"
            " (or pass --kubeconfig)"
        )
    args = [
        "aws",
        "eks",
        "get-token",
        "--cluster-name",
        cluster.name,
        "--region",
        environment.region,
    ]
    if environment.deploy_role is not None:
        args += ["--role-arn", environment.deploy_role.role_arn]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise _Failed(f"aws eks get-token failed: {result.stderr.strip()[-300:]}")
    token = json.loads(result.stdout)["status"]["token"]
    ca_file = tempfile.NamedTemporaryFile(prefix="berth-ca-", suffix=".crt", delete=False)  # noqa: SIM115
    with ca_file:
        ca_file.write(base64.b64decode(ca))
    configuration = client.Configuration()
    configuration.host = endpoint
    configuration.ssl_ca_cert = ca_file.name
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return client.ApiClient(configuration)


def steps_of(environment: Environment, step: str) -> list[str]:
    """The steps to check: one, or every step the environment has."""
    available = list(STEPS) if environment.has_cluster else ["account"]
    if step == "all":
        return available
    if step not in available:
        raise ValueError(f"{environment.name} has no cluster: only the account step exists")
    return [step]


def cluster_client(
    environment: Environment,
    session: Callable[[], boto3.Session],
    kubeconfig: Path | None = None,
    context: str | None = None,
) -> Any:
    """A Kubernetes API client for the environment's cluster: `kubeconfig` (and `context`) when
    given, else the file's way into a cluster outside EKS, else EKS with a token for `session`."""
    if kubeconfig is not None:
        return kube_client_from_kubeconfig(kubeconfig, context)
    try:
        if environment.external_cluster is not None:
            return external_kube_client(environment)
        return eks_kube_client(environment, session())
    except _Failed:
        raise
    except Exception as error:
        raise _Failed(f"cannot reach the cluster: {_error_code(error)}: {error}") from None
