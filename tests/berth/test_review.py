"""`berth review`: the reviewer's report, from a sample environment built with Berth's constructs.

The sample environment is two stacks, as the real ones are: `uat` (helm repository bucket, the
S3 proxy's bucket and role, the Coralogix key delivered through AppConfig with the agent's role)
and `uat-workloads` (the s3proxy and otel-agent releases, their roles looked up by name). It is
synthesized once per module; the report is snapshot-tested (markdown and JSON) and its answers
are asserted one by one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cdktf
import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

from berth import checkov
from berth.review import build_review, render_markdown, write_review
from berth_constructs.guards import add_guards
from tests.support.constants import ACCOUNT, CHARTS_DIR, REGION
from tests.support.constants import EKS_ISSUER as ISSUER

# Readers of the sample's chart repository outside its account: an account and an organization.
PARTNER_ROOT = "arn:aws:iam::222222222222:root"
ORGANIZATION = "o-a1b2c3d4e5"
# A central repository of another account that the sample's roles read.
CENTRAL_BUCKET = "berth-shared-helm-charts"
CENTRAL_KEY = "arn:aws:kms:eu-west-1:333333333333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CHARTS = CHARTS_DIR


def _stack(app: cdktf.App, name: str) -> cdktf.TerraformStack:
    from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags

    stack = cdktf.TerraformStack(app, name)
    AwsProvider(
        stack,
        "aws",
        region=REGION,
        default_tags=[AwsProviderDefaultTags(tags={"Environment": "uat", "ManagedBy": "berth"})],
    )
    # The guards run on the same stacks: Berth's constructs must keep their rules.
    add_guards(stack, account_id=ACCOUNT)
    return stack


@pytest.fixture(scope="module")
def sample() -> tuple[list[dict[str, Any]], list[str]]:
    """The sample stacks' JSON and the error annotations the synth guards left on them."""
    from cdktf_cdktf_provider_helm.provider import HelmProvider, HelmProviderKubernetes

    from berth_constructs.chart_reader_policy import (
        ChartReaderPolicy,
        ChartReaderPolicyProps,
        ChartRepositoryGrant,
    )
    from berth_constructs.cluster_oidc_provider import (
        ClusterOidcProvider,
        ClusterOidcProviderProps,
    )
    from berth_constructs.container_image import ContainerImage
    from berth_constructs.helm_chart import ChartSource
    from berth_constructs.helm_repo_bucket import HelmRepoBucket, HelmRepoBucketProps
    from berth_constructs.irsa_service_account import (
        IrsaServiceAccount,
        IrsaServiceAccountProps,
    )
    from berth_constructs.lookups import existing_role_arn, existing_role_name
    from berth_constructs.otel_agent_release import OtelAgentRelease, OtelAgentReleaseProps
    from berth_constructs.s3_proxy_bucket import S3ProxyBucket, S3ProxyBucketProps
    from berth_constructs.s3_proxy_release import S3ProxyRelease, S3ProxyReleaseProps
    from berth_constructs.secret_app_config import SecretAppConfig, SecretAppConfigProps
    from berth_core.naming import secret_app_config_names

    app = cdktf.Testing.app()
    account = _stack(app, "uat")
    provider = ClusterOidcProvider(
        account, "cluster-oidc-provider", ClusterOidcProviderProps(issuer_url=f"https://{ISSUER}")
    )

    def irsa(namespace: str, name: str) -> IrsaServiceAccountProps:
        return IrsaServiceAccountProps(
            namespace=namespace,
            name=name,
            role_name=f"berth-uat-{name}",
            oidc_provider_arn=provider.arn,
            oidc_issuer_url=provider.issuer_url,
            create_service_account=False,
        )

    helm_repo = HelmRepoBucket(
        account,
        "helm-repo",
        HelmRepoBucketProps(
            bucket_name="berth-uat-helm-charts",
            account_id=ACCOUNT,
            region=REGION,
            prefix="charts/",
            publisher_principals=[
                existing_role_arn(account, "publisher", "berth-uat-chart-publisher")
            ],
            reader_principals=[f"arn:aws:iam::{ACCOUNT}:root", PARTNER_ROOT],
            reader_organization_id=ORGANIZATION,
        ),
    )
    # The roles that read charts: here one the stack only looks up (an in-cluster reader), for
    # the own repository and a central one in another account.
    ChartReaderPolicy(
        account,
        "chart-reader",
        ChartReaderPolicyProps(
            policy_name="berth-uat-chart-reader",
            repositories=[
                ChartRepositoryGrant(
                    name="Own",
                    bucket_arn=helm_repo.bucket_arn,
                    prefix="charts/",
                    kms_key_arn=helm_repo.kms_key_arn,
                    region=REGION,
                ),
                ChartRepositoryGrant(
                    name="Central",
                    bucket_arn=f"arn:aws:s3:::{CENTRAL_BUCKET}",
                    prefix="charts/",
                    kms_key_arn=CENTRAL_KEY,
                    region=REGION,
                ),
            ],
            roles={"argocd": existing_role_name(account, "argocd", "argocd-repo-server")},
        ),
    )
    S3ProxyBucket(
        account,
        "s3proxy",
        S3ProxyBucketProps(
            bucket_name="berth-uat-charts-site",
            account_id=ACCOUNT,
            reader=irsa("s3proxy", "s3proxy"),
            index_document="index.yaml",
        ),
    )
    private_key = SecretAppConfig(
        account,
        "coralogix-key",
        SecretAppConfigProps(
            name="coralogix-private-key",
            name_prefix="berth-uat",
            environment_name="uat",
            account_id=ACCOUNT,
            region=REGION,
            value_source="out_of_band",
        ),
    )
    private_key.grant_read(
        IrsaServiceAccount(account, "otel-agent", irsa("observability", "otel-agent"))
    )

    workloads = _stack(app, "uat-workloads")
    HelmProvider(
        workloads, "helm", kubernetes=HelmProviderKubernetes(host="https://kubernetes.invalid")
    )
    S3ProxyRelease(
        workloads,
        "s3proxy",
        S3ProxyReleaseProps(
            bucket_name="berth-uat-charts-site",
            bucket_region=REGION,
            role_arn=existing_role_arn(workloads, "s3proxy-role", "berth-uat-s3proxy"),
            host="charts.uat.example.com",
            image=ContainerImage(repository="berth/s3proxy", digest="sha256:" + "cd" * 32),
            chart=ChartSource(path=CHARTS / "s3proxy"),
            htpasswd_secret_name="charts-htpasswd",
            tls_secret_name="charts-uat-example-com-tls",
            index_document="index.yaml",
        ),
    )
    OtelAgentRelease(
        workloads,
        "otel-agent",
        OtelAgentReleaseProps(
            private_key=secret_app_config_names("berth-uat", "uat", "coralogix-private-key"),
            role_arn=existing_role_arn(workloads, "otel-agent-role", "berth-uat-otel-agent"),
            region=REGION,
            coralogix_domain="eu2.coralogix.com",
            fetcher_image=ContainerImage(repository="berth/appconfig-fetch", tag="0.1.0"),
        ),
    )
    stacks = [dict(json.loads(cdktf.Testing.synth(stack))) for stack in (account, workloads)]
    errors = [
        str(entry.data)
        for stack in (account, workloads)
        for construct in stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == "@cdktf/error"
    ]
    return stacks, errors


@pytest.fixture(scope="module")
def sample_stacks(sample: tuple[list[dict[str, Any]], list[str]]) -> list[dict[str, Any]]:
    return sample[0]


def test_berth_constructs_pass_the_synth_guards(
    sample: tuple[list[dict[str, Any]], list[str]],
) -> None:
    stacks, errors = sample
    assert stacks[0]["resource"]["aws_s3_bucket"]
    assert errors == []


@pytest.fixture(scope="module")
def review(sample_stacks: list[dict[str, Any]]) -> dict[str, Any]:
    return build_review("uat", sample_stacks, None)


def _role(review: dict[str, Any], name: str) -> dict[str, Any]:
    (role,) = [r for r in review["roles"] if r["role"] == f"role:{name}"]
    return role


def test_markdown_snapshot(review: dict[str, Any], snapshot: SnapshotAssertion) -> None:
    assert render_markdown(review) == snapshot


def test_json_snapshot(review: dict[str, Any], snapshot: SnapshotAssertion) -> None:
    assert review == snapshot.use_extension(JSONSnapshotExtension)


def test_report_is_deterministic(
    sample_stacks: list[dict[str, Any]], review: dict[str, Any]
) -> None:
    again = build_review("uat", json.loads(json.dumps(sample_stacks)), None)
    assert render_markdown(again) == render_markdown(review)


def test_no_hashed_logical_id_or_raw_reference_reaches_the_reader(
    sample_stacks: list[dict[str, Any]], review: dict[str, Any]
) -> None:
    text = render_markdown(review)
    assert "${" not in text
    logical_ids = [
        logical_id
        for stack in sample_stacks
        for section in ("resource", "data")
        for blocks in stack.get(section, {}).values()
        for logical_id in blocks
        if "_" in logical_id  # hashed ids; plain ids such as `publisher` are words
    ]
    assert logical_ids and not [lid for lid in logical_ids if lid in text]


def test_irsa_role_says_which_service_account_may_assume_it(review: dict[str, Any]) -> None:
    (trust,) = _role(review, "berth-uat-s3proxy")["trust"]
    assert trust["principals"] == [f"Federated oidc-provider:https://{ISSUER} (looked up)"]
    assert (
        f"StringEquals {ISSUER}:sub = system:serviceaccount:s3proxy:s3proxy" in trust["conditions"]
    )
    assert f"StringEquals {ISSUER}:aud = sts.amazonaws.com" in trust["conditions"]


def test_role_permissions_name_their_resources(review: dict[str, Any]) -> None:
    statements = [
        s for p in _role(review, "berth-uat-s3proxy")["permissions"] for s in p["statements"]
    ]
    resources = {r for s in statements for r in s["resources"]}
    assert any(r.startswith("bucket:berth-uat-charts-site") for r in resources), resources


def test_bucket_lists_who_reads_and_who_writes(review: dict[str, Any]) -> None:
    (bucket,) = [b for b in review["buckets"] if b["bucket"] == "bucket:berth-uat-helm-charts"]
    writers = {g["principal"] for g in bucket["access"] if "write" in g["access"]}
    readers = {g["principal"] for g in bucket["access"] if "read" in g["access"]}
    assert writers == {"AWS role:berth-uat-chart-publisher (looked up)"}
    assert f"AWS arn:aws:iam::{ACCOUNT}:root" in readers
    assert bucket["public_access_block"] == "all four settings on"
    assert {d["sid"] for d in bucket["denies"]} >= {"DenyInsecureTransport"}


def _chart_bucket(review: dict[str, Any]) -> dict[str, Any]:
    (bucket,) = [b for b in review["buckets"] if b["bucket"] == "bucket:berth-uat-helm-charts"]
    return bucket


def test_chart_repository_shows_who_reads_it_below_its_prefix(review: dict[str, Any]) -> None:
    access = _chart_bucket(review)["access"]
    reads = {
        (g["principal"], tuple(g["conditions"]))
        for g in access
        if g["access"] == "read" and "s3:GetObject" in g["actions"]
    }
    assert (f"AWS {PARTNER_ROOT}", ()) in reads
    assert ("AWS *", (f"StringEquals aws:PrincipalOrgID = {ORGANIZATION}",)) in reads
    assert ("role:argocd-repo-server (looked up)", ()) in reads
    # Every read is of the charts below the prefix, never of the whole bucket.
    assert {
        resource
        for g in access
        if "s3:GetObject" in g["actions"] and g["access"] == "read"
        for resource in g["resources"]
    } == {"bucket:berth-uat-helm-charts/charts/*"}
    listings = [g for g in access if g["actions"] == ["s3:ListBucket"]]
    assert listings and all(
        "StringLike s3:prefix = charts/*" in g["conditions"] for g in listings
    ), listings


def test_chart_repository_shows_who_may_decrypt_and_only_through_s3(
    review: dict[str, Any],
) -> None:
    decrypt = {
        g["principal"]: g for g in _chart_bucket(review)["decrypt"] if g["actions"] != ["kms:*"]
    }
    via_s3 = f"StringEquals kms:ViaService = s3.{REGION}.amazonaws.com"
    assert set(decrypt) == {f"AWS {PARTNER_ROOT}", "AWS *", "role:argocd-repo-server (looked up)"}
    for principal, grant in decrypt.items():
        assert via_s3 in grant["conditions"], principal
    assert f"StringEquals aws:PrincipalOrgID = {ORGANIZATION}" in decrypt["AWS *"]["conditions"]
    assert decrypt[f"AWS {PARTNER_ROOT}"]["source"] == "key policy DecryptChartsForReaders"
    # The account administers the key: its IAM policies decide who of it decrypts.
    (admin,) = [g for g in _chart_bucket(review)["decrypt"] if g["actions"] == ["kms:*"]]
    assert admin["principal"] == f"AWS arn:aws:iam::{ACCOUNT}:root"
    text = render_markdown(review)
    assert "Who can decrypt its objects" in text and via_s3 in text


def test_buckets_and_keys_of_other_accounts_name_the_roles_that_reach_them(
    review: dict[str, Any],
) -> None:
    (bucket,) = review["elsewhere"]["buckets"]
    assert bucket["name"] == CENTRAL_BUCKET
    assert {g["principal"] for g in bucket["grants"]} == {"role:argocd-repo-server (looked up)"}
    assert {r for g in bucket["grants"] for r in g["resources"]} == {
        f"arn:aws:s3:::{CENTRAL_BUCKET}/charts/*",
        f"arn:aws:s3:::{CENTRAL_BUCKET}",
    }
    (key,) = review["elsewhere"]["kms_keys"]
    assert key["name"] == CENTRAL_KEY
    (grant,) = key["grants"]
    assert grant["actions"] == ["kms:Decrypt"]
    assert grant["source"] == "identity policy policy:berth-uat-chart-reader"


def test_secret_is_reached_through_the_appconfig_hop(review: dict[str, Any]) -> None:
    (secret,) = review["secrets"]
    hops = {(r["role"], r["via"].split(" (")[0]) for r in secret["reached_by"]}
    assert any(
        role == "role:berth-uat-otel-agent" and via.startswith("appconfig-profile:")
        for role, via in hops
    ), hops
    assert any("AppConfig reads the secret as role:" in r["via"] for r in secret["reached_by"])


def test_entry_points_show_host_tls_and_auth(review: dict[str, Any]) -> None:
    (proxy,) = [r for r in review["helm_releases"] if r["release"] == "s3proxy"]
    (ingress,) = proxy["entry_points"]
    assert ingress["hosts"] == ["charts.uat.example.com"]
    assert ingress["tls"] == "certificate from Secret charts-uat-example-com-tls"
    assert proxy["auth"] == "basic auth, htpasswd from Secret charts-htpasswd"
    # The release's role is looked up by name: the same name as the account stack's role.
    assert proxy["aws_role"] == "role:berth-uat-s3proxy (looked up)"
    assert _role(review, "berth-uat-s3proxy")


def test_checkov_section_lists_each_suppression_with_its_reason() -> None:
    suppression = checkov.Suppression(
        check="CKV_AWS_18", reason="access is audited by CloudTrail data events", paths=()
    )
    finding = checkov.Finding(
        checkov.TERRAFORM,
        "CKV_AWS_18",
        "logging",
        "terraform/uat/cdk.tf.json",
        "aws_s3_bucket.b",
        False,
    )
    scan = checkov.ScanResult(
        reports={checkov.TERRAFORM: checkov.FrameworkReport(checkov.TERRAFORM, (finding,), ())},
        suppressions=(suppression,),
        frameworks=(checkov.TERRAFORM,),
    )
    text = render_markdown(build_review("uat", {}, scan))
    assert "**CKV_AWS_18**: access is audited by CloudTrail data events" in text
    assert "| terraform_json | 1 | 0 | 0 | 1 |" in text


def test_real_environment_reviews_cover_every_bucket_role_and_release(
    synthesized: dict[str, dict[str, Any]],
) -> None:
    for name in ("local", "uat", "prod"):
        stacks = [tf for stack, tf in synthesized.items() if stack.split("-")[0] == name]
        review = build_review(name, stacks, None)

        def count(kind: str) -> int:
            return sum(len(tf.get("resource", {}).get(kind, {})) for tf in stacks)  # noqa: B023

        assert len(review["buckets"]) == count("aws_s3_bucket"), name
        assert len(review["roles"]) == count("aws_iam_role"), name
        assert len(review["helm_releases"]) == count("helm_release"), name
        for release in review["helm_releases"]:
            assert release["aws_role"].startswith("role:berth-"), release


def test_write_review_writes_markdown_and_json(review: dict[str, Any], tmp_path: Path) -> None:
    markdown, data = write_review(review, tmp_path / "review")
    assert markdown.name == "uat.md" and data.name == "uat.json"
    assert json.loads(data.read_text()) == review


def test_release_role_comes_from_the_charts_service_account_annotation(
    review: dict[str, Any],
) -> None:
    (agent,) = [r for r in review["helm_releases"] if r["release"] == "otel-agent"]
    assert agent["aws_role"] == "role:berth-uat-otel-agent (looked up)"
    assert agent["chart"] == "local chart (asset otel-agent/chart)"


def test_release_role_found_through_a_terraform_service_account() -> None:
    # A chart told not to create its ServiceAccount: the role is the one Terraform annotated.
    stack = {
        "resource": {
            "aws_iam_role": {"r_0A1B2C3D": {"name": "agent", "assume_role_policy": "{}"}},
            "kubernetes_service_account_v1": {
                "sa_0A1B2C3D": {
                    "metadata": [
                        {
                            "name": "agent",
                            "namespace": "tools",
                            "annotations": {
                                "eks.amazonaws.com/role-arn": "${aws_iam_role.r_0A1B2C3D.arn}"
                            },
                        }
                    ]
                }
            },
            "helm_release": {
                "agent_0A1B2C3D": {
                    "name": "agent",
                    "chart": "agent",
                    "namespace": "tools",
                    "values": ["serviceAccount:\n  create: false\n  name: agent\n"],
                }
            },
        }
    }
    (release,) = build_review("odd", stack, None)["helm_releases"]
    assert release["aws_role"] == "role:agent"


def test_cli_unknown_environment_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from berth.cli import main

    assert main(["review", "no-such-env"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("berth: ") and "no-such-env" in err and "\n" not in err


def test_cli_without_checkov_says_run_make_setup_before_synthesizing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from berth.cli import main

    monkeypatch.setenv(checkov.CHECKOV_ENV, str(tmp_path / "missing"))
    assert main(["review", "uat", "--outdir", str(tmp_path / "out")]) == 1
    assert "run make setup" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# Hand-written Terraform JSON for what Berth's constructs never produce but a review must flag.
_ODD_STACK: dict[str, Any] = {
    "resource": {
        "aws_secretsmanager_secret": {"s_0A1B2C3D": {"name": "leaky"}},
        "aws_secretsmanager_secret_version": {
            "v_0A1B2C3D": {
                "secret_id": "${aws_secretsmanager_secret.s_0A1B2C3D.id}",
                "secret_string": "${var.value}",
            }
        },
        "aws_iam_role": {
            "r_0A1B2C3D": {
                "name": "json-trust",
                "assume_role_policy": json.dumps(
                    {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "sts:AssumeRole",
                                "Principal": {"Service": "ec2.amazonaws.com"},
                            }
                        ]
                    }
                ),
            }
        },
        "helm_release": {
            "open_0A1B2C3D": {
                "name": "open",
                "chart": "s3proxy",
                "repository": "oci://registry.example.com/charts",
                "version": "0.1.0",
                "namespace": "web",
                "values": [
                    "auth:\n  enabled: false\nhttpRoute:\n  enabled: true\n"
                    "  hostnames: [open.example.com]\n  parentRefs: [{name: public}]\n"
                ],
                "set": [{"name": "service.type", "value": "LoadBalancer"}],
            },
            "inline_0A1B2C3D": {
                "name": "inline",
                "chart": "s3proxy",
                "namespace": "web",
                "values": [
                    "auth:\n  htpasswd: 'a:$2b$...'\ningress:\n  enabled: true\n"
                    "  host: inline.example.com\n"
                ],
            },
        },
    }
}


def test_odd_stack_flags_what_a_reviewer_must_see() -> None:
    review = build_review("odd", _ODD_STACK, None)
    (secret,) = review["secrets"]
    assert secret["value"] == "secret_string: IN STATE AND PLAN"
    (role,) = review["roles"]
    (trust,) = role["trust"]
    assert trust["principals"] == ["Service ec2.amazonaws.com"]
    assert "not a policy document" in trust["note"]
    releases = {r["release"]: r for r in review["helm_releases"]}
    assert releases["open"]["auth"] == "DISABLED"
    assert [e["kind"] for e in releases["open"]["entry_points"]] == [
        "HTTPRoute",
        "Service LoadBalancer",
    ]
    assert releases["open"]["chart"] == "oci://registry.example.com/charts/s3proxy 0.1.0"
    assert "INLINE" in releases["inline"]["auth"]
    assert releases["inline"]["entry_points"][0]["tls"] == "none"


def test_edge_lists_its_iam_users_like_roles_and_where_each_release_gets_its_key(
    synthesized: dict[str, Any],
) -> None:
    from berth_core.config import load_environment

    environment = load_environment("edge")
    review = build_review("edge", [synthesized[n] for n in environment.stack_names], None)
    users = {user["user"]: user for user in review["users"]}
    assert set(users) == {"user:berth-edge-ecr-builder", "user:berth-edge-ecr-refresher"}
    for user in users.values():
        assert user["access_keys"] == "none in Terraform (made and rotated outside it)"
    (policy,) = users["user:berth-edge-ecr-builder"]["permissions"]
    push = next(s for s in policy["statements"] if s["sid"] == "PushImages")
    assert push["resources"] == ["ecr-repo:berth-edge/web", "ecr-repo:berth-edge/api"]
    releases = {release["release"]: release for release in review["helm_releases"]}
    assert releases["ecr-credential-refresher"]["aws_role"] == (
        "static keys from Secret ecr-credential-refresher/ecr-credential-refresher-aws"
        " (its `credentials` key)"
    )
    markdown = render_markdown(review)
    assert "## IAM users" in markdown
    assert "### user:berth-edge-ecr-refresher" in markdown
    assert "- AWS identity: static keys from Secret" in markdown
    # Environments without users have no such section.
    uat = load_environment("uat")
    assert "users" not in build_review("uat", [synthesized[n] for n in uat.stack_names], None)
