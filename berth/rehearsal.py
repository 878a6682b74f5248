"""Rehearsal of a real environment's first deploy on the emulator: `berth rehearse ENV`.

What a first `cdktf deploy uat` will meet in an account that holds only the cluster, played on
the emulator with the environment's own synthesized account stack (not the `local` file's):

1. the emulator gets what the README's bootstrap and the cluster provide in a real account:
   the state bucket, the deploy role, the cluster's IAM OIDC provider, the roles and the GitHub
   OIDC provider the file names, the cluster's own Terraform state (for `remote_state` facts);
2. Terraform applies the stack unchanged, except where it sends its requests: an override file
   points the aws provider and the cluster-state read at the emulator, a backend config file
   the S3 backend. Both still assume the deploy role, and the emulator answers in the
   environment's account (moto gives assumed-role credentials the role's account), so
   `allowed_account_ids`, the lookups and every ARN are those of the real account;
3. a second plan must show no change.

An environment that reads a central chart repository (`helm_repo.central`) can also get that
repository, as its owner's stack leaves it (`seed_central_repository`): the owner's bucket, in
the owner's account, encrypted with the key the file names. It is no prerequisite of the account
step (planning does not read it: no account can look up another's bucket); promoting from it
(`berth charts promote`) needs it.

Any prerequisite can be left out (`seed_prerequisites(..., skip=...)`) to watch planning or
`berth preflight` stop and name it. The cluster and workloads stacks need the helm and
kubernetes providers and a cluster, which this machine cannot have: they are not applied here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from berth.local import EMULATOR_CREDENTIALS
from berth.terraform import TerraformError, run_terraform, terraform_environment
from berth_core.config import Environment
from berth_core.naming import account_root_arn, issuer_host_path
from berth_core.tfjson import TerraformJson

if TYPE_CHECKING:
    import boto3

# The aws services an account stack calls, all pointed at the emulator.
SERVICES = ("appconfig", "ecr", "eks", "iam", "kms", "s3", "secretsmanager", "sts")
OVERRIDE_FILE = "rehearsal_override.tf.json"
BACKEND_FILE = "rehearsal.s3.tfbackend"
# The emulator's stand-in for the cluster's API endpoint and CA (never contacted here).
FAKE_ENDPOINT = "https://cluster.invalid"
FAKE_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="

# Prerequisite keys, in the order a bootstrap provides them.
STATE_BUCKET = "state-bucket"
DEPLOY_ROLE = "deploy-role"
CLUSTER_OIDC_PROVIDER = "cluster-oidc-provider"
GITHUB_OIDC_PROVIDER = "github-oidc-provider"
CLUSTER_STATE = "cluster-state"


def bootstrap_session(endpoint: str, account_id: str, region: str) -> boto3.Session:
    """An administrator of `account_id` on the emulator (moto lets any role be assumed, and
    acts in the account of the role that was)."""
    import boto3

    base = boto3.Session(region_name=region, **_credentials())
    sts = base.client("sts", endpoint_url=endpoint)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/rehearsal-bootstrap",
        RoleSessionName="berth-rehearsal",
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": EMULATOR_CREDENTIALS["AWS_SESSION_TOKEN"],
    }


def prerequisites(environment: Environment) -> list[str]:
    """Every prerequisite the environment's account stack needs, as keys for `skip`."""
    keys = []
    if environment.state_backend is not None:
        keys.append(STATE_BUCKET)
    if environment.deploy_role is not None:
        keys.append(DEPLOY_ROLE)
    cluster = environment.cluster
    if environment.looked_up_oidc_issuer is not None:
        keys.append(CLUSTER_OIDC_PROVIDER)
    if environment.ci is not None and environment.ci.oidc_provider_arn:
        keys.append(GITHUB_OIDC_PROVIDER)
    keys += [f"role:{arn.rsplit('/', 1)[-1]}" for arn in environment.named_roles]
    if cluster is not None and cluster.remote_state is not None:
        keys.append(CLUSTER_STATE)
    return keys


def seed_prerequisites(
    environment: Environment, endpoint: str, *, skip: Collection[str] = ()
) -> list[str]:
    """Create the environment's prerequisites on the emulator, except those in `skip`."""
    session = bootstrap_session(endpoint, environment.account_id, environment.region)
    iam = session.client("iam", endpoint_url=endpoint)
    seeded = []
    for key in prerequisites(environment):
        if key in skip:
            continue
        if key == STATE_BUCKET:
            backend = environment.state_backend
            assert backend is not None
            _bucket(session, endpoint, backend.bucket, backend.region, versioned=True)
        elif key == DEPLOY_ROLE:
            name = environment.deploy_role_name
            assert name is not None
            _role(iam, name, environment.account_id)
        elif key == CLUSTER_OIDC_PROVIDER:
            issuer = environment.looked_up_oidc_issuer
            assert issuer is not None
            iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"])
        elif key == GITHUB_OIDC_PROVIDER:
            iam.create_open_id_connect_provider(
                Url="https://token.actions.githubusercontent.com",
                ClientIDList=["sts.amazonaws.com"],
            )
        elif key.startswith("role:"):
            _role(iam, key.removeprefix("role:"), environment.account_id)
        elif key == CLUSTER_STATE:
            _cluster_state(environment, session, endpoint)
        seeded.append(key)
    return seeded


def _bucket(
    session: boto3.Session, endpoint: str, name: str, region: str, *, versioned: bool
) -> None:
    s3 = session.client("s3", endpoint_url=endpoint, region_name=region)
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def _role(iam: Any, name: str, account_id: str) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": account_root_arn(account_id)},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))


def _cluster_state(environment: Environment, session: boto3.Session, endpoint: str) -> None:
    """The cluster's Terraform state, with the outputs terraform-aws-modules/eks writes."""
    cluster = environment.cluster
    assert cluster is not None and cluster.remote_state is not None
    state = cluster.remote_state
    region = state.region or environment.region
    s3 = session.client("s3", endpoint_url=endpoint, region_name=region)
    try:
        s3.head_bucket(Bucket=state.bucket)
    except Exception:  # absent: the platform team's bucket, made here too
        _bucket(session, endpoint, state.bucket, region, versioned=True)
    outputs = {
        state.endpoint_output: FAKE_ENDPOINT,
        state.certificate_authority_output: FAKE_CA,
        state.oidc_issuer_output: cluster.oidc_issuer_url,
    }
    document = {
        "version": 4,
        "terraform_version": "1.11.0",
        "serial": 1,
        "lineage": "berth-rehearsal",
        "outputs": {name: {"value": value, "type": "string"} for name, value in outputs.items()},
        "resources": [],
    }
    s3.put_object(Bucket=state.bucket, Key=state.key, Body=json.dumps(document).encode())


def seed_central_repository(environment: Environment, endpoint: str) -> str | None:
    """The bucket of the central chart repository `environment` reads, made in its owner's
    account: versioned and encrypted with the key the file names (the emulator does not check
    that key). Returns the repository's URL; None when the environment reads none."""
    central = environment.helm_repo.central
    if central is None:
        return None
    location = central.location
    owner = bootstrap_session(endpoint, central.account_id, location.region)
    _bucket(owner, endpoint, location.bucket, location.region, versioned=True)
    owner.client("s3", endpoint_url=endpoint).put_bucket_encryption(
        Bucket=location.bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": central.kms_key_arn,
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    return location.url


def remove_prerequisite(environment: Environment, endpoint: str, key: str) -> None:
    """Take one seeded prerequisite away again (to watch what stops)."""
    session = bootstrap_session(endpoint, environment.account_id, environment.region)
    iam = session.client("iam", endpoint_url=endpoint)
    if key == STATE_BUCKET:
        backend = environment.state_backend
        assert backend is not None
        _empty_and_delete_bucket(session, endpoint, backend.bucket, backend.region)
    elif key == DEPLOY_ROLE:
        iam.delete_role(RoleName=environment.deploy_role_name)
    elif key in (CLUSTER_OIDC_PROVIDER, GITHUB_OIDC_PROVIDER):
        issuer = environment.looked_up_oidc_issuer
        wanted = (
            issuer_host_path(issuer)
            if key == CLUSTER_OIDC_PROVIDER and issuer
            else "token.actions.githubusercontent.com"
        )
        for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
            if provider["Arn"].endswith(f":oidc-provider/{wanted}"):
                iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider["Arn"])
    elif key.startswith("role:"):
        iam.delete_role(RoleName=key.removeprefix("role:"))
    elif key == CLUSTER_STATE:
        assert environment.cluster is not None and environment.cluster.remote_state is not None
        state = environment.cluster.remote_state
        s3 = session.client(
            "s3", endpoint_url=endpoint, region_name=state.region or environment.region
        )
        s3.delete_object(Bucket=state.bucket, Key=state.key)
    else:
        raise ValueError(f"{key!r}: not a prerequisite of {environment.name}")


def _empty_and_delete_bucket(session: boto3.Session, endpoint: str, name: str, region: str) -> None:
    s3 = session.client("s3", endpoint_url=endpoint, region_name=region)
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            s3.delete_object(Bucket=name, Key=version["Key"], VersionId=version["VersionId"])
    s3.delete_bucket(Bucket=name)


# ---- Terraform against the emulator ----


def stack_overrides(stack: Mapping[str, Any], endpoint: str) -> dict[str, Any]:
    """An override file that sends the stack's requests to the emulator and changes nothing else."""
    endpoints = {service: endpoint for service in SERVICES}
    override: dict[str, Any] = {
        "provider": {
            "aws": [
                {
                    "endpoints": [endpoints],
                    "s3_use_path_style": True,
                    "skip_metadata_api_check": "true",
                }
            ]
        }
    }
    states = TerraformJson(stack).data_sources("terraform_remote_state")
    if states:
        override["data"] = {
            "terraform_remote_state": {
                state.logical_id: {
                    "config": {
                        **state.config["config"],
                        "endpoints": {"s3": endpoint, "sts": endpoint},
                        "use_path_style": True,
                    }
                }
                for state in states
            }
        }
    return override


def backend_config(endpoint: str) -> str:
    """A partial S3 backend configuration (for `terraform init -backend-config=FILE`)."""
    return (
        "# Generated by berth rehearse: the state lives in the emulator.\n"
        f'endpoints = {{ s3 = "{endpoint}", sts = "{endpoint}" }}\n'
        "use_path_style = true\n"
    )


@dataclass(frozen=True)
class RehearsedStack:
    """A copy of a synthesized stack, set up to run against the emulator."""

    directory: Path
    env: dict[str, str]

    def init(self) -> subprocess.CompletedProcess[str]:
        args = ["init", "-input=false", "-no-color", "-reconfigure"]
        if (self.directory / BACKEND_FILE).exists():
            args.append(f"-backend-config={BACKEND_FILE}")
        return run_terraform(args, self.directory, self.env, capture=True)

    def apply(self) -> subprocess.CompletedProcess[str]:
        return run_terraform(
            ["apply", "-auto-approve", "-input=false", "-no-color"],
            self.directory,
            self.env,
            capture=True,
        )

    def plan_changes(self, *, refresh: bool = True) -> bool:
        """True when a plan has changes; raises TerraformError when planning fails.

        `refresh=False` skips re-reading the managed resources; data sources (the lookups of
        what the stack does not create) are read either way.
        """
        result = subprocess.run(
            [
                "terraform",
                "plan",
                "-detailed-exitcode",
                "-input=false",
                "-no-color",
                *([] if refresh else ["-refresh=false"]),
            ],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 1:
            raise TerraformError(
                f"terraform plan failed in {self.directory} (exit 1)\n"
                + "\n".join((result.stderr or result.stdout).strip().splitlines()[-25:])
            )
        return result.returncode == 2

    def destroy(self) -> subprocess.CompletedProcess[str]:
        return run_terraform(
            ["destroy", "-auto-approve", "-input=false", "-no-color"],
            self.directory,
            self.env,
            capture=True,
        )

    def outputs(self) -> dict[str, Any]:
        result = run_terraform(["output", "-json"], self.directory, self.env, capture=True)
        return {name: value["value"] for name, value in json.loads(result.stdout).items()}


def prepare_stack(synthesized: Path, work: Path, endpoint: str, region: str) -> RehearsedStack:
    """Copy the synthesized stack folder `synthesized` to `work`, pointed at the emulator."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(synthesized, work)
    stack = json.loads((work / "cdk.tf.json").read_text())
    (work / OVERRIDE_FILE).write_text(json.dumps(stack_overrides(stack, endpoint), indent=2))
    if "s3" in stack.get("terraform", {}).get("backend", {}):
        (work / BACKEND_FILE).write_text(backend_config(endpoint))
    env = terraform_environment(
        {
            # The operator's own identity: the emulator's, which may assume the deploy role.
            **EMULATOR_CREDENTIALS,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }
    )
    env.pop("AWS_ENDPOINT_URL", None)  # every endpoint is set explicitly
    return RehearsedStack(directory=work, env=env)
