"""OtelAgentRelease: the `charts/otel-agent` Helm release with its IRSA role and AppConfig grant.

The ServiceAccount and its role come from `IrsaServiceAccount` (one `(namespace, name)` pair),
so the chart is told `serviceAccount.create=false` and the name. The role may only read the
Coralogix key's AppConfig profile (`SecretAppConfig.grant_read`); the key itself is fetched by
the chart's sidecar at run time and is in no value of this release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from constructs import Construct

from berth_constructs.helm_chart import ChartSource, install_chart
from berth_constructs.irsa_service_account import IrsaServiceAccount, IrsaServiceAccountProps
from berth_constructs.secret_app_config import SecretAppConfig

# The chart in this repository; synth copies it in as a cdktf asset, so the JSON holds a path
# relative to the stack's folder and no machine's path.
_CHART_DIR = Path(__file__).resolve().parents[1] / "charts" / "otel-agent"

_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_DOMAIN = re.compile(r"^([a-z0-9-]+\.)+[a-z]{2,}$")


@dataclass(frozen=True, kw_only=True)
class ImageRef:
    """A container image, pinned by tag and optionally by digest (the digest wins)."""

    # Registry and repository, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com/appconfig-fetch`.
    repository: str
    # Pinned tag, never `latest`.
    tag: str
    # `sha256:...`; when set the image is pulled by digest.
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.repository:
            raise ValueError("repository: required")
        if not self.tag or self.tag == "latest":
            raise ValueError(f"tag: {self.tag!r} is not a pinned tag")
        if self.digest and not _DIGEST.match(self.digest):
            raise ValueError(f"digest: {self.digest!r} is not sha256:<64 hex>")

    def values(self) -> dict[str, str]:
        return {"repository": self.repository, "tag": self.tag, "digest": self.digest}


@dataclass(frozen=True, kw_only=True)
class OtelAgentReleaseProps:
    # Where the Coralogix private key lives; the release's role gets read access to it only.
    private_key: SecretAppConfig
    # IAM role name of the agent's IRSA role, e.g. `<name_prefix>-otel-agent`.
    role_name: str
    # ARN of the cluster's IAM OIDC provider.
    oidc_provider_arn: str
    # AWS region of the AppConfig application.
    region: str
    # Coralogix domain of the account, e.g. `eu2.coralogix.com`.
    coralogix_domain: str
    # Namespace of the release and its ServiceAccount (must exist).
    namespace: str = "observability"
    # Helm release name.
    release_name: str = "otel-agent"
    # ServiceAccount name (the IRSA trust condition names it).
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
    collector_image: ImageRef | None = None
    fetcher_image: ImageRef | None = None

    def __post_init__(self) -> None:
        if not _DOMAIN.match(self.coralogix_domain):
            raise ValueError(f"coralogix_domain: {self.coralogix_domain!r} is not a domain name")
        if self.mode not in ("deployment", "daemonset"):
            raise ValueError(f"mode: {self.mode!r} must be deployment or daemonset")


def otel_agent_values(
    *,
    mode: str,
    service_account_name: str,
    region: str,
    application: str,
    environment: str,
    profile: str,
    coralogix_domain: str,
    json_key: str = "",
    coralogix_application_name: str = "",
    coralogix_subsystem_name: str = "",
    collector_image: ImageRef | None = None,
    fetcher_image: ImageRef | None = None,
) -> dict[str, Any]:
    """The chart's values: where to fetch the key and who runs the pods; never the key itself."""
    values: dict[str, Any] = {
        "mode": mode,
        # The ServiceAccount is IrsaServiceAccount's: the chart must not create a second one.
        "serviceAccount": {"create": False, "name": service_account_name},
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
    """Outputs: `release_name`, `release_namespace`, `role_arn`, `service_account_name`."""

    def __init__(self, scope: Construct, id: str, props: OtelAgentReleaseProps) -> None:
        super().__init__(scope, id)
        irsa = IrsaServiceAccount(
            self,
            "irsa",
            IrsaServiceAccountProps(
                namespace=props.namespace,
                name=props.service_account_name,
                role_name=props.role_name,
                oidc_provider_arn=props.oidc_provider_arn,
                create_service_account=True,
            ),
        )
        props.private_key.grant_read(irsa)
        values = otel_agent_values(
            mode=props.mode,
            service_account_name=irsa.service_account_name,
            region=props.region,
            application=props.private_key.application_id,
            environment=props.private_key.environment_id,
            profile=props.private_key.configuration_profile_id,
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
            # The namespace must exist (see `namespace`).
            create_namespace=False,
            # The pods assume the role at start: role, grant and ServiceAccount come first.
            depends_on=irsa.dependables(),
        )
        self.release_name: str = release.name
        self.release_namespace: str = props.namespace
        self.role_arn: str = irsa.role_arn
        self.service_account_name: str = irsa.service_account_name
