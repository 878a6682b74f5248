"""EcrClientIdentity: the AWS identity of a docker client of this account's ECR outside AWS.

A cluster outside AWS has no node role; the ECR credential refresher (`charts/ecr-credential-
refresher`) logs in for it, as one of two identities:

- web identity (`trust` given): an IAM role that one ServiceAccount of the cluster's own OIDC
  issuer may assume (`RefresherTrust`, IRSA-style `sub`/`aud` conditions). No key exists at all.
  It needs an issuer whose discovery document AWS can fetch.
- an IAM user (`trust` None), for clusters whose issuer AWS cannot reach. Terraform creates the
  user WITHOUT an access key: a key made here would be in the state. The key is made and rotated
  by `berth refresher rotate-key ENV`, which writes it straight into the cluster.

Either way it may get a registry login (`ecr:GetAuthorizationToken`, which AWS cannot scope) and
pull, or push, only on the repositories granted with `grant_registry_access`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.iam_user import IamUser
from cdktf_cdktf_provider_aws.iam_user_policy import IamUserPolicy
from constructs import Construct

from berth_constructs.ecr_registry import RefresherTrust, registry_access_statements
from berth_constructs.irsa_service_account import IrsaServiceAccount
from berth_constructs.policies import policy_document
from berth_core.validation import IAM_NAME


@dataclass(frozen=True, kw_only=True)
class EcrClientIdentityProps:
    # IAM name of the role or user, e.g. `<name_prefix>-ecr-refresher`.
    name: str
    # Web identity: the ServiceAccount of the cluster's OIDC issuer that may assume the role
    # (its `role_name` must be `name`). None: an IAM user, created without an access key.
    trust: RefresherTrust | None = None
    # Let `terraform destroy` delete a user whose keys were made outside Terraform (emulator).
    allow_force_destroy: bool = False

    def __post_init__(self) -> None:
        if not IAM_NAME.match(self.name):
            raise ValueError(f"name: {self.name!r} is not an IAM name (1-64 of [\\w+=,.@-])")
        if self.trust is not None and self.trust.role_name != self.name:
            raise ValueError(
                f"trust: its role_name {self.trust.role_name!r} is not this identity's {self.name!r}"
            )
        if self.trust is not None and self.allow_force_destroy:
            raise ValueError("allow_force_destroy: only an IAM user has keys to force away")


class EcrClientIdentity(Construct):
    """Outputs: `principal_arn` (for repository policies), `role_arn` (None for a user),
    `user_name` (None for a role)."""

    def __init__(self, scope: Construct, id: str, props: EcrClientIdentityProps) -> None:
        super().__init__(scope, id)
        self._props = props
        self._role: IrsaServiceAccount | None = None
        self._user: IamUser | None = None
        self._granted = False
        if props.trust is not None:
            self._role = IrsaServiceAccount(self, "role", props.trust.irsa_props())
            self.principal_arn: str = self._role.role_arn
            self.role_arn: str | None = self._role.role_arn
            self.user_name: str | None = None
        else:
            # No aws_iam_access_key: its secret would be written to the state. The key is made
            # and rotated by `berth refresher rotate-key`, straight into the cluster's Secret.
            self._user = IamUser(
                self, "user", name=props.name, force_destroy=props.allow_force_destroy
            )
            self.principal_arn = self._user.arn
            self.role_arn = None
            self.user_name = self._user.name

    def grant_registry_access(
        self, *, pull_repository_arns: Sequence[str], push_repository_arns: Sequence[str] = ()
    ) -> None:
        """A registry login plus pull on `pull_repository_arns` and push (and pull) on
        `push_repository_arns`, as the identity's one inline policy. Called once."""
        if self._granted:
            raise ValueError(
                "grant_registry_access: already granted; give every repository at once"
            )
        if not pull_repository_arns and not push_repository_arns:
            raise ValueError("pull_repository_arns: name at least one repository")
        self._granted = True
        statements = [
            statement
            for statement in registry_access_statements(pull_repository_arns, push_repository_arns)
            if not statement.is_empty
        ]
        if self._role is not None:
            for statement in statements:
                self._role.grant(statement)
            return
        assert self._user is not None
        document = policy_document(self, "policy-document", statements)
        IamUserPolicy(
            self, "policy", user=self._user.name, name="registry-access", policy=document.json
        )
