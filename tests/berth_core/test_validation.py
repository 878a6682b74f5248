"""berth_core.validation: each format once, and the environment files and the constructs agree.

The environment files (pydantic patterns and `*_problem` checks) and the constructs' props check
through the same rules: a value one accepts, the other accepts too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from berth_core.config import ConfigError, load_environment_file
from berth_core.validation import (
    REGION,
    bucket_name_problem,
    ecr_repository_name_problem,
    host_name_problem,
    image_tag_problem,
    key_prefix_problem,
    retention_days_problem,
)

VALID: dict[str, Any] = {
    "account_id": "111111111111",
    "region": "eu-west-1",
    "name_prefix": "berth-uat",
    "state_backend": {"bucket": "state-bucket", "region": "eu-west-1"},
    "deploy_role": {"role_arn": "arn:aws:iam::111111111111:role/deploy"},
    "helm_repo": {"publisher_principals": ["arn:aws:iam::111111111111:role/ci"]},
}


def _load(tmp_path: Path, **changes: Any) -> None:
    path = tmp_path / "uat.yaml"
    path.write_text(yaml.safe_dump({**VALID, **changes}), encoding="utf-8")
    load_environment_file(path)


@pytest.mark.parametrize(
    ("region", "valid"),
    [
        ("eu-west-1", True),
        ("us-gov-west-1", True),
        ("us-isob-east-1", True),
        ("ap-southeast-7", True),
        ("Ireland", False),
        ("eu-west", False),
    ],
)
def test_one_region_rule_for_the_files_and_the_constructs(
    tmp_path: Path, region: str, valid: bool
) -> None:
    from berth_constructs.helm_repo_bucket import HelmRepoBucketProps

    assert bool(REGION.match(region)) is valid
    props = {
        "bucket_name": "charts",
        "account_id": "111111111111",
        "region": region,
        "publisher_principals": ["arn:aws:iam::111111111111:role/ci"],
        "reader_principals": ["arn:aws:iam::111111111111:root"],
    }
    if valid:
        _load(tmp_path, region=region)
        HelmRepoBucketProps(**props)
    else:
        with pytest.raises(ConfigError, match="region: String should match pattern"):
            _load(tmp_path, region=region)
        with pytest.raises(ValueError, match=r"region: .* is not an AWS region"):
            HelmRepoBucketProps(**props)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"helm_repo": {**VALID["helm_repo"], "bucket_name": "my..charts"}},
            "helm_repo.bucket_name: 'my..charts' is not an S3 bucket name",
        ),
        (
            {"helm_repo": {**VALID["helm_repo"], "noncurrent_version_expiration_days": 3651}},
            "helm_repo.noncurrent_version_expiration_days: Input should be less than or equal"
            " to 3650",
        ),
        ({"images": {"tag": "latest"}}, "images.tag: 'latest' does not pin an image"),
        (
            {"observability": {"coralogix_domain": "-eu2.coralogix.com"}},
            "observability.coralogix_domain: '-eu2.coralogix.com' is not a DNS host name",
        ),
    ],
)
def test_the_files_refuse_what_the_constructs_refuse(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, **changes)


@pytest.mark.parametrize(
    ("problem", "value", "expected"),
    [
        (bucket_name_problem, "charts.example", None),
        (bucket_name_problem, "a..b", "'a..b' is not an S3 bucket name"),
        (host_name_problem, "files.example.com", None),
        (host_name_problem, f"{'a' * 63}." * 4 + "com", "is not a DNS host name"),
        (ecr_repository_name_problem, "berth-uat/s3proxy", None),
        (ecr_repository_name_problem, "a", "is not an ECR repository name"),
        (image_tag_problem, "0.1.0", None),
        (image_tag_problem, "latest", "does not pin an image"),
        (key_prefix_problem, "charts/", None),
        (key_prefix_problem, "charts/../", "must not contain '.' or '..' segments"),
    ],
)
def test_problem_functions(problem: Any, value: Any, expected: str | None) -> None:
    found = problem(value)
    if expected is None:
        assert found is None
    else:
        assert found is not None and expected in found


@pytest.mark.parametrize(("days", "valid"), [(0, False), (1, True), (3650, True), (3651, False)])
def test_retention_days_are_one_to_ten_years(days: int, valid: bool) -> None:
    assert (retention_days_problem(days) is None) is valid
