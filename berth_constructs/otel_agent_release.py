"""OtelAgentRelease: the `charts/otel-agent` Helm release, running as an IRSA role.

The role lives with the AWS resources (an `IrsaServiceAccount` without ServiceAccount, allowed
only to read the Coralogix key's AppConfig profile through `SecretAppConfig.grant_read`); this
release creates the ServiceAccount that role trusts, from the same `WorkloadIdentity`, and
annotates it with the role's ARN. The key itself is fetched by the chart's sidecar at run time
and is in no value of this release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cdktf import TerraformProvider, Token
from constructs import Construct

from berth_constructs.container_image import ContainerImage
from berth_constructs.helm_chart import ChartSource, install_chart
from berth_core.naming import SecretAppConfigNames
from berth_core.validation import ROLE_ARN, host_name_problem

# The chart in this repository; synth copies it in as a cdktf asset, so the JSON holds a path
# relative to the stack's folder and no machine's path.
_CHART_DIR = Path(__file__).resolve().parents[1] / "charts" / "otel-agent"


@dataclass(frozen=True, kw_only=True)
class OtelAgentReleaseProps:
    # Names of the Coralogix key's secret and its AppConfig resources (`berth_core.naming`); the
    # sidecar asks AppConfig for them by name.
    private_key: SecretAppConfigNames
    # ARN of the IRSA role the agent runs as (it may only read that AppConfig profile).
    role_arn: str
    # AWS region of the AppConfig application.
    region: str
    # Coralogix domain of the account, e.g. `eu2.coralogix.com`.
    coralogix_domain: str
    # Namespace of the release and its ServiceAccount (must exist: see WorkloadNamespace).
    namespace: str = "observability"
    # Helm release name.
    release_name: str = "otel-agent"
    # ServiceAccount name (the role's trust condition names it).
    service_account_name: str = "otel-agent"
    # Where the chart comes from; by default this repository's `charts/otel-agent`.
    chart: ChartSource = field(default_factory=lambda: ChartSource(path=_CHART_DIR))
    # `deployment` (an OTLP gateway) or `daemonset` (one collector per node).
    mode: Literal["deployment", "daemonset"] = "deployment"
    # When the secret is a JSON object, the field holding the key ("" = the whole value).
    json_key: str = ""
    # Coralogix application and subsystem names ("" = the chart's defaults).
    coralogix_application_name: str = ""
    coralogix_subsystem_name: str = ""
    # Collector and fetch sidecar images; None keeps the chart's pinned defaults.
    collector_image: ContainerImage | None = None
    fetcher_image: ContainerImage | None = None
    # Helm provider of the cluster; None uses the stack's default helm provider.
    provider: TerraformProvider | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if host_name_problem(self.coralogix_domain):
            raise ValueError(f"coralogix_domain: {self.coralogix_domain!r} is not a domain name")
        if self.mode not in ("deployment", "daemonset"):
            raise ValueError(f"mode: {self.mode!r} must be deployment or daemonset")
        if not Token.is_unresolved(self.role_arn) and not ROLE_ARN.match(self.role_arn):
            raise ValueError(f"role_arn: {self.role_arn!r} is not an IAM role ARN")


def otel_agent_values(
    *,
    mode: str,
    service_account_name: str,
    role_arn: str,
    region: str,
    application: str,
    environment: str,
    profile: str,
    coralogix_domain: str,
    json_key: str = "",
    coralogix_application_name: str = "",
    coralogix_subsystem_name: str = "",
    collector_image: ContainerImage | None = None,
    fetcher_image: ContainerImage | None = None,
) -> dict[str, Any]:
    """The chart's values: where to fetch the key and who runs the pods; never the key itself."""
    values: dict[str, Any] = {
        "mode": mode,
        # The chart creates the ServiceAccount the role trusts, annotated with the role.
        "serviceAccount": {"create": True, "name": service_account_name, "roleArn": role_arn},
        "appconfig": {
            "region": region,
            "application": application,
            "environment": environment,
            "profile": profile,
            "jsonKey": json_key,
        },
        "coralogix": {
            "domain": coralogix_domain,
            "applicationName": coralogix_application_name,
            "subsystemName": coralogix_subsystem_name,
        },
    }
    if collector_image is not None:
        values["image"] = collector_image.values()
    if fetcher_image is not None:
        values["fetcher"] = {"image": fetcher_image.values()}
    return values


class OtelAgentRelease(Construct):
    """Outputs: `release_name`, `release_namespace`, `service_account_name`."""

    def __init__(self, scope: Construct, id: str, props: OtelAgentReleaseProps) -> None:
        super().__init__(scope, id)
        values = otel_agent_values(
            mode=props.mode,
            service_account_name=props.service_account_name,
            role_arn=props.role_arn,
            region=props.region,
            # AppConfigData takes names as well as ids, so the release needs no lookup of them.
            # https://docs.aws.amazon.com/appconfig/2019-10-09/APIReference/API_appconfigdata_StartConfigurationSession.html
            application=props.private_key.application,
            environment=props.private_key.environment,
            profile=props.private_key.profile,
            coralogix_domain=props.coralogix_domain,
            json_key=props.json_key,
            coralogix_application_name=props.coralogix_application_name,
            coralogix_subsystem_name=props.coralogix_subsystem_name,
            collector_image=props.collector_image,
            fetcher_image=props.fetcher_image,
        )
        release = install_chart(
            self,
            "release",
            chart=props.chart,
            release_name=props.release_name,
            namespace=props.namespace,
            values=values,
            provider=props.provider,
        )
        self.release_name: str = release.name
        self.release_namespace: str = props.namespace
        self.service_account_name: str = props.service_account_name
