"""SecretAppConfig: one secret in Secrets Manager, delivered to pods through AWS AppConfig.

Two IAM hops, each as narrow as AWS allows:
- AppConfig reads the secret with a retrieval role that only `appconfig.amazonaws.com` may
  assume, and that may only `GetSecretValue` this secret and decrypt with its key
  through Secrets Manager;
- a workload (`grant_read`) may only start a configuration session on this profile in this
  environment and fetch the latest configuration: it never touches Secrets Manager or KMS.

The value never appears in synthesized JSON, a saved plan or the state: it reaches Secrets
Manager either through the write-only `secret_string_wo` fed from an ephemeral variable, or out
of band with `berth secret put ENV NAME` (stdin), which also starts an AppConfig deployment.

https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-creating-configuration-and-profile.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cdktf import TerraformVariable
from cdktf_cdktf_provider_aws.appconfig_application import AppconfigApplication
from cdktf_cdktf_provider_aws.appconfig_configuration_profile import (
    AppconfigConfigurationProfile,
)
from cdktf_cdktf_provider_aws.appconfig_deployment import AppconfigDeployment
from cdktf_cdktf_provider_aws.appconfig_deployment_strategy import AppconfigDeploymentStrategy
from cdktf_cdktf_provider_aws.appconfig_environment import AppconfigEnvironment
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.secretsmanager_secret import SecretsmanagerSecret
from cdktf_cdktf_provider_aws.secretsmanager_secret_version import SecretsmanagerSecretVersion
from constructs import Construct

from berth_constructs.irsa_service_account import IrsaServiceAccount
from berth_constructs.policies import Condition, Statement, policy_document
from berth_core.naming import SecretAppConfigNames, secret_app_config_names
from berth_core.validation import ACCOUNT_ID, REGION

ValueSource = Literal["ephemeral_variable", "out_of_band"]

# The only AppConfig actions a workload needs (AppConfigData); `appconfig:GetConfiguration`
# is the deprecated API and is never granted.
# https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-retrieving-the-configuration.html
WORKLOAD_READ_ACTIONS = ("appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration")


@dataclass(frozen=True, kw_only=True)
class SecretAppConfigProps:
    # Secret name within the environment, e.g. `coralogix-private-key` (see berth_core.naming).
    name: str
    # Prefix of every resource name in the environment (`Environment.name_prefix`).
    name_prefix: str
    # Berth environment name; also the AppConfig environment name.
    environment_name: str
    # AWS account id (the profile ARN).
    account_id: str
    # AWS region (kms:ViaService and the profile ARN).
    region: str
    # How the value reaches Secrets Manager: `ephemeral_variable` (write-only attribute fed by
    # an ephemeral Terraform variable) or `out_of_band` (`berth secret put ENV NAME`).
    value_source: ValueSource
    # What the secret holds, for humans reading the console.
    description: str = ""
    # Days a deleted secret stays recoverable (7-30).
    recovery_window_in_days: int = 30
    # Delete the secret at once on destroy (emulator and tests only).
    allow_immediate_deletion: bool = False

    def __post_init__(self) -> None:
        # Raises ValueError("name: ...") for an invalid name or too long a role name.
        secret_app_config_names(self.name_prefix, self.environment_name, self.name)
        if not ACCOUNT_ID.match(self.account_id):
            raise ValueError(f"account_id: {self.account_id!r} is not a 12-digit AWS account id")
        if not REGION.match(self.region):
            raise ValueError(f"region: {self.region!r} is not an AWS region")
        if self.value_source not in ("ephemeral_variable", "out_of_band"):
            raise ValueError(
                f"value_source: {self.value_source!r} must be ephemeral_variable or out_of_band"
            )
        if not 7 <= self.recovery_window_in_days <= 30:
            raise ValueError("recovery_window_in_days: must be between 7 and 30")

    @property
    def names(self) -> SecretAppConfigNames:
        return secret_app_config_names(self.name_prefix, self.environment_name, self.name)


class SecretAppConfig(Construct):
    """Outputs: `secret_arn`, `secret_name`, `kms_key_arn`, `retrieval_role_arn`,
    `application_id`, `environment_id`, `configuration_profile_id`, `configuration_arn`,
    `deployment_strategy_id`, `value_variable_name` (None for `out_of_band`).
    """

    def __init__(self, scope: Construct, id: str, props: SecretAppConfigProps) -> None:
        super().__init__(scope, id)
        names = props.names
        self._sid = "".join(part.capitalize() for part in props.name.split("-"))

        key = KmsKey(
            self,
            "kms-key",
            description=f"Encrypts the secret {names.secret} and its AppConfig deployments",
            enable_key_rotation=True,
            deletion_window_in_days=30,
        )
        KmsAlias(self, "kms-alias", name=f"alias/{names.secret}", target_key_id=key.key_id)

        secret = SecretsmanagerSecret(
            self,
            "secret",
            name=names.secret,
            description=props.description or None,
            kms_key_id=key.arn,
            recovery_window_in_days=0
            if props.allow_immediate_deletion
            else props.recovery_window_in_days,
        )

        version: SecretsmanagerSecretVersion | None = None
        self.value_variable_name: str | None = None
        if props.value_source == "ephemeral_variable":
            version = self._write_only_version(secret, names)

        retrieval_role = self._retrieval_role(props, names, secret.arn, key.arn)

        application = AppconfigApplication(
            self,
            "application",
            name=names.application,
            description=f"Delivers the secret {names.secret} to workloads",
        )
        # AppConfig reads the secret itself (through the retrieval role) and serves it to clients.
        # https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-creating-configuration-and-profile.html
        profile = AppconfigConfigurationProfile(
            self,
            "profile",
            application_id=application.id,
            name=names.profile,
            location_uri=f"secretsmanager://{names.secret}",
            type="AWS.Freeform",
            retrieval_role_arn=retrieval_role.arn,
        )

        environment = AppconfigEnvironment(
            self, "environment", application_id=application.id, name=names.environment
        )
        strategy = AppconfigDeploymentStrategy(
            self,
            "deployment-strategy",
            name=names.deployment_strategy,
            description="A rotated secret reaches every client at once",
            deployment_duration_in_minutes=0,
            final_bake_time_in_minutes=0,
            growth_factor=100,
            growth_type="LINEAR",
            replicate_to="NONE",
        )
        if version is not None:
            # For a Secrets Manager source the configuration version is the secret's VersionId;
            # deploying a secret needs a customer-managed key.
            # https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-deploying.html
            AppconfigDeployment(
                self,
                "deployment",
                application_id=application.id,
                environment_id=environment.environment_id,
                configuration_profile_id=profile.configuration_profile_id,
                configuration_version=version.version_id,
                deployment_strategy_id=strategy.id,
                kms_key_identifier=key.arn,
                description=f"Terraform deploys {names.secret}",
            )

        self._names = names
        self.secret_arn: str = secret.arn
        self.secret_name: str = names.secret
        self.kms_key_arn: str = key.arn
        self.retrieval_role_arn: str = retrieval_role.arn
        self.application_id: str = application.id
        self.environment_id: str = environment.environment_id
        self.deployment_strategy_id: str = strategy.id
        self.configuration_profile_id: str = profile.configuration_profile_id
        self.configuration_arn: str = (
            f"arn:aws:appconfig:{props.region}:{props.account_id}:application/{application.id}"
            f"/environment/{environment.environment_id}"
            f"/configuration/{profile.configuration_profile_id}"
        )

    def _write_only_version(
        self, secret: SecretsmanagerSecret, names: SecretAppConfigNames
    ) -> SecretsmanagerSecretVersion:
        """A secret version written through `secret_string_wo`: never in plan or state."""
        value = TerraformVariable(
            self,
            "value",
            type="string",
            sensitive=True,
            nullable=False,
            description=f"Value of {names.secret} (ephemeral: TF_VAR_{names.value_variable})",
        )
        value.override_logical_id(names.value_variable)
        # Terraform >= 1.10: an ephemeral variable is never written to a plan or the state; only
        # ephemeral contexts such as write-only attributes may read it. cdktf has no flag for it.
        value.add_override("ephemeral", True)
        value_version = TerraformVariable(
            self,
            "value-version",
            type="number",
            default=1,
            nullable=False,
            # Write-only attributes have no diff: a new version number is what triggers a write.
            description=f"Bump to write a new value of {names.secret}",
        )
        value_version.override_logical_id(names.value_version_variable)
        self.value_variable_name = names.value_variable
        # https://registry.terraform.io/providers/hashicorp/aws/5.100.0/docs/resources/secretsmanager_secret_version#secret_string_wo
        return SecretsmanagerSecretVersion(
            self,
            "secret-version",
            secret_id=secret.id,
            secret_string_wo=value.string_value,
            secret_string_wo_version=value_version.number_value,
        )

    def _retrieval_role(
        self,
        props: SecretAppConfigProps,
        names: SecretAppConfigNames,
        secret_arn: str,
        key_arn: str,
    ) -> IamRole:
        """The role AppConfig assumes to read this one secret."""
        trust = policy_document(
            self,
            "retrieval-trust-document",
            [
                # The trust AppConfig itself writes for such roles: the service, no condition.
                # https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-creating-configuration-and-profile-iam-role.html
                # No AppConfig document says the service sends aws:SourceAccount or
                # aws:SourceArn when it assumes the role, and a condition on a key it does not
                # send fails closed (AppConfig could not read the secret). Naming this role in a
                # profile needs iam:PassRole on it, which only this account's policies grant.
                # https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html
                Statement(
                    sid="AssumeFromAppConfig",
                    actions=["sts:AssumeRole"],
                    principals={"Service": ["appconfig.amazonaws.com"]},
                )
            ],
        )
        role = IamRole(
            self,
            "retrieval-role",
            name=names.retrieval_role,
            description=f"AppConfig reads the secret {names.secret}",
            assume_role_policy=trust.json,
        )
        permissions = policy_document(
            self,
            "retrieval-policy-document",
            [
                # https://docs.aws.amazon.com/appconfig/latest/userguide/appconfig-creating-configuration-and-profile-iam-role.html
                Statement(
                    sid="ReadTheSecret",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[secret_arn],
                ),
                # Decrypt only when Secrets Manager asks on the role's behalf, never directly.
                # https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
                Statement(
                    sid="DecryptThroughSecretsManager",
                    actions=["kms:Decrypt"],
                    resources=[key_arn],
                    conditions=[
                        Condition(
                            "StringEquals",
                            "kms:ViaService",
                            [f"secretsmanager.{props.region}.amazonaws.com"],
                        )
                    ],
                ),
            ],
        )
        IamRolePolicy(
            self, "retrieval-policy", role=role.id, name="read-secret", policy=permissions.json
        )
        return role

    def grant_read(self, workload: IrsaServiceAccount) -> None:
        """Let `workload` fetch this configuration through AppConfigData, and nothing else."""
        workload.grant(
            Statement(
                sid=f"Read{self._sid}FromAppConfig",
                actions=WORKLOAD_READ_ACTIONS,
                resources=[self.configuration_arn],
            )
        )
