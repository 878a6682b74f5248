"""`berth charts promote`: the exact archive, digest checked, indexed with conditional writes.

Two repositories on the session moto server, as two environments' files name them: `uat`
(below `charts/`) and `prod` (below `stable/charts/`, to show that keys are the repository's,
not the bucket's).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from berth.aws import role_choice
from berth.chart_repo.errors import ChartRepoError
from berth.chart_repo.index import parse_index
from berth.chart_repo.promote import promote_chart
from berth.chart_repo.publish import publish_charts
from berth.cli import main
from berth.commands.charts import _source_credentials
from berth_core.config import PROJECT_ROOT, Environment, load_environment, load_environment_file
from tests.support.chart_repo import ChartFactory

Capture = pytest.CaptureFixture[str]


def _bucket(s3: Any) -> str:
    name = f"charts-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def envs(tmp_path: Path, s3: Any) -> dict[str, Path]:
    folder = tmp_path / "envs"
    folder.mkdir()
    files = {}
    for name, prefix in (("uat", "charts/"), ("prod", "stable/charts/")):
        files[name] = folder / f"{name}.yaml"
        files[name].write_text(
            yaml.safe_dump(
                {
                    "account_id": "123456789012",
                    "region": "eu-west-1",
                    "name_prefix": f"berth-{name}",
                    "emulator": True,
                    "helm_repo": {
                        "publisher_principals": ["arn:aws:iam::123456789012:role/publisher"],
                        "bucket_name": _bucket(s3),
                        "prefix": prefix,
                    },
                }
            )
        )
    return files


@pytest.fixture
def uat(envs: dict[str, Path]) -> Environment:
    return load_environment_file(envs["uat"])


@pytest.fixture
def prod(envs: dict[str, Path]) -> Environment:
    return load_environment_file(envs["prod"])


def _key(env: Environment, key: str) -> tuple[str, str]:
    location = env.chart_repository
    assert location is not None
    return location.bucket, f"{location.prefix}{key}"


def _get(s3: Any, env: Environment, key: str) -> Any:
    bucket, full_key = _key(env, key)
    return s3.get_object(Bucket=bucket, Key=full_key)


def _index(s3: Any, env: Environment) -> Any:
    return parse_index(_get(s3, env, "index.yaml")["Body"].read())


def test_promote_copies_the_exact_archive_and_its_entry(
    uat: Environment, prod: Environment, make_chart: ChartFactory, s3: Any
) -> None:
    publish_charts(uat, [make_chart("demo", "0.1.0")], out=io.StringIO())
    out = io.StringIO()

    summary = promote_chart(uat, prod, "demo", "0.1.0", out=out)

    source_bytes = _get(s3, uat, "demo-0.1.0.tgz")["Body"].read()
    promoted = _get(s3, prod, "demo-0.1.0.tgz")
    assert promoted["Body"].read() == source_bytes
    source_entry = _index(s3, uat).find("demo", "0.1.0")
    target_entry = _index(s3, prod).find("demo", "0.1.0")
    # The same entry: metadata, digest and `created`; a URL relative to the target's index.
    assert target_entry == source_entry
    assert target_entry is not None and target_entry["urls"] == ["demo-0.1.0.tgz"]
    assert target_entry["digest"] == hashlib.sha256(source_bytes).hexdigest()
    assert promoted["Metadata"]["digest"] == target_entry["digest"]
    assert (summary.uploaded, summary.indexed) == (True, True)
    source, target = uat.chart_repository, prod.chart_repository
    assert source is not None and target is not None
    assert f"demo 0.1.0: promoted {source.url} -> {target.url} (sha256:" in out.getvalue()
    assert target.url.endswith("/stable/charts")


def test_promoting_again_changes_nothing(
    uat: Environment, prod: Environment, make_chart: ChartFactory, s3: Any
) -> None:
    publish_charts(uat, [make_chart("demo", "0.1.0")], out=io.StringIO())
    promote_chart(uat, prod, "demo", "0.1.0", out=io.StringIO())
    index_etag = _get(s3, prod, "index.yaml")["ETag"]

    again = promote_chart(uat, prod, "demo", "0.1.0", out=io.StringIO())

    assert (again.uploaded, again.indexed) == (False, False)
    assert "already in" in again.describe()
    assert _get(s3, prod, "index.yaml")["ETag"] == index_etag
    bucket, key = _key(prod, "demo-0.1.0.tgz")
    assert len(s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]) == 1


def test_another_archive_under_the_same_version_is_refused(
    uat: Environment, prod: Environment, make_chart: ChartFactory, s3: Any
) -> None:
    publish_charts(uat, [make_chart("demo", "0.1.0", greeting="uat")], out=io.StringIO())
    publish_charts(prod, [make_chart("demo", "0.1.0", greeting="prod")], out=io.StringIO())
    before = _get(s3, prod, "index.yaml")["ETag"]

    with pytest.raises(ChartRepoError, match=r"already holds another archive .* immutable"):
        promote_chart(uat, prod, "demo", "0.1.0", out=io.StringIO())

    assert _get(s3, prod, "index.yaml")["ETag"] == before


def test_a_source_archive_that_does_not_match_its_entry_is_not_promoted(
    uat: Environment, prod: Environment, make_chart: ChartFactory, s3: Any
) -> None:
    publish_charts(uat, [make_chart("demo", "0.1.0")], out=io.StringIO())
    bucket, key = _key(uat, "demo-0.1.0.tgz")
    s3.put_object(Bucket=bucket, Key=key, Body=b"replaced behind the index's back")

    with pytest.raises(ChartRepoError, match=r"does not match its index entry .* nothing promoted"):
        promote_chart(uat, prod, "demo", "0.1.0", out=io.StringIO())

    target_bucket, target_prefix = _key(prod, "")
    assert s3.list_objects_v2(Bucket=target_bucket, Prefix=target_prefix).get("KeyCount") == 0


def test_a_version_the_source_does_not_list_is_named(
    uat: Environment, prod: Environment, make_chart: ChartFactory
) -> None:
    publish_charts(uat, [make_chart("demo", "0.1.0")], out=io.StringIO())
    with pytest.raises(ChartRepoError, match=r"demo 0\.2\.0: not in s3://.*/charts/index\.yaml"):
        promote_chart(uat, prod, "demo", "0.2.0", out=io.StringIO())


def test_the_command_promotes_and_fails_in_one_line(
    envs: dict[str, Path], make_chart: ChartFactory, capsys: Capture
) -> None:
    uat = str(envs["uat"])
    main(["charts", "publish", str(make_chart("demo", "0.1.0")), "--env", uat])
    capsys.readouterr()
    prod = str(envs["prod"])

    assert main(["charts", "promote", "demo", "0.1.0", "--from", uat, "--to", prod]) == 0
    assert "demo 0.1.0: promoted s3://" in capsys.readouterr().out

    assert main(["charts", "promote", "demo", "9.9.9", "--from", uat, "--to", prod]) == 1
    err = capsys.readouterr().err
    assert err.startswith("berth: demo 9.9.9: not in s3://") and err.count("\n") == 1

    assert main(["charts", "promote", "demo", "0.1.0", "--from", uat, "--to", uat]) == 1
    assert "--from and --to both name uat" in capsys.readouterr().err


def _arguments(*argv: str) -> argparse.Namespace:
    from berth.cli import build_parser

    return build_parser().parse_args(
        ["charts", "promote", "demo", "0.1.0", "--from", "uat", "--to", "prod", *argv]
    )


def test_by_default_each_side_is_its_own_environments_deploy_role() -> None:
    uat, prod = load_environment("uat"), load_environment("prod")
    args = _arguments()
    assert role_choice(prod, args).role_arn == "arn:aws:iam::222222222222:role/berth-prod-deploy"
    assert role_choice(uat, _source_credentials(args)).role_arn == (
        "arn:aws:iam::111111111111:role/berth-uat-deploy"
    )


def test_ci_promotes_as_the_targets_publisher_reading_the_central_repository_itself() -> None:
    # The prod promote job runs as prod's chart publisher (ambient, from GitHub OIDC): it
    # writes prod's repository and reads uat's, which prod's stack lets it read.
    uat, prod = load_environment("uat"), load_environment("prod")
    args = _arguments("--ambient-credentials")
    assert role_choice(prod, args).role_arn is None
    assert role_choice(uat, _source_credentials(args)).role_arn is None
    other = "arn:aws:iam::111111111111:role/release-reader"
    args = _arguments("--ambient-credentials", "--from-role-arn", other)
    assert role_choice(uat, _source_credentials(args)).role_arn == other
    assert role_choice(prod, args).role_arn is None


def test_the_example_files_let_prod_promote_from_uat() -> None:
    prod = load_environment("prod", PROJECT_ROOT / "environments")
    central = prod.helm_repo.central
    assert central is not None and central.environment == "uat"
    assert prod.chart_repository is not None  # the promotion target
